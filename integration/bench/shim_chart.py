#!/usr/bin/env python3
"""shim_chart.py SHIM.JSON SVG [IDLE_PODS]: bench/shim.sh's medians as a chart, each figure as a ratio to
containerd's runc shim with runc (1 = it, shorter is better), the three handlers' bars side
by side, and issue 24's goals marked where it sets one (a tenth of the RSS, half the pod
start)."""
import json
import sys

FIGURES = [  # (label, key, goal)
    ("shim PSS, one pod", "pss", None),
    ("shim RSS, one pod", "rss", 0.1),
    ("pod start through the CRI", "start", 0.5),
    ("{idle} idle pods' shims, PSS", "idle_pss", None),
    ("{idle} idle pods' shims, RSS", "idle_rss", 0.1),
]
HANDLERS = [("runc", "runc's shim + runc", "#999"), ("vrun", "runc's shim + vrun", "#69c"),
            ("vrun-shim", "vrun's shim", "#2a7")]


def chart(medians, idle):
    width, left, bar_h, gap = 760, 200, 12, 14
    plot_w, scale_max = width - left - 80, 1.2
    rows = len(FIGURES) * (len(HANDLERS) * bar_h + gap)
    height = 70 + rows + 40
    x = lambda v: left + plot_w * min(v, scale_max) / scale_max
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">'
           f"containerd shims, median ratio to runc's shim with runc (shorter is better)</text>"]
    for i, (_, label, color) in enumerate(HANDLERS):
        out.append(f'<rect x="{left + i * 170}" y="32" width="12" height="12" fill="{color}"/>'
                   f'<text x="{left + i * 170 + 18}" y="42">{label}</text>')
    for t in (0.1, 0.5, 1.0):
        out.append(f'<line x1="{x(t):.1f}" y1="52" x2="{x(t):.1f}" y2="{height - 24}" '
                   f'stroke="{"#444" if t == 1.0 else "#ccc"}" stroke-dasharray="3,3"/>'
                   f'<text x="{x(t):.1f}" y="{height - 10}" text-anchor="middle">{t:g}x</text>')
    y = 60
    for label, key, goal in FIGURES:
        m = medians[key]
        out.append(f'<text x="{left - 8}" y="{y + len(HANDLERS) * bar_h / 2 + 4}" '
                   f'text-anchor="end">{label.format(idle=idle)}</text>')
        for i, (h, _, color) in enumerate(HANDLERS):
            r = m[h] / m["runc"]
            top = y + i * bar_h
            out.append(f'<rect x="{left}" y="{top}" width="{max(1.0, x(r) - left):.1f}" '
                       f'height="{bar_h - 2}" fill="{color}"/>'
                       f'<text x="{x(r) + 4:.1f}" y="{top + bar_h - 3}" font-size="10">{r:.2f}x</text>')
        if goal is not None:
            out.append(f'<line x1="{x(goal):.1f}" y1="{y - 2}" x2="{x(goal):.1f}" '
                       f'y2="{y + len(HANDLERS) * bar_h}" stroke="#d33" stroke-width="2"/>')
        y += len(HANDLERS) * bar_h + gap
    out.append(f'<text x="{left}" y="{height - 28}" font-size="10" fill="#d33">'
               f"red: issue 24's goal for vrun's shim</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    medians = json.load(open(sys.argv[1]))["medians"]
    open(sys.argv[2], "w").write(chart(medians, sys.argv[3] if len(sys.argv) > 3 else 100))
