#!/usr/bin/env python3
"""tests/fuzz/gen_seeds.py: writes the hand-made seeds of the fuzz corpus (edge cases of
pprof protobuf, gzip and the legacy heap text format) into a directory:

    python3 tests/fuzz/gen_seeds.py OUTDIR

Deterministic: the same files every run. Names say what tests/fuzz/replay.sh expects:
valid-* must parse (valid-text-*: the legacy text format), bad-* must be rejected with a
one-line reason, text-* (edge cases of the text format, which the reader may take or
refuse) must only not crash. Run by tests/fuzz/make_seeds.sh; the results
are checked in under tests/fuzz/corpus/, so make check does not need Python."""
import gzip
import os
import struct
import sys

# --- a minimal protobuf writer ---------------------------------------------------------


def varint(v):
    """Unsigned varint; negative numbers as 64-bit two's complement (10 bytes)."""
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wt):
    return varint(field << 3 | wt)


def f_int(field, v):
    return key(field, 0) + varint(v)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return key(field, 2) + varint(len(data)) + data


def f_packed(field, values):
    return f_bytes(field, b"".join(varint(v) for v in values))


def f_unpacked(field, values):
    return b"".join(f_int(field, v) for v in values)


class Strings:
    """A string table: index of each string, "" first."""

    def __init__(self):
        self.v = [""]

    def __call__(self, s):
        if s not in self.v:
            self.v.append(s)
        return self.v.index(s)

    def encode(self):
        return b"".join(f_bytes(6, s) for s in self.v)


def value_type(st, t, u):
    return f_int(1, st(t)) + f_int(2, st(u))


def sample(locs, values, packed=True):
    w = f_packed if packed else f_unpacked
    return f_bytes(2, w(1, locs) + w(2, values))


def mapping(st, mid, start, limit, offset, name, build_id=""):
    return f_bytes(3, f_int(1, mid) + f_int(2, start) + f_int(3, limit) + f_int(4, offset) +
                   f_int(5, st(name)) + f_int(6, st(build_id)))


def location(lid, mapping_id, addr, lines=()):
    body = f_int(1, lid) + f_int(2, mapping_id) + f_int(3, addr)
    for fid, line in lines:
        body += f_bytes(4, f_int(1, fid) + f_int(2, line))
    return f_bytes(4, body)


def function(st, fid, name, filename="", start_line=0, system_name=""):
    return f_bytes(5, f_int(1, fid) + f_int(2, st(name)) + f_int(3, st(system_name)) +
                   f_int(4, st(filename)) + f_int(5, start_line))


HEAP_TYPES = [("alloc_objects", "count"), ("alloc_space", "bytes"),
              ("inuse_objects", "count"), ("inuse_space", "bytes")]


def heap_head(st, types=HEAP_TYPES, period=524288):
    out = b"".join(f_bytes(1, value_type(st, t, u)) for t, u in types)
    return out + f_bytes(11, value_type(st, "space", "bytes")) + f_int(12, period)


def small_profile(st, extra=b"", strings_last=True):
    """Two samples, two locations, one mapping, two functions."""
    body = heap_head(st)
    body += sample([1, 2], [1, 100, 1, 100]) + sample([2], [2, 64, 0, 0], packed=False)
    body += mapping(st, 1, 0x400000, 0x500000, 0, "/usr/bin/prog", "abcdef0123")
    body += location(1, 1, 0x401000, [(1, 12)]) + location(2, 1, 0x402000, [(2, 30)])
    body += function(st, 1, "leaf", "/src/a.c", 10) + function(st, 2, "main", "/src/a.c", 25)
    body += extra
    if strings_last:
        return body + st.encode()
    return st.encode() + body


# --- the seeds ---------------------------------------------------------------------------


