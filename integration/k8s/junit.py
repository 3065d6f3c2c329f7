#!/usr/bin/env python3
"""junit.py LABEL NAME=REPORT.xml[~TEXT]...: compares critest (ginkgo) JUnit reports spec by spec with
the first (runc's, the yardstick). Prints each spec it passes and another does not, and a line
of counts per runtime; exits 1 if another fails a spec the first passes."""
import sys
import xml.etree.ElementTree as ET


def verdicts(path):
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("skipped") is not None:
            v = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            v = "failed"
        else:
            v = "passed"
        # (ginkgo reports its suite set-up and tear-down nodes as cases of their own)
        if name.startswith("[SynchronizedBeforeSuite]") or name.startswith("[BeforeSuite]"):
            if v == "passed":
                continue
        out[name] = v
    return out


label = sys.argv[1]
# NAME=REPORT.xml, or NAME=REPORT.xml~TEXT[|TEXT...]: specs whose name holds a TEXT that NAME skips where
# the first passes are a known gap, printed as such, not a failure (the reason is the caller's)
reports, known = [], {}
for arg in sys.argv[2:]:
    name, rest = arg.split("=", 1)
    path, _, gap = rest.partition("~")
    reports.append((name, verdicts(path)))
    known[name] = gap
(yard, runc), others = reports[0], reports[1:]
bad = False
for name, other in others:
    for n, v in sorted(runc.items()):
        if v == "passed" and other.get(n) != "passed":
            if any(t and t in n for t in known[name].split("|")) and other.get(n) == "skipped":
                print(f"critest: known gap, {name} skips what {yard} passes: {n}")
                continue
            print(f"critest: FAIL: {yard} passes, {name} does not ({other.get(n, 'missing')}): {n}")
            bad = True
for n, v in sorted(runc.items()):
    if v == "failed":
        also = ", ".join(f"{name}: {other.get(n)}" for name, other in others)
        print(f"critest: (fails with {yard} too: {n}; {also})")
count = lambda r, v: sum(1 for x in r.values() if x == v)
print(f"critest {label}: " + "; ".join(
    f"{name} {count(r, 'passed')} passed, {count(r, 'failed')} failed, {count(r, 'skipped')} skipped"
    for name, r in reports))
sys.exit(1 if bad else 0)
