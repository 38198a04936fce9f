#!/bin/bash
# micro.sh: the sample path and the dump, measured (issue 5, targets 4 and 5).
#
# usage: bench/micro.sh [--quick] [--no-perf] [--no-dump] [--no-mem]
#   --quick    fewer runs and iterations (a smoke run, figures noisier)
#   --no-perf  skip the perf profile of the sample path at depth 32
#   --no-dump  skip the dump benchmark
#   --no-mem   skip the memory (RSS) benchmark
#
# Prints tables:
#  1. ns per malloc(64)+free pair: glibc, plain jemalloc (LD_PRELOAD libjemalloc.so.2),
#     heapprof with HEAPPROF=rate=0 (median of RUNS runs, interleaved).
#  2. ns per sampled allocation at stack depths 8, 32, 64: the pair under heapprof at rate=1
#     (every allocation sampled and unwound) minus the pair at rate=0, median of RUNS
#     interleaved runs (target: < 1000 ns at depth 32).
#  3. perf record -e cpu-clock of the rate=1 loop at depth 32: the top 10 symbols.
#  4. heapprof_dump with 10,000 and 100,000 distinct stacks: ms (median of 3; target
#     < 500 ms at 100,000), and an allocating thread's waits during a dump against an idle
#     window of the same length (target: no wait > 1 ms because of a dump).
#  5. peak RSS of a python3 (PYTHONMALLOC=malloc) JSON/dict workload: glibc, jemalloc and
#     heapprof at rate=0, 512k and 1, with heapprof's in-use estimate at the end; and
#     heapprof's own memory (target 5) at that workload's largest live heap, 3 runs.
#  6. heapprof's own memory on gcc (target 5): cc1 -O2 on bench/wl_gen_c.py 300, a profile
#     every 32 MiB allocated at 512k, against the process's anonymous resident memory
#     (gcc keeps most of its heap in its own collector's mmap'd pages, out of malloc's
#     sight). cc1 is run directly, as bench/run.sh does: under `gcc -c` the driver and the
#     assembler would be profiled too, and their profiles are not gcc's heap.
#
# Environment: top_builddir (default: the current directory), HP_LIB (default
# $top_builddir/lib/.libs/libheapprof.so), JEMALLOC_SO (default
# /usr/lib/x86_64-linux-gnu/libjemalloc.so.2), CC (default gcc), PERF (default perf),
# PYTHON (default /usr/bin/python3), RUNS (default 7; 3 with --quick).
# The programs are built with $CC -O2 -g -fno-omit-frame-pointer into a temporary directory.
# Exit status: 0 done, 2 could not measure. Targets are reported, not enforced.
set -u

builddir=${top_builddir:-$PWD}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
hp_lib=${HP_LIB:-$builddir/lib/.libs/libheapprof.so}
jemalloc_so=${JEMALLOC_SO:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
cc=${CC:-gcc}
perf=${PERF:-perf}
python=${PYTHON:-/usr/bin/python3}
quick=0
do_perf=1
do_dump=1
do_mem=1

die() {
	echo "micro.sh: $*" >&2
	exit 2
}

for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	--no-perf) do_perf=0 ;;
	--no-dump) do_dump=0 ;;
	--no-mem) do_mem=0 ;;
	*) die "unknown argument: $a (see the header of $0)" ;;
	esac
done

if [ "$quick" = 1 ]; then
	runs=${RUNS:-3}
	n_pair=2000000
	n_sample=50000
	dump_sizes="10000 100000"
else
	runs=${RUNS:-7}
	n_pair=20000000
	n_sample=200000
	dump_sizes="10000 100000"
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"

[ -f "$hp_lib" ] || die "$hp_lib not found: build heapprof first (make), or set HP_LIB"
[ -f "$jemalloc_so" ] || die "$jemalloc_so not found: install libjemalloc2"
command -v "$cc" >/dev/null 2>&1 || die "$cc not found: install gcc"