def valid_seeds():
    s = {}
    st = Strings()
    s["valid-minimal.pb"] = f_bytes(6, "") + f_bytes(1, f_int(1, 0))

    st = Strings()
    s["valid-small-strings-first.pb"] = small_profile(st, strings_last=False)
    st = Strings()
    s["valid-small-strings-last.pb"] = small_profile(st)

    st = Strings()
    extra = f_int(9, 1700000000000000000) + f_int(10, 5000000000) + \
        f_int(13, st("comment one")) + f_int(14, st("inuse_space"))
    s["valid-full.pb"] = small_profile(st, extra)

    # Unknown fields of every wire type, at the top and inside each message.
    st = Strings()
    unk = f_int(99, 7) + key(98, 1) + b"\x01" * 8 + f_bytes(97, b"xyz") + key(96, 5) + b"\x02" * 4
    body = heap_head(st) + unk
    body += f_bytes(2, f_packed(1, [1]) + unk + f_packed(2, [1, 2, 3, 4]) + f_packed(3, [1]))
    body += f_bytes(3, f_int(1, 1) + unk + f_int(2, 4096) + f_int(7, 1))
    body += f_bytes(4, f_int(1, 1) + f_int(2, 1) + unk +
                    f_bytes(4, f_int(1, 1) + unk + f_int(3, 5)) + f_int(5, 1))
    body += f_bytes(5, f_int(1, 1) + unk + f_int(2, st("fn")))
    s["valid-unknown-fields.pb"] = body + st.encode()

    # Negative and extreme values: sums overflow int64.
    st = Strings()
    body = heap_head(st)
    body += sample([1], [-1, -(1 << 63), 1, (1 << 63) - 1])
    body += sample([1], [-5, -(1 << 63), (1 << 63) - 1, (1 << 63) - 1])
    body += sample([2], [7, -3, -7, 3])
    body += location(1, 0, 0x1000) + location(2, 0, 0x2000)
    s["valid-negative-values.pb"] = body + st.encode()

    # A deep stack, and a location with many inlined lines used many times.
    st = Strings()
    n = 2000
    body = heap_head(st) + sample(list(range(1, n + 1)), [1, 8, 1, 8])
    body += sample([n + 1] * 64, [1, 16, 1, 16])
    body += b"".join(location(i, 0, 0x1000 + i) for i in range(1, n + 1))
    body += location(n + 1, 0, 0x9999, [(1, i) for i in range(1, 41)])
    body += function(st, 1, "inlined", "/src/deep.c")
    s["valid-deep-stack.pb"] = body + st.encode()

    # A comment that is "" (string 0), a string with NUL bytes.
    st = Strings()
    s["valid-empty-comment.pb"] = small_profile(st, f_int(13, 0) + f_int(13, st("c")))
    st = Strings()
    s["valid-embedded-nul.pb"] = small_profile(st, function(st, 3, "a\0b\0", "f\0.c", 1))

    # Address below its mapping; mapping without a name; a line without a function.
    st = Strings()
    body = heap_head(st) + sample([1, 2, 3], [1, 1, 1, 1])
    body += mapping(st, 1, 0x800000, 0x900000, 0x1000, "/lib/libx.so")
    body += mapping(st, 2, 0x100, 0x200, 0, "")
    body += location(1, 1, 0x10) + location(2, 2, 0x150, [(0, 7)]) + location(3, 0, 0)
    s["valid-odd-locations.pb"] = body + st.encode()

    # default_sample_type names a type the profile lacks; duplicate type names.
    st = Strings()
    body = heap_head(st, HEAP_TYPES + [("inuse_space", "bytes")]) + f_int(14, st("cpu"))
    body += sample([], [1, 2, 3, 4, 5])
    s["valid-default-missing.pb"] = body + st.encode()

    # Zero-valued and location-less samples only.
    st = Strings()
    body = heap_head(st) + sample([], [0, 0, 0, 0]) + sample([], [1, 1, 1, 1])
    s["valid-no-locations.pb"] = body + st.encode()

    # The same stack twice (merged by st_build), names differing only by a suffix.
    st = Strings()
    body = heap_head(st) + sample([1, 3], [1, 1, 1, 1]) + sample([1, 3], [1, 1, 1, 1])
    body += sample([2, 3], [1, 1, 1, 1]) + sample([1, 3], [-2, -2, -2, -2])
    body += location(1, 0, 1, [(1, 0)]) + location(2, 0, 2, [(2, 0)])
    body += location(3, 0, 3, [(3, 0)])
    body += function(st, 1, "f") + function(st, 2, "f1") + function(st, 3, "main")
    s["valid-merge.pb"] = body + st.encode()
    return s


