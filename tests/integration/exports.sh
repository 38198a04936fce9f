#!/bin/bash
# tests/integration/exports.sh: libheapprof.so exports exactly the allocation functions,
# the C++ operators new/delete and the API of include/heapprof.h, and nothing else
# (no jemalloc, libunwind or zlib symbol, no internal function).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool nm awk sort comm

C_NAMES='malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc
pvalloc malloc_usable_size cfree __libc_malloc __libc_free __libc_calloc __libc_realloc
__libc_memalign __libc_valloc __libc_pvalloc'
# dl_iterate_phdr: wrapped so that fork waits for the program's calls; __cxa_finalize: so
# that an object's unload is seen before it happens (doc/DESIGN.md, "Unloads we see")
LOADER_NAMES='dl_iterate_phdr __cxa_finalize'
CXX_NAMES='_Znwm _Znam _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t _ZnwmSt11align_val_t
_ZnamSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t _ZnamSt11align_val_tRKSt9nothrow_t
_ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t _ZdlPvSt11align_val_t
_ZdaPvSt11align_val_t _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t
_ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t'

# api_names HEADER: the heapprof_* functions the header declares (comments removed first).
api_names() {
	awk '
		{
			line = $0; out = ""
			while (line != "") {
				if (incomment) {
					i = index(line, "*/")
					if (i == 0) { line = ""; break }
					line = substr(line, i + 2); incomment = 0
				} else {
					i = index(line, "/*")
					if (i == 0) { out = out line; line = ""; break }
					out = out substr(line, 1, i - 1); line = substr(line, i + 2)
					incomment = 1
				}
			}
			sub(/\/\/.*/, "", out)
			print out
		}' "$1" |
		grep -v '^[[:space:]]*#' |
		grep -oE '\<heapprof_[A-Za-z0-9_]+[[:space:]]*\(' |
		sed 's/[[:space:]]*($//' | sort -u
}

header=$top_srcdir/include/heapprof.h
api=$(api_names "$header")
[ -n "$api" ]
ok $? "API functions found in include/heapprof.h ($(echo $api | wc -w))"
diag "API: $(echo $api)"

printf '%s\n' $C_NAMES $LOADER_NAMES $CXX_NAMES $api | sort -u >"$tmp/expected"

# nm -D prints "VALUE TYPE NAME" (no value for undefined); newer binutils append
# "@@VERSION" to versioned names. Version definitions (type A) are not functions.
if nm -D --defined-only "$HP_LIB" >"$tmp/nm.out" 2>"$tmp/nm.err"; then
	pass "nm -D --defined-only reads the library"
else
	fail "nm -D --defined-only reads the library"
	diag_file "$tmp/nm.err"
	done_testing
fi
awk 'NF >= 3 && $2 != "A" { n = $3; sub(/@.*/, "", n); print n }' "$tmp/nm.out" |
	sort -u >"$tmp/actual"
diag "$(wc -l <"$tmp/actual") exported, $(wc -l <"$tmp/expected") expected"

extra=$(comm -13 "$tmp/expected" "$tmp/actual")
missing=$(comm -23 "$tmp/expected" "$tmp/actual")
[ -z "$missing" ]
ok $? "every expected symbol is exported"
[ -z "$missing" ] || diag "missing: $(echo $missing)"
[ -z "$extra" ]
ok $? "nothing else is exported"
[ -z "$extra" ] || diag "unexpected: $(echo $extra)"

# The exported names are functions (type T or W, or i for an IFUNC), not data.
notfunc=$(awk 'NF >= 3 && $2 != "A" && $2 !~ /^[TtWwi]$/ { print $3 "(" $2 ")" }' "$tmp/nm.out")
[ -z "$notfunc" ]
ok $? "every exported symbol is a function"
[ -z "$notfunc" ] || diag "not functions: $(echo $notfunc)"

done_testing
