"""The report of the benchmarks: one text table per benchmark, as printed by the harness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.common import format_size
from benchmarks.contenders import RATIOS, SHORT, label


def fmt(summary: dict[str, float] | None, pattern: str, scale: float = 1.0) -> str:
    """``median [min-max]`` of a :func:`~benchmarks.stats.summary`, each scaled, or ``-``."""
    if summary is None:
        return "-"
    median = pattern.format(summary["median"] * scale)
    low, high = pattern.format(summary["min"] * scale), pattern.format(summary["max"] * scale)
    return f"{median} [{low}-{high}]"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table, columns padded to their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def report_small(small: dict[str, Any], unavailable: dict[str, str]) -> list[str]:
    """Benchmark 1: CPU per call, the ratios within each repetition, calls per second."""
    rows = small["rows"]
    keys = small["contenders"]
    out = [
        f"Benchmark 1: small signed calls, client CPU per call in us, median [min-max] of "
        f"{small['reps']} runs of {small['calls_per_run']} calls",
        "",
    ]
    cells = []
    for row in rows:
        line = [row["workload"], str(row["concurrency"])]
        line += [fmt(row[key]["cpu_us_per_call"], "{:.0f}") for key in keys]
        cells.append(line)
    out.append(table(["call", "conc"] + [SHORT[key] for key in keys], cells))
    out += ["", "CPU ratios, median [min-max] of the per-repetition ratios", ""]
    ratio_keys = [f"{a}/{b}" for a, b in RATIOS if f"{a}/{b}" in rows[0]["ratios"]]
    cells = []
    for row in rows:
        line = [row["workload"], str(row["concurrency"])]
        line += [fmt(row["ratios"][key], "{:.2f}x") for key in ratio_keys]
        cells.append(line)
    headers = [" / ".join(SHORT[part] for part in key.split("/")) for key in ratio_keys]
    out.append(table(["call", "conc", *headers], cells))
    out += ["", "Calls per second (wall clock, server included), median", ""]
    cells = []
    for row in rows:
        line = [row["workload"], str(row["concurrency"])]
        line += [fmt(row[key]["calls_per_second"], "{:.0f}").split(" ")[0] for key in keys]
        cells.append(line)
    out.append(table(["call", "conc"] + [SHORT[key] for key in keys], cells))
    errors = {key: sum(row[key]["errors"] for row in rows) for key in keys}
    out.append(f"errors: {', '.join(f'{SHORT[k]} {e}' for k, e in errors.items())}")
    describe = small.get("describe", {})
    versions = ", ".join(
        f"{SHORT[key]}: aiohttp {describe[key].get('aiohttp')}" for key in keys if key in describe
    )
    out.append(f"versions: {versions}")
    for key, reason in unavailable.items():
        out.append(f"{key}: unavailable ({reason})")
    return out


def report_transfers(transfers: dict[str, Any]) -> list[str]:
    """Benchmarks 2 and 3: throughput and RSS growth of the streamed transfers."""
    size = format_size(transfers["size"])
    out = [
        f"Benchmarks 2 and 3: streaming {size} (files in {transfers['scratch_dir']}), "
        "median [min-max]",
        "",
    ]
    cells: list[list[str]] = []
    for kind in ("download", "upload"):
        entry = transfers.get(kind, {})
        for name in ("raw", "aio"):
            data = entry.get(name, {})
            if "unavailable" in data:
                cells.append([kind, label(name), "not available yet", "-", "-", "-"])
                continue
            ratio = ""
            if name == "aio" and "ratio" in entry:
                ratio = f"{fmt(entry['ratio'], '{:.2f}x')}, best {entry['best_ratio']:.2f}x"
            cells.append(
                [
                    kind,
                    label(name),
                    fmt(data.get("throughput"), "{:.0f}", 1 / (1 << 20)),
                    ratio,
                    fmt(data.get("rss_growth"), "{:.1f}", 1 / (1 << 20)),
                    fmt(data.get("cpu_seconds"), "{:.2f}"),
                ]
            )
    headers = ["transfer", "client", "MiB/s", "vs raw", "peak RSS growth MiB", "CPU s"]
    out.append(table(headers, cells))
    for kind in ("download", "upload"):
        reason = transfers.get(kind, {}).get("aio", {}).get("unavailable")
        if reason:
            out.append(f"{kind}: backendai_aio {reason}")
    return out


def report_burst(burst: dict[str, Any]) -> list[str]:
    """Benchmark 4: many concurrent calls through one client."""
    out = [f"Benchmark 4: {burst['calls']} concurrent execute calls through one client", ""]
    cells = []
    for key in burst["contenders"]:
        data = burst[key]
        cells.append(
            [
                label(key),
                fmt(data["wall_seconds"], "{:.2f}"),
                fmt(data["cpu_seconds"], "{:.2f}"),
                str(data["errors"]),
                f"{data['peak_connections']} / {data['connector_limit']}",
            ]
        )
    headers = ["client", "total s", "client CPU s", "errors", "peak conns / limit"]
    out.append(table(headers, cells))
    return out


def report_imports(imports: dict[str, Any]) -> list[str]:
    """Benchmark 5: import time against aiohttp's, per interpreter."""
    out = ["Benchmark 5: import time in a fresh interpreter, ms, median [min-max]", ""]
    cells = []
    for version, data in imports.items():
        cells.append(
            [
                version,
                fmt(data["aiohttp_ms"], "{:.1f}"),
                fmt(data["backendai_aio_ms"], "{:.1f}"),
                fmt(data["ratio"], "{:.2f}x"),
                f"{data['extra_modules']} ({data['extra_self_ms']:.1f} ms)",
            ]
        )
    headers = ["Python", "aiohttp", "backendai_aio", "ratio", "extra modules (self time)"]
    out.append(table(headers, cells))
    for version, data in imports.items():
        top = ", ".join(f"{name} {ms:.1f}" for name, ms in data["top_extra_modules_ms"][:5])
        out.append(f"{version}, the costliest extra modules (self ms): {top}")
    return out