work=$(mktemp -d "${TMPDIR:-/tmp}/hp-micro.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$work"' EXIT

cflags="-O2 -g -fno-omit-frame-pointer -Wall -Wextra"
"$cc" $cflags -o "$work/sample_cost" "$srcdir/bench/sample_cost.c" ||
	die "cannot build bench/sample_cost.c"
"$cc" $cflags -I"$srcdir/include" -o "$work/dump_cost" "$srcdir/bench/dump_cost.c" \
	-lpthread -ldl || die "cannot build bench/dump_cost.c"

# median: of the numbers on stdin, one a line.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# pair NAME DEPTH N VAR=VALUE...: one run of sample_cost; prints ns per pair.
pair() {
	local name=$1 depth=$2 n=$3 out
	shift 3
	out=$(env "$@" "$work/sample_cost" "$depth" "$n" 2>"$work/err.$name") ||
		die "$name: sample_cost $depth $n failed: $(cat "$work/err.$name")"
	[ -s "$work/err.$name" ] && die "$name: $(cat "$work/err.$name")"
	echo "$out" | sed -n 's/.*ns_per_pair=\([0-9.]*\).*/\1/p'
}

HP0=(LD_PRELOAD="$hp_lib" HEAPPROF=rate=0,at_exit=0,signal=none)
HP1=(LD_PRELOAD="$hp_lib" HEAPPROF=rate=1,at_exit=0,signal=none)
JE=(LD_PRELOAD="$jemalloc_so")

echo "# heapprof micro-benchmarks: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs," \
	"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# library: $hp_lib; runs: $runs"
echo

# ---- 1. the plain pair ----
: >"$work/p.glibc"; : >"$work/p.je"; : >"$work/p.hp0"
for ((r = 0; r < runs; r++)); do
	pair glibc 32 "$n_pair" >>"$work/p.glibc" || exit 2
	pair jemalloc 32 "$n_pair" "${JE[@]}" >>"$work/p.je" || exit 2
	pair hp0 32 "$n_pair" "${HP0[@]}" >>"$work/p.hp0" || exit 2
done
echo "## 1. malloc(64)+free pair, ns (median of $runs, $n_pair pairs a run)"
printf '%-26s %10s %10s %10s\n' config median min max
for c in glibc:glibc je:"jemalloc (LD_PRELOAD)" hp0:"heapprof rate=0"; do
	f=${c%%:*}
	printf '%-26s %10s %10s %10s\n' "${c#*:}" "$(median <"$work/p.$f")" \
		"$(sort -g "$work/p.$f" | head -1)" "$(sort -g "$work/p.$f" | tail -1)"
done
echo

# ---- 2. the sample path ----
echo "## 2. cost of one sampled allocation (rate=1 pair - rate=0 pair), ns"
echo "## median of $runs interleaved runs; rate=1: $n_sample pairs a run, rate=0: $n_pair"
printf '%-6s %12s %12s %14s %10s %10s  %s\n' depth "rate=1 pair" "rate=0 pair" "sample cost" min max target
for d in 8 32 64; do
	: >"$work/s1.$d"; : >"$work/s0.$d"; : >"$work/sd.$d"
done
for ((r = 0; r < runs; r++)); do
	for d in 8 32 64; do
		a=$(pair "hp1-$d" "$d" "$n_sample" "${HP1[@]}") || exit 2
		b=$(pair "hp0-$d" "$d" "$n_pair" "${HP0[@]}") || exit 2
		echo "$a" >>"$work/s1.$d"
		echo "$b" >>"$work/s0.$d"
		awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f\n", a - b }' >>"$work/sd.$d"
	done
done
for d in 8 32 64; do
	m=$(median <"$work/sd.$d")
	t=""
	if [ "$d" = 32 ]; then
		t=$(awk -v m="$m" 'BEGIN { print (m < 1000 ? "< 1000 ns: met" : "< 1000 ns: MISSED") }')
	fi
	printf '%-6s %12s %12s %14s %10s %10s  %s\n' "$d" "$(median <"$work/s1.$d")" \
		"$(median <"$work/s0.$d")" "$m" "$(sort -g "$work/sd.$d" | head -1)" \
		"$(sort -g "$work/sd.$d" | tail -1)" "$t"
done
echo

# ---- 3. where the time goes at depth 32 ----
if [ "$do_perf" = 1 ]; then
	echo "## 3. perf record -e cpu-clock, rate=1, depth 32: top 10 symbols (self time)"
	if ! command -v "$perf" >/dev/null 2>&1; then
		echo "perf not found: install linux-perf (section skipped)"
	elif ! "$perf" record -q -e cpu-clock -F 20000 -o "$work/perf.data" -- \
		env "${HP1[@]}" "$work/sample_cost" 32 "$((n_sample * 2))" >/dev/null 2>"$work/perf.err"; then
		echo "perf record failed: $(tail -3 "$work/perf.err")"
	else
		echo "by object:"
		"$perf" report -i "$work/perf.data" --stdio --no-children --sort dso 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -6 | sed 's/^ */  /'
		echo "top 10 symbols (libunwind's are its internal functions: Debian strips them):"
		"$perf" report -i "$work/perf.data" --stdio --no-children --sort dso,symbol \
			2>/dev/null | grep -v '^#' | grep -v '^$' | head -10 | sed 's/^ */  /'
	fi
	echo
fi

# ---- 4. the dump ----
if [ "$do_dump" = 1 ]; then
	mkdir -p "$work/dump"
	for s in $dump_sizes; do
		if ! env "${HP1[@]}" "$work/dump_cost" "$s" "$work/dump" 3 >"$work/dump.$s" 2>"$work/dump.err.$s"; then
			die "dump_cost $s failed: $(cat "$work/dump.err.$s")"
		fi
	done
	echo "## 4a. heapprof_dump (rate=1, every stack distinct), ms: median of 3"
	printf '%-9s %9s %10s %11s %9s  %s\n' stacks created dump_ms profile_KB setup_ms target
	for s in $dump_sizes; do
		f=$work/dump.$s
		ms=$(sed -n 's/^dump median_ms //p' "$f")
		t=""
		[ "$s" = 100000 ] && t=$(awk -v m="$ms" 'BEGIN { print (m < 500 ? "< 500 ms: met" : "< 500 ms: MISSED") }')
		printf '%-9s %9s %10s %11s %9s  %s\n' "$s" "$(awk '/^stacks/ { print $4 }' "$f")" "$ms" \
			"$(awk '/^dump round 1 / { printf "%.0f", $7 / 1024 }' "$f")" \
			"$(awk '/^stacks/ { print $6 }' "$f")" "$t"
	done
	echo
	echo "## 4b. an allocating thread during a dump (median over 3 rounds of each figure)"
	echo "## waiter rate 1: its every pair sampled; 524288: the default rate"
	echo "## blocked = pairs in which the thread slept (a lock); preempted = only involuntary switches"
	printf '%-8s %-7s %-6s %9s %9s %9s %8s %14s %10s\n' stacks waiter window pairs p999_us max_us blocked max_blocked_us preempted
	for s in $dump_sizes; do
		for rate in 1 524288; do
			for w in idle dump; do
				awk -v rate="$rate" -v w="$w" -v s="$s" '
					$1 == "wait" && $3 == rate && $7 == w {
						n++; pairs[n] = $9; p[n] = $11; mx[n] = $13; b[n] = $15; mb[n] = $17; pr[n] = $19
					}
					function med(a,   i, j, t, c) {
						c = n
						for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
						return a[int((c + 1) / 2)]
					}
					END { if (n) printf "%-8s %-7s %-6s %9s %9s %9s %8s %14s %10s\n", s, rate, w, med(pairs), med(p), med(mx), med(b), med(mb), med(pr) }
				' "$work/dump.$s"
			done
		done
	done
	echo "## worst single pair over all rounds (any cause / blocked only):"
	for s in $dump_sizes; do
		awk -v s="$s" '$1 == "wait" && $7 == "dump" { if ($13 > m) m = $13; if ($17 > b) b = $17 }
			END { printf "##   %s stacks: max %s us, max blocked %s us%s\n", s, m, b + 0, (b < 1000 ? " (target 1 ms: met for blocking)" : " (target 1 ms: MISSED)") }' "$work/dump.$s"
	done
	echo
fi

# ---- 5. memory ----
if [ "$do_mem" = 1 ]; then
	cat >"$work/workload.py" <<'EOF'
# JSON/dict-heavy workload: builds, serialises and parses nested records, keeping a share.
import ctypes, json, resource, sys
keep = []
for i in range(40):
    recs = [{"id": j, "name": "item%d" % j, "tags": ["t%d" % (j % 7), "u%d" % (j % 13)],
             "attrs": {"k%d" % k: k * j for k in range(8)}} for j in range(3000)]
    s = json.dumps(recs)
    back = json.loads(s)
    keep.append(back[: 1000])
    if len(keep) > 20:
        keep.pop(0)
inuse = -1
try:
    lib = ctypes.CDLL(None)
    class T(ctypes.Structure):
        _fields_ = [(n, ctypes.c_uint64) for n in
                    ("alloc_objects", "alloc_bytes", "inuse_objects", "inuse_bytes", "samples", "stacks")]
    t = T()
    if lib.heapprof_get_totals(ctypes.byref(t)) == 0:
        inuse = t.inuse_bytes
        stacks = t.stacks
except (AttributeError, OSError):
    pass
print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "inuse_bytes", inuse,
      "stacks", stacks if inuse >= 0 else -1)
