#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns kaio-bench RESULT lines into docs/bench/results.md and a PNG chart.

usage: report.py TAP_LOG OUT_DIR
Median and range over the runs of each method; ratios kaio/peer and
kaio/limit. The chart is drawn with the standard library only (zlib).
"""
import statistics
import struct
import sys
import zlib

FIELDS = ["mib_s", "files_s", "cpu_s", "ctxsw_file", "p50_ms", "p99_ms", "sub_p99_us", "errors"]
METHODS = ["kaio", "single", "pool", "uring", "disk"]
NAMES = {
    "kaio": "kaio OPEN→SENDFILE→CLOSE",
    "single": "1 thread open+sendfile+close",
    "pool": "8-thread pool",
    "uring": "io_uring OPENAT→SPLICE²→CLOSE",
    "disk": "disk limit (O_DIRECT, QD 32)",
}


def parse(path):
    res, notes = {}, []
    for line in open(path, errors="replace"):
        line = line.strip().replace("\r", "")
        if line.startswith("# bench:") or (line.startswith("# ") and "files," in line):
            notes.append(line[2:])
        if not line.startswith("RESULT "):
            continue
        p = line.split()
        w, m = p[1], p[2]
        vals = dict(zip(FIELDS, map(float, p[4:12])))
        res.setdefault(w, {}).setdefault(m, []).append(vals)
    return res, notes


def med(runs, f):
    v = [r[f] for r in runs]
    return statistics.median(v), min(v), max(v)


def table(res, notes):
    out = ["# kaio benchmark", ""]
    out += [f"- {n}" for n in notes]
    out.append("")
    for w, by in res.items():
        out.append(f"## {w}")
        out.append("")
        out.append("| method | MiB/s (median, range) | files/s | guest CPU s | ctx switches/file | p50 ms | p99 ms | p99 submit µs | errors |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for m in METHODS:
            if m not in by:
                continue
            r = by[m]
            mb = med(r, "mib_s")
            cells = [f"{mb[0]:.1f} ({mb[1]:.1f}–{mb[2]:.1f})"]
            for f, fmt in [("files_s", "{:.0f}"), ("cpu_s", "{:.2f}"), ("ctxsw_file", "{:.2f}"),
                           ("p50_ms", "{:.2f}"), ("p99_ms", "{:.2f}"), ("sub_p99_us", "{:.1f}"),
                           ("errors", "{:.0f}")]:
                cells.append(fmt.format(med(r, f)[0]))
            out.append(f"| {NAMES[m]} | " + " | ".join(cells) + " |")
        k = by.get("kaio")
        if k:
            out.append("")
            kt, kc, kx = med(k, "mib_s")[0], med(k, "cpu_s")[0], med(k, "ctxsw_file")[0]
            kf = med(k, "files_s")[0]
            for m in METHODS[1:]:
                if m not in by:
                    continue
                pt, pc, px = med(by[m], "mib_s")[0], med(by[m], "cpu_s")[0], med(by[m], "ctxsw_file")[0]
                pf = med(by[m], "files_s")[0]
                if m == "disk":
                    out.append(f"- kaio / disk limit: **{kt / pt:.2f}×** MiB/s")
                    continue
                eff_k = kf / kc if kc else float("inf")
                eff_p = pf / pc if pc else float("inf")
                out.append(
                    f"- kaio / {m}: {kt / pt:.2f}× MiB/s, {kf / pf:.2f}× files/s, "
                    f"{kc / pc if pc else 0:.2f}× CPU, {kx / px if px else 0:.2f}× context switches/file, "
                    f"{eff_k / eff_p:.2f}× files per CPU-second")
        out.append("")
    return "\n".join(out)


def png(res, path):
    """Grouped bars of median MiB/s per workload, one colour per method."""
    colors = {"kaio": (220, 60, 40), "single": (120, 120, 120), "pool": (60, 120, 200),
              "uring": (80, 170, 80), "disk": (30, 30, 30)}
    W, H, pad = 900, 420, 40
    img = [[(255, 255, 255)] * W for _ in range(H)]
    groups = list(res.items())
    top = max((med(r, "mib_s")[0] for _, by in groups for r in by.values()), default=1)
    gw = (W - 2 * pad) / max(len(groups), 1)
    for gi, (w, by) in enumerate(groups):
        ms = [m for m in METHODS if m in by]
        bw = gw * 0.8 / max(len(ms), 1)
        for mi, m in enumerate(ms):
            v, lo, hi = med(by[m], "mib_s")
            x0 = int(pad + gi * gw + gw * 0.1 + mi * bw)
            x1 = int(x0 + bw * 0.9)
            h = int((H - 2 * pad) * v / top)
            for y in range(H - pad - h, H - pad):
                for x in range(x0, x1):
                    img[y][x] = colors[m]
            for yv in (lo, hi):
                y = H - pad - int((H - 2 * pad) * yv / top)
                for x in range(x0, x1):
                    img[max(0, min(H - 1, y))][x] = (0, 0, 0)
    for x in range(pad, W - pad):
        img[H - pad][x] = (0, 0, 0)
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in img)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)


def main():
    res, notes = parse(sys.argv[1])
    if not res:
        sys.exit("report.py: no RESULT lines")
    md = table(res, notes)
    md += "\nChart (results.png): median MiB/s per workload; bars left to right: " + \
        ", ".join(f"{NAMES[m]} ({c})" for m, c in
                  zip(METHODS, ["red", "grey", "blue", "green", "black"])) + \
        "; black ticks mark the range over runs.\n"
    open(f"{sys.argv[2]}/results.md", "w").write(md)
    png(res, f"{sys.argv[2]}/results.png")
    print(md)


main()
