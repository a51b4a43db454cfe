"""Who is measured: each contender is a client module run on one interpreter.

``raw`` is the floor (a hand-signed raw aiohttp call), ``aio`` is backendai_aio, each on the
harness's interpreter (Python 3.11) and again on Python 3.13 (``raw313``, ``aio313``); the
official SDK runs as 23.9.10 on Python 3.11 (``official23``) and 26.9.6 on Python 3.13
(``official26``). ``raw_legacy`` is the floor again on 23.9.10's interpreter and aiohttp 3.8:
it tells how much of that release's cost is its older aiohttp rather than its own code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Contender:
    """One client module on one interpreter."""

    key: str
    label: str
    module: str
    python: str
    interpreter: str


#: Table order, with (label, module, interpreter) of each key.
KNOWN: dict[str, tuple[str, str, str]] = {
    "raw": ("raw aiohttp 3.11", "raw", "3.11"),
    "aio": ("backendai_aio 3.11", "aio", "3.11"),
    "raw313": ("raw aiohttp 3.13", "raw", "3.13"),
    "aio313": ("backendai_aio 3.13", "aio", "3.13"),
    "official23": ("official 23.9.10 (3.11)", "official", "3.11"),
    "raw_legacy": ("raw on 23.9.10's venv", "raw", "3.11"),
    "official26": ("official 26.9.6 (3.13)", "official", "3.13"),
}

#: Ratios reported for benchmark 1 (numerator, denominator), each within one repetition.
RATIOS: tuple[tuple[str, str], ...] = (
    ("aio", "raw"),
    ("aio313", "raw313"),
    ("official26", "aio313"),
    ("official26", "raw313"),
    ("official23", "aio"),
    ("official23", "raw"),
    ("raw_legacy", "raw"),
    ("official23", "raw_legacy"),
)

#: The short column names of :data:`RATIOS`.
SHORT = {
    "raw": "raw 3.11",
    "aio": "aio 3.11",
    "raw313": "raw 3.13",
    "aio313": "aio 3.13",
    "official23": "official 23",
    "raw_legacy": "raw on 23's venv",
    "official26": "official 26",
}


def make(pythons: dict[str, str]) -> list[Contender]:
    """The contenders whose interpreter is known (*pythons*: key to interpreter path)."""
    return [
        Contender(key, label, module, pythons[key], interpreter)
        for key, (label, module, interpreter) in KNOWN.items()
        if key in pythons
    ]


def label(key: str) -> str:
    """The table label of contender *key*."""
    return KNOWN[key][0]
