# tests/hazards/proc_lib.sh: shell helpers of the process hazard tests (tests/hazards/proc_*.sh),
# sourced after tests/integration/lib.sh.

# PROG_TIMEOUT: seconds before a program run counts as hung (timeout sends TERM, then KILL
# 5 s later).
PROG_TIMEOUT=${PROG_TIMEOUT:-120}

# prog NAME: the path of a test program.
prog() {
	echo "$top_builddir/tests/progs/$1"
}

# run_status LABEL STATUS: one TAP line "LABEL: exit status 0", saying "(hung)" when timeout
# ended the program (124, or 137 when it needed KILL).
run_status() {
	case $2 in
	0) pass "$1: exit status 0" ;;
	124 | 137) fail "$1: exit status 0 (hung: killed by timeout after ${PROG_TIMEOUT} s)" ;;
	*) fail "$1: exit status 0 (got $2$([ "$2" -gt 128 ] && echo ", signal $(($2 - 128))"))" ;;
	esac
}

# preload CMD...: CMD under timeout with the library preloaded (HEAPPROF from the caller's
# environment, if exported or given on the command line through env).
preload() {
	timeout -k 5 "$PROG_TIMEOUT" env LD_PRELOAD="$HP_LIB" "$@"
}

# no_other_output LABEL ERRFILE [MAX_HEAPPROF_LINES]: ERRFILE holds nothing but at most MAX
# (default 0) lines starting "heapprof: ".
no_other_output() {
	local max=${3:-0} n other
	n=$(grep -c '^heapprof: ' "$2")
	other=$(grep -vc '^heapprof: ' "$2")
	if [ "$other" -eq 0 ] && [ "$n" -le "$max" ]; then
		pass "$1: stderr has no more than $max heapprof line(s) and nothing else"
	else
		fail "$1: stderr has no more than $max heapprof line(s) and nothing else ($n heapprof, $other other)"
		diag_file "$2"
	fi
}

