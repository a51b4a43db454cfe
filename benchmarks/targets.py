"""The performance targets: each one's measured figure and verdict, and the whole report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.report import (
    report_burst,
    report_imports,
    report_profile,
    report_small,
    report_streams,
    report_transfers,
)
from benchmarks.streams import TARGET_RSS_PER_STREAM

TARGET_CPU_RATIO = 1.00
TARGET_OFFICIAL_FACTOR = 2.0
TARGET_THROUGHPUT_RATIO = 0.9
TARGET_RSS_GROWTH = 32 << 20
TARGET_IMPORT_RATIO = 1.1


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _small_targets(small: dict[str, Any], add: Callable[[str, str, str], None]) -> None:
    rows = small["rows"]
    for top, bottom, version in (("aio", "raw", "3.11"), ("aio313", "raw313", "3.13")):
        key = f"{top}/{bottom}"
        if key not in rows[0]["ratios"]:
            continue
        worst = max(rows, key=lambda row: row["ratios"][key]["median"])
        ratio = worst["ratios"][key]["median"]
        every = ", ".join(
            f"{row['workload']} c{row['concurrency']} {row['ratios'][key]['median']:.2f}x"
            for row in rows
        )
        add(
            f"B1 backendai_aio CPU/call <= {TARGET_CPU_RATIO:.2f}x the raw floor, Python {version}",
            _met(ratio <= TARGET_CPU_RATIO),
            every,
        )
    for official, ours in (("official23", "aio"), ("official26", "aio313")):
        key = f"{official}/{ours}"
        if key not in rows[0]["ratios"]:
            add(f"B1 {official} against backendai_aio", "n/a", "official SDK unavailable")
            continue
        least = min(rows, key=lambda row: row["ratios"][key]["median"])
        factor = least["ratios"][key]["median"]
        if official == "official23":
            name = f"B1 official 23.9.10 CPU/call >= {TARGET_OFFICIAL_FACTOR:.1f}x backendai_aio"
            verdict = _met(factor >= TARGET_OFFICIAL_FACTOR)
        else:
            name, verdict = "B1 official 26.9.6 CPU/call / backendai_aio (Python 3.13)", "info"
        add(name, verdict, f"least {factor:.2f}x ({least['workload']}, c{least['concurrency']})")


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Each target: name, verdict (met, NOT MET, info, n/a) and the measured figure."""
    found: list[dict[str, str]] = []

    def add(name: str, verdict: str, measured: str) -> None:
        found.append({"target": name, "verdict": verdict, "measured": measured})

    if results.get("small_calls"):
        _small_targets(results["small_calls"], add)
    transfers = results.get("transfers")
    if transfers:
        for number, kind in (("B2", "download"), ("B3", "upload")):
            entry = transfers[kind]
            aio = entry["aio"]
            if "unavailable" in aio:
                add(f"{number} {kind}", "n/a", aio["unavailable"])
                continue
            ratio = entry["ratio"]["median"]
            add(
                f"{number} {kind} >= {TARGET_THROUGHPUT_RATIO}x raw throughput",
                _met(ratio >= TARGET_THROUGHPUT_RATIO),
                f"{ratio:.2f}x median (best runs: {entry['best_ratio']:.2f}x)",
            )
            growth = aio["rss_growth"]["max"]
            add(
                f"{number} {kind} peak RSS growth <= 32 MiB",
                _met(growth <= TARGET_RSS_GROWTH),
                f"{growth / (1 << 20):.1f} MiB (worst run)",
            )
    burst = results.get("burst")
    if burst and "aio" in burst:
        aio = burst["aio"]
        add("B4 1,000 concurrent calls: 0 errors", _met(aio["errors"] == 0), f"{aio['errors']}")
        limit = aio["connector_limit"]
        add(
            "B4 peak open connections <= connector limit",
            _met(limit is None or limit == 0 or aio["peak_connections"] <= limit),
            f"{aio['peak_connections']} / {limit}",
        )
    for version, imports in (results.get("imports") or {}).items():
        ratio = imports["ratio"]["median"]
        add(
            f"B5 import backendai_aio <= {TARGET_IMPORT_RATIO}x import aiohttp, Python {version}",
            _met(ratio <= TARGET_IMPORT_RATIO),
            f"{ratio:.2f}x",
        )
    streams = results.get("streams")
    if streams:
        _stream_targets(streams, add)
    return found


def _stream_targets(streams: dict[str, Any], add: Callable[[str, str, str], None]) -> None:
    count = streams["streams"]
    unlimited = streams.get("unlimited")
    if unlimited:
        per_stream = unlimited["rss_per_stream"]
        worst = per_stream["max"] if per_stream else None
        add(
            f"B6 {count} streams on one client (connector without a limit): all open, all live",
            _met(unlimited["opened"] == count and unlimited["delivered"] == count),
            f"{unlimited['opened']} open, {unlimited['delivered']} got the event",
        )
        add(
            "B6 RSS per open stream <= 64 KiB",
            "n/a" if worst is None else _met(worst <= TARGET_RSS_PER_STREAM),
            "-" if worst is None else f"{worst / 1024:.1f} KiB (worst run)",
        )
        for connector in ("unlimited", "default"):
            data = streams.get(connector)
            if not data:
                continue
            left = data["connections_after_close"] - data["connections_other"]
            add(
                f"B6 closing every stream leaves no stream connection ({connector} connector)",
                _met(left <= 0 and data["connections_after_client_close"] == 0),
                f"{data['connections_after_close']} left after the close "
                f"({data['connections_other']} a plain call's, pooled), "
                f"{data['connections_after_client_close']} after the client's close",
            )
    default = streams.get("default")
    if default:
        add(
            f"B6 {count} streams on a default Client()",
            _met(default["opened"] == count),
            f"{default['opened']} open (pool limit {default['connector_limit']}); a plain call: "
            f"{default['plain_call_while_open']}",
        )


def render(results: dict[str, Any]) -> str:
    """The whole report as printed."""
    machine = results["machine"]
    out = [
        "",
        f"backendai_aio benchmarks ({results['mode']} run, {results['finished']})",
        f"machine: {machine['cpus']} CPUs ({machine['cpu_model']}), harness on Python "
        f"{machine['python']}, {machine['platform']}; load average {machine['load']}",
        f"server: benchmarks/server.py on 127.0.0.1, API {results['server_api_version']}",
        "",
    ]
    unavailable = results.get("unavailable", {})
    sections: list[tuple[str, Callable[[Any], list[str]]]] = [
        ("small_calls", lambda data: report_small(data, unavailable)),
        ("transfers", report_transfers),
        ("burst", report_burst),
        ("imports", report_imports),
        ("streams", report_streams),
        ("profile", report_profile),
    ]
    for key, reporter in sections:
        if key in results:
            out += [*reporter(results[key]), ""]
    for key, why in results.get("failures", {}).items():
        out += [f"FAILED: {key}: {why}", ""]
    out.append("Targets")
    for target in results["targets"]:
        verdict = f"[{target['verdict']}]".ljust(10)
        out.append(f"  {verdict} {target['target']}: {target['measured']}")
    return "\n".join(out)
