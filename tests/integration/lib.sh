# tests/integration/lib.sh: shared helpers for the integration tests (sourced, bash).
#
# Output is TAP: "ok N - desc" / "not ok N - desc", diagnostics "# ...", and the plan
# "1..N" at the end (done_testing). A test that cannot run must report "not ok", never
# "ok" and never a skip: missing tools are failures with a message saying how to fix them.
#
# Environment (set by make check): HP_LIB, top_srcdir, top_builddir (absolute paths).
# HP_KEEP_TMP=1 keeps the scratch directory ($tmp) for inspection.

set -u

tap_n=0
tap_failed=0
tap_done=0

# --- TAP -----------------------------------------------------------------------------

# ok STATUS DESC...: "ok" if STATUS is 0.
ok() {
	local status=$1
	shift
	tap_n=$((tap_n + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $tap_n - $*"
	else
		tap_failed=$((tap_failed + 1))
		echo "not ok $tap_n - $*"
	fi
	return "$status"
}

pass() { ok 0 "$@"; }
fail() { ok 1 "$@"; }

# check DESC CMD ARGS...: runs CMD; ok if it succeeds.
check() {
	local desc=$1
	shift
	"$@"
	ok $? "$desc"
}

# diag MSG...: a TAP diagnostic line per line of MSG.
diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# diag_file FILE [MAX]: the first MAX (20) lines of FILE as diagnostics.
diag_file() {
	[ -s "$1" ] || return 0
	head -n "${2:-20}" "$1" | sed 's/^/#   /'
}

# done_testing: prints the plan, exits 1 if any test failed.
done_testing() {
	tap_done=1
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ] || exit 1
	exit 0
}

# bail MSG: stops everything (the TAP driver reports an error).
bail() {
	echo "Bail out! $*"
	exit 99
}

# --- environment ---------------------------------------------------------------------

# need_env: fails the test (and stops) if make check's variables are missing.
need_env() {
	local v missing=
	for v in HP_LIB top_srcdir top_builddir; do
		eval "[ -n \"\${$v:-}\" ]" || missing="$missing $v"
	done
	if [ -n "$missing" ]; then
		fail "environment set (missing:$missing; run through make check)"
		done_testing
	fi
	if [ ! -f "$HP_LIB" ]; then
		fail "library built: $HP_LIB not found"
		done_testing
	fi
}

# need_prog NAME...: fails (and stops) unless $top_builddir/tests/progs/NAME exist.
need_prog() {
	local p
	for p in "$@"; do
		if [ ! -x "$top_builddir/tests/progs/$p" ]; then
			fail "test program built: $top_builddir/tests/progs/$p not found"
			done_testing
		fi
	done
}

# need_tool NAME...: fails (and stops) unless NAME is on PATH.
need_tool() {
	local t
	for t in "$@"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			fail "$t not found: install it (see README)"
			done_testing
		fi
	done
}

# need_go: sets GO, or fails (not skips) and stops.
GO=
need_go() {
	if [ -x /usr/bin/go ]; then
		GO=/usr/bin/go
	elif command -v go >/dev/null 2>&1; then
		GO=$(command -v go)
	else
		fail "go not found: run the README setup"
		done_testing
	fi
}

# --- scratch directory ---------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/heapprof-it.XXXXXX") || bail "mktemp -d failed"

cleanup() {
	local rc=$?
	if [ "${HP_KEEP_TMP:-0}" = 1 ]; then
		echo "# kept $tmp"
	else
		rm -rf "$tmp"
	fi
	if [ "$tap_done" -eq 0 ] && [ "$rc" -ne 0 ]; then
		echo "# stopped early (status $rc)"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- go tool pprof -------------------------------------------------------------------

# pprof ARGS...: go tool pprof with its state inside $tmp, no module flags, and no
# symbolization from binaries (names must come from the profile itself).
pprof() {
	mkdir -p "$tmp/.home" "$tmp/.gopath" "$tmp/.pprof" "$tmp/.gocache"
	env -u GOFLAGS -u GOROOT_FINAL HOME="$tmp/.home" GOPATH="$tmp/.gopath" \
		GOCACHE="$tmp/.gocache" PPROF_TMPDIR="$tmp/.pprof" PPROF_BINARY_PATH=/nonexistent \
		timeout 120 "$GO" tool pprof -symbolize=none "$@"
}

# pprof_flat FILE SAMPLE_INDEX: "function value" lines, the flat values of -top in raw
# units (bytes or counts), summed per function name.
pprof_flat() {
	pprof -top -unit=B -nodecount=100000 -nodefraction=0 -sample_index="$2" "$1" \
		2>"$tmp/pprof.err" | awk '
		hdr && NF >= 6 {
			v = $1; sub(/[^0-9.]+$/, "", v)
			name = $6; for (i = 7; i <= NF; i++) name = name " " $i
			sum[name] += v
		}
		$1 == "flat" && $2 == "flat%" { hdr = 1 }
		END { for (n in sum) printf "%s %.0f\n", n, sum[n] }'
}

# flat_of FUNCTION < pprof_flat output: the value, or empty if the function is absent.
flat_of() {
	awk -v f="$1" '$1 == f { print $2; found = 1; exit } END { if (!found) print "" }'
}

# pprof_traces FILE [ARGS...]: one line per sample from -traces, its frames leaf first,
# joined with ";" (label lines "key: value" and the header are skipped).
pprof_traces() {
	local f=$1
	shift
	pprof -traces "$@" "$f" 2>"$tmp/pprof.err" | awk '
		function flush() { if (n > 0) print frames; n = 0; frames = "" }
		/^-+\+-+$/ { flush(); insample = 1; n = 0; next }
		!insample { next }
		/^ *[A-Za-z_][A-Za-z0-9_.]*: / { next }
		NF == 0 { next }
		n == 0 {
			# first frame line: the value, then the leaf
			name = $2; for (i = 3; i <= NF; i++) name = name " " $i
			frames = name; n = 1; next
		}
		{ name = $0; sub(/^ +/, "", name); frames = frames ";" name; n++ }
		END { flush() }'
}

# pprof_top TYPE FILE: "total top-function" of one sample type from go tool pprof -top
# (raw units: bytes or objects).
pprof_top() {
	pprof -top -unit=B -nodefraction=0 -sample_index="$1" "$2" 2>"$tmp/pprof.err" | awk '
		/^Showing nodes accounting for / { t = $0; sub(/.* of /, "", t); sub(/B? total.*/, "", t)
			total = t }
		hdr && name == "" { name = $6; for (i = 7; i <= NF; i++) name = name " " $i }
		$1 == "flat" && $2 == "flat%" { hdr = 1 }
		END { print total, name }'
}

# legacy_top READER TYPE BINARY FILE: "total top-function" from google-pprof or jeprof
# --text on BINARY (exact bytes or objects; their notes on stderr go to $tmp/perl.err).
legacy_top() {
	HOME="$tmp/.home" timeout 60 "$1" --text --show_bytes --"$2" "$3" "$4" \
		2>"$tmp/perl.err" | awk '
		/^Total: / { total = $2; next }
		total != "" && name == "" && NF >= 6 {
			name = $6; for (i = 7; i <= NF; i++) name = name " " $i }
		END { print total, name }'
}

# pprof_reads FILE: succeeds if go tool pprof -top reads FILE and shows a header.
pprof_reads() {
	pprof -top "$1" >"$tmp/pprof.out" 2>"$tmp/pprof.err" &&
		grep -q '^Type: ' "$tmp/pprof.out"
}

# --- numbers -------------------------------------------------------------------------

# within VALUE EXPECTED TOLERANCE: succeeds if |VALUE/EXPECTED - 1| <= TOLERANCE.
within() {
	awk -v v="$1" -v e="$2" -v t="$3" 'BEGIN {
		if (v == "" || e == 0) exit 1
		d = v / e - 1; if (d < 0) d = -d
		exit !(d <= t) }'
}

# rel VALUE EXPECTED: the relative error, e.g. "+0.41%".
rel() {
	awk -v v="$1" -v e="$2" 'BEGIN {
		if (v == "" || e == 0) { print "n/a"; exit }
		printf "%+.2f%%\n", (v / e - 1) * 100 }'
}

# --- files ---------------------------------------------------------------------------

# wait_for_file GLOB SECONDS: polls every 20 ms until a file matches GLOB; prints it.
wait_for_file() {
	local glob=$1 deadline f
	deadline=$(awk -v s="$2" 'BEGIN { print int(s * 50) }')
	while [ "$deadline" -ge 0 ]; do
		for f in $glob; do
			if [ -e "$f" ]; then
				echo "$f"
				return 0
			fi
		done
		sleep 0.02
		deadline=$((deadline - 1))
	done
	return 1
}

# count_files GLOB: how many files match GLOB.
count_files() {
	local n=0 f
	for f in $1; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}
