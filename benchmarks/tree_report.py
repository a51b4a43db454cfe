"""The tables and targets of benchmarks 7 and 8 (many-file transfers, :mod:`benchmarks.trees`)."""

from __future__ import annotations

from typing import Any

from benchmarks.common import format_size
from benchmarks.report import fmt, table
from benchmarks.trees import CONTENDERS, LABELS

#: The issue's targets: the small-file tree this much faster (wall clock) than the official SDK,
#: the large files at least as fast, and the client's peak RSS growth at most this.
SMALL_SPEEDUP = 5.0
LARGE_SPEEDUP = 1.0
RSS_LIMIT = 64 << 20
SECTIONS = (("trees_emulator", "7"), ("trees_real", "8"))


def report_trees(number: str, trees: dict[str, Any]) -> list[str]:
    """One benchmark's table: wall clock, peak RSS growth and the speed-up per case and op."""
    if "skipped" in trees:
        return [f"Benchmark {number}: many-file transfers skipped: {trees['skipped']}"]
    out = [
        f"Benchmark {number}: many-file transfers through the {trees['target']} storage proxy "
        f"({trees['endpoint']}), median [min-max] of {trees['reps']} runs each, fresh processes, "
        "alternating",
        "",
    ]
    headers = ["tree", "op"]
    for key in CONTENDERS:
        headers += [f"{LABELS[key]} s", f"{LABELS[key]} RSS+ MiB"]
    headers.append("official / ours (wall)")
    rows = []
    for case in trees["cases"].values():
        name = f"{case['files']} x {format_size(case['file_size'])}"
        for op in ("upload", "download"):
            entry = case[op]
            row = [name, op]
            for key in CONTENDERS:
                data = entry.get(key, {})
                row += [
                    fmt(data.get("wall"), "{:.2f}"),
                    fmt(data.get("rss_growth"), "{:.1f}", 1 / (1 << 20)),
                ]
            row.append(fmt(entry.get("speedup"), "{:.2f}x"))
            rows.append(row)
    out.append(table(headers, rows))
    return out


def tree_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """The verdicts of the issue's targets for every tree benchmark that ran."""
    verdicts: list[dict[str, str]] = []
    for section, number in SECTIONS:
        trees = results.get(section)
        if not trees or "skipped" in trees:
            continue
        for label, case in trees["cases"].items():
            goal = SMALL_SPEEDUP if label == "small" else LARGE_SPEEDUP
            for op in ("upload", "download"):
                speedup = case[op].get("speedup")
                rss = case[op].get("aio", {}).get("rss_growth")
                name = f"{number}: {case['files']} x {format_size(case['file_size'])} {op}"
                if speedup is not None:
                    verdicts.append(
                        {
                            "target": f"{name} >= {goal:g}x the official SDK (wall clock)",
                            "verdict": "met" if speedup["median"] >= goal else "NOT MET",
                            "measured": f"{speedup['median']:.2f}x",
                        }
                    )
                if rss is not None:
                    verdicts.append(
                        {
                            "target": f"{name} peak RSS growth <= 64 MiB",
                            "verdict": "met" if rss["max"] <= RSS_LIMIT else "NOT MET",
                            "measured": f"{rss['max'] / (1 << 20):.1f} MiB (worst run)",
                        }
                    )
    return verdicts
