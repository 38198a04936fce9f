#!/bin/bash
# tests/integration/http.sh: the HTTP endpoint, HEAPPROF=http=ADDR:PORT (lib/http.c).
#
# tests/progs/http_app runs with rate=1 (exact figures) and http=127.0.0.1:0 (any free port, read
# from its "serving" line on stderr): 4 MiB live from http_keep_early, a 4 KiB block
# allocated and freed every millisecond by http_churn, and 1 MiB from http_keep_late once
# the marker file appears. While it runs:
#   - go tool pprof -top on /debug/pprof/heap (by URL): type inuse_space, http_keep_early
#     exactly 4 MiB, no http_keep_late yet; /debug/pprof/allocs: alloc_space, its headers;
#   - two clients that never finish their requests (one sends half, one nothing), and
#     ?seconds=3 on heap and allocs; meanwhile another client is served at once; the marker
#     appears 1 s in: the deltas come after 3 s and show http_keep_late (exactly 1 MiB)
#     and no http_keep_early; the two slow clients are cut off (408) after 5 s;
#   - the index, HEAD, 404, 405 (+ Allow), 400 (request line, header line, seconds=,
#     debug=), 431 (16 KiB of headers), gc=1&debug=0 accepted;
#   - 50 concurrent clients, each a valid gzip'd profile; 64 connections that send
#     nothing do not lock a new client out (the one sending longest makes room);
#   - a second program asking for the same port: one line on stderr, runs on, exits 0; a
#     bad address likewise;
# then the program's stdin closes: it exits 0 with its own output, and nothing else on
# stderr. Also: main ending with pthread_exit still ends the process (the server thread
# does not keep it alive), and a fork child does not hold the listening socket.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool curl gzip timeout
need_prog http_app
P=$top_builddir/tests/progs/http_app

ms() { echo $(($(date +%s%N) / 1000000)); }

# serving_port FILE: waits (10 s at most) for the "serving" line in FILE; prints the port.
serving_port() {
	local i
	for i in $(seq 500); do
		sed -n 's|^heapprof: serving http://127\.0\.0\.1:\([0-9]*\)/debug/pprof/$|\1|p' \
			"$1" 2>/dev/null | grep . && return 0
		sleep 0.02
	done
	return 1
}

# top_to OUT SOURCE: go tool pprof -top of SOURCE (a file or URL), flat values in bytes.
top_to() {
	pprof -top -unit=B -nodecount=100000 -nodefraction=0 "$2" >"$1" 2>"$1.err"
}

# flat OUT FUNCTION: the flat value of FUNCTION in top_to's OUT, or empty.
flat() {
	awk -v f="$2" '
		hdr && NF >= 6 {
			v = $1; sub(/[^0-9.]+$/, "", v)
			name = $6; for (i = 7; i <= NF; i++) name = name " " $i
			if (name == f) sum += v; found = found || name == f
		}
		$1 == "flat" && $2 == "flat%" { hdr = 1 }
		END { if (found) printf "%.0f\n", sum }' "$1"
}

# code PATH [CURL ARGS...]: the HTTP status of PATH (curl's %{http_code}).
code() {
	local path=$1
	shift
	curl -sS -m 20 -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' "$@" "$URL$path" 2>>"$tmp/curl.err"
}

# raw FILE: sends FILE as the request over bash's /dev/tcp; prints the status line.
raw() {
	timeout -k 5 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && cat "$2" >&3 && cat <&3' \
		_ "$PORT" "$1" 2>/dev/null | head -n 1 | tr -d '\r'
}

# raw_text TEXT: raw with TEXT (printf %b: \r\n are the line ends).
raw_text() {
	printf '%b' "$1" >"$tmp/req"
	raw "$tmp/req"
}

# --- the program ---------------------------------------------------------------------
mkfifo "$tmp/in"
sleep 300 >"$tmp/in" &
writer=$!
timeout -k 5 120 env HEAPPROF="prefix=$tmp/p,rate=1,http=127.0.0.1:0" LD_PRELOAD="$HP_LIB" \
	"$P" "$tmp/marker" 100 <"$tmp/in" >"$tmp/app.out" 2>"$tmp/app.err" &
