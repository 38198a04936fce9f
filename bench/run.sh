#!/bin/bash
# run.sh: heapprof against its peers, every workload under every configuration, interleaved.
#
# usage: bench/run.sh [--rounds N] [--quick] [--only CONFIGS] [--workloads LIST]
#                     [--tsv FILE] [--scale CONFIG=S,...] [--keep]
#   --rounds N        rounds (default 5); each round runs, for each workload, each
#                     configuration once (A B C ... A B C ...)
#   --quick           1 round, smaller workloads (a smoke test of the driver, ~1-2 minutes)
#   --only CONFIGS    comma-separated configurations (default: all, in the order below)
#   --workloads LIST  comma-separated workloads (default: churn,xfree,realloc,gcc,python)
#   --tsv FILE        also write every raw run to FILE (tab-separated, one header line)
#   --scale C=S,...   run configuration C at 1/S of each workload's size (see below);
#                     default gperf=20 (hp-rate1 runs at full size since stop 22's
#                     recalled walks made it fast enough); S=1 runs it at full size; realloc
#                     (a few hundred calls a round, fast under every tool) is never scaled
#   --keep            keep the scratch directory (its path is printed)
#
# Configurations, all on the same unmodified binaries (env and LD_PRELOAD only):
#   glibc      the system allocator
#   jemalloc   LD_PRELOAD=$JEMALLOC_SO (Debian's libjemalloc.so.2)
#   jeprof     jemalloc, MALLOC_CONF=prof:true,lg_prof_sample:19 (jemalloc's own sampling
#              profiler at 512 KiB; prof_prefix points into the scratch directory, nothing is
#              dumped unless asked, so it writes no file)
#   tcmalloc   LD_PRELOAD=$TCMALLOC_SO (gperftools' libtcmalloc.so.4)
#   gperf      tcmalloc with HEAPPROFILE=<scratch>/gp (gperftools' heap profiler: records
#              every allocation; dumps every 1 GiB allocated and at exit)
#   heaptrack  heaptrack -o <scratch>/ht PROG ARGS (traces every call; its interpreter and
#              compressor run alongside; no analysis step is run)
#   je-jump    LD_PRELOAD="je_jump.so $JEMALLOC_SO": jemalloc behind bench/je_jump.c, whose
#              malloc and free are one jump each into jemalloc's (compiled with $CC into the
#              scratch directory): the floor of any interposer in front of jemalloc, which
#              hp-off is to be read against
#   hp-off     LD_PRELOAD=$HP_LIB HEAPPROF=rate=0,prefix=<scratch>/hp (sampling off)
#   hp-512k    LD_PRELOAD=$HP_LIB HEAPPROF=prefix=<scratch>/hp (default rate, 512 KiB)
#   hp-rate1   LD_PRELOAD=$HP_LIB HEAPPROF=rate=1,prefix=<scratch>/hp (every allocation)
#
# Workloads (size = the one number that scales each):
#   churn    bench/churn SIZE mix            small-object malloc+free, one thread
#   xfree    bench/wl_xfree SIZE             producer allocates, consumer frees (2 threads)
#   realloc  bench/wl_realloc SIZE           8 buffers grown 4 KiB -> 8 MiB by realloc, SIZE rounds
#   gcc      cc1 -quiet -O2 gen.c -o gen.s   gen.c from bench/wl_gen_c.py SIZE (functions);
#            cc1 is run directly (it is what `gcc -O2 -c` runs and what allocates): heaptrack
#            follows only the first process, so `gcc` would leave cc1 untraced under it
#   python   PYTHONMALLOC=malloc python3 bench/wl_json.py SIZE (rounds of 500 records)
#
# A scaled configuration (--scale) runs each workload at size/S (at least 1) and its time is
# multiplied by size/(size/S); such figures are marked "~". Peak RSS is the measured one
# (of the smaller run; for heaptrack the largest of the program, interpreter and compressor).
#
# Each run: wall time from bash's EPOCHREALTIME around /usr/bin/time -f '%e %M' (whose
# %e has 10 ms steps; its %M is the peak RSS in KiB), under timeout
# $RUN_TIMEOUT (default 900 s). A configuration that fails (exit status, signal, timeout,
# missing library, a preload that did not load, a profiler that wrote no output) is shown
# as "failed" with the reason in a footnote.
#
# Environment: top_builddir (default: the current directory), HP_LIB (default
# $top_builddir/lib/.libs/libheapprof.so), JEMALLOC_SO (default
# /usr/lib/x86_64-linux-gnu/libjemalloc.so.2), TCMALLOC_SO (default: libtcmalloc.so.4 from
# ldconfig -p), CC (default gcc: builds missing workload programs and provides cc1),
# PYTHON (default /usr/bin/python3, else python3 on PATH). Programs are taken from $top_builddir/bench/ when built there
# (make bench builds them), else compiled with $CC -O2 into the scratch directory.
# Exit status: 0 all runs done (failed runs are reported in the table), 2 usage or setup error.
set -u

