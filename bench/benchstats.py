# SPDX-License-Identifier: GPL-2.0
"""Helpers shared by the benchmark reports (bench/fio-report.py,
bench/http-report.py): medians with their range, table cells, ratios and
the error bars of a chart."""
import statistics


def med(rs, f):
    """(median, min, max) of field f over the runs rs that have it, or None."""
    v = [r[f] for r in rs if r.get(f) is not None]
    if not v:
        return None
    return statistics.median(v), min(v), max(v)


def fmt(x, nd=1, rng=False):
    """A med() as a table cell: the median, with "(min–max)" when rng."""
    if x is None:
        return "-"
    f = f"{{:.{nd}f}}"
    if rng:
        return f"{f.format(x[0])} ({f.format(x[1])}–{f.format(x[2])})"
    return f.format(x[0])


def ratio(a, b):
    """The ratio of two med()s' medians as "1.23×", or "-"."""
    if a is None or b is None or not b[0]:
        return "-"
    return f"{a[0] / b[0]:.2f}×"


def errbars(meds):
    """Bar heights and matplotlib yerr (below, above) of a list of med()s;
    a missing one is a NaN bar without an error bar."""
    vals, lo, hi = [], [], []
    for x in meds:
        if x is None:
            vals.append(float("nan"))
            lo.append(0)
            hi.append(0)
        else:
            vals.append(x[0])
            lo.append(x[0] - x[1])
            hi.append(x[2] - x[0])
    return vals, [lo, hi]
