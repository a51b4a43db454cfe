"""A local Backend.AI manager emulator that really runs Python code.

It answers the manager's REST API on 127.0.0.1 (signature checks, problem+json errors,
sessions, execution in a child Python process per session, file transfer with each session's
work folder, streaming execution over websockets, session and background task events over
SSE), so the SDK can be tried and tested without a cluster:

```python
from backendai_aio import Client
from backendai_aio.emulator import Emulator

async with Emulator() as emulator, Client(emulator.config) as client:
    await client.create_if_not_exists("python", "demo-session")
```

Run it standalone with ``python -m backendai_aio.emulator --port 8091``. Programs that should talk
to a real cluster when one is configured use
[`configured_or_emulated`][backendai_aio.emulator.configured_or_emulated]. Tests of resuming
transfers break them on purpose with a `FaultPlan`
(``Emulator(faults=FaultPlan(drop_upload_after=...))``).
"""

from ._app import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    MANAGER_VERSIONS,
    USER_ACCESS_KEY,
    USER_SECRET_KEY,
    Emulator,
    create_app,
)
from ._faults import FaultPlan
from ._kernel import KernelLimits
from ._local import configured_or_emulated

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "MANAGER_VERSIONS",
    "USER_ACCESS_KEY",
    "USER_SECRET_KEY",
    "Emulator",
    "FaultPlan",
    "KernelLimits",
    "configured_or_emulated",
    "create_app",
]
