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
any left. The kernel's file calls (upload, download, ``download_single``, listing) work on its
``home/work`` with the docker kernel's answer shapes, and a batch run keeps its output queue
between its phases (see ``_install_batch_phases``).
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
    import io
    import json
    import shutil
    import signal
    import socket
    import stat
    import tarfile
    from pathlib import Path, PurePosixPath

    from ai.backend.agent.agent import AbstractAgent
    from ai.backend.agent.dummy.agent import DummyAgent, DummyKernelCreationContext
    from ai.backend.agent.dummy.kernel import DummyKernel
    from ai.backend.common.dto.agent.response import CodeCompletionResp

    python = f"{venv}/bin/python"
    # A private /tmp would hide a venv under the host's /tmp (a checkout there).
    venv_under_tmp = Path(venv).resolve().is_relative_to("/tmp")
    first, last = (int(p) for p in port_range.split("-"))
    kernels = Path(root)
    taken: set[int] = set()
    CONTAINER_WORK = PurePosixPath("/home/work")
    #: The docker kernel refuses downloads whose archive passes 1 MiB.
    ARCHIVE_LIMIT = 1048576

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
        mounts = f"mount --bind '{kernel_dir}/home' /home && mount --bind '{kernel_dir}/tmp' /tmp"
        if venv_under_tmp:
            # Keep the venv reachable through the kernel folder, then put it back in place.
            keep = kernel_dir / "home" / ".runner-venv"
            keep.mkdir(exist_ok=True)
            mounts = (
                f"mount --bind '{venv}' '{keep}' && mount --rbind '{kernel_dir}/home' /home"
                f" && mount --bind '{kernel_dir}/tmp' /tmp && mkdir -p '{venv}'"
                f" && mount --bind /home/.runner-venv '{venv}'"
            )
        script = (
            f"{mounts} && cd /home/work && exec '{python}' -m ai.backend.kernel python '{python}'"
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

    def work_path(kernel_id, container_path, verb):
        """The host path of *container_path* in the kernel's ``/home/work``, confined there.

        Like the docker kernel, a path is taken relative to ``/home/work`` and refused when it
        leaves it; on the host a symbolic link could leave it too, so the resolved path is
        checked as well.
        """
        work = (kernels / str(kernel_id) / "home/work").resolve()
        inside = PurePosixPath(os.path.normpath(CONTAINER_WORK / str(container_path)))
        if not inside.is_relative_to(CONTAINER_WORK):
            raise PermissionError(f"You cannot {verb} files outside /home/work")
        host = (work / inside.relative_to(CONTAINER_WORK)).resolve(strict=False)
        if not host.is_relative_to(work):
            raise PermissionError(f"You cannot {verb} files outside /home/work")
        return host, inside

    def archive(host, inside):
        """A tar of *host* named by its base name, as the docker kernel's ``get_archive``."""
        if not host.exists():
            raise RuntimeError(f"Could not download the archive to: {inside}")
        files = [host] if not host.is_dir() else [host, *host.rglob("*")]
        if sum(f.lstat().st_size for f in files if f.is_file()) > ARCHIVE_LIMIT:
            raise ValueError("Too large archive file exceeding 1 MiB")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(str(host), arcname=host.name)
        return buffer.getvalue()

    async def accept_file(self, container_path, filedata):
        host, _ = work_path(self.kernel_id, container_path, "upload")

        def write():
            host.parent.mkdir(parents=True, exist_ok=True)
            host.write_bytes(filedata)

        try:
            await asyncio.to_thread(write)
        except OSError as e:
            raise RuntimeError(
                f"{self.kernel_id}: writing uploaded file failed: {container_path} ({e!r})"
            ) from e

    async def download_file(self, container_path):
        host, inside = work_path(self.kernel_id, container_path, "download")
        return await asyncio.to_thread(archive, host, inside)

    async def download_single(self, container_path):
        host, inside = work_path(self.kernel_id, container_path, "download")

        def read():
            if host.is_dir():
                raise ValueError(
                    f"Expected a single-file archive but found multiple files from {inside}"
                )
            if not host.exists():
                raise RuntimeError(f"Could not download the archive to: {inside}")
            if host.stat().st_size > ARCHIVE_LIMIT:
                raise ValueError("Too large archive file exceeding 1 MiB")
            return host.read_bytes()

        return await asyncio.to_thread(read)

    async def list_files(self, container_path):
        host, inside = work_path(self.kernel_id, container_path, "list")

        def scan():
            entries = []
            for entry in os.scandir(host):
                st = entry.stat(follow_symlinks=False)
                entries.append(
                    {
                        "mode": stat.filemode(st.st_mode),
                        "size": st.st_size,
                        "ctime": st.st_ctime,
                        "mtime": st.st_mtime,
                        "atime": st.st_atime,
                        "filename": entry.name,
                    }
                )
            return entries

        # The docker kernel runs a script in the container: its listing is the script's
        # stdout (a JSON list), a failure its stderr. The message names the container path.
        try:
            files, errors = json.dumps(await asyncio.to_thread(scan)), ""
        except OSError as e:
            files, errors = "", f"{type(e).__name__}: [Errno {e.errno}] {e.strerror}: '{inside}'\n"
        return {"files": files, "errors": errors, "abspath": str(container_path)}

    DummyKernelCreationContext.start_container = start_container
    DummyAgent.destroy_kernel = destroy_kernel
    DummyAgent.clean_kernel = clean_kernel
    # The dummy answers "not-implemented" without asking its runner: the generic one asks.
    DummyAgent.execute = AbstractAgent.execute
    DummyKernel.check_status = check_status
    DummyKernel.get_completions = get_completions
    DummyKernel.interrupt_kernel = interrupt_kernel
    DummyKernel.get_logs = get_logs
    DummyKernel.accept_file = accept_file
    DummyKernel.download_file = download_file
    DummyKernel.download_single = download_single
    DummyKernel.list_files = list_files


def _install_batch_phases() -> None:
    """Keep a batch run's output queue between its clean, build and exec phases.

    As released, the code runner drops a run's output queue when a ``clean-finished`` or
    ``build-finished`` arrives and makes a new one only when the client's ``continue`` comes:
    what the kernel runner sends in between is lost. A local runner finishes an empty clean
    or build step in microseconds, so the exec's output (often its ``finished``) was lost and
    the ``continue`` waited for ever, with every later run of the kernel queued behind it.
    Here the queue stays with the run until it finishes. The run is still given up as
    released when another run is waiting at the end of a phase, or when a run with another
    id arrives instead of the ``continue``.
    """
    from ai.backend.agent.kernel import AbstractCodeRunner

    phase_ends = {"clean-finished", "build-finished"}
    original_next = AbstractCodeRunner.next_output_queue
    original_attach = AbstractCodeRunner.attach_output_queue
    original_get = AbstractCodeRunner.get_next_result

    def next_output_queue(self):
        if getattr(self, "_bai_deferring", False):
            # get_next_result() below decides once it knows the answer's status.
            self._bai_next_wanted = True
            return
        original_next(self)

    async def get_next_result(self, api_ver=2, flush_timeout=2.0):
        self._bai_deferring, self._bai_next_wanted = True, False
        try:
            result = await original_get(self, api_ver=api_ver, flush_timeout=flush_timeout)
        finally:
            self._bai_deferring = False
        if self._bai_next_wanted:
            others_waiting = any(run != self.current_run_id for run in self.pending_queues)
            if result.get("status") in phase_ends and not others_waiting:
                self._bai_parked_run = self.current_run_id
                self.resume_output_queue()
            else:
                self._bai_parked_run = None
                original_next(self)
        return result

    async def attach_output_queue(self, run_id):
        parked = getattr(self, "_bai_parked_run", None)
        self._bai_parked_run = None
        if parked is not None and run_id != parked and self.current_run_id == parked:
            # Another run instead of the continue: the parked run is given up, as released.
            original_next(self)
        await original_attach(self, run_id)

    AbstractCodeRunner.next_output_queue = next_output_queue
    AbstractCodeRunner.get_next_result = get_next_result
    AbstractCodeRunner.attach_output_queue = attach_output_queue


if os.environ.get("BAI_LOCAL_DUMMY_KEEPALIVE") == "1":
    _install_keepalive()
    if (venv := os.environ.get("BAI_LOCAL_RUNNER_VENV")) and (
        root := os.environ.get("BAI_LOCAL_RUNNER_ROOT")
    ):
        _install_runner(venv, root, os.environ.get("BAI_LOCAL_RUNNER_PORTS", "9800-9899"))
        _install_batch_phases()
