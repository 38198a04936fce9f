# tests/hazards/san_reaper.py: runs a command as a child subreaper, for
# tests/hazards/cpython.sh, so that every process the command leaves behind, orphaned or
# not and whatever its session, becomes our child and can be found and killed.
#
#   python3 san_reaper.py TIMEOUT PIDFILE REPORT CMD ARGS...
#
# Runs CMD (its pid written to PIDFILE), kills it after TIMEOUT seconds (exit status 124,
# "hung"). When it has ended, waits up to GRACE seconds for its descendants to end; those
# still alive then (a zombie leader whose other threads run counts) are written to REPORT,
# one line each "pid PID ppid-chain threads NAME:STATE,... cmd CMDLINE", killed with
# SIGKILL by pid, and reaped. REPORT is empty when none was left. Exits with CMD's status.
# Reads only /proc/PID/{stat,cmdline,task/*/stat} of its own descendants.
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
GRACE = 5.0


def stat_of(path):
    """(comm, state, ppid) from a /proc stat file, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[1])


def children():
    """Our children: pid -> (comm, state)."""
    me, out = os.getpid(), {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat_of("/proc/%s/stat" % d)
            if st and st[2] == me:
                out[int(d)] = st[:2]
    return out


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def alive(pid):
    """True unless pid is a zombie with no thread left."""
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return False
    states = [stat_of("/proc/%d/task/%s/stat" % (pid, t)) for t in tasks]
    return any(s and s[1] != "Z" for s in states)


def describe(pid):
    threads = []
    try:
        for t in sorted(os.listdir("/proc/%d/task" % pid), key=int):
            s = stat_of("/proc/%d/task/%s/stat" % (pid, t))
            if s:
                threads.append("%s:%s" % (s[0], s[1]))
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        cmd = " ".join(cmd.split())[:160]	# one line
    except OSError:
        cmd = ""
    return "pid %d threads %s cmd %s" % (pid, ",".join(threads), cmd)


def main():
    timeout, pidfile, report = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    cmd = sys.argv[4:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("san_reaper: prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno(),
              file=sys.stderr)
        return 2
    p = subprocess.Popen(cmd)
    with open(pidfile, "w") as f:
        f.write("%d\n" % p.pid)
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = 124
    if rc < 0:
        rc = 128 - rc
    deadline = time.monotonic() + GRACE
    while True:
        reap()
        left = [pid for pid in children() if alive(pid)]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    with open(report, "w") as f:
        for pid in left:
            f.write(describe(pid) + "\n")
    # Kill what is left, and what reparents to us meanwhile, by pid; bounded.
    for _ in range(50):
        kids = children()
        if not kids:
            break
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
        reap()
    return rc


if __name__ == "__main__":
    sys.exit(main())