app=$!
PORT=$(serving_port "$tmp/app.err")
ok $? "http=127.0.0.1:0: one 'heapprof: serving http://127.0.0.1:PORT/debug/pprof/' line on stderr (port $PORT)" ||
	{ diag_file "$tmp/app.err"; kill "$writer"; done_testing; }
URL=http://127.0.0.1:$PORT

# --- heap and allocs -----------------------------------------------------------------
top_to "$tmp/heap.top" "$URL/debug/pprof/heap"
ok $? "go tool pprof -top $URL/debug/pprof/heap reads the profile" || diag_file "$tmp/heap.top.err"
grep -q '^Type: inuse_space$' "$tmp/heap.top"
ok $? "/debug/pprof/heap: default type inuse_space" || diag_file "$tmp/heap.top"
v=$(flat "$tmp/heap.top" http_keep_early)
[ "$v" = 4194304 ]
ok $? "/debug/pprof/heap: http_keep_early holds 4194304 bytes (got '$v')" || diag_file "$tmp/heap.top"
[ -z "$(flat "$tmp/heap.top" http_keep_late)" ]
ok $? "/debug/pprof/heap: no http_keep_late yet (the marker is not there)"

c=$(code /debug/pprof/heap)
[ "$c" = 200 ] && grep -qi '^Content-Type: application/octet-stream' "$tmp/hdr" &&
	grep -qi '^Content-Disposition: attachment; filename="heap"' "$tmp/hdr" && gzip -t "$tmp/body"
ok $? "curl /debug/pprof/heap: 200, application/octet-stream, filename=\"heap\", gzip" ||
	diag_file "$tmp/hdr"

c=$(code /debug/pprof/allocs)
cp "$tmp/body" "$tmp/allocs.pb.gz"
[ "$c" = 200 ] && grep -qi '^Content-Disposition: attachment; filename="allocs"' "$tmp/hdr" &&
	gzip -t "$tmp/allocs.pb.gz"
ok $? "curl /debug/pprof/allocs: 200, filename=\"allocs\", gzip" || diag_file "$tmp/hdr"
top_to "$tmp/allocs.top" "$tmp/allocs.pb.gz"
grep -q '^Type: alloc_space$' "$tmp/allocs.top"
ok $? "/debug/pprof/allocs: default type alloc_space" || diag_file "$tmp/allocs.top"
v=$(flat "$tmp/allocs.top" http_keep_early)
w=$(flat "$tmp/allocs.top" http_churn)
[ "$v" = 4194304 ] && [ -n "$w" ] && [ "$w" -gt 0 ]
ok $? "/debug/pprof/allocs: http_keep_early 4194304 bytes allocated (got '$v'), http_churn too ('$w')" ||
	diag_file "$tmp/allocs.top"

# --- slow clients, deltas, and a client served meanwhile ---------------------------------
t0=$(ms)
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n' >&5	# never finished
exec 6<>"/dev/tcp/127.0.0.1/$PORT"				# never says anything
curl -sS -m 20 -o "$tmp/dheap.pb.gz" -D "$tmp/dheap.hdr" "$URL/debug/pprof/heap?seconds=3" \
	2>"$tmp/dheap.err" 5>&- 6>&- &
dh=$!
curl -sS -m 20 -o "$tmp/dallocs.pb.gz" "$URL/debug/pprof/allocs?seconds=3" \
	2>"$tmp/dallocs.err" 5>&- 6>&- &
da=$!
sleep 1
t1=$(ms)
c=$(code /debug/pprof/heap 5>&- 6>&-)
t2=$(ms)
[ "$c" = 200 ] && gzip -t "$tmp/body" && [ $((t2 - t1)) -lt 2000 ]
ok $? "while 2 slow clients and 2 deltas wait, another client is served at once ($((t2 - t1)) ms)"
touch "$tmp/marker"
for i in $(seq 250); do grep -q '^late done$' "$tmp/app.out" && break; sleep 0.02; done
grep -q '^late done$' "$tmp/app.out"
ok $? "the program allocated http_keep_late once the marker appeared"
wait "$dh"
s1=$?
wait "$da"
s2=$?
t3=$(ms)
[ "$s1" = 0 ] && [ "$s2" = 0 ] && [ $((t3 - t0)) -ge 2900 ] && [ $((t3 - t0)) -lt 8000 ]
ok $? "?seconds=3: both deltas answered after 3 s ($((t3 - t0)) ms)" ||
	diag_file "$tmp/dheap.err"