EOF
	[ -x "$python" ] || die "$python not found: install python3"
	declare -A mem_env=(
		[glibc]=""
		[jemalloc]="LD_PRELOAD=$jemalloc_so"
		[hp-rate0]="LD_PRELOAD=$hp_lib HEAPPROF=rate=0,at_exit=0,signal=none"
		[hp-512k]="LD_PRELOAD=$hp_lib HEAPPROF=rate=512k,at_exit=0,signal=none"
		[hp-rate1]="LD_PRELOAD=$hp_lib HEAPPROF=rate=1,at_exit=0,signal=none"
	)
	configs="glibc jemalloc hp-rate0 hp-512k hp-rate1"
	mruns=3
	for ((r = 0; r < mruns; r++)); do
		for c in $configs; do
			# shellcheck disable=SC2086
			env PYTHONMALLOC=malloc ${mem_env[$c]} "$python" "$work/workload.py" >>"$work/mem.$c" 2>"$work/mem.err" ||
				die "python workload ($c) failed: $(cat "$work/mem.err")"
		done
	done
	# The sampled arena's own pages at exit, from jemalloc's statistics: the last arena
	# listed is the one heapprof created for sampled blocks.
	for c in hp-512k hp-rate1; do
		# shellcheck disable=SC2086
		env PYTHONMALLOC=malloc ${mem_env[$c]} MALLOC_CONF=stats_print:true "$python" \
			"$work/workload.py" >"$work/stats.$c" 2>&1 || die "python workload ($c, stats) failed"
	done
	echo "## 5. python3 (PYTHONMALLOC=malloc) JSON/dict workload: peak RSS, median of $mruns"
	echo "## inuse = heapprof's own estimate of the program's live heap at the end"
	printf '%-10s %12s %14s %10s %16s\n' config maxrss_MB "- rate=0 (MB)" inuse_MB "stacks"
	base=$(awk '{ print $2 }' "$work/mem.hp-rate0" | median)
	for c in $configs; do
		rss=$(awk '{ print $2 }' "$work/mem.$c" | median)
		inuse=$(awk '{ print $4 }' "$work/mem.$c" | median)
		st=$(awk '{ print $6 }' "$work/mem.$c" | median)
		d=""
		case $c in hp-*) d=$(awk -v a="$rss" -v b="$base" 'BEGIN { printf "%+.1f", (a - b) / 1024 }') ;; esac
		printf '%-10s %12s %14s %10s %16s\n' "$c" "$(awk -v a="$rss" 'BEGIN { printf "%.1f", a / 1024 }')" "$d" \
			"$(awk -v a="$inuse" 'BEGIN { if (a < 0) print "-"; else printf "%.1f", a / 1048576 }')" \
			"$(awk -v a="$st" 'BEGIN { if (a < 0) print "-"; else print a }')"
	done
	echo "## the sampled arena at exit (jemalloc stats_print: its last arenas[N] block), MB:"
	for c in hp-512k hp-rate1; do
		awk -v c="$c" '/^arenas\[[0-9]+\]:/ { a = $1 } a != "" && /^mapped:/ { m[a] = $2 } a != "" && /^resident:/ { r[a] = $2 }
			END { printf "##   %-9s %s mapped %.1f resident %.1f\n", c, a, m[a] / 1048576, r[a] / 1048576 }' "$work/stats.$c"
	done
	# heapprof's own account (the last comment of each profile; doc/DESIGN.md, "The
	# profiler's own memory"): profiles every 16 MiB allocated, the one with the largest
	# live heap is shown.
	go=$(command -v go || true)
	if [ -n "$go" ]; then
		echo "## heapprof's own account at the largest live heap (512k), 3 runs:"
		for r in 1 2 3; do
			rm -rf "$work/own"
			mkdir -p "$work/own"
			env PYTHONMALLOC=malloc LD_PRELOAD="$hp_lib" HEAPPROF="rate=512k,interval=16m,signal=none,prefix=$work/own/p" \
				"$python" "$work/workload.py" >/dev/null 2>"$work/own.err" || die "python workload (own memory) failed"
			for f in "$work"/own/p.*.pb.gz; do
				"$go" tool pprof -comments "$f" 2>/dev/null | grep '^heapprof: own memory'
			done | awk '{ for (i = 1; i <= NF; i++) if ($i == "live" && $(i + 1) == "heap" && $(i + 2) ~ /^[0-9.]+$/) l = $(i + 2)
				if (l + 0 >= best) { best = l + 0; line = $0 } }
				END { print "##   " line }'
		done
	else
		echo "## heapprof's own account: go not found (go tool pprof -comments reads it)"
	fi
	echo
	cc1=$("$cc" -print-prog-name=cc1)
	if [ -n "$go" ] && [ -x "$cc1" ]; then
		"$python" "$srcdir/bench/wl_gen_c.py" 300 >"$work/gen.c" || die "bench/wl_gen_c.py failed"
		echo "## 6. gcc (cc1 -O2, bench/wl_gen_c.py 300): heapprof's own memory at 512k, a profile every 32 MiB"
		echo "## % of the process's anonymous resident memory: at its largest, the mean and the highest over a run's profiles"
		printf '%-4s %9s %14s %10s %10s %14s\n' run profiles "at largest %" "mean %" "max %" "own mean MiB"
		for r in 1 2 3; do
			rm -rf "$work/cc"
			mkdir -p "$work/cc"
			LD_PRELOAD="$hp_lib" HEAPPROF="rate=512k,interval=32m,signal=none,prefix=$work/cc/p" \
				"$cc1" -quiet -O2 "$work/gen.c" -o "$work/cc/gen.s" 2>"$work/cc.err" || die "cc1 failed: $(cat "$work/cc.err")"
			for f in "$work"/cc/p.*.pb.gz; do
				"$go" tool pprof -comments "$f" 2>/dev/null | grep '^heapprof: own memory'
			done | awk -v r="$r" '{ own = $4; for (i = 1; i <= NF; i++) if ($i == "resident" && $(i + 2) == "MiB") { a = $(i + 1); p = $(i + 4) }
				sub(/%$/, "", p); n++; s += p; so += own; if (p + 0 > mx) mx = p + 0; if (a + 0 >= ba) { ba = a + 0; bp = p }
				} END { if (n) printf "%-4s %9d %14s %10.2f %10.2f %14.2f\n", r, n, bp, s / n, mx, so / n; else print r, "no profile" }'
		done
	else
		echo "## 6. gcc: skipped (go or $cc's cc1 not found)"
	fi
	echo
fi
exit 0