ALL_CONFIGS="glibc jemalloc jeprof tcmalloc gperf heaptrack je-jump hp-off hp-512k hp-rate1"
ALL_WORKLOADS="churn xfree realloc gcc python"

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=${top_builddir:-$PWD}
hp_lib=${HP_LIB:-$builddir/lib/.libs/libheapprof.so}
jemalloc_so=${JEMALLOC_SO:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
tcmalloc_so=${TCMALLOC_SO:-$(ldconfig -p 2>/dev/null | awk '$1 == "libtcmalloc.so.4" { print $NF; exit }')}
cc=${CC:-gcc}
# The system's python3 (a python3 found on PATH may be a wrapper script, a pyenv shim: the
# tools would then trace the shell, and the times include it).
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
run_timeout=${RUN_TIMEOUT:-900}

rounds=5
quick=0
configs=$ALL_CONFIGS
workloads=$ALL_WORKLOADS
tsv=""
keep=0
scale_spec="gperf=20"

die() {
	echo "run.sh: $*" >&2
	exit 2
}

usage() {
	echo "run.sh: $*" >&2
	echo "usage: bench/run.sh [--rounds N] [--quick] [--only CONFIGS] [--workloads LIST] [--tsv FILE] [--scale C=S,...] [--keep]" >&2
	exit 2
}

in_list() { # WORD LIST
	case " $2 " in *" $1 "*) return 0 ;; esac
	return 1
}

parse_args() {
	local v
	while [ $# -gt 0 ]; do
		case $1 in
		--rounds)
			[ $# -ge 2 ] || usage "--rounds needs a number"
			case $2 in '' | *[!0-9]* | 0) usage "--rounds $2: not a positive number" ;; esac
			rounds=$2
			shift 2
			;;
		--quick) quick=1; rounds=1; shift ;;
		--only | --workloads)
			[ $# -ge 2 ] || usage "$1 needs a comma-separated list"
			local known=$ALL_CONFIGS kind=configuration list=""
			[ "$1" = --workloads ] && known=$ALL_WORKLOADS kind=workload
			for v in ${2//,/ }; do
				in_list "$v" "$known" || usage "$1: unknown $kind \"$v\" (known: ${known// /,})"
				list="$list $v"
			done
			[ -n "$list" ] || usage "$1: empty list"
			if [ "$1" = --only ]; then configs=${list# }; else workloads=${list# }; fi
			shift 2
			;;
		--tsv)
			[ $# -ge 2 ] && [ -n "$2" ] || usage "--tsv needs a file name"
			tsv=$2
			shift 2
			;;
		--scale)
			[ $# -ge 2 ] || usage "--scale needs CONFIG=S,..."
			scale_spec="$scale_spec,$2"
			shift 2
			;;
		--keep) keep=1; shift ;;
		-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) usage "unknown argument \"$1\"" ;;
		esac
	done
	# --rounds after --quick still wins; --quick before --rounds too (last one counts).
}