def report_streams(streams: dict[str, Any]) -> list[str]:
    """Benchmark 6: many event streams on one client."""
    out = [f"Benchmark 6: {streams['streams']} concurrent session event streams on one client", ""]
    cells = []
    for connector in ("unlimited", "default"):
        data = streams.get(connector)
        if data is None:
            continue
        cells.append(
            [
                f"{connector} (limit {data['connector_limit']})",
                f"{data['opened']} / {streams['streams']}",
                fmt(data["open_seconds"], "{:.1f}"),
                fmt(data["rss_per_stream"], "{:.1f}", 1 / 1024),
                f"{data['delivered']}",
                f"{data['connections_before']} / {data['connections_open']} / "
                f"{data['connections_after_close']} / {data['connections_after_client_close']}",
                fmt(data["close_seconds"], "{:.2f}"),
            ]
        )
    headers = [
        "connector",
        "open",
        "open s",
        "RSS KiB/stream",
        "got the event",
        "conns before / open / after close / after client close",
        "close s",
    ]
    out.append(table(headers, cells))
    default = streams.get("default")
    if default is not None:
        out.append(
            f"default client, a plain call while its pool is full: "
            f"{default['plain_call_while_open']}"
        )
    for connector in ("unlimited", "default"):
        data = streams.get(connector)
        if data and data["failures"]:
            out.append(f"{connector}: {data['failures']} failures, first: {data['first_failure']}")
    return out


def _own(attribution: list[dict[str, Any]]) -> float:
    owners = ("backendai_aio/", "benchmarks/contender_")
    return float(sum(row["us_per_call"] for row in attribution if row["owner"].startswith(owners)))


def report_profile(profiles: dict[str, Any]) -> list[str]:
    """The profile: where each contender's CPU per call goes."""
    out = [
        "Profile (pyinstrument; each sample charged to the nearest frame of the client's own",
        "code, of aiohttp, or else 'other': event loop and driver), us/call",
        "",
    ]
    names = [name for name, profile in profiles.items() if profile.get("attribution")]
    if not names:
        return [*out, "(pyinstrument is not installed: see the JSON for cProfile's figures)"]
    cells = []
    for name in names:
        profile = profiles[name]
        attribution = profile["attribution"]
        by_owner = {row["owner"]: row["us_per_call"] for row in attribution}
        cells.append(
            [
                name,
                f"{profile['cpu_us_per_call']:.0f}",
                f"{_own(attribution):.1f}",
                f"{by_owner.get('aiohttp', 0.0):.1f}",
                f"{by_owner.get('other', 0.0):.1f}",
            ]
        )
    out += [table(["run", "CPU/call", "own code", "aiohttp", "other"], cells), ""]
    for name in names:
        if not name.startswith("aio"):
            continue
        rows = [
            [row["owner"], f"{row['share'] * 100:.1f}%", f"{row['us_per_call']:.1f}"]
            for row in profiles[name]["attribution"]
            if row["owner"].startswith("backendai_aio") and row["share"] >= 0.005
        ]
        out += [table([name, "share", "us"], rows), ""]
    reports = [profiles[name]["text_report"] for name in names if profiles[name].get("text_report")]
    out.append(f"call trees: {', '.join(reports)}")
    return out
