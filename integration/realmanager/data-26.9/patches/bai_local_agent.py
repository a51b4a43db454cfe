# mypy: ignore-errors
# (runs inside the release's own venv, whose packages the project's type checkers do not see)
"""Local patches of the 26.9.6 dummy agent, loaded by ``bai_local_agent.pth``.

Active only in a process whose environment has ``BAI_LOCAL_DUMMY_KEEPALIVE=1`` (the launcher
sets it for the agent alone): every other program of the venv (the manager, its CLI) is
left as released.

The dummy backend answers ``[]`` to ``enumerate_containers()``, so the agent's kernel
registry cleaner (every 60 s) takes each RUNNING kernel for a dangling one and the manager
then terminates its session. Reporting each RUNNING kernel of the registry as a running
container keeps sessions alive until they are destroyed.
"""

from __future__ import annotations

import os


def _install_keepalive() -> None:
    from ai.backend.agent.agent import ACTIVE_STATUS_SET
    from ai.backend.agent.dummy.agent import DummyAgent
    from ai.backend.agent.types import Container, KernelLifecycleStatus
    from ai.backend.common.docker import LabelName
    from ai.backend.common.types import ContainerId, ContainerStatus

    async def enumerate_containers(self, status_filter=ACTIVE_STATUS_SET):  # type: ignore[no-untyped-def]
        if ContainerStatus.RUNNING not in status_filter:
            return []
        found = []
        for kernel_id, kernel in list(self.kernel_registry.items()):
            if kernel.state != KernelLifecycleStatus.RUNNING:
                continue
            labels = {
                LabelName.AGENT_ID: str(self.id),
                LabelName.KERNEL_ID: str(kernel_id),
                LabelName.SESSION_ID: str(kernel.session_id),
            }
            container = Container(
                id=ContainerId(str(kernel.container_id or kernel_id)),
                status=ContainerStatus.RUNNING,
                image=str(getattr(kernel.image, "canonical", kernel.image)),
                labels=labels,
                ports=[],
                backend_obj=None,
            )
            found.append((kernel_id, container))
        return found

    DummyAgent.enumerate_containers = enumerate_containers  # type: ignore[method-assign]


if os.environ.get("BAI_LOCAL_DUMMY_KEEPALIVE") == "1":
    _install_keepalive()
