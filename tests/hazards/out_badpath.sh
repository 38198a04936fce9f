#!/bin/bash
# tests/hazards/out_badpath.sh: profiles that cannot be written where the prefix says.
#
# tests/progs/out_stacks (under LD_PRELOAD, rate=1) first writes a profile to a good place
# with heapprof_dump(PATH), then calls heapprof_dump(NULL) twice and exits (exit profile),
# those three to a prefix that cannot work:
#   read-only   a directory on a read-only bind mount (unshare -m; EROFS)
#   nobody      a root-owned 0555 directory, the program run as nobody (setpriv; EACCES;
#               as root the write would succeed)
#   missing     a directory that does not exist (ENOENT)
#   name-max    a directory component of 256 characters (ENAMETOOLONG)
#   path-max    a relative prefix, started in a deep directory: the absolute path is longer
#               than PATH_MAX (ENAMETOOLONG)
#   not-dir     the prefix's directory is a regular file (ENOTDIR)
# and, the other way round, heapprof_dump(PATH) with PATH longer than PATH_MAX followed by
# good automatic dumps (api-path-max). Each time: exit status 0 and the stdout of the same
# program without heapprof; exactly one heapprof: line on stderr (not one per dump), with
# the error text, the path it could not write (its first 100 characters when it is longer
# than 400) and the fix (HEAPPROF=prefix=...);
# heapprof_dump returned the error; nothing created at the bad place. At the end every
# good profile (written by those runs, and profiles written before them) is intact.
# Needs root (mount, setpriv); fails, not skips, without it.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/out_lib.sh"

need_env
need_go
need_tool gzip timeout unshare mount setpriv md5sum
need_prog out_stacks
out_need_root "this test uses a read-only bind mount (unshare -m) and setpriv"

HINT="HEAPPROF=prefix="
ARGS=(--bits 8 --dumps 2)

# Copies that nobody can read, in directories nobody can reach.
chmod 0711 "$tmp"
pub=$tmp/pub
mkdir -p "$pub/bin"
cp "$HP_LIB" "$pub/bin/libheapprof.so"
cp "$OS" "$pub/bin/out_stacks"
chmod -R a+rX "$pub"
LIB=$pub/bin/libheapprof.so
PROG=$pub/bin/out_stacks

reference "$tmp/ref.out" "${ARGS[@]}" --dump-to "$tmp/ref.pb.gz"
status_is "without heapprof" $? 0

# Profiles written before the bad cases, in the good place: they must not change.
good=$pub/good
mkdir -p "$good"
chmod 0777 "$good"
timeout "$OUT_TIMEOUT" env LD_PRELOAD="$LIB" HEAPPROF="prefix=$good/before,rate=1" \
	"$PROG" "${ARGS[@]}" >/dev/null 2>"$tmp/before.err"
status_is "profiles written before" $? 0
(cd "$good" && md5sum before.* >"$tmp/before.md5")
nbefore=$(wc -l <"$tmp/before.md5")
[ "$nbefore" -eq 3 ]
ok $? "3 profiles written before ($nbefore)" || diag_file "$tmp/before.err"

