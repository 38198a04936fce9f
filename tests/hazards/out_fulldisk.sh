#!/bin/bash
# tests/hazards/out_fulldisk.sh: a disk that fills up between two dumps.
#
# In a private mount namespace (unshare -m, so the mount is invisible outside and goes away
# with it) a small tmpfs is filled with a file that leaves room for about 1.25 profiles of
# tests/progs/out_stacks (the size is measured first on the ordinary disk). The program,
# under LD_PRELOAD with rate=1, calls heapprof_dump(NULL) 4 times and then exits (the exit
# profile): the first dump fits, the others cannot. Checked:
#   - the program exits 0 with the same stdout as without heapprof;
#   - exactly one heapprof: line on stderr, saying "No space left on device", the path and
#     "free some space" (not one per failed dump);
#   - heapprof_dump returned 0 and then -ENOSPC;
#   - the first profile is intact (gzip -t, go tool pprof), no other final-name file and no
#     temporary file is left on the disk.
# Then the same again, but the program waits at the end until the test has removed the
# filler: the exit profile is then written complete, and no further message appears.
# Needs root (mount); fails, not skips, without it.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/out_lib.sh"

need_env
need_go
need_tool gzip timeout unshare mount
need_prog out_stacks
out_need_root "this test mounts a small tmpfs in a private mount namespace (unshare -m)"

BITS=10
ARGS=(--bits "$BITS" --dumps 4)

reference "$tmp/ref.out" "${ARGS[@]}"
status_is "without heapprof" $? 0

# The size of the first profile, on the ordinary disk.
mkdir -p "$tmp/probe"
timeout "$OUT_TIMEOUT" env LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$tmp/probe/p,rate=1,at_exit=0" \
	"$OS" "${ARGS[@]}" >/dev/null 2>"$tmp/probe.err"
first=$(compgen -G "$tmp/probe/p.*.0001.api.pb.gz")
psize=$(stat -c %s "$first" 2>/dev/null || echo 0)
[ "$psize" -gt 4096 ]
ok $? "probe: the first profile is larger than a page ($psize bytes)" || {
	diag_file "$tmp/probe.err"
	done_testing
}
DISK_KB=256
room=$(( (psize * 5 / 4 + 4095) / 4096 * 4096 ))
fill=$((DISK_KB * 1024 - room))
diag "tmpfs ${DISK_KB}k, filler $fill bytes, room $room bytes for profiles of about $psize bytes"

# run_full NAME WAIT: the program on the nearly full tmpfs, in a private mount namespace;
# with WAIT=1 it waits at the end until the filler is removed. The results are copied to
# $tmp/NAME (status, out, err, log, ls, files/).
run_full() {
	local r=$tmp/$1
	mkdir -p "$r/files" "$tmp/disk"
	R=$r D=$tmp/disk FILL=$fill SIZE=$DISK_KB WAIT=$2 OS=$OS HP_LIB=$HP_LIB \
	OUT_TIMEOUT=$OUT_TIMEOUT timeout 120 unshare -m --propagation private bash -c '
		set -u
		mount -t tmpfs -o size=${SIZE}k,mode=0755 heapprof-full "$D" || exit 90
		head -c "$FILL" /dev/zero >"$D/filler" || exit 91
		df -k "$D" >"$R/df.before"
		timeout "$OUT_TIMEOUT" env LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$D/p,rate=1" \
			"$OS" --bits '"$BITS"' --dumps 4 --dump-log "$R/log" \
			$([ "$WAIT" = 1 ] && echo --wait-end "$R/go") >"$R/out" 2>"$R/err" &
		bg=$!
		if [ "$WAIT" = 1 ]; then
			for _ in $(seq 1 3000); do
				[ -f "$R/log" ] && [ "$(wc -l <"$R/log")" = 4 ] && break
				sleep 0.02
			done
			ls -la "$D" >"$R/ls.full"
			rm -f "$D/filler"
			touch "$R/go"
		fi
		wait "$bg"
		echo $? >"$R/status"
		ls -la "$D" >"$R/ls"
		for f in "$D"/* "$D"/.[!.]*; do
			[ -e "$f" ] && [ "$f" != "$D/filler" ] && cp -a "$f" "$R/files/"
		done
		exit 0'
	echo $?
}

# --- the disk stays full ---------------------------------------------------------------

r=$tmp/full
rc=$(run_full full 0)
[ "$rc" -eq 0 ]
ok $? "tmpfs mounted and filled in a private namespace (status $rc)" || done_testing
st=$(cat "$r/status" 2>/dev/null || echo 255)
status_is "disk full" "$st" 0
same_output "disk full" "$r/out" "$tmp/ref.out"
only_hp_on_stderr "$r/err" "disk full"
one_message "disk full" "$r/err" "No space left on device" "free some space" "$tmp/disk/p."
diag "heapprof_dump results: $(tr '\n' ';' <"$r/log")"
[ "$(sed -n 1p "$r/log")" = "api 1: 0" ] && [ "$(grep -c ': -28 ' "$r/log")" -eq 3 ]
ok $? "disk full: heapprof_dump returned 0, then -ENOSPC three times"
diag "on the tmpfs at exit:"
diag_file "$r/ls"
finals=$(find "$r/files" -name '*.pb.gz' -printf '%f\n' | sort | tr '\n' ' ')
[[ $finals =~ ^p\.[0-9]+\.0001\.api\.pb\.gz\ $ ]]
ok $? "disk full: the only profile is the first one (have: ${finals:-none})"
first=$(compgen -G "$r/files/p.*.0001.api.pb.gz")
profiles_ok "disk full: the first profile" $first
[ -z "$(leftovers "$r/files")" ]
ok $? "disk full: no temporary file left" || diag "$(leftovers "$r/files")"

# --- space comes back before the exit profile --------------------------------------------

r=$tmp/freed
rc=$(run_full freed 1)
[ "$rc" -eq 0 ]
ok $? "freed: tmpfs mounted and filled in a private namespace (status $rc)" || done_testing
st=$(cat "$r/status" 2>/dev/null || echo 255)
status_is "freed" "$st" 0
same_output "freed" "$r/out" "$tmp/ref.out"
one_message "freed" "$r/err" "No space left on device"
exitp=$(compgen -G "$r/files/p.*.0005.exit.pb.gz")
[ -n "$exitp" ]
ok $? "freed: the exit profile (seq 0005) was written once space came back" ||
	{ diag_file "$r/ls"; diag_file "$r/err"; }
[ -z "$exitp" ] || profiles_ok "freed: first and exit profiles" $(compgen -G "$r/files/p.*.0001.api.pb.gz") "$exitp"
[ -z "$(leftovers "$r/files")" ]
ok $? "freed: no temporary file left" || diag "$(leftovers "$r/files")"

done_testing