grep -qi '^Content-Disposition: attachment; filename="heap-delta"' "$tmp/dheap.hdr"
ok $? "heap?seconds=3: filename=\"heap-delta\"" || diag_file "$tmp/dheap.hdr"
top_to "$tmp/dheap.top" "$tmp/dheap.pb.gz"
v=$(flat "$tmp/dheap.top" http_keep_late)
grep -q '^Type: inuse_space$' "$tmp/dheap.top" && [ "$v" = 1048576 ] &&
	[ -z "$(flat "$tmp/dheap.top" http_keep_early)" ]
ok $? "heap?seconds=3: inuse_space, http_keep_late 1048576 (got '$v'), no http_keep_early" ||
	diag_file "$tmp/dheap.top"
top_to "$tmp/dallocs.top" "$tmp/dallocs.pb.gz"
v=$(flat "$tmp/dallocs.top" http_keep_late)
w=$(flat "$tmp/dallocs.top" http_churn)
grep -q '^Type: alloc_space$' "$tmp/dallocs.top" && [ "$v" = 1048576 ] &&
	[ -z "$(flat "$tmp/dallocs.top" http_keep_early)" ] && [ -n "$w" ]
ok $? "allocs?seconds=3: alloc_space, http_keep_late 1048576 (got '$v'), http_churn ('$w'), no http_keep_early" ||
	diag_file "$tmp/dallocs.top"
# the slow clients: cut off 5 s after they connected
timeout -k 5 20 cat <&5 >"$tmp/slow1" 2>/dev/null
timeout -k 5 20 cat <&6 >"$tmp/slow2" 2>/dev/null
t4=$(ms)
exec 5>&- 6>&-
[ $((t4 - t0)) -ge 4500 ] && [ $((t4 - t0)) -lt 9000 ] &&
	head -n 1 "$tmp/slow1" | grep -q '^HTTP/1.1 408 ' && head -n 1 "$tmp/slow2" | grep -q '^HTTP/1.1 408 '
ok $? "two clients that never finish their requests get 408 and are cut off after 5 s ($((t4 - t0)) ms)" ||
	diag "$(head -n 1 "$tmp/slow1") / $(head -n 1 "$tmp/slow2")"

# --- index and errors ----------------------------------------------------------------
c=$(code /debug/pprof/)
[ "$c" = 200 ] && grep -qi '^Content-Type: text/plain' "$tmp/hdr" &&
	grep -q '^/debug/pprof/heap ' "$tmp/body" && grep -q '^/debug/pprof/allocs ' "$tmp/body"
ok $? "/debug/pprof/: 200, a plain-text index listing heap and allocs" || diag_file "$tmp/body"
c=$(code /debug/pprof)
[ "$c" = 200 ] && grep -q '^/debug/pprof/heap ' "$tmp/body"
ok $? "/debug/pprof: the index too ($c)"
printf 'HEAD /debug/pprof/heap HTTP/1.1\r\nHost: x\r\n\r\n' >"$tmp/req"
timeout -k 5 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && cat "$2" >&3 && cat <&3' \
	_ "$PORT" "$tmp/req" >"$tmp/head" 2>/dev/null
len=$(tr -d '\r' <"$tmp/head" | sed -n 's/^Content-Length: \([0-9]*\)$/\1/ip')
hlen=$(awk '{ n += length($0) + 1 } /^\r?$/ { print n; exit }' "$tmp/head")
[ "$(head -n 1 "$tmp/head" | tr -d '\r')" = "HTTP/1.1 200 OK" ] && [ -n "$len" ] &&
	[ "$len" -gt 100 ] && [ "$(wc -c <"$tmp/head")" = "$hlen" ]
ok $? "HEAD /debug/pprof/heap: 200, Content-Length $len, nothing after the headers" ||
	diag_file "$tmp/head"
