#!/bin/bash
# tests/integration/cli_flame.sh: heapprof flame (issue 4, acceptance 2).
#
#  (a) demo_leak at rate=1 (exact figures): the SVG parsed with python3's XML parser:
#      exact values, shares and pixel widths of the known frames, leak_sessions the
#      widest frame above main; --sample alloc_space; --lines names file and line;
#  (b) headless Chromium: a screenshot (a PNG of the window's size, decoded in pure
#      python: frames drawn in their colours where the SVG puts them), and a page that
#      loads the SVG in an iframe and runs checks next to the SVG's own script: widest
#      frame from the rendered boxes, hover details, click-zoom and reset, search;
#      the same on a synthetic profile of awkward names, 3000 frames and a deep stack;
#  (c) --base: two SIGUSR1 dumps of tests/progs/leak_grow taken 2 s apart: leak_session
#      is the widest frame above main, its width the growth within 10% of the truth
#      (leak_grow prints "iter N" per MiB leaked);
#  (d) bad inputs and outputs: missing and damaged files, unknown sample type, a base
#      without the type, unwritable outputs: one line, the documented status, and the
#      output written whole or not at all.
#
# demo_leak (rate=1): leak_sessions 41943040 B in use, build_index 480000 B in use,
# parse_requests 65536000 B allocated and freed.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool python3 gzip timeout chromium
need_prog demo_leak leak_grow

HP=$top_builddir/tools/heapprof
if [ ! -x "$HP" ]; then
	fail "tool built: $HP not found"
	done_testing
fi
LEAK_B=41943040
INDEX_B=480000
TOTAL_B=$((LEAK_B + INDEX_B))

