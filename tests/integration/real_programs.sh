#!/bin/bash
# real_programs.sh: real programs under libheapprof.so must behave exactly as without it.
#
# Each program runs three times: without the library, with HEAPPROF=rate=1 (every
# allocation recorded) and with the default rate. The runs with the library must give the
# same exit status, stdout, stderr and output files as the run without, and leave exactly
# one complete *.exit.pb.gz profile per process (gcc's children cc1 and as included).
# TAP output; wall times as diagnostics.
#
# Environment (set by make check): HP_LIB, top_srcdir, top_builddir. REAL_SCALE (default 1)
# multiplies the input sizes; RUN_TIMEOUT (default 300) is the limit of one run in seconds.
# The inputs are sized so that the rate=1 runs (the slow ones) take about two minutes in all.
set -u

: "${top_builddir:=$PWD}"
: "${HP_LIB:=$top_builddir/lib/.libs/libheapprof.so}"
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
SCALE=${REAL_SCALE:-1}

ntests=0
nfail=0

# --- TAP ---------------------------------------------------------------------------------
ok() {
	ntests=$((ntests + 1))
	echo "ok $ntests - $1"
}
not_ok() {
	ntests=$((ntests + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntests - $1"
}
diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}
# check DESC CMD...: one test, passing when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

now_ns() {
	date +%s%N
}

# --- setup -------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hp-real.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3 || true)

# need PROG PACKAGE: a test that PROG exists; failing, with the package to install.
need() {
	if command -v "$1" >/dev/null 2>&1; then
		ok "$1 is installed"
		return 0
	fi
	not_ok "$1 is installed"
	diag "$1 not found: install $2"
	return 1
}

# --- inputs ------------------------------------------------------------------------------
write_python_script() {
	{
		echo "N = $((12000 * SCALE))"
		cat <<'EOF'
import hashlib, json, random
rng = random.Random(20240501)
alpha = "abcdefghijklmnopqrstuvwxyz"
words = ["".join(rng.choice(alpha) for _ in range(rng.randint(3, 12))) for _ in range(4000)]
records = []
for i in range(N):
    records.append({
        "id": i,
        "name": rng.choice(words),
        "tags": [rng.choice(words) for _ in range(rng.randint(0, 8))],
        "score": rng.random(),
        "nested": {"a": [rng.randint(0, 10**6) for _ in range(rng.randint(0, 12))],
                   "b": {w: len(w) for w in rng.sample(words, 3)}},
    })
text = json.dumps(records, sort_keys=True)
back = json.loads(text)
assert back == records
index = {}
for r in back:
    index.setdefault(r["name"], []).append(r["id"])
    for t in r["tags"]:
        index.setdefault(t, []).append(-r["id"])
pairs = sorted((k, sum(v), len(v)) for k, v in index.items())
text2 = json.dumps({"pairs": pairs, "n": len(back)}, indent=1)
again = json.loads(text2)
h = hashlib.sha256()
h.update(text.encode())
h.update(text2.encode())
print(len(text), len(text2), len(again["pairs"]), h.hexdigest())
EOF
	} >"$tmp/work.py"
}

write_perl_script() {
	{
		echo "my \$N = $((100000 * SCALE));"
		cat <<'EOF'
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
my $seed = 12345;
sub rnd { $seed = ($seed * 1103515245 + 12345) % 2147483648; return $seed; }
my @alpha = ('a' .. 'z');
my %h;
for my $i (1 .. $N) {
    my $k = join('', map { $alpha[rnd() % 26] } 1 .. (3 + rnd() % 10));
    push @{ $h{$k} }, $i;
}
my $out = '';
for my $k (sort keys %h) {
    my $v = $h{$k};
    $out .= $k . ':' . scalar(@$v) . ':' . join(',', @$v[0 .. ($#$v < 3 ? $#$v : 3)]) . "\n";
}
my @parts = split /\n/, $out;
my %len;
$len{ length $_ }++ for @parts;
my $s = join(';', map { "$_=$len{$_}" } sort { $a <=> $b } keys %len);
(my $rev = reverse $out) =~ s/[aeiou]/uc $&/ge;
print scalar(keys %h), ' ', length($out), ' ', md5_hex($out), ' ', md5_hex($rev), "\n", $s, "\n";
EOF
	} >"$tmp/work.pl"
}

# A C file of a few thousand lines: structs, loops, switches, calls.
write_c_source() {
	awk -v n=$((250 * SCALE)) 'BEGIN {
		print "#include <string.h>"
		print "struct rec0 { int a; double b; char name[8]; };"
		print "static int f0(int x, const struct rec0 *r) { return x + r->a; }"
		for (i = 1; i < n; i++) {
			printf "struct rec%d { int a; double b; char name[%d]; struct rec%d *prev; };\n", i, 8 + i % 24, i - 1
			printf "static int f%d(int x, const struct rec%d *r)\n{\n", i, i
			printf "\tint acc = x * %d;\n", i * 7 + 1
			printf "\tfor (int k = 0; k < %d; k++) {\n", 3 + i % 17
			printf "\t\tswitch ((acc + k) %% 5) {\n"
			printf "\t\tcase 0: acc += k * %d; break;\n", i
			printf "\t\tcase 1: acc ^= (acc << 3) + r->a; break;\n"
			printf "\t\tcase 2: acc -= (int)(r->b * %d.5); break;\n", i % 11
			printf "\t\tcase 3: acc += (int)strlen(r->name); break;\n"
			printf "\t\tdefault: acc = acc * 31 + k; break;\n\t\t}\n\t}\n"
			printf "\tif (r->prev && (acc & 1))\n\t\tacc += f%d(acc, (const struct rec%d *)r->prev);\n", i - 1, i - 1
			printf "\treturn acc;\n}\n"
		}
		printf "int entry(int x, const void *r);\nint entry(int x, const void *r)\n{\n"
		printf "\treturn f%d(x, r);\n}\n", n - 1
	}' >"$tmp/big.c"
}

# About 30 MB of lines for sort.
write_sort_input() {
	awk -v n=$((700000 * SCALE)) 'BEGIN {
		s = 1
		for (i = 0; i < n; i++) {
			s = (s * 1103515245 + 12345) % 2147483648
			t = (s * 69069 + 1) % 2147483648
			printf "%010d %s line-%d %08x\n", s % 1000000007, substr("qwertyuiopasdfghjklzxcvbnm", s % 20 + 1, 6), i, t
		}
	}' >"$tmp/sort.in"
}

# --- the programs: each runs in the current directory, which receives its output files ---
prog_python() {
	PYTHONMALLOC=malloc PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 exec "$python" "$tmp/work.py"
}
prog_gcc() {
	exec gcc -O2 -c "$tmp/big.c" -o big.o
}
prog_perl() {
	PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 exec perl "$tmp/work.pl"
}
prog_sort() {
	LC_ALL=C exec sort -S 64M "$tmp/sort.in" -o sorted.out
}
prog_mt_cxx() {
	exec "$top_builddir/tests/progs/mt_cxx" $((100 * SCALE)) 6
}

# --- running -----------------------------------------------------------------------------
# run NAME CFG: run prog_NAME in $tmp/NAME.CFG/out; stdout, stderr, status, pid and wall
# time go to files next to it, profiles to $tmp/NAME.CFG/prof.
run() {
	local name=$1 cfg=$2 d="$tmp/$1.$2" t0 t1 rc
	mkdir -p "$d/out" "$d/prof"
	t0=$(now_ns)
	(
		cd "$d/out" || exit 125
		echo "$BASHPID" >"$d/pid"
		case $cfg in
		base) ;;
		rate1) export LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$d/prof/x,rate=1" ;;
		default) export LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$d/prof/y" ;;
		esac
		"prog_$name"
	) >"$d/stdout" 2>"$d/stderr" &
	local child=$!
	watchdog "$child" "$d/timedout" >/dev/null 2>&1 &
	local dog=$!
	wait "$child"
	rc=$?
	kill "$dog" 2>/dev/null
	wait "$dog" 2>/dev/null
	t1=$(now_ns)
	echo "$rc" >"$d/status"
	[ -e "$d/timedout" ] && diag "$name $cfg: killed after ${RUN_TIMEOUT}s"
	diag "$name $cfg: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')s wall, exit $rc"
}

