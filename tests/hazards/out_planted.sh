#!/bin/bash
# tests/hazards/out_planted.sh: symlinks and FIFOs planted at the names heapprof writes, in
# a shared sticky directory (mode 1777, like /tmp).
#
# The names are predictable: <prefix>.<pid>.<seq>.<trigger>.pb.gz, and tests/progs/
# out_stacks writes its pid to a file and waits (--go) before it allocates, so another
# user (daemon, through setpriv) plants, before the program goes on:
#   final names  .0001.api: a symlink to a victim file (owned by the program's user, known
#                content); .0002.api: a FIFO; .0003 and .0004 (.signal and .exit, in
#                whatever order they come): a dangling symlink into a directory the
#                program's user may write, and a symlink to the victim.
#                The program makes 2 heapprof_dump(NULL) calls, gets one SIGUSR1, exits.
#   temporary names  with tests/progs/.libs/out_fixclock.so preloaded too, CLOCK_MONOTONIC's
#                nanoseconds are fixed, so the 16 temporary names heapprof tries for its
#                N-th profile are known (<dir>/.heapprof.<pid>.<N>.<8 hex digits of
#                2654435761 + i>.tmp, i = 0..15):
#                all 16 of .0001.api's are symlinks to the victim (that dump must fail
#                with EEXIST, which also proves the names were predicted), and the first
#                three of .0002.api's a FIFO, a dangling symlink and a symlink to the victim
#                (that dump must succeed under the fourth name).
# Run as root and as nobody. Checked: the victim is unchanged and nothing is created
# through a dangling link; the program neither hangs (a FIFO opened for writing would
# block) nor fails: exit status 0, stdout as without heapprof; each planted final name is
# either replaced by a complete profile (rename replaces the link itself; what root does)
# or left as it was with one message on stderr (what the sticky bit makes nobody do);
# planted temporary names are left as they were; no temporary file of heapprof is left.
# Needs root (setpriv); fails, not skips, without it.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/out_lib.sh"

need_env
need_tool gzip timeout setpriv mkfifo stat
need_prog out_stacks
out_need_root "another user plants the links and the program also runs as nobody (setpriv)"
FIXCLOCK=$top_builddir/tests/progs/.libs/out_fixclock.so
if [ ! -f "$FIXCLOCK" ]; then
	fail "shim built: $FIXCLOCK not found (make tests/progs/out_fixclock.la)"
	done_testing
fi

diag "fs.protected_symlinks=$(cat /proc/sys/fs/protected_symlinks 2>/dev/null)," \
	"protected_fifos=$(cat /proc/sys/fs/protected_fifos 2>/dev/null)"

chmod 0711 "$tmp"
pub=$tmp/pub
mkdir -p "$pub/bin"
cp "$HP_LIB" "$pub/bin/libheapprof.so"
cp "$FIXCLOCK" "$pub/bin/out_fixclock.so"
cp "$OS" "$pub/bin/out_stacks"
chmod -R a+rX "$pub"
LIB=$pub/bin/libheapprof.so
PROG=$pub/bin/out_stacks
ARGS=(--bits 8 --dumps 2)

as_daemon() { setpriv --reuid=daemon --regid=daemon --clear-groups "$@"; }

mkdir -p "$tmp/ref"
touch "$tmp/ref/go" "$tmp/ref/end"
reference "$tmp/ref.out" "${ARGS[@]}" --go "$tmp/ref/go" --wait-end "$tmp/ref/end"
status_is "without heapprof" $? 0

# tmpname N I: heapprof's I-th temporary name for the N-th profile of $pid in $sh, with the
# clock shim.
tmpname() {
	printf '%s/.heapprof.%d.%d.%08x.tmp' "$sh" "$pid" "$1" $(((2654435761 + $2) & 0xffffffff))
}