c=$(code /debug/pprof/goroutine)
ok $([ "$c" = 404 ]; echo $?) "/debug/pprof/goroutine: 404 ($c)"
c=$(code /nothing/here)
ok $([ "$c" = 404 ]; echo $?) "/nothing/here: 404 ($c)"
c=$(code /debug/pprof/heap -X POST -d x=1)
[ "$c" = 405 ] && grep -qi '^Allow: GET, HEAD' "$tmp/hdr"
ok $? "POST /debug/pprof/heap: 405 with 'Allow: GET, HEAD' ($c)"
for q in seconds=0 seconds=3601 seconds=abc seconds= seconds=-1 debug=1; do
	c=$(code "/debug/pprof/heap?$q")
	ok $([ "$c" = 400 ]; echo $?) "heap?$q: 400 ($c: $(head -n 1 "$tmp/body"))"
done
c=$(code "/debug/pprof/heap?gc=1&debug=0")
[ "$c" = 200 ] && gzip -t "$tmp/body"
ok $? "heap?gc=1&debug=0: accepted, a profile ($c)"
s=$(raw_text 'GARBAGE\r\n\r\n')
ok $([ "$s" = "HTTP/1.1 400 Bad Request" ]; echo $?) "garbage request line: 400 ('$s')"
s=$(raw_text 'GET /debug/pprof/heap\r\n\r\n')
ok $([ "$s" = "HTTP/1.1 400 Bad Request" ]; echo $?) "request line without a version: 400 ('$s')"
s=$(raw_text 'GET /debug/pprof/heap HTTP/1.1\r\nno colon here\r\n\r\n')
ok $([ "$s" = "HTTP/1.1 400 Bad Request" ]; echo $?) "header line without a colon: 400 ('$s')"
s=$(raw_text 'GET /debug/pprof/heap HTTP/1.1\nHost: x\n\n')
ok $([ "$s" = "HTTP/1.1 200 OK" ]; echo $?) "bare LF line ends accepted: 200 ('$s')"
{
	printf 'GET /debug/pprof/heap HTTP/1.1\r\nX-Big: '
	head -c 16000 /dev/zero | tr '\0' a
	printf '\r\n\r\n'
} >"$tmp/big"
s=$(raw "$tmp/big")
ok $([ "$s" = "HTTP/1.1 431 Request Header Fields Too Large" ]; echo $?) "16 KiB of headers: 431 ('$s')"

# --- 50 concurrent clients -----------------------------------------------------------
pids=
t1=$(ms)
for i in $(seq 50); do
	curl -sS -m 60 -o "$tmp/c$i.pb.gz" -w '%{http_code}' "$URL/debug/pprof/heap" \
		>"$tmp/c$i.code" 2>"$tmp/c$i.err" &
	pids="$pids $!"
done
for p in $pids; do wait "$p"; done
t2=$(ms)
good=0
for i in $(seq 50); do
	[ "$(cat "$tmp/c$i.code")" = 200 ] && gzip -t "$tmp/c$i.pb.gz" 2>/dev/null && good=$((good + 1))
done
ok $([ "$good" = 50 ]; echo $?) "50 concurrent clients: $good of 50 got 200 and a valid gzip ($((t2 - t1)) ms)" ||
	diag_file "$tmp/c1.err"
bad=0
for i in 1 25 50; do
	top_to "$tmp/c.top" "$tmp/c$i.pb.gz" && [ "$(flat "$tmp/c.top" http_keep_early)" = 4194304 ] &&
		[ "$(flat "$tmp/c.top" http_keep_late)" = 1048576 ] || bad=$((bad + 1))
done
ok $bad "clients 1, 25, 50: go tool pprof shows http_keep_early 4194304 and http_keep_late 1048576" ||
	diag_file "$tmp/c.top"

# --- 64 connections that send nothing: a new client still gets served ---------------
fds=()
for i in $(seq 64); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" && fds+=("$fd")
done
sleep 0.2
t1=$(ms)
c=$(code /debug/pprof/heap)
t2=$(ms)
[ "${#fds[@]}" = 64 ] && [ "$c" = 200 ] && gzip -t "$tmp/body" && [ $((t2 - t1)) -lt 2000 ]
ok $? "64 idle connections open (${#fds[@]}): a new client is served at once ($c, $((t2 - t1)) ms)"
for fd in "${fds[@]}"; do exec {fd}>&-; done

