#!/bin/bash
# tests/hazards/sanitizers.sh: the library's allocator-independent modules (Makefile.am's
# HP_MODULES plus tests/unit/ialloc_stub.c, i.e. lib/libhpmod.la) and every unit test
# (tests/unit/test_*.c) built with clang under AddressSanitizer (+ LeakSanitizer),
# UndefinedBehaviorSanitizer (no recovery) and ThreadSanitizer; each unit test must pass
# under each, with no sanitizer report at all.
#
# Before trusting a sanitizer's silence, a canary (tests/hazards/san_canary.c) built the
# same way must be caught by it: a heap overflow and a leak by ASan, a signed overflow by
# UBSan, a data race by TSan; and the canary's clean mode must run silently under all three.
#
# Everything is compiled here into $tmp with clang directly (flags as Makefile.am's
# AM_CPPFLAGS), two jobs at a time. Reports go to log_path files under $tmp/rep/, so "no
# report" means no such file and no sanitizer line on stderr; any report also makes the
# program exit with status 66 (halt_on_error=1, exitcode=66).
# SAN_KEEP=1 (with HP_KEEP_TMP=1) keeps the builds for inspection.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool clang timeout ar xargs

src=$top_srcdir
JOBS=2
SLOW='test_(mt_tables|pprof|sampler|liverec)'	# run first: two jobs stay busy to the end
SANS="asan ubsan tsan"
MODULES="lib/log.c lib/lock.c lib/config.c lib/sampler.c lib/stacktab.c lib/liverec.c lib/pprof.c
	lib/gzout.c lib/symtab.c lib/procmaps.c lib/textprof.c tests/unit/ialloc_stub.c"
CPPFLAGS="-I$src/include -I$src/lib -I$src -D_GNU_SOURCE -DHP_VERSION='\"test\"'"
CFLAGS="-std=gnu11 -O1 -g -fno-omit-frame-pointer"
# Sanitizer runtime options, common to all: stop at the first report, exit 66, write the
# report to $tmp/rep/<name>.<pid>.
SAN_COMMON="halt_on_error=1:exitcode=66:abort_on_error=0"

san_flags() {
	case $1 in
	asan) echo "-fsanitize=address -fno-sanitize-recover=all" ;;
	ubsan) echo "-fsanitize=undefined -fno-sanitize-recover=all" ;;
	tsan) echo "-fsanitize=thread" ;;
	esac
}

# san_env SAN NAME: the environment assignment that configures SAN's runtime.
san_env() {
	local log="log_path=$tmp/rep/$2"
	case $1 in
	asan) echo "ASAN_OPTIONS=$SAN_COMMON:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:$log" ;;
	ubsan) echo "UBSAN_OPTIONS=$SAN_COMMON:print_stacktrace=1:$log" ;;
	tsan) echo "TSAN_OPTIONS=$SAN_COMMON:second_deadlock_stack=1:$log" ;;
	esac
}

# A report, on stderr or in a log_path file.
REPORT_RE='(Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error:'

# jobs_run FILE: runs each line of FILE as a bash command, $JOBS at a time.
jobs_run() {
	xargs -d '\n' -P "$JOBS" -n 1 bash -c <"$1"
}

clang_version=$(clang --version 2>/dev/null | head -1)
diag "$clang_version"
mkdir -p "$tmp/rep" "$tmp/obj" "$tmp/out" "$tmp/tmpdir"
t_start=$(date +%s)

unit_srcs=$(cd "$src" && ls tests/unit/test_*.c 2>/dev/null)
unit_names=$(for f in $unit_srcs; do basename "$f" .c; done)
n_units=$(echo "$unit_names" | grep -c .)
echo "$unit_names" | grep -qx test_mt_tables
ok $? "the unit tests to run: $n_units from tests/unit/test_*.c, test_mt_tables among them" ||
	done_testing

# --- build: modules -> one archive per sanitizer, then canary and unit tests ------------
: >"$tmp/jobs.mod"
: >"$tmp/jobs.prog"
for s in $SANS; do
	f=$(san_flags "$s")
	mkdir -p "$tmp/obj/$s"
	objs=
	for m in $MODULES; do
		o=$tmp/obj/$s/$(basename "$m" .c).o
		objs="$objs $o"
		echo "clang $CFLAGS $f $CPPFLAGS -c '$src/$m' -o '$o' >'$o.log' 2>&1 || { echo FAILED >>'$o.log'; exit 1; }" >>"$tmp/jobs.mod"
	done
	echo "$objs" >"$tmp/obj/$s/objs"
	echo "clang $CFLAGS $f -pthread '$src/tests/hazards/san_canary.c' -o '$tmp/obj/$s/san_canary' >'$tmp/obj/$s/san_canary.log' 2>&1" >>"$tmp/jobs.prog"
	for u in $unit_names; do
		echo "clang $CFLAGS $f $CPPFLAGS -pthread '$src/tests/unit/$u.c' '$tmp/obj/$s/libhpmod.a' -lz -lm -ldl -o '$tmp/obj/$s/$u' >'$tmp/obj/$s/$u.log' 2>&1" >>"$tmp/jobs.prog"
	done
