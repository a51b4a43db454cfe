"""How much each benchmark measures: the full run and the quick one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """How much to measure."""

    calls: int
    reps: int
    size: int
    transfer_reps: int
    burst_reps: int
    import_reps: int
    warmup_calls: int
    streams: int
    stream_reps: int
    tree_reps: int = 3


FULL = Settings(
    calls=2048,
    reps=11,
    size=1 << 30,
    transfer_reps=7,
    burst_reps=5,
    import_reps=21,
    warmup_calls=256,
    streams=1000,
    stream_reps=3,
)
QUICK = Settings(
    calls=1024,
    reps=5,
    size=256 << 20,
    transfer_reps=3,
    burst_reps=2,
    import_reps=7,
    warmup_calls=256,
    streams=1000,
    stream_reps=1,
    tree_reps=1,
)
