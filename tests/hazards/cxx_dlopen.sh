#!/bin/bash
# tests/hazards/cxx_dlopen.sh: a C program that is not linked with libstdc++ loads a C++
# plugin with dlopen; the plugin's operator new and delete, in every form (plain, array,
# sized, aligned with alignas(64) and align_val_t(4096), aligned sized, nothrow, nothrow
# array, aligned nothrow), must reach heapprof's operators, which libstdc++ (arriving only
# with the plugin) must not replace. Without that, new would go to libstdc++'s operator
# (whose frame would then be the first of each sample, so no site would have its flat
# figures) or a delete to a free that does not know the block.
#
# tests/progs/sem_dlopen_cxx loads tests/progs/.libs/libsem_cxx_plugin.so
# (tests/progs/sem_cxx_plugin.cc: eleven named sites, each with a known size, count and
# number kept). At rate=1 the exit profile must give each site its exact alloc and inuse
# objects and bytes; the program's output must be that of the run without the library.
# Run under LD_PRELOAD and linked with -lheapprof (sem_dlopen_cxx_linked).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool timeout readelf
need_prog sem_dlopen_cxx sem_dlopen_cxx_linked

PLUGIN=$top_builddir/tests/progs/.libs/libsem_cxx_plugin.so
PROG=$top_builddir/tests/progs/sem_dlopen_cxx
PROGL=$top_builddir/tests/progs/sem_dlopen_cxx_linked
if [ ! -f "$PLUGIN" ]; then
	fail "plugin built: $PLUGIN not found"
	done_testing
fi

# The linked programs load the library under test ($HP_LIB, which tests/hazards/
# unprotected.sh may point at a modified copy) rather than the build tree's found through
# their rpath: LD_LIBRARY_PATH comes first.
mkdir -p "$tmp/hplib" && ln -sf "$HP_LIB" "$tmp/hplib/libheapprof.so.0"

# site bytes made kept (tests/progs/sem_cxx_plugin.cc)
SITES="cxx_new_plain 1000 10 3
cxx_new_array 2000 11 4
cxx_new_array_cookie 248 12 5
cxx_new_aligned64 640 13 6
cxx_new_aligned64_array 1920 14 7
cxx_new_align4096 8192 15 8
cxx_new_nothrow 3000 16 9
cxx_new_nothrow_array 5000 17 10
cxx_new_aligned_nothrow 7000 18 11
cxx_new_aligned_nothrow_array 9000 19 12
cxx_new_array_align4096 12288 20 13"

# The setting this test is about: the programs do not bring libstdc++ themselves.
bad=$(readelf -d "$PROG" "$PROGL" 2>&1 | grep -E 'NEEDED.*libstdc\+\+')
[ -z "$bad" ] && readelf -d "$PLUGIN" | grep -q 'NEEDED.*libstdc++'
ok $? "the programs are not linked with libstdc++, the plugin is"
[ -z "$bad" ] || diag "$bad"

readelf -d "$PROGL" | grep -q 'NEEDED.*libheapprof\.so'
ok $? "sem_dlopen_cxx_linked is linked with libheapprof.so (readelf -d)"

# The reference: no heapprof.
(cd "$tmp" && exec timeout 60 env -u LD_PRELOAD -u HEAPPROF "$PROG" "$PLUGIN") \
	>"$tmp/ref.out" 2>"$tmp/ref.err"
status=$?
[ "$status" -eq 0 ] && [ ! -s "$tmp/ref.err" ] && grep -qx 'plugin: ok' "$tmp/ref.out" &&
	[ "$(grep -c ' bytes made, ' "$tmp/ref.out")" -eq 11 ] &&
	grep -qx 'operator new(1..8 bytes, align_val_t(16)), 16 blocks: aligned' "$tmp/ref.out"
ok $? "without the library: the plugin runs its 11 sites, its checks pass (exit $status)"
diag_file "$tmp/ref.err"

for variant in preload linked; do
	label="$variant rate=1"
	dir=$tmp/$variant
	mkdir -p "$dir"
	if [ "$variant" = preload ]; then
		(cd "$dir" && exec timeout 60 env HEAPPROF="prefix=$dir/p,rate=1" LD_PRELOAD="$HP_LIB" \
			"$PROG" "$PLUGIN") >"$dir.out" 2>"$dir.err"
	else
		(cd "$dir" && exec timeout 60 env -u LD_PRELOAD LD_LIBRARY_PATH="$tmp/hplib" \
			HEAPPROF="prefix=$dir/p,rate=1" "$PROGL" "$PLUGIN") >"$dir.out" 2>"$dir.err"
	fi
	status=$?
	if [ "$status" -eq 124 ]; then
		fail "$label: finishes (hung)"
		continue
	fi
	[ "$status" -eq 0 ] && cmp -s "$dir.out" "$tmp/ref.out" && [ ! -s "$dir.err" ]
	ok $? "$label: exit 0, same output as without the library, nothing on stderr (exit $status)"
	diag_file "$dir.err"
	cmp -s "$dir.out" "$tmp/ref.out" || diag_file "$dir.out"
	grep -qx 'operator new(1..8 bytes, align_val_t(16)), 16 blocks: aligned' "$dir.out"
	ok $? "$label: operator new(1..8 bytes, align_val_t(16)) gives 16-aligned blocks"

	prof=$(ls "$dir"/p.*.exit.pb.gz 2>/dev/null)
	if [ "$(count_files "$dir/p.*.exit.pb.gz")" -ne 1 ]; then
		fail "$label: one exit profile"
		diag "files: $(ls -A "$dir" | tr '\n' ' ')"
		continue
	fi
	for idx in alloc_objects alloc_space inuse_objects inuse_space; do
		pprof_flat "$prof" "$idx" >"$tmp/flat.$idx"
	done
	if [ ! -s "$tmp/flat.inuse_space" ]; then
		fail "$label: go tool pprof reads the profile"
		diag_file "$tmp/pprof.err"
		continue
	fi
	while read -r site size made kept; do
		ao=$(flat_of "$site" <"$tmp/flat.alloc_objects")
		as=$(flat_of "$site" <"$tmp/flat.alloc_space")
		io=$(flat_of "$site" <"$tmp/flat.inuse_objects")
		is=$(flat_of "$site" <"$tmp/flat.inuse_space")
		want="$made/$((made * size))/$kept/$((kept * size))"
		[ "${ao:-0}/${as:-0}/${io:-0}/${is:-0}" = "$want" ]
		ok $? "$label: $site: alloc objects/bytes, inuse objects/bytes are $want (got ${ao:-0}/${as:-0}/${io:-0}/${is:-0})"
	done <<<"$SITES"
done

done_testing