# run CMD...: runs CMD under a 20 s timeout; sets $rc, output in $tmp/out, $tmp/err.
run() {
	timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# one_error_line WHAT: exactly one line on stderr, "heapprof: WHAT: why".
one_error_line() {
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "heapprof: $1: " "$tmp/err"
}

# --- python helpers ------------------------------------------------------------------

# svg.py SVG QUERY [NAME]: facts about a flame graph, from its XML:
#   get NAME FIELD  a field of the widest frame named NAME: v s x w y fill suffix
#   above NAME      the name of the widest frame one row above NAME's widest frame and
#                   within its span
#   pixel NAME      "x,y,r,g,b": a point inside NAME's widest frame (right of its label)
#                   and the frame's fill colour
#   total / height / count / empty   data-total, the height, the frames, the message
cat >"$tmp/svg.py" <<'EOF'
import re, sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
fg = root.find(".//" + ns + "g[@id='frames']")
frames = []
for g in fg.findall(ns + "g"):
    t, r = g.find(ns + "title").text, g.find(ns + "rect")
    i = t.rindex(" (")
    frames.append(dict(name=t[:i], suffix=t[i + 1:], v=int(g.get("data-v")),
                       s=int(g.get("data-s")), x=r.get("x"), w=r.get("width"),
                       y=int(r.get("y")), fill=r.get("fill")))
def widest(name):
    c = [f for f in frames if f["name"] == name]
    if not c:
        sys.exit("no frame named %r" % name)
    return max(c, key=lambda f: f["v"])
q = sys.argv[2]
if q == "get":
    print(widest(sys.argv[3])[sys.argv[4]])
elif q == "above":
    m = widest(sys.argv[3])
    up = [f for f in frames if f["y"] == m["y"] - 16 and f["s"] >= m["s"]
          and f["s"] + f["v"] <= m["s"] + m["v"]]
    print(max(up, key=lambda f: f["v"])["name"] if up else "(none)")
elif q == "pixel":
    f = widest(sys.argv[3])
    rgb = f["fill"][4:-1]
    print("%d,%d,%s" % (float(f["x"]) + float(f["w"]) * 0.75, f["y"] + 7, rgb))
elif q == "total":
    print(fg.get("data-total"))
elif q == "height":
    print(root.get("height"))
elif q == "count":
    print(len(frames))
elif q == "empty":
    e = root.find(".//" + ns + "text[@id='empty']")
    print(e.text if e is not None else "(none)")
EOF

# mkprof.py OUT KIND: writes a raw pprof profile (profile.proto) of a synthetic kind:
#   weird   awkward names (XML specials, 20000 characters, UTF-8, invalid bytes), 3000
#           sibling frames, a stack 600 frames deep, a sample without locations;
#   empty   the four heap sample types, no samples;
#   cpu     sample types samples/count and cpu/nanoseconds only;
#   units   inuse_space counted in "count" (a unit mismatch for --base).
cat >"$tmp/mkprof.py" <<'EOF'
import sys
def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def fv(f, v): return varint(f << 3) + varint(v)
def fb(f, b): return varint(f << 3 | 2) + varint(len(b)) + b
def packed(f, vals): return fb(f, b"".join(varint(v) for v in vals))
strings, sidx, funcs = [b""], {b"": 0}, {}
def s(x):
    x = x if isinstance(x, bytes) else x.encode()
    if x not in sidx:
        sidx[x] = len(strings)
        strings.append(x)
    return sidx[x]
def fid(name):
    if name not in funcs:
        funcs[name] = len(funcs) + 1
    return funcs[name]
def profile(types, samples):
    body = b"".join(fb(1, fv(1, s(t)) + fv(2, s(u))) for t, u in types)
    for stack, vals in samples:
        body += fb(2, packed(1, [fid(n) for n in stack]) + packed(2, vals))
    for name, i in funcs.items():
        body += fb(4, fv(1, i) + fv(3, 0x1000 + 16 * i) + fb(4, fv(1, i) + fv(2, 1)))
        body += fb(5, fv(1, i) + fv(2, s(name)))
    body += fv(12, 524288) + fb(11, fv(1, s("space")) + fv(2, s("bytes")))
    return b"".join(fb(6, x) for x in strings) + body
heap = [("alloc_objects", "count"), ("alloc_space", "bytes"),
        ("inuse_objects", "count"), ("inuse_space", "bytes")]
kind = sys.argv[2]
if kind == "weird":
    odd = 'tpl<a, b>::f(x&) "q" \'s\' & <y> ]]>'
    utf = "caf\u00e9_\u6f22\u5b57_\U0001F600"
    bad = b"bad\xff\xfe\x01\x1b[31m\xed\xa0\x80ctl"
    st = [([odd, "main"], 4000000), (["L" * 20000, "main"], 2000000),
          ([utf, "main"], 1000000), ([bad, "main"], 1000000)]
    st += [(["leaf%04d" % i, "wide", "main"], 2000) for i in range(3000)]
    st.append((["d%d" % i for i in range(599, -1, -1)] + ["main"], 2000000))
    st.append(([], 100000))
    smp = [(k, [1, v, 1, v]) for k, v in st]
    data = profile(heap, smp)
elif kind == "empty":
    data = profile(heap, [])
elif kind == "cpu":
    data = profile([("samples", "count"), ("cpu", "nanoseconds")],
                   [(["work", "main"], [7, 7000000]), (["idle", "main"], [3, 3000000])])
elif kind == "units":
    data = profile([("inuse_space", "count")], [(["f", "main"], [5])])
open(sys.argv[1], "wb").write(data)
EOF

# png.py PNG W H [X,Y,R,G,B]...: checks that PNG is a valid W x H PNG image, decoded in
# pure python (zlib), not blank (at least 8 distinct colours), and that each pixel X,Y
# has colour R,G,B (within 3 per channel). Prints what it found.
cat >"$tmp/png.py" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
want_w, want_h = int(sys.argv[2]), int(sys.argv[3])
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG")
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    chunk = data[pos + 8:pos + 8 + n]
    if zlib.crc32(kind + chunk) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
        sys.exit("bad CRC in chunk %r" % kind)
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", chunk)
    elif kind == b"IDAT":
        idat += chunk
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = ihdr
if (w, h) != (want_w, want_h):
    sys.exit("size %dx%d, want %dx%d" % (w, h, want_w, want_h))
if depth != 8 or ctype not in (2, 6) or interlace:
    sys.exit("unexpected PNG format: depth %d, colour type %d" % (depth, ctype))
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
rows, prev = [], bytearray(stride)
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for i in range(stride):
            line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line)
    prev = line
def px(x, y):
    return tuple(rows[y][x * bpp:x * bpp + 3])
colours = {px(x, y) for y in range(0, h, 2) for x in range(0, w, 3)}
print("%dx%d, %d colours" % (w, h, len(colours)))
if len(colours) < 8:
    sys.exit("blank: %d colours" % len(colours))
