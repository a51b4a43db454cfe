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

With ``BAI_LOCAL_RUNNER_VENV`` (a venv holding ``backend.ai-kernel`` of the same release) and
``BAI_LOCAL_RUNNER_ROOT`` (a folder of the launcher's state) set as well, each kernel gets the
release's own kernel runner as a local process: its folder ``<root>/<kernel id>`` holds the
container paths the runner expects (``home/work``, ``home/config``, a private ``tmp``), bound
onto ``/home`` and ``/tmp`` inside a mount namespace of its own (``unshare``), and its two
REPL ports come from ``BAI_LOCAL_RUNNER_PORTS`` (``first-last``). The dummy kernel's
``DummyCodeRunner`` then speaks the runner's ZeroMQ protocol to it, so execute runs real
code. The runner's pid (its session id) is in ``<root>/<kernel id>/runner.pid`` and its
console in ``<root>/<kernel id>.log``: destroying the kernel stops it, and the launcher stops
any left.
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


def _install_runner(venv: str, root: str, port_range: str) -> None:
    import asyncio
    import json
    import shutil
    import signal
    import socket
    from pathlib import Path

    from ai.backend.agent.agent import AbstractAgent
    from ai.backend.agent.dummy.agent import DummyAgent, DummyKernelCreationContext
    from ai.backend.agent.dummy.kernel import DummyKernel
    from ai.backend.common.dto.agent.response import CodeCompletionResp

    python = f"{venv}/bin/python"
    first, last = (int(p) for p in port_range.split("-"))
    kernels = Path(root)
    taken: set[int] = set()

    def free_port() -> int:
        for port in range(first, last + 1):
            if port in taken:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            taken.add(port)
            return port
        raise RuntimeError(f"no free port left in {port_range} for a kernel runner")

    def listening(port: int) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", port)) == 0

    async def start_container(
        self, kernel_obj, cmdargs, resource_opts, preopen_ports, cluster_info
    ):
        kernel_dir = kernels / str(kernel_obj.kernel_id)
        for sub in ("home/work", "home/config", "tmp"):
            (kernel_dir / sub).mkdir(parents=True, exist_ok=True)
        repl_in, repl_out = free_port(), free_port()
        ports = {"replin": repl_in, "replout": repl_out}
        (kernel_dir / "home/config/intrinsic-ports.json").write_text(json.dumps(ports))
        environ = "".join(f"{k}={v}\n" for k, v in dict(kernel_obj.environ).items())
        (kernel_dir / "home/config/environ.txt").write_text(environ)
        script = (
            f"mount --bind '{kernel_dir}/home' /home && mount --bind '{kernel_dir}/tmp' /tmp"
            f" && cd /home/work && exec '{python}' -m ai.backend.kernel python '{python}'"
        )
        env = {
            "PATH": f"{venv}/bin:/usr/local/bin:/usr/bin:/bin",
            "VIRTUAL_ENV": venv,
            "BAI_LOCAL_RUNNER": "1",
            "LANG": "C.UTF-8",
            "HOME": "/home/work",
        }
        with (kernels / f"{kernel_obj.kernel_id}.log").open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                script,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                cwd=str(kernel_dir),
                start_new_session=True,
            )
        (kernel_dir / "runner.pid").write_text(f"{proc.pid}\n")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while not (listening(repl_in) and listening(repl_out)):
            if proc.returncode is not None or loop.time() > deadline:
                raise RuntimeError(
                    f"the kernel runner did not start; see {kernels}/{kernel_obj.kernel_id}.log"
                )
            await asyncio.sleep(0.2)
        return {
            "container_id": str(kernel_obj.kernel_id),
            "kernel_host": "127.0.0.1",
            "repl_in_port": repl_in,
            "repl_out_port": repl_out,
            "stdin_port": repl_in,  # legacy fields, unused
            "stdout_port": repl_out,
            "host_ports": [repl_in, repl_out],
            "domain_socket_proxies": [],
            "block_service_ports": self.internal_data.get("block_service_ports", False),
        }

    async def stop_runner(kernel_id) -> None:
        kernel_dir = kernels / str(kernel_id)
        try:
            sid = int((kernel_dir / "runner.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(sid, sig)
            except ProcessLookupError:
                break
            for _ in range(int(wait / 0.1)):
                try:
                    os.killpg(sid, 0)
                except ProcessLookupError:
                    break
                await asyncio.sleep(0.1)
        (kernel_dir / "runner.pid").unlink(missing_ok=True)
        try:
            ports = json.loads((kernel_dir / "home/config/intrinsic-ports.json").read_text())
            taken.difference_update(ports.values())
        except (OSError, ValueError):
            pass

    original_destroy = DummyAgent.destroy_kernel
    original_clean = DummyAgent.clean_kernel

    async def destroy_kernel(self, kernel_id, container_id):
        await stop_runner(kernel_id)
        await original_destroy(self, kernel_id, container_id)

    async def clean_kernel(self, kernel_id, container_id, restarting):
        await original_clean(self, kernel_id, container_id, restarting)
        shutil.rmtree(kernels / str(kernel_id), ignore_errors=True)

    async def check_status(self):
        return await self.runner.feed_and_get_status()

    async def get_completions(self, text, opts):
        return CodeCompletionResp(result=await self.runner.feed_and_get_completion(text, opts))

    async def interrupt_kernel(self):
        await self.runner.feed_interrupt()
        return {"status": "finished"}

    async def get_logs(self):
        log = kernels / f"{self.kernel_id}.log"
        try:
            return {"logs": log.read_text(errors="replace")}
        except OSError:
            return {"logs": ""}

    DummyKernelCreationContext.start_container = start_container
    DummyAgent.destroy_kernel = destroy_kernel
    DummyAgent.clean_kernel = clean_kernel
    # The dummy answers "not-implemented" without asking its runner: the generic one asks.
    DummyAgent.execute = AbstractAgent.execute
    DummyKernel.check_status = check_status
    DummyKernel.get_completions = get_completions
    DummyKernel.interrupt_kernel = interrupt_kernel
    DummyKernel.get_logs = get_logs


if os.environ.get("BAI_LOCAL_DUMMY_KEEPALIVE") == "1":
    _install_keepalive()
    if (venv := os.environ.get("BAI_LOCAL_RUNNER_VENV")) and (
        root := os.environ.get("BAI_LOCAL_RUNNER_ROOT")
    ):
        _install_runner(venv, root, os.environ.get("BAI_LOCAL_RUNNER_PORTS", "9800-9899"))
