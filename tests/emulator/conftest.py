"""The emulator's wire-level tests run against its 23.09 profile unless a module says otherwise."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The wire-level answers here were checked against a real 23.09 manager: its profile
    # gives them (test_emulator_releases.py covers what 26.9 answers otherwise).
    return {"release": "23.09", "flush_window": 0.2}