for spec in sys.argv[4:]:
    x, y, r, g, b = map(int, spec.split(","))
    got = px(x, y)
    if max(abs(got[0] - r), abs(got[1] - g), abs(got[2] - b)) > 3:
        sys.exit("pixel %d,%d is %r, want %r" % (x, y, got, (r, g, b)))
EOF

# --- Chromium ------------------------------------------------------------------------

mkdir -p "$tmp/chrome" "$tmp/home"

# chrome ARGS...: headless Chromium with a private profile, under a 60 s timeout; any
# process left with our profile directory is killed afterwards (by pid).
chrome() {
	HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home" XDG_CACHE_HOME="$tmp/home" \
		timeout -k 5 60 chromium --headless --no-sandbox --disable-gpu \
		--no-first-run --disable-extensions --disable-dev-shm-usage \
		--hide-scrollbars --user-data-dir="$tmp/chrome" "$@" 2>"$tmp/chrome.err"
	local st=$? p
	for p in $(pgrep -f -- "--user-data-dir=$tmp/chrome" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	return $st
}

# page NAME SVG JS: writes $tmp/NAME.html, which loads SVG in an iframe and, once
# everything is loaded, runs JS (a function body with d: the SVG document, w: its
# window, put(key, value)) and writes "key=value" lines into <pre id="result">.
page() {
	cat >"$tmp/$1.html" <<EOF
<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="result">not run</pre>
<iframe id="f" src="$2" width="1200" height="800"></iframe>
<script>
function T(d, w, put) {
$3
}
window.addEventListener('load', function () {
	var out = [], f = document.getElementById('f');
	try {
		T(f.contentDocument, f.contentWindow, function (k, v) { out.push(k + '=' + v); });
	} catch (e) {
		out.push('error=' + e + ' ' + e.stack);
	}
	document.getElementById('result').textContent = out.join('\n');
});
</script></body></html>
EOF
}

# dom NAME: runs $tmp/NAME.html in Chromium; the result lines in $tmp/NAME.res.
dom() {
	chrome --allow-file-access-from-files --virtual-time-budget=5000 \
		--dump-dom "file://$tmp/$1.html" >"$tmp/$1.dom"
	sed -n '/<pre id="result">/,/<\/pre>/p' "$tmp/$1.dom" |
		sed 's/.*<pre id="result">//; s/<\/pre>.*//; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g' \
		>"$tmp/$1.res"
}

# res NAME KEY: the value of KEY in $tmp/NAME.res.
res() {
	sed -n "s/^$2=//p" "$tmp/$1.res" | head -n 1
}

# JS helpers shared by the pages (inside T): frames, names, rendered boxes, events.
JS_COMMON='
	var fg = d.getElementById("frames"), gs = fg.children;
	function rect(g) { return g.getElementsByTagName("rect")[0]; }
	function box(g) { return rect(g).getBBox(); }
	function byname(n) {
		var best = null;
		for (var i = 0; i < gs.length; i++)
			if (w.name_of(gs[i]) === n && (!best || +gs[i].getAttribute("data-v") >
			    +best.getAttribute("data-v")))
				best = gs[i];
		return best;
	}
	function fire(el, type) {
		el.dispatchEvent(new w.MouseEvent(type, { bubbles: true, view: w }));
	}
	function text(id) { return d.getElementById(id).textContent; }
	var inited = 0;
	for (var i = 0; i < gs.length; i++)
		if (rect(gs[i]).getAttribute("data-fill")) inited++;
	put("init", inited + "/" + gs.length);
	/* The widest frame one row above the widest frame named n, from rendered boxes. */
	function widest_above(n) {
		var m = box(byname(n)), best = null, bw = -1;
		for (var i = 0; i < gs.length; i++) {
			var b = box(gs[i]);
			if (Math.abs(b.y - (m.y - 16)) < 0.5 && b.x >= m.x - 0.02 &&
			    b.x + b.width <= m.x + m.width + 0.02 && b.width > bw) {
				bw = b.width;
				best = gs[i];
			}
		}
		return best ? w.name_of(best) + " " + bw.toFixed(2) : "(none)";
	}
'

# --- (a) the demo profile ------------------------------------------------------------

mkdir -p "$tmp/d"
(cd "$tmp/d" && exec timeout 20 env HEAPPROF="prefix=$tmp/d/demo,rate=1" \
	LD_PRELOAD="$HP_LIB" "$top_builddir/tests/progs/demo_leak") >"$tmp/run.out" 2>&1
prof=$(ls "$tmp"/d/demo.*.exit.pb.gz 2>/dev/null)
if [ "$(count_files "$tmp/d/demo.*")" -ne 1 ] || [ -z "$prof" ]; then
	fail "demo_leak wrote one exit profile"
	diag "files: $(ls "$tmp/d")"
	diag_file "$tmp/run.out"
	done_testing
fi
pass "demo_leak wrote one exit profile"

svg() { python3 "$tmp/svg.py" "$@" 2>&1; }

run "$HP" flame "$prof" -o "$tmp/f.svg"
[ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] && [ -s "$tmp/f.svg" ]
ok $? "flame -o f.svg: exit 0, nothing on stdout or stderr" || diag_file "$tmp/err"
got="$(svg "$tmp/f.svg" total) $(svg "$tmp/f.svg" get all v) $(svg "$tmp/f.svg" get all w)"
[ "$got" = "$TOTAL_B $TOTAL_B 1180.00" ]
ok $? "the SVG parses; total and root: $TOTAL_B bytes, 1180.00 px (got '$got')"
# Pixel widths: 1180 px for the whole, as the C code rounds them (%.2f).
lw=$(awk -v v=$LEAK_B -v t=$TOTAL_B 'BEGIN { printf "%.2f", 1180 * v / t }')
got="$(svg "$tmp/f.svg" get leak_sessions v) $(svg "$tmp/f.svg" get leak_sessions w) $(svg "$tmp/f.svg" get leak_sessions suffix)"
[ "$got" = "$LEAK_B $lw (40.0MiB, 98.87%)" ]
ok $? "leak_sessions: $LEAK_B bytes, $lw px, '(40.0MiB, 98.87%)' (got '$got')"
got="$(svg "$tmp/f.svg" get build_index v) $(svg "$tmp/f.svg" get build_index suffix)"
[ "$got" = "$INDEX_B (468.8KiB, 1.13%)" ]
ok $? "build_index: $INDEX_B bytes, '(468.8KiB, 1.13%)' (got '$got')"
got=$(svg "$tmp/f.svg" above main)
[ "$got" = leak_sessions ]
ok $? "leak_sessions is the widest frame at its depth (above main) (got '$got')"

run "$HP" flame --sample alloc_space "$prof" -o "$tmp/a.svg"
got="$(svg "$tmp/a.svg" above main) $(svg "$tmp/a.svg" get parse_requests v)"
[ "$rc" -eq 0 ] && [ "$got" = "parse_requests 65536000" ]
ok $? "--sample alloc_space: parse_requests widest, 65536000 bytes (got '$got')"
run "$HP" flame --sample inuse_objects "$prof" -o "$tmp/o.svg"
got="$(svg "$tmp/o.svg" get build_index v) $(svg "$tmp/o.svg" get leak_sessions suffix)"
[ "$rc" -eq 0 ] && [ "$got" = "10000 (40, 0.40%)" ]
ok $? "--sample inuse_objects: counts as plain numbers (got '$got')"

# --lines: the leak's frame names the line of its malloc call in demo_leak.c.
src="$top_srcdir/tests/progs/demo_leak.c"
line=$(grep -n 'char \*s = malloc(SESSION_SIZE);' "$src" | cut -d: -f1)
run "$HP" flame --lines "$prof" -o "$tmp/l.svg"
got=$(grep -o "<title>leak_sessions [^ ]*:[0-9]* " "$tmp/l.svg" | head -n 1)
[ "$rc" -eq 0 ] && [ -n "$line" ] && case $got in *"/demo_leak.c:$line ") true ;; *) false ;; esac
ok $? "--lines: the leak's frame is 'leak_sessions .../demo_leak.c:$line' (got '$got')" ||
	diag_file "$tmp/err"

