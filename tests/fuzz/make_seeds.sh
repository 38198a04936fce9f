#!/bin/bash
# tests/fuzz/make_seeds.sh: regenerates the seed inputs of the fuzz corpus into OUTDIR:
#
#   tests/fuzz/make_seeds.sh BUILDDIR OUTDIR
#
# from real writers: the library (tests/progs/demo_leak at rate=1 and rate=4096, python3
# at the default rate), the Go runtime (tests/fuzz/gen_go_heap.go), gperftools' heap
# profiler (libtcmalloc, legacy text) and jemalloc's prof dump (its native text); plus
# uncompressed copies, and the hand-made edge cases of tests/fuzz/gen_seeds.py. Needs a
# built BUILDDIR (make -C BUILDDIR all tests/progs/demo_leak), go, python3,
# libgoogle-perftools4 and libjemalloc2 (tests/setup-debian.sh installs them).
# The results are checked in (tests/fuzz/corpus/): make check needs none of this.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILDDIR OUTDIR" >&2
	exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
lib=$build/lib/.libs/libheapprof.so
demo=$build/tests/progs/demo_leak
work=$(mktemp -d "${TMPDIR:-/tmp}/hp-seeds.XXXXXX")
trap 'rm -rf "$work"' EXIT

for f in "$lib" "$demo"; do
	[ -x "$f" ] || [ -f "$f" ] || { echo "$0: $f not built" >&2; exit 1; }
done

# one_file GLOB: the single file matching GLOB (fails otherwise).
one_file() {
	local f
	f=$(ls $1 2>/dev/null)
	[ "$(printf '%s\n' "$f" | grep -c .)" = 1 ] || { echo "$0: expected one $1" >&2; exit 1; }
	printf '%s\n' "$f"
}

# The library's own profiles.
for rate in 1 4096; do
	HEAPPROF=rate=$rate,prefix=$work/demo$rate LD_PRELOAD=$lib "$demo"
	cp "$(one_file "$work/demo$rate.*.exit.pb.gz")" "$out/valid-demo-rate$rate.pb.gz"
done
gzip -dc "$out/valid-demo-rate1.pb.gz" >"$out/valid-demo-rate1.pb"
py=$(python3 -c 'import sys; print(sys.executable)')	# not a wrapper (pyenv) that forks
HEAPPROF=prefix=$work/py LD_PRELOAD=$lib "$py" -c 'x = [bytearray(1000) for _ in range(3000)]'
cp "$(one_file "$work/py.*.exit.pb.gz")" "$out/valid-python3.pb.gz"
gzip -dc "$out/valid-python3.pb.gz" >"$out/valid-python3.pb"

# The Go runtime's heap profile (standard library only: builds offline).
mkdir -p "$work/go"
env -u GOFLAGS HOME="$work/go" GOCACHE="$work/go/cache" GOPATH="$work/go/path" \
	GO111MODULE=off go run "$src/tests/fuzz/gen_go_heap.go" "$out/valid-go-heap.pb.gz"
gzip -dc "$out/valid-go-heap.pb.gz" >"$out/valid-go-heap.pb"

# gperftools' heap profiler: legacy text ("heap profile: ... @ heapprofile").
HEAPPROFILE=$work/tc LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4 "$demo" 2>/dev/null
cp "$(one_file "$work/tc.*.heap")" "$out/valid-text-gperftools.heap"

# jemalloc's own prof dump ("heap_v2/RATE" then "t*:" lines): a foreign text format.
MALLOC_CONF=prof:true,prof_final:true,prof_prefix:$work/je,lg_prof_sample:12 \
	LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 "$demo"
cp "$(one_file "$work/je.*.heap")" "$out/valid-text-jemalloc.heap"

python3 "$src/tests/fuzz/gen_seeds.py" "$out"
chmod 644 "$out"/*	# the library writes its profiles 0600
echo "$(ls "$out" | wc -l) seeds in $out ($(du -sb "$out" | cut -f1) bytes)"