# run_bad NAME PREFIX ERRNO ERRTEXT CWD [WRAPPER...]: one bad case (see the header).
run_bad() {
	local name=$1 prefix=$2 errno=$3 errtext=$4 cwd=$5 d=$pub/$1 st
	shift 5
	mkdir -p "$d"
	chmod 0777 "$d"
	(cd "$cwd" && exec timeout "$OUT_TIMEOUT" "$@" env LD_PRELOAD="$LIB" \
		HEAPPROF="prefix=$prefix,rate=1" "$PROG" "${ARGS[@]}" --dump-to "$good/$name.pb.gz" \
		--dump-log "$d/log") >"$d.out" 2>"$d.err"
	st=$?
	status_is "$name" "$st" 0
	same_output "$name" "$d.out" "$tmp/ref.out"
	only_hp_on_stderr "$d.err" "$name"
	case $prefix in
	/*) abs=$prefix ;;
	*) abs=$cwd/$prefix ;;
	esac
	# a path too long for a line is named by its start
	[ "${#abs}" -lt 400 ] || abs=${abs:0:100}
	one_message "$name" "$d.err" "$errtext" "$abs" "$HINT"
	diag "heapprof_dump results: $(tr '\n' ';' <"$d/log" 2>/dev/null)"
	[ "$(sed -n 1p "$d/log" 2>/dev/null)" = "api 1: 0" ] &&
		[ "$(grep -c ": -$errno ($errtext)\$" "$d/log" 2>/dev/null)" -eq 2 ]
	ok $? "$name: heapprof_dump returned 0 for the good path, -$errno for the prefix, twice"
	[ -s "$good/$name.pb.gz" ]
	ok $? "$name: the profile to the good path was written"
}

# --- read-only mount ----------------------------------------------------------------------
ro=$tmp/ro
mkdir -p "$ro"
run_bad read-only "$ro/p" 30 "Read-only file system" "$pub" \
	unshare -m --propagation private bash -c \
	'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"' "$ro"
[ -z "$(ls -A "$ro")" ]
ok $? "read-only: nothing created under the mount point"

# --- not writable for the user (nobody) ---------------------------------------------------
locked=$pub/locked
mkdir -p "$locked"
chmod 0555 "$locked"
run_bad nobody "$locked/p" 13 "Permission denied" "$pub" \
	setpriv --reuid=nobody --regid=nogroup --clear-groups
[ -z "$(ls -A "$locked")" ]
ok $? "nobody: nothing created in the 0555 directory"
[ "$(stat -c %U "$good/nobody.pb.gz" 2>/dev/null)" = nobody ]
ok $? "nobody: the process really ran as nobody (its good profile is nobody's)"

# --- a missing directory ------------------------------------------------------------------
run_bad missing "$pub/no/such/dir/p" 2 "No such file or directory" "$pub"
[ ! -e "$pub/no" ]
ok $? "missing: the directory was not created"

# --- a component longer than NAME_MAX -----------------------------------------------------
long=$(printf 'n%.0s' $(seq 1 256))
run_bad name-max "$pub/$long/p" 36 "File name too long" "$pub"

# --- an absolute path longer than PATH_MAX (relative prefix, deep working directory) ------
deep=$pub/deep
for _ in $(seq 1 9); do
	deep=$deep/$(printf 'd%.0s' $(seq 1 200))
done
mkdir -p "$deep"
rel=
for _ in $(seq 1 13); do
	rel=$rel$(printf 'r%.0s' $(seq 1 200))/
done
rel=${rel}p
diag "path-max: working directory ${#deep} characters, prefix ${#rel}: together well over 4096"
run_bad path-max "$rel" 36 "File name too long" "$deep"

# --- the prefix's directory is a regular file --------------------------------------------------
echo "a plain file" >"$pub/plainfile"
run_bad not-dir "$pub/plainfile/p" 20 "Not a directory" "$pub"
[ "$(cat "$pub/plainfile")" = "a plain file" ]
ok $? "not-dir: the file is unchanged"

# --- heapprof_dump(PATH) with PATH longer than PATH_MAX, then good automatic dumps ----------
d=$pub/api-path-max
mkdir -p "$d"
lpath=$pub
for _ in $(seq 1 21); do
	lpath=$lpath/$(printf 'a%.0s' $(seq 1 200))
done
lpath=$lpath/p.pb.gz
(cd "$pub" && exec timeout "$OUT_TIMEOUT" env LD_PRELOAD="$LIB" \
	HEAPPROF="prefix=$good/apimax,rate=1" "$PROG" "${ARGS[@]}" --dump-to "$lpath" \
	--dump-log "$d/log") >"$d.out" 2>"$d.err"
status_is "api-path-max" $? 0
same_output "api-path-max" "$d.out" "$tmp/ref.out"
one_message "api-path-max" "$d.err" "File name too long" "${lpath:0:100}" "$HINT"
diag "heapprof_dump results: $(tr '\n' ';' <"$d/log" 2>/dev/null)"
[ "$(sed -n 1p "$d/log")" = "api 1: -36 (File name too long)" ] &&
	[ "$(grep -c ': 0$' "$d/log")" -eq 2 ]
ok $? "api-path-max: heapprof_dump(long path) returned -ENAMETOOLONG, the automatic dumps 0"
[ "$(count_files "$good/apimax.*.pb.gz")" -eq 3 ]
ok $? "api-path-max: the two automatic profiles and the exit profile were written"

# --- a long name that still fits NAME_MAX: written, no message ------------------------------
# The prefix's last component has 230 characters: the final names have at most 230 + 7
# (pid) + 17 = 254, legal; heapprof must not fail them because its temporary name would
# be longer than NAME_MAX.
d=$pub/fits
mkdir -p "$d"
fits=$(printf 'q%.0s' $(seq 1 230))
(cd "$pub" && exec timeout "$OUT_TIMEOUT" env LD_PRELOAD="$LIB" \
	HEAPPROF="prefix=$d/$fits,rate=1" "$PROG" "${ARGS[@]}" --dump-to "$good/fits.pb.gz" \
	--dump-log "$d/log") >"$d.out" 2>"$d.err"
status_is "name-fits" $? 0
same_output "name-fits" "$d.out" "$tmp/ref.out"
n=$(hp_lines "$d.err" | wc -l)
hp_lines "$d.err" | cut -c1-120 | sed 's/^/# message: /'
diag "heapprof_dump results: $(tr '\n' ';' <"$d/log" 2>/dev/null)"
made=$(find "$d" -name "$fits.*.pb.gz" | wc -l)
[ "$n" -eq 0 ] && [ "$made" -eq 3 ]
ok $? "name-fits: final names of up to 254 characters are written (3 profiles, no message; got $made, $n)"
mapfile -t fitsp < <(compgen -G "$d/$fits.*.pb.gz")
profiles_ok "name-fits" "${fitsp[@]}" "$good/fits.pb.gz"

# --- the good place ---------------------------------------------------------------------------
(cd "$good" && md5sum -c --quiet "$tmp/before.md5") >"$tmp/md5.out" 2>&1
ok $? "the profiles written before are unchanged" || diag_file "$tmp/md5.out"
profiles_ok "good place" "$good"/*.pb.gz
[ -z "$(leftovers "$good")" ]
ok $? "no temporary file in the good place"

done_testing
