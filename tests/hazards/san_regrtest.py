# tests/hazards/san_regrtest.py: summarises one run of CPython's regression tests for
# tests/hazards/cpython.sh, from regrtest's output (-j progress lines) and its --junit-xml.
#
#   python3 san_regrtest.py OUTPUT XML MODULE...
#
# Prints one line per MODULE: "MODULE STATUS CASES FAILED SKIPPED", where STATUS is the
# word regrtest gave the module ("passed", "failed", "crashed", ... or "missing" when it
# printed none), CASES the test cases the XML holds for it, FAILED those with a <failure>
# or <error>, SKIPPED those with <skipped>. Then, for each failed case, a line
# "# MODULE CASE: first line of its message".
import re
import sys
import xml.etree.ElementTree as ET

# Test packages whose cases are not named test.<module>...: test_ctypes runs ctypes.test.
ALIASES = {"ctypes": "test_ctypes"}


def main():
    out_path, xml_path, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
    status = {}
    prog = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\] (test_\w+) (\w+)")
    with open(out_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = prog.search(line)
            if m and m.group(1) in modules:
                status[m.group(1)] = m.group(2)
    counts = {m: [0, 0, 0] for m in modules}
    failed = []
    try:
        root = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as e:
        print("# cannot read %s: %s" % (xml_path, e))
        root = ET.Element("testsuites")
    for tc in root.iter("testcase"):
        name = tc.get("name", "")
        parts = name.split(".")
        mod = parts[1] if len(parts) > 1 and parts[0] == "test" else parts[0]
        mod = ALIASES.get(mod, mod)
        if mod not in counts:
            continue
        c = counts[mod]
        c[0] += 1
        bad = [ch for ch in tc if ch.tag in ("failure", "error")]
        if bad:
            c[1] += 1
            msg = (bad[0].get("message") or bad[0].text or "").strip().splitlines()
            failed.append("# %s %s: %s" % (mod, name, msg[0][:200] if msg else ""))
        if any(ch.tag == "skipped" for ch in tc):
            c[2] += 1
    for m in modules:
        print(m, status.get(m, "missing"), *counts[m])
    for line in failed:
        print(line)


if __name__ == "__main__":
    main()
