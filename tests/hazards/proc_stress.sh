#!/bin/bash
# tests/hazards/proc_stress.sh (make stress): the long versions of the process hazard tests,
# each run through its quick script with bigger knobs; their TAP lines are repeated here
# with the part's name in front.
#   proc_threads.sh  50,000 short-lived threads; 30 s of SIGUSR1 every 2 ms and forks while
#                    8 threads allocate at rate=1
#   proc_signals.sh  a 30 s storm of SIGUSR1 (15 s at the default rate, 15 s at rate=1)
#   proc_fork.sh     300 forks, 300 posix_spawn and 300 vfork under rate=1 threads
# The protections checked, and how each fails without them, are in those scripts' headers.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env

# sub LABEL SCRIPT VAR=VALUE...: runs tests/hazards/SCRIPT with the variables (30 minutes
# at most) and repeats its results as "LABEL: ...".
sub() {
	local label=$1 script=$2 status line plan=
	shift 2
	timeout -k 10 1800 env "$@" bash "$top_srcdir/tests/hazards/$script" >"$tmp/sub.out" 2>&1
	status=$?
	while IFS= read -r line; do
		case $line in
		"ok "*) ok 0 "$label: ${line#* - }" ;;
		"not ok "*) ok 1 "$label: ${line#* - }" ;;
		"#"*) echo "$line" ;;
		1..*) plan=${line#1..} ;;
		*) echo "# $line" ;;
		esac
	done <"$tmp/sub.out"
	case $status in
	124 | 137) fail "$label: $script finished (hung: killed after 30 minutes)" ;;
	*) [ -n "$plan" ]
	   ok $? "$label: $script ran to its end (plan ${plan:-missing}, exit status $status)" ;;
	esac
}

sub "threads 30 s" proc_threads.sh PARTS="many mixed" MANY_THREADS=50000 MIXED_SECONDS=30
sub "storm 30 s" proc_signals.sh PARTS=storm STORM_SECONDS=30
sub "forks 300" proc_fork.sh NFORKS=300 NSPAWN=300

done_testing