declare -A SCALE
parse_scale() {
	local item c s
	for item in ${scale_spec//,/ }; do
		c=${item%%=*}
		s=${item#*=}
		in_list "$c" "$ALL_CONFIGS" || usage "--scale: unknown configuration \"$c\""
		case $s in '' | *[!0-9]* | 0) usage "--scale $item: S must be a positive number" ;; esac
		SCALE[$c]=$s
	done
}

# Full sizes: a second or a few under glibc on a quiet machine.
declare -A SIZE
set_sizes() {
	if [ "$quick" = 1 ]; then
		SIZE=([churn]=5000000 [xfree]=1000000 [realloc]=5 [gcc]=60 [python]=8)
	else
		SIZE=([churn]=40000000 [xfree]=4000000 [realloc]=20 [gcc]=300 [python]=24)
	fi
}

setup() {
	command -v /usr/bin/time >/dev/null || die "/usr/bin/time is missing (apt-get install time)"
	command -v timeout >/dev/null || die "timeout (coreutils) is missing"
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/hp-bench.XXXXXX") || die "cannot create a scratch directory"
	if [ "$keep" = 1 ]; then
		echo "scratch directory: $scratch" >&2
	else
		trap 'rm -rf "$scratch"' EXIT
	fi
	trap 'exit 130' INT TERM
	mkdir -p "$scratch/out" "$scratch/bin"

	local p
	for p in churn wl_xfree wl_realloc; do
		if [ -x "$builddir/bench/$p" ]; then
			eval "prog_$p=\$builddir/bench/\$p"
		else
			"$cc" -O2 -pthread -o "$scratch/bin/$p" "$srcdir/bench/$p.c" ||
				die "cannot compile bench/$p.c with $cc"
			eval "prog_$p=\$scratch/bin/\$p"
		fi
	done
	je_jump_so=""
	if in_list je-jump "$configs"; then
		"$cc" -O2 -fPIC -shared -o "$scratch/bin/je_jump.so" "$srcdir/bench/je_jump.c" -ldl &&
			je_jump_so=$scratch/bin/je_jump.so
	fi
	cc1=$("$cc" -print-prog-name=cc1)
	[ -x "$cc1" ] || die "$cc -print-prog-name=cc1 gives \"$cc1\", not a program"
	command -v "$python" >/dev/null || die "$python is missing"
}

# The size a configuration runs a workload at.
size_for() { # CONFIG WORKLOAD
	local full=${SIZE[$2]} s=${SCALE[$1]:-1} n
	[ "$2" = realloc ] && s=1
	n=$((full / s))
	[ "$n" -ge 1 ] || n=1
	echo "$n"
}

# The generated C file for a size, made once.
gen_c() { # SIZE
	local f="$scratch/gen$1.c"
	[ -f "$f" ] || "$python" "$srcdir/bench/wl_gen_c.py" "$1" >"$f" || die "bench/wl_gen_c.py failed"
	echo "$f"
}

# The command line of a workload at a size, into the array CMD.
workload_cmd() { # WORKLOAD SIZE
	case $1 in
	churn) CMD=("$prog_churn" "$2" mix) ;;
	xfree) CMD=("$prog_wl_xfree" "$2") ;;
	realloc) CMD=("$prog_wl_realloc" "$2") ;;
	gcc) CMD=("$cc1" -quiet -O2 "$(gen_c "$2")" -o "$scratch/gen.s") ;;
	python) CMD=("$python" "$srcdir/bench/wl_json.py" "$2") ;;
	esac
}

# The environment and wrapper of a configuration, into the array PRE (run as env PRE... CMD).
config_pre() { # CONFIG WORKLOAD
	local out=$scratch/out
	PRE=()
	[ "$2" = python ] && PRE+=(PYTHONMALLOC=malloc)
	case $1 in
	glibc) ;;
	jemalloc) PRE+=(LD_PRELOAD="$jemalloc_so") ;;
	jeprof) PRE+=(LD_PRELOAD="$jemalloc_so" MALLOC_CONF="prof:true,lg_prof_sample:19,prof_prefix:$out/je") ;;
	tcmalloc) PRE+=(LD_PRELOAD="$tcmalloc_so") ;;
	gperf) PRE+=(LD_PRELOAD="$tcmalloc_so" HEAPPROFILE="$out/gp") ;;
	heaptrack) PRE+=(heaptrack -o "$out/ht") ;;
	je-jump) PRE+=(LD_PRELOAD="$je_jump_so $jemalloc_so" JE_JUMP_OUT="$out/je-jump") ;;
	hp-off) PRE+=(LD_PRELOAD="$hp_lib" HEAPPROF="rate=0,prefix=$out/hp") ;;
	hp-512k) PRE+=(LD_PRELOAD="$hp_lib" HEAPPROF="prefix=$out/hp") ;;
	hp-rate1) PRE+=(LD_PRELOAD="$hp_lib" HEAPPROF="rate=1,prefix=$out/hp") ;;
	esac
}