# --- (b) Chromium: screenshot ---------------------------------------------------------

chrome --screenshot="$tmp/shot.png" --window-size=1200,800 "file://$tmp/f.svg" >/dev/null
st=$?
got=$(python3 "$tmp/png.py" "$tmp/shot.png" 1200 800 \
	"$(svg "$tmp/f.svg" pixel leak_sessions)" "$(svg "$tmp/f.svg" pixel main)" 2>&1)
ok $? "Chromium screenshot: a 1200x800 PNG, not blank, leak_sessions and main drawn in their colours where the SVG puts them ($got)" ||
	{ diag "chromium status $st"; diag_file "$tmp/chrome.err" 5; }

# --- (b) Chromium: the SVG's own script in a page -------------------------------------

page demo f.svg "$JS_COMMON"'
	put("widest", widest_above("main"));
	var leak = byname("leak_sessions"), idx = byname("build_index");
	fire(rect(leak), "mouseover");
	put("hover", text("details"));
	fire(rect(leak), "click");
	var b = box(leak);
	put("zoom", b.x.toFixed(2) + " " + b.width.toFixed(2) + " " + (idx.style.display || "-") +
	    " " + (byname("main").getAttribute("class") || "-") + " " +
	    d.getElementById("unzoom").style.opacity);
	fire(d.getElementById("unzoom"), "click");
	b = box(leak);
	put("reset", b.x.toFixed(2) + " " + b.width.toFixed(2) + " " + (idx.style.display || "-") +
	    " " + (byname("main").getAttribute("class") || "-") + " " +
	    d.getElementById("unzoom").style.opacity);
	put("search", w.search("^leak_") + " " + text("matched") + " " + rect(leak).getAttribute("fill") +
	    " " + text("search"));
	put("nested", w.search("^(main|leak_sessions)$") + " " + text("matched"));
	put("two", w.search("_index$|_sessions$") + " " + text("matched"));
	put("bad", w.search("(") + " " + text("matched"));
	put("clear", w.search("") + " " + (rect(leak).getAttribute("fill") ===
	    rect(leak).getAttribute("data-fill")) + " " + text("search"));
