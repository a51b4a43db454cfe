"""What the server, the workers and the harness share (standard library only).

This module is imported by workers running under the official SDK's interpreter too, so it
must not import aiohttp, yarl or backendai_aio.
"""

from __future__ import annotations

import re
from typing import Final

#: The manager's example keypair (the same one the project's emulator uses).
ACCESS_KEY: Final = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY: Final = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

#: The compute session every call addresses (the stand-in server accepts any name).
SESSION_NAME: Final = "bench-session"
#: One fixed run id, so that every contender sends the same execute request.
RUN_ID: Final = "bench-run-00000001"
#: The code sent by the execute benchmark.
CODE: Final = 'print("hello")'

#: The file name asked for by ``download_single``; the server reads the size from it.
_DOWNLOAD_NAME_RE: Final = re.compile(r"bench-(\d+)\.bin")

#: The multipart field name of an uploaded file (as the manager expects it).
UPLOAD_FIELD: Final = "src"

#: Chunk size of the deterministic byte pattern streamed by the server.
PATTERN_CHUNK: Final = 1 << 20

_SIZE_RE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*", re.IGNORECASE)
_UNITS: Final = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def download_name(size: int) -> str:
    """Name the file whose download streams *size* bytes."""
    return f"bench-{size}.bin"


def size_of_download_name(name: str) -> int | None:
    """Return the size encoded in a :func:`download_name`, or ``None`` for another name."""
    match = _DOWNLOAD_NAME_RE.fullmatch(name.rsplit("/", 1)[-1])
    return None if match is None else int(match[1])


def pattern_chunk() -> bytes:
    """The deterministic 1 MiB pattern the server repeats (bytes 0..255 over and over)."""
    return bytes(range(256)) * (PATTERN_CHUNK // 256)


def parse_size(text: str) -> int:
    """Parse a size such as ``1GiB``, ``64MiB``, ``512k`` or ``1048576`` into bytes."""
    match = _SIZE_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (examples: 64MiB, 1GiB, 1048576)")
    number, unit = match[1], (match[2] or "")
    value = float(number) * _UNITS[unit[:1].lower()]
    if value < 1:
        raise ValueError(f"a size must be at least one byte, not {text!r}")
    return int(value)


def format_size(size: int) -> str:
    """Format a byte count with a binary unit (``1 GiB``, ``64 MiB``, ``1000 B``)."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def read_memory_status() -> dict[str, int]:
    """Return ``VmRSS`` and ``VmHWM`` of this process in bytes (Linux), else an empty dict."""
    values: dict[str, int] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(rest.split()[0]) * 1024
    except OSError:
        return {}
    return values


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) to its current RSS; tell whether it worked.

    Linux resets the high-water mark when ``5`` is written to ``/proc/self/clear_refs``.
    """
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    status = read_memory_status()
    return bool(status) and status["VmHWM"] <= status["VmRSS"] + (1 << 20)


class NotAvailableError(Exception):
    """A contender cannot run a benchmark (yet): the message says why."""