# Why a configuration cannot run at all (empty when it can).
config_missing() { # CONFIG
	case $1 in
	jemalloc | jeprof | je-jump)
		if [ ! -f "$jemalloc_so" ]; then echo "no $jemalloc_so (apt-get install libjemalloc2)"
		elif [ "$1" = je-jump ] && [ -z "$je_jump_so" ]; then echo "bench/je_jump.c did not compile with $cc"; fi ;;
	tcmalloc | gperf) [ -n "$tcmalloc_so" ] && [ -f "$tcmalloc_so" ] ||
		echo "no libtcmalloc.so.4 (apt-get install libgoogle-perftools4)" ;;
	heaptrack) command -v heaptrack >/dev/null || echo "no heaptrack (apt-get install heaptrack)" ;;
	hp-*) [ -f "$hp_lib" ] || echo "no $hp_lib (build the library, or set HP_LIB)" ;;
	esac
}

# Did the profiler of a configuration leave its output? (A profiler that silently did not
# run would otherwise look very cheap.) jeprof, as configured, writes nothing. je-jump's
# shim leaves a file when its malloc jumps into jemalloc's.
output_ok() { # CONFIG
	local pat
	case $1 in
	gperf) pat='gp*.heap' ;;
	heaptrack) pat='ht*' ;;
	je-jump) pat='je-jump' ;;
	hp-*) pat='hp.*.pb.gz' ;;
	*) return 0 ;;
	esac
	compgen -G "$scratch/out/$pat" >/dev/null
}

# Failure reasons, numbered footnotes: REASON_NO[reason] = n.
declare -A REASON_NO
reasons=()
# Results: TIMES[w,c] and RSS[w,c] space-separated lists; FAIL[w,c] = footnote number.
declare -A TIMES RSS FAIL