# watchdog PID FLAG: kill PID (a hung run) after RUN_TIMEOUT seconds, creating FLAG.
watchdog() {
	local i
	for ((i = 0; i < RUN_TIMEOUT; i++)); do
		sleep 1
		kill -0 "$1" 2>/dev/null || exit 0
	done
	: >"$2"
	kill -KILL "$1" 2>/dev/null
}

same_file() {
	if cmp -s "$1" "$2"; then return 0; fi
	diag "$2 differs from $1:" "$(diff "$1" "$2" 2>&1 | head -n 20)"
	return 1
}

same_tree() {
	local out
	if out=$(diff -r "$1" "$2" 2>&1); then return 0; fi
	diag "$out"
	return 1
}

# profiles_ok DIR PID MINPROCS: DIR holds only complete *.exit.pb.gz profiles, exactly one
# per process, one of them PID's, from at least MINPROCS processes.
profiles_ok() {
	local dir=$1 pid=$2 minprocs=$3 f b p bad=0
	local -A count=()
	for f in "$dir"/* "$dir"/.[!.]*; do
		[ -e "$f" ] || continue
		b=${f##*/}
		if ! [[ $b =~ ^[xy]\.([0-9]+)\.[0-9]{4}\.exit\.pb\.gz$ ]]; then
			diag "unexpected file: $b"
			bad=1
			continue
		fi
		p=${BASH_REMATCH[1]}
		count[$p]=$((${count[$p]:-0} + 1))
		if ! gzip -t "$f" 2>/dev/null; then
			diag "$b: gzip -t fails"
			bad=1
		elif [ "$(gzip -dc "$f" | head -c 1 | wc -c)" -eq 0 ]; then
			diag "$b: empty profile"
			bad=1
		fi
	done
	for p in "${!count[@]}"; do
		if [ "${count[$p]}" -ne 1 ]; then
			diag "pid $p: ${count[$p]} exit profiles"
			bad=1
		fi
	done
	if [ -z "${count[$pid]:-}" ]; then
		diag "no exit profile for pid $pid (files: $(ls -A "$dir" | tr '\n' ' '))"
		bad=1
	fi
	if [ "${#count[@]}" -lt "$minprocs" ]; then
		diag "profiles from ${#count[@]} processes, expected at least $minprocs"
		bad=1
	fi
	return "$bad"
}