done
jobs_run "$tmp/jobs.mod"
for s in $SANS; do
	bad=$(grep -l FAILED "$tmp/obj/$s"/*.o.log 2>/dev/null)
	if [ -z "$bad" ]; then
		# shellcheck disable=SC2046
		ar rcs "$tmp/obj/$s/libhpmod.a" $(cat "$tmp/obj/$s/objs") 2>"$tmp/obj/$s/ar.log"
	fi
	if ! ok $? "$s: the modules build as a library with $(san_flags "$s")" || [ -n "$bad" ]; then
		for b in $bad; do diag_file "$b"; done
		diag_file "$tmp/obj/$s/ar.log"
	fi
done
jobs_run "$tmp/jobs.prog"
t_built=$(date +%s)
diag "built in $((t_built - t_start)) s"

# --- run: everything, $JOBS at a time, each under a timeout ---------------------------
# run_cmd SAN NAME ARGS...: a job line running $tmp/obj/SAN/<prog> ARGS with SAN's options;
# stdout, stderr and status to $tmp/out/SAN.NAME.{out,err,rc}.
run_cmd() {
	local s=$1 name=$2 prog=$3
	shift 3
	local o="$tmp/out/$s.$name"
	echo "cd '$tmp/tmpdir' && env TMPDIR='$tmp/tmpdir' $(san_env "$s" "$s.$name") timeout -k 5 240 '$tmp/obj/$s/$prog' $* >'$o.out' 2>'$o.err'; echo \$? >'$o.rc'"
}

: >"$tmp/jobs.run"
for s in $SANS; do
	# The slow ones first, so that two jobs stay busy to the end.
	for u in $(echo "$unit_names" | grep -xE "$SLOW"; echo "$unit_names" | grep -vxE "$SLOW"); do
		run_cmd "$s" "$u" "$u" >>"$tmp/jobs.run"
	done
	for mode in clean heap-overflow leak signed-overflow race; do
		run_cmd "$s" "canary-$mode" san_canary "$mode" >>"$tmp/jobs.run"
	done
done
jobs_run "$tmp/jobs.run"
t_run=$(date +%s)
diag "ran in $((t_run - t_built)) s"

# reports SAN NAME: the report files of that run, and its stderr's sanitizer lines.
reports() {
	local f
	for f in "$tmp/rep/$1.$2".*; do
		[ -e "$f" ] && cat "$f"
	done
	grep -E "$REPORT_RE" "$tmp/out/$1.$2.err" 2>/dev/null
}

# --- canaries: each sanitizer catches its bug, and is silent on clean code -------------
# canary SAN MODE PATTERN: the canary in MODE must exit 66 with a report matching PATTERN.
canary() {
	local s=$1 mode=$2 pat=$3 o="$tmp/out/$1.canary-$2" rc
	if [ ! -x "$tmp/obj/$s/san_canary" ]; then
		fail "$s: canary built"
		diag_file "$tmp/obj/$s/san_canary.log"
		return
	fi
	rc=$(cat "$o.rc" 2>/dev/null)
	reports "$s" "canary-$mode" >"$o.rep"
	if ! ok "$([ "${rc:-x}" = 66 ] && grep -qE "$pat" "$o.rep"; echo $?)" \
		"$s catches a $mode (exit ${rc:-none}, want 66 and a report matching '$pat')"; then
		diag_file "$o.err"
		diag_file "$o.rep"
	fi
}
canary asan heap-overflow 'ERROR: AddressSanitizer: heap-buffer-overflow'
canary asan leak 'ERROR: LeakSanitizer: detected memory leaks'
canary ubsan signed-overflow 'runtime error: signed integer overflow'
canary tsan race 'WARNING: ThreadSanitizer: data race'
for s in $SANS; do
	o=$tmp/out/$s.canary-clean
	rc=$(cat "$o.rc" 2>/dev/null)
	reports "$s" canary-clean >"$o.rep"
	if ! ok "$([ "${rc:-x}" = 0 ] && [ ! -s "$o.rep" ]; echo $?)" \
		"$s: the canary's clean mode exits 0 with no report (exit ${rc:-none})"; then
		diag_file "$o.err"
		diag_file "$o.rep"
	fi
done

# --- the unit tests --------------------------------------------------------------------
for s in $SANS; do
	for u in $unit_names; do
		o=$tmp/out/$s.$u
		if [ ! -x "$tmp/obj/$s/$u" ]; then
			fail "$s: $u built"
			diag_file "$tmp/obj/$s/$u.log" 30
			continue
		fi
		rc=$(cat "$o.rc" 2>/dev/null)
		n_ok=$(grep -c '^ok ' "$o.out")
		n_nok=$(grep -c '^not ok ' "$o.out")
		plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$o.out" | tail -1)
		if [ "${rc:-x}" = 124 ] || [ "${rc:-x}" = 137 ]; then
			fail "$s: $u passes (hung: killed after 240 s)"
			diag_file "$o.out"
		elif [ "${rc:-x}" = 0 ] && [ "$n_nok" -eq 0 ] && [ -n "$plan" ] &&
			[ "$plan" -eq "$n_ok" ] && [ "$n_ok" -gt 0 ]; then
			pass "$s: $u passes ($n_ok/$plan ok)"
		else
			fail "$s: $u passes (exit ${rc:-none}, $n_ok ok, $n_nok not ok, plan ${plan:-none})"
			grep -E '^not ok' "$o.out" >"$o.nok"
			diag_file "$o.nok" 10
			diag_file "$o.err" 40
		fi
		reports "$s" "$u" >"$o.rep"
		if ! ok "$([ ! -s "$o.rep" ]; echo $?)" "$s: $u leaves no sanitizer report"; then
			diag_file "$o.rep" 60
		fi
	done
done

diag "total $(($(date +%s) - t_start)) s"
[ "${SAN_KEEP:-0}" = 1 ] && diag "builds in $tmp/obj"
done_testing