'
dom demo
n=$(svg "$tmp/f.svg" count)
got=$(res demo init)
[ "$got" = "$n/$n" ]
ok $? "Chromium: the SVG's script ran (init saw all $n frames) (got '$got')" ||
	{ diag_file "$tmp/demo.res"; diag_file "$tmp/chrome.err" 5; }
got=$(res demo widest)
[ "$got" = "leak_sessions $lw" ]
ok $? "Chromium: from the rendered boxes, the widest frame above main is leak_sessions, $lw px (got '$got')"
got=$(res demo hover)
[ "$got" = "leak_sessions (40.0MiB, 98.87%)" ]
ok $? "Chromium: hovering leak_sessions shows its value and share in the details line (got '$got')"
got=$(res demo zoom)
[ "$got" = "10.00 1180.00 none parent 1" ]
ok $? "Chromium: clicking leak_sessions zooms it to the full width, hides build_index, dims main, shows Reset Zoom (got '$got')"
got=$(res demo reset)
[ "$got" = "23.35 $lw - - 0" ]
ok $? "Chromium: Reset Zoom restores the layout (got '$got')"
got=$(res demo search)
[ "$got" = "$LEAK_B Matched: 40.0MiB (98.87%) rgb(230,0,230) Reset Search" ]
ok $? "Chromium: search('^leak_') highlights leak_sessions, matched 40.0MiB (98.87%) (got '$got')"
got="$(res demo nested) | $(res demo two)"
[ "$got" = "$TOTAL_B Matched: 40.5MiB (100.00%) | $TOTAL_B Matched: 40.5MiB (100.00%)" ]
ok $? "Chromium: a match nested in another counts once; two siblings add up (got '$got')"
got="$(res demo bad) | $(res demo clear)"
[ "$got" = "-1 Bad regular expression | 0 true Search" ]
ok $? "Chromium: a bad regular expression is reported; an empty search clears (got '$got')"

# --- (b) a synthetic profile: awkward names, many frames, a deep stack ---------------

python3 "$tmp/mkprof.py" "$tmp/weird.pb" weird
run "$HP" flame --no-symbolize --sample inuse_space "$tmp/weird.pb" -o "$tmp/w.svg"
ok "$rc" "flame on a profile of awkward names, 3000 frames, a 600-frame stack: exit 0" ||
	diag_file "$tmp/err"