# start USER NAME PRELOAD: a fresh case directory $d (shared dir $sh, 1777, root's), a
# victim file owned by USER; out_stacks started as USER, waiting for $d/go. Sets $bg, $pid.
start() {
	local user=$1 preload=$3
	d=$pub/$2
	sh=$d/shared
	mkdir -p "$sh"
	chmod 0777 "$d"
	chmod 1777 "$sh"
	victim=$d/victim
	echo "victim of $2: do not touch" >"$victim"
	chown "$user" "$victim"
	chmod 0644 "$victim"
	victim_stat=$(stat -c '%U %a %s %Y' "$victim")
	local run=()
	[ "$user" = root ] || run=(setpriv --reuid="$user" --regid=nogroup --clear-groups)
	(cd "$d" && exec timeout "$OUT_TIMEOUT" "${run[@]}" env LD_PRELOAD="$preload" \
		HEAPPROF="prefix=$sh/p,rate=1" "$PROG" "${ARGS[@]}" --pidfile "$d/pid" --go "$d/go" \
		--wait-end "$d/end" --dump-log "$d/log") >"$d.out" 2>"$d.err" &
	bg=$!
	pid=
	wait_for_file "$d/pid" 10 >/dev/null && pid=$(cat "$d/pid")
	[ -n "$pid" ]
	ok $? "$2: out_stacks started as $user (pid ${pid:-none})" || {
		kill "$bg" 2>/dev/null
		diag_file "$d.err"
	}
}

# wait_log N: waits (up to 20 s) until the program logged N heapprof_dump results.
wait_log() {
	for _ in $(seq 1 1000); do
		[ -f "$d/log" ] && [ "$(wc -l <"$d/log")" -ge "$1" ] && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# finish NAME [list]: lets the program end, checks status, stdout, hang, victim; with
# "list", shows the shared directory.
finish() {
	touch "$d/end"
	wait "$bg"
	status_is "$1" $? 0
	same_output "$1" "$d.out" "$tmp/ref.out"
	only_hp_on_stderr "$d.err" "$1"
	[ -f "$victim" ] && [ ! -L "$victim" ] &&
		[ "$(cat "$victim")" = "victim of $1: do not touch" ] &&
		[ "$(stat -c '%U %a %s %Y' "$victim")" = "$victim_stat" ]
	ok $? "$1: the victim file is unchanged (content, owner, mode, size, mtime)" ||
		{ ls -l "$victim" | sed 's/^/# /'; head -c 200 "$victim" | od -c | head -n 3 | sed 's/^/# /'; }
	[ ! -e "$d/through-link" ] && [ ! -e "$d/through-tmp" ]
	ok $? "$1: nothing created through a dangling symlink"
	diag "heapprof_dump results: $(tr '\n' ';' <"$d/log" 2>/dev/null)"
	if [ "${2:-}" = list ]; then
		diag "shared directory at exit:"
		ls -l "$sh" | sed 's/^/#   /' | cut -c1-200
	fi
}

# --- final names ----------------------------------------------------------------------------
final_case() {
	local user=$1 name=final-$1 f i kind left=0 replaced=0 bad=
	start "$user" "$name" "$LIB"
	[ -n "$pid" ] || return
	local base=$sh/p.$pid
	as_daemon ln -s "$victim" "$base.0001.api.pb.gz"
	as_daemon mkfifo -m 0666 "$base.0002.api.pb.gz"
	for t in signal exit; do
		as_daemon ln -s "$d/through-link" "$base.0003.$t.pb.gz"
		as_daemon ln -s "$victim" "$base.0004.$t.pb.gz"
	done
	[ "$(find "$sh" -user daemon | wc -l)" -eq 6 ]
	ok $? "$name: daemon planted 2 symlinks to the victim, a FIFO, 3 more symlinks"
	touch "$d/go"
	wait_log 2
	ok $? "$name: both heapprof_dump calls returned (no hang on the FIFO)"
	kill -USR1 "$pid" 2>/dev/null
	# the signal dump (.0003.signal) before the exit's: a profile there shows it is done;
	# a failed one shows nothing, so give it a second
	for i in $(seq 1 500); do
		[ -f "$base.0003.signal.pb.gz" ] && [ ! -L "$base.0003.signal.pb.gz" ] && break
		[ "$user" = root ] || [ "$i" -lt 50 ] || break
		sleep 0.02
	done
	finish "$name" list
	for f in "$base".000[1-4].*.pb.gz; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		kind=$(stat -c '%F %U' "$f")
		case $kind in
		"regular file $user"|"regular empty file $user")
			replaced=$((replaced + 1))
			gzip -t "$f" 2>/dev/null || bad="$bad $(basename "$f")" ;;
		"symbolic link daemon"|"fifo daemon")
			left=$((left + 1)) ;;
		*)
			bad="$bad $(basename "$f")($kind)" ;;
		esac
	done
	diag "$name: $replaced planted names replaced by profiles, $left left as planted"
	[ -z "$bad" ]
	ok $? "$name: each planted name is either a complete profile of $user's or as planted" ||
		diag "otherwise:$bad"
	# An API dump that returned 0 replaced its name; one that failed left it.
	local n r want failed=0 mismatch=
	for n in 1 2; do
		r=$(sed -n "${n}p" "$d/log" | sed 's/^api [0-9]*: //')
		f=$base.000$n.api.pb.gz
		if [ "$r" = 0 ]; then
			want="regular file $user"
		else
			want="as planted"
			failed=1
		fi
		kind=$(stat -c '%F %U' "$f" 2>/dev/null)
		case $kind in
		"symbolic link daemon"|"fifo daemon") kind="as planted" ;;
		esac
		[ "$kind" = "$want" ] || mismatch="$mismatch .000$n: result $r, $kind"
	done
	[ -z "$mismatch" ]
	ok $? "$name: a dump that succeeded replaced the planted name, one that failed left it" ||
		diag "$mismatch"
	if [ "$failed" -eq 1 ] || [ "$left" -gt 2 ]; then
		one_message "$name" "$d.err" "cannot write profile $base.000"
	else
		# everything succeeded: the two API names and the signal's and exit's were replaced
		[ "$replaced" -eq 4 ] && [ "$(hp_lines "$d.err" | wc -l)" -eq 0 ]
		ok $? "$name: all 4 dumps replaced their planted names, no message" || diag_file "$d.err"
	fi
	[ -z "$(leftovers "$sh")" ]
	ok $? "$name: no temporary file left" || diag "$(leftovers "$sh")"
}

