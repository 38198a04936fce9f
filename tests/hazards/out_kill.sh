#!/bin/bash
# tests/hazards/out_kill.sh: SIGKILL at random moments during dumps never leaves a partial
# profile under a final name.
#
# tests/progs/out_stacks (rate=1, 2^12 stacks and more (OUT_KILL_BITS), so a profile is
# some hundred KB and a dump takes tens of ms) runs under LD_PRELOAD again and again, all
# processes writing to one shared directory. A first run measures how long a dump takes
# (SIGUSR1 to new profile). Then rounds in turn:
#   - normal: 1 to 3 SIGUSR1, the program exits by itself (exit profile, no temporary file);
#   - aimed at a temporary file: one SIGUSR1, SIGKILL as soon as the dump's temporary
#     file appeared;
#   - aimed in time: one SIGUSR1, SIGKILL 15-95% of a dump's time later (this one does not
#     depend on how heapprof names its files);
#   - random: 0 to 2 SIGUSR1, SIGKILL after 0-250 ms;
# at least 3 of each aimed kind, until OUT_KILL_SECONDS (3; tests/hazards/out_stress.sh
# runs 30) have passed and some kill has left a temporary file (or 10 rounds aimed at one
# did not). Afterwards: every file with a final name (*.pb.gz) passes gzip -t
# and go tool pprof reads it (all, or a random 30 when there are more); temporary files
# (.heapprof.*.tmp) belong only to killed processes, and some are there (kills did land in the
# middle of writes); nothing else is in the directory.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/out_lib.sh"

need_env
need_go
need_tool gzip timeout shuf
need_prog out_stacks

DURATION=${OUT_KILL_SECONDS:-3}
BITS=${OUT_KILL_BITS:-12}
dir=$tmp/shared
mkdir -p "$dir"
killed=" "
normal=" "
rounds=0 kills=0 tmp_aimed=0 time_aimed=0 aimed_hit=0 normals=0 sigs=0 badstatus=0 hung=0
shopt -s nullglob

# rand_sleep MAX_MS [MIN_MS]: a random sleep of MIN..MAX ms.
rand_sleep() {
	sleep "$(awk -v r="$RANDOM" -v m="$1" -v n="${2:-0}" \
		'BEGIN { printf "%.4f", (n + r % (m - n + 1)) / 1000 }')"
}

now_us() { echo "${EPOCHREALTIME/./}"; }

# start_prog SECONDS: starts a round's program in the background; sets $bg and $pid.
start_prog() {
	rounds=$((rounds + 1))
	pf=$tmp/pid.$rounds
	timeout "$OUT_TIMEOUT" env LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$dir/k,rate=1" \
		"$OS" --bits "$BITS" --seconds "$1" --pidfile "$pf" >"$tmp/out.$rounds" \
		2>"$tmp/err.$rounds" &
	bg=$!
	pid=
	if ! wait_for_file "$pf" 10 >/dev/null; then
		kill "$bg" 2>/dev/null
		wait "$bg"
		fail "round $rounds: out_stacks started (no pid file within 10 s)"
		diag_file "$tmp/err.$rounds"
		done_testing
	fi
	pid=$(cat "$pf")
}

# kill_prog: SIGKILL now, reap, count.
kill_prog() {
	local before=(${dir}/.heapprof.$pid.*.tmp) st
	kill -KILL "$pid" 2>/dev/null
	kills=$((kills + 1))
	killed="$killed$pid "
	{ wait "$bg"; } 2>/dev/null	# not bash's "Killed" notice
	st=$?
	if [ "$st" -ne 137 ]; then
		badstatus=$((badstatus + 1))
		[ "$st" -eq 124 ] && hung=$((hung + 1))
		diag "round $rounds (killed): status $st, not 137"
		diag_file "$tmp/err.$rounds"
	fi
	[ "${#before[@]}" -gt 0 ] && aimed_hit=$((aimed_hit + 1))
}

# usr1_wait: one SIGUSR1, then waits (up to 5 s) for one more signal profile of $pid;
# prints the time it took in microseconds.
usr1_wait() {
	local have=(${dir}/k.$pid.*.signal.pb.gz) now t0 t_end
	t0=$(now_us)
	t_end=$((t0 + 5000000))
	kill -USR1 "$pid" 2>/dev/null && sigs=$((sigs + 1))
	while :; do
		now=(${dir}/k.$pid.*.signal.pb.gz)
		[ "${#now[@]}" -gt "${#have[@]}" ] && break
		[ "$(now_us)" -lt "$t_end" ] || break
	done
	echo $(($(now_us) - t0))
}

# Calibration: how long a dump takes (the longer of two, after some churn).
start_prog 20
sleep 0.3
d1=$(usr1_wait)
d2=$(usr1_wait)
dump_us=$((d1 > d2 ? d1 : d2))
sigs=$((sigs + 2))
diag "a dump takes about $((dump_us / 1000)) ms"
kill_prog

