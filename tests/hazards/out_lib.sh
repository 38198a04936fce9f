# tests/hazards/out_lib.sh: helpers shared by tests/hazards/out_*.sh (sourced after
# tests/integration/lib.sh, bash).
#
# OS is tests/progs/out_stacks (see its header). Every run is wrapped in `timeout`; a run
# killed by it is reported as hung.

OS=$top_builddir/tests/progs/out_stacks
OUT_TIMEOUT=${OUT_TIMEOUT:-60}

# out_need_root WHY: fails (and stops) unless running as root.
out_need_root() {
	if [ "$(id -u)" != 0 ]; then
		fail "running as root (id -u is $(id -u)): $1; run make check as root"
		done_testing
	fi
}

# status_is LABEL STATUS EXPECTED: one TAP line; a timeout (124) is reported as hung.
status_is() {
	local label=$1 st=$2 want=$3 extra=
	if [ "$st" -eq 124 ]; then
		fail "$label: exit status $want (hung: killed by timeout)"
		return 1
	fi
	[ "$st" -gt 128 ] && extra=", signal $((st - 128))"
	[ "$st" -eq "$want" ]
	ok $? "$label: exit status $want (got $st$extra)"
}

# hp_lines FILE: the heapprof: lines of FILE.
hp_lines() {
	grep '^heapprof: ' "$1" 2>/dev/null
}

# short TEXT: TEXT, or its first 60 characters and "...".
short() {
	if [ "${#1}" -gt 64 ]; then
		printf '%s...' "${1:0:60}"
	else
		printf '%s' "$1"
	fi
}

# one_message LABEL FILE PATTERN...: exactly one heapprof: line in FILE, containing every
# PATTERN (fixed strings). The message is always shown as a diagnostic.
one_message() {
	local label=$1 file=$2 n line p missing= says=
	shift 2
	n=$(hp_lines "$file" | wc -l)
	hp_lines "$file" | sed 's/^/# message: /'
	[ "$n" -eq 1 ]
	ok $? "$label: exactly one heapprof: message on stderr (got $n)" || diag_file "$file"
	line=$(hp_lines "$file" | head -n 1)
	for p in "$@"; do
		says="$says [$(short "$p")]"
		# heapprof shortens a path over 200 characters to its first 80, "...", and its
		# last 100 (so the error and the fix always fit): a long PATTERN (the start of
		# such a path) may be cut there
		if [ "${#p}" -gt 80 ]; then
			case $line in
			*"${p:0:80}..."*) continue ;;
			esac
		fi
		case $line in
		*"$p"*) ;;
		*) missing="$missing [$(short "$p")]" ;;
		esac
	done
	[ -n "$line" ] && [ -z "$missing" ]
	ok $? "$label: the message says$says" || diag "missing:$missing"
}

# only_hp_on_stderr LABEL FILE: nothing but heapprof: lines on stderr.
only_hp_on_stderr() {
	! grep -qv '^heapprof: ' "$1"
	ok $? "$2: nothing on stderr but heapprof: lines" || diag_file "$1"
}

# same_output LABEL GOT WANT: the program's stdout is what it prints without the library.
same_output() {
	cmp -s "$2" "$3"
	ok $? "$1: stdout as without heapprof" || { diag "got:"; diag_file "$2"; diag "want:"; diag_file "$3"; }
}

# leftovers DIR: heapprof's temporary profile names in DIR (.heapprof.<pid>.<n>.<hex>.tmp).
leftovers() {
	find "$1" -maxdepth 1 -name '.heapprof.*.tmp' -printf '%f\n' 2>/dev/null
}

# profiles_ok LABEL FILE...: every FILE passes gzip -t, and go tool pprof reads them all
# (one pprof run over all of them: it reports every file it cannot read on stderr).
profiles_ok() {
	local label=$1 f bad=
	shift
	if [ $# -eq 0 ]; then
		fail "$label: some profile to check (none)"
		return 1
	fi
	for f in "$@"; do
		gzip -t "$f" 2>/dev/null || bad="$bad $(basename "$f")"
	done
	[ -z "$bad" ]
	ok $? "$label: $# profile(s) pass gzip -t" || diag "corrupt:$bad"
	pprof -top "$@" >"$tmp/pprof.out" 2>"$tmp/pprof.err" && grep -q '^Type: ' "$tmp/pprof.out" &&
		[ ! -s "$tmp/pprof.err" ]
	ok $? "$label: go tool pprof reads $# profile(s) without error" || diag_file "$tmp/pprof.err"
}

# reference OUT ARGS...: runs out_stacks without the library; its stdout goes to OUT.
reference() {
	local out=$1
	shift
	timeout "$OUT_TIMEOUT" "$OS" "$@" >"$out" 2>"$out.err"
}