got=$(python3 - "$tmp/w.svg" <<'EOF' 2>&1
import sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
fs = {}
for g in root.find(".//" + ns + "g[@id='frames']").findall(ns + "g"):
    t = g.find(ns + "title").text
    fs[t[:t.rindex(" (")]] = (int(g.get("data-v")), g.find(ns + "text").text or "")
want = {'tpl<a, b>::f(x&) "q" \'s\' & <y> ]]>': 4000000, "L" * 20000: 2000000,
        "caf\u00e9_\u6f22\u5b57_\U0001F600": 1000000, "bad????[31m???ctl": 1000000,
        "wide": 6000000, "leaf0000": 2000, "leaf2999": 2000, "d0": 2000000,
        "d599": 2000000, "[no stack]": 100000, "main": 16000000, "all": 16100000}
bad = ["%r: %r" % (n[:40], fs.get(n, (None,))[0]) for n, v in want.items()
       if fs.get(n, (None,))[0] != v]
leaves = sum(1 for n in fs if n.startswith("leaf"))
if leaves != 3000: bad.append("%d leaf frames" % leaves)
if root.get("height") != str(56 + 602 * 16 + 28): bad.append("height " + root.get("height"))
if not fs["L" * 20000][1].endswith(".."): bad.append("long label not cut")
print("; ".join(bad) if bad else "ok %d frames" % len(fs))
EOF
)
[ "${got%% *}" = ok ]
ok $? "awkward names survive exactly (escaped, invalid bytes as '?'), all 3000 siblings and 600 levels drawn, exact values ($got)"

page weird w.svg "$JS_COMMON"'
	put("odd", w.search("<a, b>::f\\(x&\\) \"q\" .s. & <y> ]]>") + " " + w.search("^L{20000}$") +
	    " " + w.search("\u6f22\u5b57") + " " + w.search("^leaf") + " " + w.search("^d\\d+$"));
	w.search("");
	var wide = byname("wide"), leaf = byname("leaf0001");
	fire(rect(wide), "click");
	var vis = 0;
	for (var i = 0; i < gs.length; i++) if (gs[i].style.display !== "none") vis++;
	fire(rect(leaf), "mouseover");
	put("zoom", vis + " " + box(leaf).width.toFixed(2) + " " + text("details"));
	w.unzoom();
	put("deep", box(byname("d599")).y + " " + box(byname("main")).y);
'
dom weird
n=$(svg "$tmp/w.svg" count)
got="$(res weird init) | $(res weird odd)"
[ "$got" = "$n/$n | 4000000 2000000 1000000 6000000 2000000" ]
ok $? "Chromium on the synthetic graph: script ran, searches for awkward names match exactly (got '$got')" ||
	{ diag_file "$tmp/weird.res"; diag_file "$tmp/chrome.err" 5; }
got=$(res weird zoom)
[ "$got" = "3003 0.39 leaf0001 (2.0KiB, 0.01%) | 0.03% of wide" ]
ok $? "Chromium: zoomed into 'wide', 3000 leaves + wide + 2 parents shown, hover gives the share of the zoomed frame (got '$got')"
# Rows of 16 px from the bottom (28 px for the details line): main is row 1, d599 row 601.
got=$(res weird deep)
[ "$got" = "$((9716 - 28 - 602 * 16)) $((9716 - 28 - 2 * 16))" ]
ok $? "Chromium: the 600-frame stack is laid out to the top (got '$got')"

# An empty profile gives a valid SVG that says so, which Chromium opens.
python3 "$tmp/mkprof.py" "$tmp/empty.pb" empty
run "$HP" flame "$tmp/empty.pb" -o "$tmp/e.svg"
got="$(svg "$tmp/e.svg" empty) $(svg "$tmp/e.svg" count)"
[ "$rc" -eq 0 ] && [ "$got" = "No samples 0" ]
ok $? "empty profile: exit 0, a valid SVG saying 'No samples' (got '$got')"
page empty e.svg "$JS_COMMON"'put("search", w.search("x") + " " + text("matched"));'
dom empty
got="$(res empty init) $(res empty search)"
[ "$got" = "0/0 0 Matched: 0B (0.00%)" ]
ok $? "Chromium opens the empty graph, its script runs (got '$got')"

# Any sample type: a CPU profile.
python3 "$tmp/mkprof.py" "$tmp/cpu.pb" cpu
run "$HP" flame --sample samples "$tmp/cpu.pb" -o "$tmp/c.svg"
got="$(svg "$tmp/c.svg" above main) $(svg "$tmp/c.svg" get work suffix)"
[ "$rc" -eq 0 ] && [ "$got" = "work (7, 70.00%)" ]
ok $? "any sample type: a CPU profile's 'samples' (got '$got')"