end=$(($(date +%s) + DURATION))
SECONDS=0
# more_rounds: the time is not up, or too few rounds of a kind, or (up to 10 rounds aimed
# at a temporary file) no kill has yet landed in the middle of a write.
more_rounds() {
	local left=("$dir"/.heapprof.*.tmp)
	[ "$(date +%s)" -lt "$end" ] || [ "$tmp_aimed" -lt 3 ] || [ "$time_aimed" -lt 3 ] ||
		[ "$normals" -lt 1 ] || { [ "${#left[@]}" -eq 0 ] && [ "$tmp_aimed" -lt 10 ]; }
}
while more_rounds; do
	mode=$((rounds % 4))	# 0 normal exit, 1 aimed at a temporary file, 2 aimed in time, 3 random
	secs=20
	[ "$mode" -eq 0 ] && secs=0.3
	start_prog "$secs"
	n=0
	[ "$mode" -eq 3 ] && n=$((RANDOM % 3))
	[ "$mode" -eq 0 ] && n=$((RANDOM % 3 + 1))
	for _ in $(seq 1 "$n"); do
		kill -USR1 "$pid" 2>/dev/null && sigs=$((sigs + 1))
		rand_sleep 60
	done
	case $mode in
	0)
		wait "$bg"
		st=$?
		normals=$((normals + 1))
		normal="$normal$pid "
		if [ "$st" -ne 0 ]; then
			badstatus=$((badstatus + 1))
			[ "$st" -eq 124 ] && hung=$((hung + 1))
			diag "round $rounds (normal exit): status $st"
			diag_file "$tmp/err.$rounds"
		fi
		continue ;;
	1)
		# one SIGUSR1, poll (builtins only, up to 3 s) for the dump's temporary
		# file, kill as soon as it is there
		tmp_aimed=$((tmp_aimed + 1))
		kill -USR1 "$pid" 2>/dev/null && sigs=$((sigs + 1))
		t_end=$(($(now_us) + 3000000))
		while :; do
			t=(${dir}/.heapprof.$pid.*.tmp)
			[ "${#t[@]}" -gt 0 ] && break
			[ "${EPOCHREALTIME/./}" -lt "$t_end" ] || break
		done ;;
	2)
		# one SIGUSR1, kill between 15% and 95% of a dump's time later
		time_aimed=$((time_aimed + 1))
		kill -USR1 "$pid" 2>/dev/null && sigs=$((sigs + 1))
		rand_sleep $((dump_us * 95 / 100000)) $((dump_us * 15 / 100000)) ;;
	3)
		rand_sleep 250 ;;
	esac
	kill_prog
done

diag "$rounds rounds in ${SECONDS}s: $kills killed ($tmp_aimed aimed at a temporary file, $time_aimed in time), $normals normal exits, $sigs SIGUSR1 sent"
[ "$hung" -eq 0 ]
ok $? "no run hung (killed by timeout: $hung)"
[ "$badstatus" -eq 0 ]
ok $? "killed runs died of SIGKILL (137), the others exited 0 ($badstatus otherwise)"
[ "$kills" -ge 3 ] && [ "$normals" -ge 1 ]
ok $? "at least 3 killed and 1 normal run ($kills, $normals)"

finals=()
tmps=()
other=
tmp_bad=
for f in "$dir"/* "$dir"/.[!.]*; do	# nullglob is on
	b=$(basename "$f")
	if [[ $b =~ ^k\.([0-9]+)\.[0-9]{4}\.(signal|exit)\.pb\.gz$ ]]; then
		finals+=("$f")
	elif [[ $b =~ ^\.heapprof\.([0-9]+)\.[0-9]+\.[0-9a-f]{8}\.tmp$ ]]; then
		tmps+=("$f")
		case $killed in
		*" ${BASH_REMATCH[1]} "*) ;;
		*) tmp_bad="$tmp_bad $b" ;;
		esac
	else
		other="$other $b"
	fi
done
diag "final-name profiles: ${#finals[@]}; temporary files left by killed processes: ${#tmps[@]}; kills that found a temporary file of their process: $aimed_hit"
[ -z "$other" ]
ok $? "only <prefix>.<pid>.NNNN.<trigger>.pb.gz and .heapprof.<pid>.<n>.<hex>.tmp files in the directory" ||
	diag "unexpected:$other"
[ -z "$tmp_bad" ]
ok $? "temporary files left only by killed processes" || diag "from processes not killed:$tmp_bad"
[ "${#tmps[@]}" -ge 1 ]
ok $? "some kill landed while a dump was writing (temporary files left: ${#tmps[@]})"

nexit=0
for p in $normal; do
	compgen -G "$dir/k.$p.*.exit.pb.gz" >/dev/null && nexit=$((nexit + 1))
done
[ "$nexit" -eq "$normals" ]
ok $? "every normal exit wrote its exit profile ($nexit of $normals)"
sigfiles=("$dir"/k.*.signal.pb.gz)
nsig=${#sigfiles[@]}
[ "$nsig" -ge 1 ]
ok $? "signal profiles were written ($nsig)"

# gzip -t on every final-name file; pprof on all of them, or on a random 30.
bad=
for f in "${finals[@]}"; do
	gzip -t "$f" 2>/dev/null || bad="$bad $(basename "$f")"
done
[ -z "$bad" ] && [ "${#finals[@]}" -gt 0 ]
ok $? "every final-name profile (${#finals[@]}) passes gzip -t" || diag "corrupt:$bad"
if [ "${#finals[@]}" -gt 30 ]; then
	mapfile -t sample < <(printf '%s\n' "${finals[@]}" | shuf -n 30)
else
	sample=("${finals[@]}")
fi
pprof -top "${sample[@]}" >"$tmp/pprof.out" 2>"$tmp/pprof.err" &&
	grep -q '^Type: ' "$tmp/pprof.out" && [ ! -s "$tmp/pprof.err" ]
ok $? "go tool pprof reads ${#sample[@]} of the final-name profiles without error" ||
	diag_file "$tmp/pprof.err"

done_testing