# test_program NAME MINPROCS: three runs of prog_NAME and their checks.
test_program() {
	local name=$1 minprocs=$2 cfg b d
	run "$name" base
	b="$tmp/$name.base"
	check "$name without the library: exit 0" [ "$(cat "$b/status")" = 0 ]
	[ -s "$b/stderr" ] && diag "$name stderr:" "$(head -n 20 "$b/stderr")"
	for cfg in rate1 default; do
		run "$name" "$cfg"
		d="$tmp/$name.$cfg"
		check "$name $cfg: same exit status" same_file "$b/status" "$d/status"
		check "$name $cfg: same stdout" same_file "$b/stdout" "$d/stdout"
		check "$name $cfg: same stderr" same_file "$b/stderr" "$d/stderr"
		check "$name $cfg: same output files" same_tree "$b/out" "$d/out"
		check "$name $cfg: one complete exit profile per process" \
			profiles_ok "$d/prof" "$(cat "$d/pid")" "$minprocs"
	done
}

main() {
	local have_lib=1
	if [ -f "$HP_LIB" ]; then ok "library $HP_LIB exists"; else
		not_ok "library $HP_LIB exists"
		have_lib=0
	fi
	need gzip gzip
	if [ "$have_lib" = 1 ]; then
		if [ -n "$python" ] && need "$python" python3; then
			write_python_script
			test_program python 1
		elif [ -z "$python" ]; then
			not_ok "python3 is installed"
			diag "python3 not found: install python3"
		fi
		if need gcc gcc; then
			write_c_source
			# gcc runs cc1 and as: three processes at least.
			test_program gcc 3
		fi
		if need perl perl; then
			write_perl_script
			test_program perl 1
		fi
		if need sort coreutils; then
			write_sort_input
			test_program sort 1
		fi
		if [ -x "$top_builddir/tests/progs/mt_cxx" ]; then
			ok "mt_cxx is built"
			test_program mt_cxx 1
		else
			not_ok "mt_cxx is built"
			diag "$top_builddir/tests/progs/mt_cxx missing: make check builds it"
		fi
	fi
	echo "1..$ntests"
	diag "$nfail of $ntests tests failed"
	# Exit 0: the TAP lines carry the verdicts (non-zero would be reported as an ERROR).
}

main