# --- the port in use, a bad address --------------------------------------------------
sleep 1.5 | timeout -k 5 30 env HEAPPROF="prefix=$tmp/q,rate=1,http=127.0.0.1:$PORT" \
	LD_PRELOAD="$HP_LIB" "$P" "$tmp/nomarker" 1 >"$tmp/busy.out" 2>"$tmp/busy.err"
s=$?
want="heapprof: http=127.0.0.1:$PORT: Address already in use; the HTTP endpoint is off (choose another port with HEAPPROF=http=PORT, or http=127.0.0.1:0 for any free one)"
[ "$s" = 0 ] && [ "$(cat "$tmp/busy.err")" = "$want" ] && grep -q '^http_app: ok [1-9]' "$tmp/busy.out"
ok $? "port in use: exactly one line on stderr, the program runs on and exits 0 ($s)" ||
	{ diag_file "$tmp/busy.err"; diag_file "$tmp/busy.out"; }
timeout -k 5 30 env HEAPPROF="prefix=$tmp/q,http=192.0.2.1:6060" LD_PRELOAD="$HP_LIB" \
	"$P" "$tmp/nomarker" 1 </dev/null >"$tmp/addr.out" 2>"$tmp/addr.err"
s=$?
[ "$s" = 0 ] && [ "$(wc -l <"$tmp/addr.err")" = 1 ] &&
	grep -q '^heapprof: http=192\.0\.2\.1:6060: Cannot assign requested address; the HTTP endpoint is off (give an address of this machine' "$tmp/addr.err" &&
	grep -q '^http_app: ok' "$tmp/addr.out"
ok $? "address not of this machine: one line on stderr, the program exits 0 ($s)" ||
	diag_file "$tmp/addr.err"

# --- the program is unaffected -------------------------------------------------------
kill "$writer"
wait "$app"
s=$?
[ "$s" = 0 ] && grep -q '^late done$' "$tmp/app.out" && grep -q '^http_app: ok [1-9]' "$tmp/app.out"
ok $? "stdin closed: the program exits 0 with its output ($(tail -n 1 "$tmp/app.out"), status $s)" ||
	diag_file "$tmp/app.out"
[ "$(grep -vc '^heapprof: serving ' "$tmp/app.err")" = 0 ]
ok $? "nothing on the program's stderr but the serving line" || diag_file "$tmp/app.err"
! curl -sS -m 5 -o /dev/null "$URL/debug/pprof/" 2>/dev/null
ok $? "the program gone, nothing serves on its port"

# --- main ends with pthread_exit; a fork child ---------------------------------------
t1=$(ms)
timeout -k 5 30 env HEAPPROF="prefix=$tmp/r,http=127.0.0.1:0" LD_PRELOAD="$HP_LIB" \
	"$P" "$tmp/nomarker" 0.3 --pthread-exit </dev/null >"$tmp/pe.out" 2>"$tmp/pe.err"
s=$?
t2=$(ms)
[ "$s" = 0 ] && grep -q '^http_app: ok' "$tmp/pe.out" && grep -q '^heapprof: serving' "$tmp/pe.err" &&
	[ $((t2 - t1)) -lt 5000 ]
ok $? "main ending with pthread_exit: the process still ends, status 0 ($s, $((t2 - t1)) ms)" ||
	diag_file "$tmp/pe.err"

timeout -k 5 30 env HEAPPROF="prefix=$tmp/f,http=127.0.0.1:0" LD_PRELOAD="$HP_LIB" \
	"$P" "$tmp/nomarker" 0.3 --fork </dev/null >"$tmp/fk.out" 2>"$tmp/fk.err"
s=$?
fport=$(serving_port "$tmp/fk.err")
curl -sS -m 2 -o /dev/null "http://127.0.0.1:$fport/debug/pprof/" 2>/dev/null
c=$?
[ "$s" = 0 ] && [ "$c" = 7 ]
ok $? "fork: once the parent is gone its port refuses connections while the child lives (curl status $c, want 7)"

done_testing