# --- (c) --base: the growth between two signal dumps of leak_grow ----------------------

mkdir -p "$tmp/lg"
env HEAPPROF="rate=64k,prefix=$tmp/lg/lg" LD_PRELOAD="$HP_LIB" \
	"$top_builddir/tests/progs/leak_grow" 25 30 >"$tmp/lg.out" 2>"$tmp/lg.err" &
pid=$!
last_iter() { sed -n 's/^iter //p' "$tmp/lg.out" | tail -n 1; }
for _ in $(seq 100); do
	[ "$(last_iter)" -ge 10 ] 2>/dev/null && break
	sleep 0.05
done
n1a=$(last_iter)
kill -USR1 "$pid"
f1=$(wait_for_file "$tmp/lg/lg.$pid.0001.signal.pb.gz" 10)
n1b=$(last_iter)
sleep 2
n2a=$(last_iter)
kill -USR1 "$pid"
f2=$(wait_for_file "$tmp/lg/lg.$pid.0002.signal.pb.gz" 10)
n2b=$(last_iter)
kill -TERM "$pid" 2>/dev/null
wait "$pid"
[ -n "$f1" ] && [ -n "$f2" ] && [ -n "$n1a" ] && [ -n "$n2b" ]
ok $? "leak_grow: two signal dumps (at iterations $n1a-$n1b and $n2a-$n2b)" ||
	{ diag "files: $(ls "$tmp/lg")"; diag_file "$tmp/lg.err"; done_testing; }
# The truth in MiB: between (n2a - n1b) and (n2b - n1a); its middle is within a few %.
truth=$(awk -v a="$n1a" -v b="$n1b" -v c="$n2a" -v d="$n2b" 'BEGIN { print (c + d - a - b) / 2 }')

run "$HP" flame --base "$f1" "$f2" -o "$tmp/g.svg"
ok "$rc" "flame --base: exit 0" || diag_file "$tmp/err"
got=$(svg "$tmp/g.svg" above main)
[ "$got" = leak_session ]
ok $? "--base: leak_session is the widest frame above main (got '$got')"
v=$(svg "$tmp/g.svg" get leak_session v)
mib=$(awk -v v="$v" 'BEGIN { printf "%.2f", v / 1048576 }')
within "$mib" "$truth" 0.10
ok $? "--base: leak_session's width is the growth, $mib MiB vs $truth MiB leaked ($(rel "$mib" "$truth"))"
fill=$(svg "$tmp/g.svg" get leak_session fill)
suffix=$(svg "$tmp/g.svg" get leak_session suffix)
echo "$fill" | grep -Eq '^rgb\(255,([0-9]|[1-5][0-9]),\1\)$' &&
	echo "$suffix" | grep -q '^(+[0-9.]*MiB, [0-9.]*%; base [0-9.]*MiB, new [0-9.]*MiB, delta +[0-9.]*MiB)$'
ok $? "--base: leak_session red (255,<60,<60), its tooltip gives growth, base, new and delta (got '$fill $suffix')"
run "$HP" flame --base "$f2" "$f2" -o "$tmp/z.svg"
got=$(svg "$tmp/z.svg" empty)
[ "$rc" -eq 0 ] && [ "$got" = "No growth: nothing grew" ]
ok $? "--base of a profile against itself: nothing grew (got '$got')"
# Swapped, what shrank is drawn: the leak's frame is gone, in blue where it remains.
run "$HP" flame --base "$f2" "$f1" -o "$tmp/s.svg"
got=$(grep -c '<title>leak_session ' "$tmp/s.svg")
[ "$rc" -eq 0 ] && [ "$got" -eq 0 ] && grep -q 'grew +0B (drawn), shrank -' "$tmp/s.svg"
ok $? "--base swapped: nothing grew, the shrinkage is in the subtitle"

# --- (d) bad inputs ------------------------------------------------------------------

printf 'keep\n' >"$tmp/keep.svg"
kept() { [ "$(cat "$tmp/keep.svg")" = keep ]; }
size=$(wc -c <"$prof")
head -c $((size / 2)) "$prof" >"$tmp/trunc.pb.gz"