def bad_seeds():
    s = {}
    st = Strings()
    good = small_profile(st)
    s["bad-empty"] = b""
    s["bad-one-byte"] = b"\x1f"
    s["bad-gzip-truncated.pb.gz"] = gzip.compress(good, mtime=0)[:-20]
    s["bad-gzip-empty.pb.gz"] = gzip.compress(b"", mtime=0)
    gz = bytearray(gzip.compress(good, mtime=0))
    gz[-6] ^= 0xFF
    s["bad-gzip-crc.pb.gz"] = bytes(gz)
    s["bad-gzip-header-only.gz"] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    s["bad-huge-varint.pb"] = f_bytes(6, "") + key(9, 0) + b"\xff" * 11 + b"\x01"
    s["bad-varint-truncated.pb"] = f_bytes(6, "") + key(9, 0) + b"\x80"
    s["bad-len-past-end.pb"] = f_bytes(6, "") + key(1, 2) + varint(1 << 40) + b"ab"
    s["bad-len-huge.pb"] = key(6, 2) + varint((1 << 64) - 1)
    s["bad-wire-type-group.pb"] = f_bytes(6, "") + key(20, 3) + key(20, 4)
    s["bad-wire-type-7.pb"] = f_bytes(6, "") + key(20, 7)
    s["bad-field-zero.pb"] = f_bytes(6, "") + b"\x00\x01"
    s["bad-top-wire-type.pb"] = f_bytes(6, "") + f_int(2, 1)
    s["bad-inner-wire-type.pb"] = f_bytes(6, "") + f_bytes(1, key(1, 2) + b"\x00")

    def prof(body):
        st2 = Strings()
        return heap_head(st2) + body + st2.encode()

    s["bad-string-index.pb"] = f_bytes(6, "") + f_bytes(1, f_int(1, 99))
    s["bad-string-index-huge.pb"] = f_bytes(6, "") + f_bytes(1, f_int(1, (1 << 64) - 1))
    s["bad-comment-index.pb"] = prof(f_int(13, 1000))
    s["bad-no-string-table.pb"] = f_bytes(1, b"")
    s["bad-string-table-first.pb"] = f_bytes(6, "x") + f_bytes(6, "") + f_bytes(1, b"")
    s["bad-no-sample-types.pb"] = f_bytes(6, "") + f_bytes(2, b"")
    s["bad-values-count.pb"] = prof(sample([], [1, 2, 3]))
    s["bad-dup-location.pb"] = prof(location(1, 0, 1) + location(1, 0, 2))
    s["bad-dup-function.pb"] = prof(f_bytes(5, f_int(1, 3)) * 2)
    s["bad-dup-mapping.pb"] = prof(f_bytes(3, f_int(1, 2)) * 2)
    s["bad-id-zero.pb"] = prof(location(0, 0, 1))
    s["bad-missing-location.pb"] = prof(sample([5], [1, 1, 1, 1]))
    s["bad-missing-function.pb"] = prof(location(1, 0, 1, [(9, 1)]))
    s["bad-missing-mapping.pb"] = prof(location(1, 9, 1))
    # 297 bytes gzip'd, 84 KB raw: one location with 12000 inlined lines, used 12000
    # times by a sample: 144 million frames.
    st2 = Strings()
    bomb = heap_head(st2) + sample([1] * 12000, [1, 1, 1, 1])
    bomb += location(1, 0, 0x1000, [(1, 0)] * 12000) + function(st2, 1, "f")
    s["bad-inline-bomb.pb.gz"] = gzip.compress(bomb + st2.encode(), 9, mtime=0)
    s["bad-text.txt"] = b"hello, this is not a profile\n"
    s["bad-elf-header"] = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
    return s


HEAP_V2 = """heap profile:   12:  1048960 [   30:  2097536] @ heap_v2/524288
    10:  1048576 [    20:  2097152] @ 0x0000000000401136 0x0000000000401200 0x00007f0000029d90
     2:      384 [    10:      384] @ 0x0000000000401180 0x0000000000401200 0x00007f0000029d90
     0:        0 [     0:        0] @ 0x0000000000401190

MAPPED_LIBRARIES:
00400000-00402000 r-xp 00000000 08:01 1234                               /usr/bin/leaky
7f0000000000-7f0000200000 r-xp 00028000 08:01 5678                       /usr/lib/x86_64-linux-gnu/libc.so.6
"""


def text_seeds():
    s = {}
    s["valid-text-heap-v2.heap"] = HEAP_V2.encode()
    s["valid-text-heap-v2.heap.gz"] = gzip.compress(HEAP_V2.encode(), mtime=0)
    s["text-heap-v2-crlf.heap"] = HEAP_V2.replace("\n", "\r\n").encode()
    s["text-heap-v2-no-mapped.heap"] = HEAP_V2.split("MAPPED")[0].encode()
    s["text-heap-v2-rate0.heap"] = HEAP_V2.replace("heap_v2/524288", "heap_v2/0").encode()
    s["text-heap-v2-rate-neg.heap"] = HEAP_V2.replace("heap_v2/524288", "heap_v2/-1").encode()
    s["text-heap-v2-huge.heap"] = HEAP_V2.replace(
        "    10:  1048576", "99999999999999999999999:  18446744073709551617").encode()
    s["text-heap-v2-negative.heap"] = HEAP_V2.replace("    10:  1048576", "   -10: -1048576").encode()
    s["text-heap-v2-addr-huge.heap"] = HEAP_V2.replace(
        "0x0000000000401136", "0xffffffffffffffffffffffff").encode()
    s["text-heap-v2-bad-map.heap"] = HEAP_V2.replace("00400000-00402000", "00402000-00400000") \
        .replace("7f0000000000-7f0000200000", "zzzz-").encode()
    s["text-heap-header-only.heap"] = b"heap profile:"
    s["text-heap-garbage.heap"] = (b"heap profile: 1: 2 [3: 4] @ heap_v2/1\n"
                                   b"garbage line\n\x00\xff\xfe @ @ @ 0x\n"
                                   b"  1: 2 [ 3 : 4 ] @\n:::: [[[[ ]]]] @ 0xzz\n"
                                   b"MAPPED_LIBRARIES:\n-\n0-0 \n")
    s["text-heap-heapprofile.heap"] = HEAP_V2.replace("heap_v2/524288", "heapprofile").encode()
    s["text-heap-deep.heap"] = ("heap profile: 1: 8 [1: 8] @ heap_v2/1\n1: 8 [1: 8] @ " +
                                " ".join("0x%x" % (0x1000 + i) for i in range(3000)) +
                                "\n").encode()
    return s


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: gen_seeds.py OUTDIR\n")
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for group in (valid_seeds(), bad_seeds(), text_seeds()):
        for name, data in sorted(group.items()):
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
