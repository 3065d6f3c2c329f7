#!/usr/bin/env python3
"""vrun against crun and runc: every verb, the footprint, many at once, the virtual disk.

Run by run.sh, inside one private mount namespace where every runtime sees the same machine.
Everything is interleaved: each round runs each runtime's step in turn, so that a noisy
moment costs all of them alike. See README.md here for the method.

    bench.py --out DIR [--rounds N] [--concurrent-rounds K] [--concurrency C] [--check RATIO]
             NAME=BINARY ...

NAME is vrun, crun or runc (vrun is the one checked); the first NAME=BINARY is vrun.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

DEVNULL = subprocess.DEVNULL


class Runtime:
    def __init__(self, name, binary, root):
        self.name, self.binary, self.root = name, binary, root

    def argv(self, *args):
        return [self.binary, "--root", self.root, *args]


SPAWN = None  # integration/bench/spawn.c, built by run.sh
RESULT = None  # where spawn writes


def timed(argv):
    """Runs argv through spawn; returns (milliseconds, peak RSS in KiB), or raises if it
    failed. Peak RSS is wait4's ru_maxrss: the highest RSS of the command's process, across
    its re-exec, and of children it reaped."""
    # stderr to a file, not a pipe: a created container's init keeps what it inherited open
    with tempfile.TemporaryFile() as err:
        subprocess.run([SPAWN, RESULT, *argv], stdin=DEVNULL, stdout=DEVNULL, stderr=err,
                       check=True)
        with open(RESULT) as f:
            us, rss, code = (int(x) for x in f.read().split())
        if code != 0:
            err.seek(0)
            text = err.read().decode(errors="replace")
            raise RuntimeError(f"{' '.join(argv)}: exit {code}: {text}")
    return us / 1000, rss


def state(rt, cid):
    out = subprocess.run(rt.argv("state", cid), stdin=DEVNULL, capture_output=True, check=True)
    return json.loads(out.stdout)


def wait_stopped(rt, cid):
    for _ in range(2000):
        if state(rt, cid)["status"] == "stopped":
            return
        time.sleep(0.002)
    raise RuntimeError(f"{rt.name}: {cid} never stopped")


def pss_kib(pid):
    """The proportional set size of a process: its private pages, and each page it shares
    with others divided by the number of processes sharing it."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


class Samples:
    """name -> runtime -> list of (ms, peak RSS KiB) or of plain numbers."""

    def __init__(self):
        self.data = {}

    def add(self, figure, runtime, value):
        self.data.setdefault(figure, {}).setdefault(runtime, []).append(value)


def lifecycle_round(rt, bundle_wait, bundle_true, i, s, disk_flags):
    # run: a whole container, start to end
    cid = f"run-{i}"
    ms, rss = timed(rt.argv("run", "--bundle", bundle_true, cid))
    s.add("run", rt.name, (ms, rss))
    # create, start, exec into the running container, kill, delete: each verb alone
    cid = f"cycle-{i}"
    ms, rss = timed(rt.argv("create", "--bundle", bundle_wait, cid))
    s.add("create", rt.name, (ms, rss))
    s.add("created init PSS", rt.name, pss_kib(state(rt, cid)["pid"]))
    ms, rss = timed(rt.argv("start", cid))
    s.add("start", rt.name, (ms, rss))
    ms, rss = timed(rt.argv("exec", cid, "/bin/true"))
    s.add("exec", rt.name, (ms, rss))
    ms, rss = timed(rt.argv("state", cid))
    s.add("state", rt.name, (ms, rss))
    ms, rss = timed(rt.argv("kill", cid, "KILL"))
    s.add("kill", rt.name, (ms, rss))
    wait_stopped(rt, cid)
    ms, rss = timed(rt.argv("delete", cid))
    s.add("delete", rt.name, (ms, rss))
    # vrun's virtual disk, beside its plain run above
    for label, flags, prefix in disk_flags.get(rt.name, []):
        ms, rss = timed(rt.argv("run", *flags, "--bundle", bundle_true, f"{prefix}-{i}"))
        s.add(f"run {label}", rt.name, (ms, rss))