run "$HP" flame "$tmp/missing.pb.gz" -o "$tmp/keep.svg"
[ "$rc" -eq 1 ] && one_error_line "$tmp/missing.pb.gz" && kept
ok $? "missing profile: exit 1 (got $rc), one line, output untouched" || diag_file "$tmp/err"
run "$HP" flame "$tmp/trunc.pb.gz" -o "$tmp/keep.svg"
[ "$rc" -eq 1 ] && one_error_line "$tmp/trunc.pb.gz" && kept
ok $? "damaged profile: exit 1 (got $rc), one line, output untouched" || diag_file "$tmp/err"
run "$HP" flame --base "$tmp/trunc.pb.gz" "$prof" -o "$tmp/keep.svg"
[ "$rc" -eq 1 ] && one_error_line "$tmp/trunc.pb.gz" && kept
ok $? "damaged base: exit 1 (got $rc), one line naming it" || diag_file "$tmp/err"
run "$HP" flame --sample cpu "$prof" -o "$tmp/keep.svg"
[ "$rc" -eq 2 ] && one_error_line flame && grep -q "no sample type 'cpu'" "$tmp/err" && kept
ok $? "unknown --sample: exit 2 (got $rc), one line" || diag_file "$tmp/err"
run "$HP" flame --base "$tmp/cpu.pb" "$prof" -o "$tmp/keep.svg"
[ "$rc" -eq 2 ] && one_error_line flame &&
	grep -qF "no sample type 'inuse_space' in $tmp/cpu.pb" "$tmp/err" && kept
ok $? "base without the sample type: exit 2 (got $rc), one line naming type and file" ||
	diag_file "$tmp/err"
python3 "$tmp/mkprof.py" "$tmp/units.pb" units
run "$HP" flame --base "$tmp/units.pb" "$prof" -o "$tmp/keep.svg"
[ "$rc" -eq 2 ] && one_error_line flame && grep -q "in bytes in the profile but in count" "$tmp/err"
ok $? "base with the type in another unit: exit 2 (got $rc), one line" || diag_file "$tmp/err"
run "$HP" flame --frobnicate "$prof"
[ "$rc" -eq 2 ] && one_error_line flame
ok $? "unknown option: exit 2 (got $rc), one line" || diag_file "$tmp/err"

# --- (d) output: whole or not at all ---------------------------------------------------

run "$HP" flame "$prof" -o "$tmp/nodir/x.svg"
[ "$rc" -eq 1 ] && one_error_line "$tmp/nodir/x.svg" && grep -q ': cannot write: No such file or directory$' "$tmp/err"
ok $? "-o in a missing directory: exit 1, 'heapprof: OUT: cannot write: why'" || diag_file "$tmp/err"
mkdir -p "$tmp/adir"
run "$HP" flame "$prof" -o "$tmp/adir"
[ "$rc" -eq 1 ] && one_error_line "$tmp/adir" && grep -q ': cannot write: Is a directory$' "$tmp/err"
ok $? "-o a directory: exit 1, 'cannot write: Is a directory'" || diag_file "$tmp/err"
if [ -w /dev/full ]; then
	run "$HP" flame "$prof" -o /dev/full
	[ "$rc" -eq 1 ] && one_error_line /dev/full && grep -q ': cannot write: No space left on device$' "$tmp/err" &&
		[ -c /dev/full ]
	ok $? "-o /dev/full: exit 1, 'cannot write: No space left on device', the device left alone" ||
		diag_file "$tmp/err"
else
	fail "-o /dev/full: /dev/full is missing or not writable"
fi
chmod 640 "$tmp/keep.svg"
run "$HP" flame "$prof" -o "$tmp/keep.svg"
[ "$rc" -eq 0 ] && [ "$(stat -c %a "$tmp/keep.svg")" = 640 ] && cmp -s "$tmp/keep.svg" "$tmp/f.svg"
ok $? "-o over an existing file: replaced whole, its mode (640) kept"
left=$(find "$tmp" -name '.heapprof-flame.*' | wc -l)
[ "$left" -eq 0 ]
ok $? "no temporary file left behind ($left)"
run "$HP" flame "$prof"
[ "$rc" -eq 0 ] && cmp -s "$tmp/out" "$tmp/f.svg"
ok $? "no -o: the same SVG on standard output"

done_testing