note_failure() { # WORKLOAD CONFIG REASON
	local key="$1,$2" r=$3
	if [ -z "${REASON_NO[$r]:-}" ]; then
		reasons+=("$r")
		REASON_NO[$r]=${#reasons[@]}
	fi
	[ -n "${FAIL[$key]:-}" ] || FAIL[$key]=${REASON_NO[$r]}
}

run_one() { # ROUND WORKLOAD CONFIG
	local r=$1 w=$2 c=$3 n full wall rss status reason scaled tf=$scratch/time.out
	full=${SIZE[$w]}
	n=$(size_for "$c" "$w")
	reason=$(config_missing "$c")
	wall="" rss="" scaled=""
	if [ -z "$reason" ]; then
		workload_cmd "$w" "$n"
		config_pre "$c" "$w"
		rm -f "$tf"
		local t0=$EPOCHREALTIME t1
		/usr/bin/time -f '%e %M' -o "$tf" \
			timeout -s KILL "$run_timeout" env "${PRE[@]}" "${CMD[@]}" \
			>"$scratch/stdout" 2>"$scratch/stderr"
		status=$?
		t1=$EPOCHREALTIME
		local last
		last=$(tail -n 1 "$tf" 2>/dev/null)
		if [ "$status" -ne 0 ]; then
			if [ "$status" -eq 137 ]; then
				reason="killed after ${run_timeout}s (timeout) or by SIGKILL"
			elif grep -q 'terminated by signal' "$tf" 2>/dev/null; then
				reason=$(grep -m1 'terminated by signal' "$tf")
			else
				reason="exit status $status"
			fi
			local err
			err=$(grep -v '^$' "$scratch/stderr" | grep -v -i 'heaptrack\|^starting\|^ *heaptrack --analyze\|^/usr/lib.*\.so$' | tail -n 1 | cut -c1-160)
			[ -n "$err" ] && reason="$reason: $err"
		elif grep -q 'cannot be preloaded' "$scratch/stderr"; then
			reason=$(grep -m1 'cannot be preloaded' "$scratch/stderr" | cut -c1-160)
		elif ! [[ $last =~ ^[0-9.]+\ [0-9]+$ ]]; then
			reason="no measurement from /usr/bin/time (\"$last\")"
		elif ! output_ok "$c"; then
			reason="the profiler wrote nothing into $scratch/out"
		else
			wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
			rss=${last#* }
			scaled=$(awk -v t="$wall" -v f="$full" -v n="$n" 'BEGIN { printf "%.3f", t * f / n }')
		fi
	fi
	if [ -n "$reason" ]; then
		reason="$c on $w: $reason"
		note_failure "$w" "$c" "$reason"
		status=failed
	else
		status=ok
		TIMES[$w,$c]="${TIMES[$w,$c]:-} $scaled"
		RSS[$w,$c]="${RSS[$w,$c]:-} $rss"
	fi
	if [ -n "$tsv" ]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "$c" "$n" "$full" \
			"$status" "${wall:--}" "${scaled:--}" "${rss:--}" "${reason:--}" >>"$tsv"
	fi
	# Profiles and traces are not kept.
	rm -rf "$scratch/out" && mkdir -p "$scratch/out"
	printf '  round %s  %-8s %-10s %s\n' "$r" "$w" "$c" \
		"$([ "$status" = ok ] && echo "${scaled}s ${rss}KiB" || echo "failed")" >&2
}

median() { # numbers...
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) exit
		if (NR % 2) printf "%.3f", v[(NR + 1) / 2]
		else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { # A B
	[ -n "$1" ] && [ -n "$2" ] || { echo "-"; return; }
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

print_table() {
	local w c key med rss mj mg tilde nruns
	printf '%-8s %-10s %5s %10s %8s %8s %9s\n' workload config runs "median s" "x jemal" "x glibc" "RSS MiB"
	for w in $workloads; do
		mj=$( [ -n "${TIMES[$w,jemalloc]:-}" ] && median ${TIMES[$w,jemalloc]} )
		mg=$( [ -n "${TIMES[$w,glibc]:-}" ] && median ${TIMES[$w,glibc]} )
		for c in $configs; do
			key="$w,$c"
			tilde=""
			[ "$(size_for "$c" "$w")" != "${SIZE[$w]}" ] && tilde="~"
			if [ -n "${FAIL[$key]:-}" ] && [ -z "${TIMES[$key]:-}" ]; then
				printf '%-8s %-10s %5s %10s %8s %8s %9s\n' "$w" "$c" 0 "failed[${FAIL[$key]}]" - - -
				continue
			fi
			set -- ${TIMES[$key]:-}
			nruns=$#
			med=$(median "$@")
			rss=$(median ${RSS[$key]:-})
			rss=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
			local runs=$nruns
			[ -n "${FAIL[$key]:-}" ] && runs="$nruns[${FAIL[$key]}]"
			printf '%-8s %-10s %5s %10s %8s %8s %9s\n' "$w" "$c" "$runs" "$tilde$med" \
				"$(ratio "$med" "$mj")" "$(ratio "$med" "$mg")" "$tilde$rss"
		done
	done
	local i
	if [ ${#reasons[@]} -gt 0 ]; then
		echo
		for i in "${!reasons[@]}"; do
			echo "[$((i + 1))] failed: ${reasons[$i]}"
		done
	fi
	echo
	local sc
	sc=$(for c in $configs; do [ "${SCALE[$c]:-1}" != 1 ] && printf ' %s=%s' "$c" "${SCALE[$c]}"; done)
	[ -n "$sc" ] && echo "~ scaled run: configuration run at 1/S of the size (S:$sc; realloc never), time multiplied back; its RSS is of the smaller run"
	echo "ratios are of medians; a runs figure with [n] had some runs fail (footnote n)"
}

main() {
	parse_args "$@"
	parse_scale
	set_sizes
	setup
	if [ -n "$tsv" ]; then
		: >"$tsv" || die "cannot write $tsv"
		printf 'round\tworkload\tconfig\tsize\tfull_size\tstatus\twall_s\ttime_s\tpeak_rss_kib\treason\n' >"$tsv"
	fi
	echo "bench/run.sh: $rounds round(s); workloads: $workloads; configurations: $configs" >&2
	local r w c
	for ((r = 1; r <= rounds; r++)); do
		for w in $workloads; do
			for c in $configs; do
				run_one "$r" "$w" "$c"
			done
		done
	done
	echo
	echo "sizes: $(for w in $workloads; do printf '%s=%s ' "$w" "${SIZE[$w]}"; done); rounds: $rounds"
	print_table
	[ -n "$tsv" ] && echo "raw runs: $tsv"
	return 0
}

main "$@"