# profiles_complete LABEL DIR: every *.pb.gz in DIR passes gzip -t, and no temporary file
# (*.tmp*) is left. Sets $nprofiles.
profiles_complete() {
	local f bad= tmps
	nprofiles=0
	for f in "$2"/*.pb.gz; do
		[ -e "$f" ] || continue
		nprofiles=$((nprofiles + 1))
		gzip -t "$f" 2>/dev/null || bad="$bad $(basename "$f")"
	done
	[ -z "$bad" ]
	ok $? "$1: all $nprofiles profiles pass gzip -t" || diag "corrupt:$bad"
	tmps=$(find "$2" -maxdepth 1 -name '*.tmp*' -printf '%f ' | head -c 2000)
	[ -z "$tmps" ]
	ok $? "$1: no temporary profile left behind" || diag "left: $tmps"
}

# comment_pid FILE: the pid recorded in the profile's comments ("pid: N").
comment_pid() {
	pprof -comments "$1" 2>/dev/null | sed -n 's/^pid: \([0-9]*\)$/\1/p' | head -n 1
}

# profile_reads_as LABEL FILE PID: go tool pprof reads FILE, and its comments name PID.
profile_reads_as() {
	local p
	if pprof_reads "$2"; then
		p=$(comment_pid "$2")
		[ "$p" = "$3" ]
		ok $? "$1: go tool pprof reads $(basename "$2"); its comments say pid $3 (got ${p:-none})"
	else
		fail "$1: go tool pprof reads $(basename "$2")"
		diag_file "$tmp/pprof.err" 5
	fi
}

# expect_figures LABEL PROFILE OUTFILE: for each line "expect SITE AO AB IO IB" of OUTFILE
# (written by the program), the flat alloc_objects, alloc_space, inuse_objects and
# inuse_space of SITE in PROFILE are exactly those (rate=1).
expect_figures() {
	local label=$1 prof=$2 out=$3 idx site want got line v
	for idx in alloc_objects alloc_space inuse_objects inuse_space; do
		pprof_flat "$prof" "$idx" >"$tmp/flat.$idx" || true
	done
	while read -r line; do
		set -- $line
		[ "$1" = expect ] || continue
		site=$2
		want="$3 $4 $5 $6"
		got=
		for idx in alloc_objects alloc_space inuse_objects inuse_space; do
			v=$(flat_of "$site" <"$tmp/flat.$idx")
			got="$got ${v:-0}"
		done
		got=${got# }
		[ "$got" = "$want" ]
		ok $? "$label: $site: alloc objects/bytes, inuse objects/bytes exactly $want (got $got)"
	done <"$out"
}

# check_children LABEL DIR NAME PARENT_PID CHILDREN_FILE MODEMAP: the profiles in DIR
# named NAME.PID.SEQ.TRIGGER.pb.gz against CHILDREN_FILE's lines "PID MODE STATUS" (written
# by the program). MODEMAP says what each mode must leave, e.g. "0=exit 1=none 2=signal":
# exit = exactly one exit profile and no other, signal = exactly one signal profile and no
# other, none = no profile. Checks (one TAP line each): every child exited with status 0;
# every child left exactly its files; no profile carries an unknown pid; the parent wrote
# one exit profile. Sets $parent_signal (the parent's signal profiles) and $min_child_seq.
check_children() {
	local label=$1 dir=$2 name=$3 ppid=$4 cf=$5 map=$6 res nchild failed bad unknown pexit
	res=$(ls "$dir" | awk -v name="$name" -v ppid="$ppid" -v map="$map" -v cf="$cf" '
		BEGIN {
			n = split(map, m, " ")
			for (i = 1; i <= n; i++) { split(m[i], kv, "="); want[kv[1]] = kv[2] }
			while ((getline line < cf) > 0) {
				split(line, f, " ")
				mode[f[1]] = f[2]
				nchild++
				if (f[3] != "0") failed = failed " " f[1] ":" substr(line, length(f[1] f[2]) + 3)
			}
			minseq = 1000000
		}
		index($0, name ".") == 1 && /\.pb\.gz$/ {
			split(substr($0, length(name) + 2), p, ".")
			pid = p[1]; seq = p[2] + 0; trig = p[3]
			if (pid == ppid) { parent[trig]++; next }
			if (!(pid in mode)) { unknown = unknown " " $0; next }
			got[pid, trig]++
			if (seq < minseq) minseq = seq
		}
		END {
			for (pid in mode) {
				w = want[mode[pid]]
				ns = got[pid, "signal"] + 0; ne = got[pid, "exit"] + 0; na = got[pid, "api"] + 0
				good = na == 0 && ((w == "exit" && ne == 1 && ns == 0) ||
					(w == "none" && ne == 0 && ns == 0) ||
					(w == "signal" && ns == 1 && ne == 0))
				if (!good && nbad++ < 10)
					bad = bad " " pid "(mode " mode[pid] ", wants " w ": " ns " signal, " ne " exit, " na " api)"
			}
			printf "nchild %d\nfailed%s\nbad%s\nunknown%s\n", nchild, failed, bad, unknown
			printf "psignal %d\npexit %d\nminseq %d\n", parent["signal"], parent["exit"], minseq
		}')
	nchild=$(sed -n 's/^nchild //p' <<<"$res")
	failed=$(sed -n 's/^failed//p' <<<"$res")
	bad=$(sed -n 's/^bad//p' <<<"$res")
	unknown=$(sed -n 's/^unknown//p' <<<"$res")
	parent_signal=$(sed -n 's/^psignal //p' <<<"$res")
	pexit=$(sed -n 's/^pexit //p' <<<"$res")
	min_child_seq=$(sed -n 's/^minseq //p' <<<"$res")
	[ "${nchild:-0}" -gt 0 ] && [ -z "$failed" ]
	ok $? "$label: all ${nchild:-0} children exited with status 0 (no hang, no crash)" ||
		diag "failed (pid:status):$(echo "$failed" | cut -c1-600)"
	[ -z "$bad" ]
	ok $? "$label: each child wrote exactly its own profiles, named with its own pid ($map)" ||
		diag "wrong:$bad"
	[ -z "$unknown" ]
	ok $? "$label: no profile with a pid other than the parent's or a child's" ||
		diag "unknown:$(echo "$unknown" | cut -c1-600)"
	[ "${pexit:-0}" -eq 1 ]
	ok $? "$label: the parent wrote one exit profile (got ${pexit:-0})"
}
