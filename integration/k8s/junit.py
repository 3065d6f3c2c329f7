#!/usr/bin/env python3
"""junit.py RUNC.xml VRUN.xml LABEL: compares two critest (ginkgo) JUnit reports spec by spec.
Prints each spec runc passes and vrun does not, and a line of counts per runtime; exits 1 if
vrun fails a spec runc passes."""
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


runc, vrun, label = verdicts(sys.argv[1]), verdicts(sys.argv[2]), sys.argv[3]
bad = [n for n, v in sorted(runc.items()) if v == "passed" and vrun.get(n) != "passed"]
for n in bad:
    print(f"critest: FAIL: runc passes, vrun does not ({vrun.get(n, 'missing')}): {n}")
for n, v in sorted(runc.items()):
    if v == "failed":
        print(f"critest: (fails with runc too: {n}; vrun: {vrun.get(n)})")
count = lambda r, v: sum(1 for x in r.values() if x == v)
print(f"critest {label}: " + "; ".join(
    f"{name} {count(r, 'passed')} passed, {count(r, 'failed')} failed, {count(r, 'skipped')} skipped"
    for name, r in (("runc", runc), ("vrun", vrun))))
sys.exit(1 if bad else 0)