# --- temporary names (clock shim) -------------------------------------------------------------
tmp_case() {
	local user=$1 name=tmp-$1 i f
	start "$user" "$name" "$pub/bin/out_fixclock.so $LIB"
	[ -n "$pid" ] || return
	local f1=$sh/p.$pid.0001.api.pb.gz f2=$sh/p.$pid.0002.api.pb.gz
	for i in $(seq 0 15); do
		as_daemon ln -s "$victim" "$(tmpname 1 "$i")"
	done
	as_daemon mkfifo -m 0666 "$(tmpname 2 0)"
	as_daemon ln -s "$d/through-tmp" "$(tmpname 2 1)"
	as_daemon ln -s "$victim" "$(tmpname 2 2)"
	find "$sh" -printf '%f\n' >"$d/planted"
	touch "$d/go"
	wait_log 2
	ok $? "$name: both heapprof_dump calls returned (no hang on the FIFO)"
	finish "$name"
	[ "$(sed -n 1p "$d/log")" = "api 1: -17 (File exists)" ]
	ok $? "$name: all 16 temporary names of .0001 were taken: that dump failed with EEXIST" \
		"(so the names were predicted)"
	[ "$(sed -n 2p "$d/log")" = "api 2: 0" ] && gzip -t "$f2" 2>/dev/null &&
		[ "$(stat -c '%F %U' "$f2")" = "regular file $user" ]
	ok $? "$name: .0002 written under its fourth temporary name, complete, $user's"
	[ ! -e "$f1" ] && [ ! -L "$f1" ]
	ok $? "$name: no .0001 profile"
	local changed=
	for i in $(seq 0 15); do
		f=$(tmpname 1 "$i")
		[ -L "$f" ] && [ "$(readlink "$f")" = "$victim" ] || changed="$changed $(basename "$f")"
	done
	[ -p "$(tmpname 2 0)" ] || changed="$changed fifo"
	[ "$(readlink "$(tmpname 2 1)")" = "$d/through-tmp" ] || changed="$changed dangling"
	[ "$(readlink "$(tmpname 2 2)")" = "$victim" ] || changed="$changed link"
	[ -z "$changed" ]
	ok $? "$name: the planted temporary names are left as they were" || diag "changed:$changed"
	one_message "$name" "$d.err" "File exists" "$f1"
	local extra
	extra=$(leftovers "$sh" | grep -vxF -f "$d/planted")
	[ -z "$extra" ]
	ok $? "$name: no temporary file of heapprof's left" || diag "$extra"
}

final_case root
final_case nobody
tmp_case root
tmp_case nobody

done_testing