def concurrent_round(rt, bundle_true, r, n, s):
    """n `run`s started at once; the wall time until the last has exited, and how many failed."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(rt.argv("run", "--bundle", bundle_true, f"many-{r}-{k}"),
                         stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
        for k in range(n)
    ]
    failed = sum(p.wait() != 0 for p in procs)
    s.add(f"{n} concurrent runs", rt.name, ((time.perf_counter() - t0) * 1000, 0))
    s.add(f"{n} concurrent runs failed", rt.name, failed)
    for k in range(n):  # a failed run may leave its container behind
        subprocess.run(rt.argv("delete", "--force", f"many-{r}-{k}"), stdin=DEVNULL,
                       stdout=DEVNULL, stderr=DEVNULL)


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * q))]


def summarize(s, names):
    """figure -> runtime -> {p10, p50, p90[, rss_p50]}"""
    out = {}
    for figure, per in s.data.items():
        out[figure] = {}
        for name in names:
            vals = per.get(name)
            if not vals:
                continue
            if isinstance(vals[0], tuple):
                ms = [v[0] for v in vals]
                row = {"p10": pct(ms, 0.1), "p50": statistics.median(ms), "p90": pct(ms, 0.9),
                       "n": len(ms)}
                rss = [v[1] for v in vals if v[1]]
                if rss:
                    row["peak_rss_kib_p50"] = statistics.median(rss)
                    row["peak_rss_kib_max"] = max(rss)
            else:
                row = {"p10": pct(vals, 0.1), "p50": statistics.median(vals), "p90": pct(vals, 0.9),
                       "n": len(vals), "sum": sum(vals)}
            out[figure][name] = row
    return out


# What issue 14 asks of vrun, as (figure, what is compared, limit). "crun": vrun's median over
# crun's; "vrun run": over vrun's own plain run; "+ms": milliseconds over vrun's plain run.
TARGETS = [
    ("run", "crun", 0.8),
    ("create", "crun", 1.0),
    ("start", "crun", 1.0),
    ("exec", "crun", 1.0),
    ("kill", "crun", 1.0),
    ("delete", "crun", 1.0),
    ("created init PSS", "crun", 1.0),
    ("peak RSS", "crun", 1.0),
    ("concurrent", "crun", 0.8),
    ("run --overlay", "+ms", 1.0),
    ("run --disk-size 64M", "vrun run", 1.5),
]


def verdicts(summary, concurrent_figure):
    rows = []
    for figure, against, limit in TARGETS:
        fig = concurrent_figure if figure == "concurrent" else figure
        if figure == "peak RSS":
            # every vrun command's median peak RSS against crun's same command
            worst = None
            for verb in ("run", "create", "start", "exec", "state", "kill", "delete"):
                v, c = summary.get(verb, {}).get("vrun"), summary.get(verb, {}).get("crun")
                if v and c and "peak_rss_kib_p50" in v and "peak_rss_kib_p50" in c:
                    r = v["peak_rss_kib_p50"] / c["peak_rss_kib_p50"]
                    if worst is None or r > worst[0]:
                        worst = (r, verb)
            if worst:
                rows.append({"figure": f"peak RSS (worst: {worst[1]})", "against": "crun",
                             "value": worst[0], "limit": limit, "ok": worst[0] <= limit})
            continue
        per = summary.get(fig, {})
        v = per.get("vrun")
        if not v:
            continue
        if against == "crun":
            c = per.get("crun")
            if not c:
                continue
            value = v["p50"] / c["p50"]
        elif against == "vrun run":
            value = v["p50"] / summary["run"]["vrun"]["p50"]
        else:
            value = v["p50"] - summary["run"]["vrun"]["p50"]
        rows.append({"figure": fig, "against": against, "value": value, "limit": limit,
                     "ok": value <= limit})
    return rows


def table(summary, names):
    lines = []
    head = f"{'figure':28}" + "".join(f"{n + ' p10/p50/p90':>28}" for n in names)
    lines.append(head + f"{'vrun/crun':>11}")
    for figure, per in summary.items():
        unit = "KiB" if "PSS" in figure else ("" if "failed" in figure else "ms")
        cells = ""
        for n in names:
            r = per.get(n)
            if not r:
                cells += f"{'-':>28}"
            elif "failed" in figure:
                cells += f"{r['sum']:>28}"
            else:
                cells += f"{r['p10']:>8.1f} {r['p50']:>8.1f} {r['p90']:>8.1f} {unit:3}"
        ratio = ""
        if "failed" not in figure and per.get("vrun") and per.get("crun"):
            ratio = f"{per['vrun']['p50'] / per['crun']['p50']:>10.2f}x"
        lines.append(f"{figure:28}{cells}{ratio}")
    lines.append("")
    lines.append(f"{'peak RSS, median (KiB)':28}" + "".join(f"{n:>12}" for n in names))
    for figure, per in summary.items():
        if any("peak_rss_kib_p50" in per.get(n, {}) for n in names):
            lines.append(f"{figure:28}" + "".join(
                f"{per.get(n, {}).get('peak_rss_kib_p50', 0):>12.0f}" for n in names))
    return "\n".join(lines)


def svg_chart(rows, path):
    """A bar per figure: vrun's median as a ratio (crun = 1, shorter is better), the limit
    marked; red where it is over."""
    width, left, bar_h, gap = 760, 230, 18, 8
    scale_max = max(2.0, max(r["value"] for r in rows if r["against"] != "+ms") * 1.1)
    plot_w = width - left - 90
    height = 60 + len(rows) * (bar_h + gap) + 30
    x = lambda v: left + plot_w * min(v, scale_max) / scale_max
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
           f'vrun against crun (median ratio; 1 = crun, shorter is better)</text>']
    for t in (0.5, 1.0, 1.5, 2.0):
        if t <= scale_max:
            out.append(f'<line x1="{x(t):.1f}" y1="34" x2="{x(t):.1f}" y2="{height - 24}" '
                       f'stroke="{"#444" if t == 1.0 else "#ccc"}" stroke-dasharray="3,3"/>')
            out.append(f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="middle">{t:g}x</text>')
    y = 44
    for r in rows:
        value, limit, label = r["value"], r["limit"], f"{r['value']:.2f}x"
        if r["against"] == "+ms":
            # drawn on the same axis, as the milliseconds over the limit's
            value, limit, label = value / limit, 1.0, f"{r['value']:+.2f} ms"
        figure = r["figure"] if r["against"] == "crun" else f"{r['figure']} (over plain run)"
        color = "#2a7" if r["ok"] else "#d33"
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{figure}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{max(1.0, x(max(value, 0)) - left):.1f}" '
                   f'height="{bar_h}" fill="{color}"/>')
        out.append(f'<line x1="{x(limit):.1f}" y1="{y - 2}" x2="{x(limit):.1f}" '
                   f'y2="{y + bar_h + 2}" stroke="black" stroke-width="2"/>')
        out.append(f'<text x="{x(max(value, 0)) + 6:.1f}" y="{y + 13}">{label}</text>')
        y += bar_h + gap
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--spawn", required=True)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--concurrent-rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--check", type=float, default=0.0,
                    help="exit 1 if any vrun/crun median ratio exceeds this (CI's gross-regression guard)")
    ap.add_argument("runtimes", nargs="+")
    a = ap.parse_args()
    global SPAWN, RESULT
    SPAWN, RESULT = a.spawn, os.path.join(a.work, "spawn.out")
    runtimes = []
    for spec in a.runtimes:
        name, binary = spec.split("=", 1)
        runtimes.append(Runtime(name, binary, os.path.join(a.work, "run", f"state-{name}")))
    names = [r.name for r in runtimes]
    bundle_true = os.path.join(a.work, "bundle-true")
    bundle_wait = os.path.join(a.work, "bundle-wait")
    # (figure label, flags, container id prefix)
    disk_flags = {"vrun": [("--overlay", ["--overlay"], "overlay"),
                           ("--disk-size 64M", ["--disk-size", "64M"], "disk")]}
    s = Samples()
    # a warm-up round each (page cache, first-run setup), not counted
    warm = Samples()
    for rt in runtimes:
        lifecycle_round(rt, bundle_wait, bundle_true, "warm", warm, disk_flags)
    for i in range(a.rounds):
        for rt in runtimes:
            lifecycle_round(rt, bundle_wait, bundle_true, i, s, disk_flags)
        # what the launcher itself costs and weighs
        s.add("spawn /bin/true", "floor", timed(["/bin/true"]))
    concurrent_figure = f"{a.concurrency} concurrent runs"
    for r in range(a.concurrent_rounds):
        for rt in runtimes:
            concurrent_round(rt, bundle_true, r, a.concurrency, s)
    summary = summarize(s, names + ["floor"])
    rows = verdicts(summary, concurrent_figure)
    text = table(summary, names + ["floor"])
    print(text)
    print()
    print(f"{'target':40} {'value':>10} {'limit':>8}")
    for r in rows:
        unit = " ms" if r["against"] == "+ms" else "x"
        print(f"{r['figure'] + ' vs ' + r['against']:40} {r['value']:>9.2f}{unit} "
              f"{r['limit']:>7.2f}{unit}  {'ok' if r['ok'] else 'OVER'}")
    versions = {}
    for rt in runtimes:
        out = subprocess.run([rt.binary, "--version"], capture_output=True, text=True)
        versions[rt.name] = (out.stdout.splitlines() or [""])[0]
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count()},
        "versions": versions,
        "binary_bytes": {rt.name: os.path.getsize(rt.binary) for rt in runtimes},
        "rounds": a.rounds, "concurrent_rounds": a.concurrent_rounds,
        "concurrency": a.concurrency,
        "figures": summary,
        "targets": rows,
    }
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1)
    svg_chart(rows, os.path.join(a.out, "chart.svg"))
    with open(os.path.join(a.out, "table.txt"), "w") as f:
        f.write(text + "\n")
    failed = summary.get(concurrent_figure + " failed", {}).get("vrun", {}).get("sum", 0)
    if failed:
        print(f"vrun: {failed} concurrent runs failed")
        return 1
    if a.check:
        gross = [r for r in rows if r["against"] == "crun" and r["value"] > a.check]
        for r in gross:
            print(f"GROSS REGRESSION: {r['figure']}: {r['value']:.2f}x crun (limit {a.check}x)")
        return 1 if gross else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
