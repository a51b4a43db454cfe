"""Benchmark 6: 1,000 concurrent session event streams on one client, against the emulator.

The emulator runs in a process of its own (:mod:`benchmarks.stream_server`) and each
measurement in a fresh client process (:mod:`benchmarks.stream_client`), so the RSS growth
per open stream is the client's alone. Two clients are measured: the one ``Client()``
creates (aiohttp's pool of 100 connections) and one on an injected session whose connector
has no limit, which is what 1,000 streams on one client take.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.processes import BenchError, spawn, stop
from benchmarks.stats import summary

TARGET_RSS_PER_STREAM = 64 << 10
OPEN_TIMEOUT = 30.0
DEFAULT_OPEN_TIMEOUT = 3.0


def _measure(endpoint: str, streams: int, connector: str, log: Path) -> dict[str, Any]:
    open_timeout = OPEN_TIMEOUT if connector == "unlimited" else DEFAULT_OPEN_TIMEOUT
    command = [
        sys.executable,
        *("-m", "benchmarks.stream_client"),
        *("--endpoint", endpoint),
        *("--streams", str(streams)),
        *("--connector", connector),
        *("--open-timeout", str(open_timeout)),
    ]
    process, _, answer = spawn(command, log, "the stream client", timeout=180.0)
    stop(process)
    if not answer.get("ok"):
        raise BenchError(f"event streams ({connector}): {answer}")
    return answer


def bench_streams(streams: int, reps: int, log_dir: Path) -> dict[str, Any]:
    """*streams* streams on one client, *reps* times with each connector, fresh processes."""
    server_log = log_dir / "stream-server.log"
    server_log.write_text("", encoding="utf-8")
    client_log = log_dir / "stream-client.log"
    client_log.write_text("", encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.stream_server"]
    server, _, ready = spawn(command, server_log, "the emulator", timeout=60.0)
    endpoint = f"http://127.0.0.1:{ready['port']}"
    results: dict[str, Any] = {"streams": streams, "reps": reps}
    try:
        for connector in ("unlimited", "default"):
            runs = []
            for rep in range(reps if connector == "unlimited" else 1):
                run = _measure(endpoint, streams, connector, client_log)
                print(
                    f"  {connector} connector {rep + 1}: {run['opened']} of {streams} open in "
                    f"{run['open_seconds']:.1f} s, RSS +{run['rss_growth'] / (1 << 20):.1f} MiB, "
                    f"{run['connections_after_close']} connections left after the close "
                    f"({run['connections_other']} not a stream's)",
                    flush=True,
                )
                runs.append(run)
            results[connector] = {
                "connector_limit": runs[0]["connector_limit"],
                "opened": min(run["opened"] for run in runs),
                "open_seconds": summary([run["open_seconds"] for run in runs]),
                "rss_per_stream": summary(
                    [run["rss_per_stream"] for run in runs if run["rss_per_stream"] is not None]
                ),
                "delivered": min(run["delivered"] for run in runs),
                "failures": sum(run["failures"] for run in runs),
                "first_failure": next((r["first_failure"] for r in runs if r["first_failure"]), ""),
                "plain_call_while_open": runs[0]["plain_call_while_open"],
                "connections_before": max(run["connections_before"] or 0 for run in runs),
                "connections_other": max(run["connections_other"] for run in runs),
                "connections_open": max(run["connections_open"] or 0 for run in runs),
                "connections_after_close": max(run["connections_after_close"] or 0 for run in runs),
                "connections_after_client_close": max(
                    run["connections_after_client_close"] or 0 for run in runs
                ),
                "close_seconds": summary([run["close_seconds"] for run in runs]),
                "samples": runs,
            }
    finally:
        stop(server)
    return results
