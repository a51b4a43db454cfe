"""Tests of the emulator's persistent Python kernel (a real child process each)."""

from __future__ import annotations

import asyncio
import gc
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from backendai_aio.emulator._kernel import Kernel, KernelBusyError

pytestmark = pytest.mark.asyncio

KernelFactory = Callable[..., Awaitable[Kernel]]


@pytest_asyncio.fixture
async def make_kernel(tmp_path: Path) -> AsyncIterator[KernelFactory]:
    """Start kernels working in tmp_path; close all of them after the test."""
    kernels: list[Kernel] = []

    async def make(*, flush_window: float = 0.5, exec_timeout: float = 10.0) -> Kernel:
        kernel = Kernel(tmp_path, flush_window=flush_window, exec_timeout=exec_timeout)
        kernels.append(kernel)
        await kernel.start()
        return kernel

    yield make
    for kernel in kernels:
        await kernel.close()


async def query(kernel: Kernel, code: str, run_id: str = "run-0001") -> dict[str, Any]:
    return await kernel.execute(mode="query", run_id=run_id, code=code)


async def follow(kernel: Kernel, first: dict[str, Any]) -> list[dict[str, Any]]:
    """Call ``continue`` until the run reports something other than "continued"."""
    results = [first]
    while results[-1]["status"] == "continued":
        results.append(await kernel.execute(mode="continue", run_id=first["runId"], code=""))
    return results


def output(results: dict[str, Any] | list[dict[str, Any]], kind: str = "stdout") -> str:
    if isinstance(results, dict):
        results = [results]
    return "".join(payload for result in results for k, payload in result["console"] if k == kind)


async def child_pid(kernel: Kernel) -> int:
    result = await query(kernel, "import os; print(os.getpid())", "run-getpid")
    return int(output(result))


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def process_state(pid: int) -> str | None:
    """The state letter of *pid* from /proc, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


async def is_dead(pid: int) -> bool:
    """Whether *pid* is gone or a zombie (a process we did not start is reaped by init)."""
    for _ in range(100):
        if process_state(pid) in (None, "Z", "X"):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_state_is_kept_between_queries(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    first = await query(kernel, "x = 41\ndef bump(n):\n    return n + 1\n")
    assert first == {
        "status": "finished",
        "runId": "run-0001",
        "exitCode": 0,
        "console": [],
        "options": None,
        "files": [],
    }
    second = await query(kernel, "print(bump(x))", "run-0002")
    assert second["runId"] == "run-0002"
    assert second["console"] == [["stdout", "42\n"]]
    assert kernel.num_queries_executed == 2
    assert not kernel.running


async def test_namespace_is_main_and_cwd_is_workdir(
    make_kernel: KernelFactory, tmp_path: Path
) -> None:
    (tmp_path / "helper_mod.py").write_text("VALUE = 'from workdir'\n")
    kernel = await make_kernel()
    result = await query(
        kernel, "import os, helper_mod\nprint(__name__, os.getcwd(), helper_mod.VALUE)"
    )
    assert output(result) == f"__main__ {tmp_path} from workdir\n"


async def test_stdout_and_stderr_keep_their_order(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    code = "import sys\nprint('a')\nprint('b')\nprint('c', file=sys.stderr)\nprint('d')\n"
    result = await query(kernel, code)
    assert result["console"] == [["stdout", "a\nb\n"], ["stderr", "c\n"], ["stdout", "d\n"]]


async def test_os_level_output_is_captured(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    code = (
        "import os, subprocess, sys\n"
        "print('before')\n"
        "os.system('echo hi')\n"
        "subprocess.run(['sh', '-c', 'echo oops >&2'])\n"
        "print('after')\n"
        "subprocess.run([sys.executable, '-c', 'print(input())'])\n"
    )
    result = await query(kernel, code)
    assert result["status"] == "finished"
    assert result["exitCode"] == 0
    # The last child reads the kernel's stdin: it must see EOF, not the protocol stream.
    assert result["console"][:3] == [
        ["stdout", "before\nhi\n"],
        ["stderr", "oops\n"],
        ["stdout", "after\n"],
    ]
    assert "EOFError" in output(result, "stderr")
    again = await query(kernel, "print('still fine')", "run-0002")
    assert again["console"] == [["stdout", "still fine\n"]]


async def test_unicode_and_large_output(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    code = "import os\nprint('héllo ✓')\nos.system(\"printf 'ünï\\\\n'\")\nprint('x' * 100000)\n"
    result = await query(kernel, code)
    assert output(result) == "héllo ✓\nünï\n" + "x" * 100000 + "\n"


async def test_exception_gives_exit_code_1_and_traceback(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    result = await query(kernel, "print('start')\n1 / 0\n")
    assert result["status"] == "finished"
    assert result["exitCode"] == 1
    assert output(result) == "start\n"
    stderr = output(result, "stderr")
    assert stderr.startswith("Traceback (most recent call last):")
    assert "1 / 0" in stderr
    assert stderr.endswith("ZeroDivisionError: division by zero\n")
    assert "_driver" not in stderr


async def test_syntax_error(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    result = await query(kernel, "def broken(:\n")
    assert result["exitCode"] == 1
    assert "SyntaxError" in output(result, "stderr")


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [("raise SystemExit(3)", 3), ("import sys; sys.exit()", 0), ("raise SystemExit('bye')", 1)],
)
async def test_system_exit(make_kernel: KernelFactory, code: str, exit_code: int) -> None:
    kernel = await make_kernel()
    result = await query(kernel, code)
    assert result["status"] == "finished"
    assert result["exitCode"] == exit_code
    # The kernel survives SystemExit.
    assert (await query(kernel, "print(1)", "run-0002"))["exitCode"] == 0


async def test_long_run_continues_and_output_is_seen_once(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.2)
    code = "import time\nfor i in range(6):\n    print(i)\n    time.sleep(0.1)\n"
    first = await query(kernel, code)
    assert first["status"] == "continued"
    assert first["exitCode"] is None
    assert kernel.running
    results = await follow(kernel, first)
    assert results[-1]["status"] == "finished"
    assert results[-1]["exitCode"] == 0
    assert output(results) == "".join(f"{i}\n" for i in range(6))
    assert not kernel.running
    with pytest.raises(ValueError, match="no active run"):
        await kernel.execute(mode="continue", run_id="run-0001", code="")


async def test_quick_run_does_not_wait_for_the_flush_window(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=5.0)
    loop_time = asyncio.get_running_loop().time
    started = loop_time()
    result = await query(kernel, "print('quick')")
    assert result["status"] == "finished"
    assert loop_time() - started < 2.0


async def test_input_round_trip(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    first = await query(kernel, "name = input('name? ')\nprint('hello', name)\n")
    assert first["status"] == "waiting-input"
    assert first["console"] == [["stdout", "name? "]]
    assert first["options"] == {"is_password": False}
    assert first["exitCode"] is None
    assert kernel.running
    with pytest.raises(KernelBusyError):
        await query(kernel, "print(1)", "run-0002")
    second = await kernel.execute(mode="input", run_id="run-0001", code="bob")
    assert second["status"] == "finished"
    assert second["exitCode"] == 0
    assert second["console"] == [["stdout", "hello bob\n"]]


async def test_getpass_asks_for_a_password(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    first = await query(kernel, "import getpass\nsecret = getpass.getpass()\nprint(len(secret))")
    assert first["status"] == "waiting-input"
    assert first["options"] == {"is_password": True}
    second = await kernel.execute(mode="input", run_id="run-0001", code="s3cret")
    assert output(second) == "6\n"


async def test_continue_and_input_need_a_matching_run(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.1)
    with pytest.raises(ValueError, match="no active run"):
        await kernel.execute(mode="continue", run_id="run-0001", code="")
    with pytest.raises(ValueError, match="no active run"):
        await kernel.execute(mode="input", run_id="run-0001", code="x")
    with pytest.raises(ValueError, match="unknown execution mode"):
        await kernel.execute(mode="bogus", run_id="run-0001", code="")
    first = await query(kernel, "import time; time.sleep(0.4); print('done')")
    assert first["status"] == "continued"
    with pytest.raises(ValueError, match="not waiting for input"):
        await kernel.execute(mode="input", run_id="run-0001", code="x")
    with pytest.raises(ValueError, match="not the active run"):
        await kernel.execute(mode="continue", run_id="run-9999", code="")
    results = await follow(kernel, first)
    assert output(results) == "done\n"


async def test_interrupt_stops_a_busy_loop(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.2)
    await query(kernel, "kept = 'yes'", "run-0000")
    first = await query(kernel, "while True:\n    pass\n")
    assert first["status"] == "continued"
    await kernel.interrupt()
    results = await follow(kernel, first)
    assert results[-1]["status"] == "finished"
    assert results[-1]["exitCode"] == 1
    assert output(results, "stderr").rstrip().endswith("KeyboardInterrupt")
    after = await query(kernel, "print(kept)", "run-0002")
    assert after["console"] == [["stdout", "yes\n"]]
    # Interrupting an idle kernel does nothing.
    await kernel.interrupt()
    assert (await query(kernel, "print(kept)", "run-0003"))["exitCode"] == 0


async def test_interrupt_while_waiting_for_input(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.2)
    first = await query(kernel, "input('? ')")
    assert first["status"] == "waiting-input"
    await kernel.interrupt()
    results = [first]
    for _ in range(50):
        results.append(await kernel.execute(mode="continue", run_id="run-0001", code=""))
        if results[-1]["status"] == "finished":
            break
    assert results[-1]["status"] == "finished"
    assert results[-1]["exitCode"] == 1
    assert "KeyboardInterrupt" in output(results, "stderr")


async def test_exec_timeout_interrupts_a_runaway_loop(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.3, exec_timeout=1.0)
    await query(kernel, "kept = 'yes'", "run-0000")
    first = await query(kernel, "print('started')\nwhile True:\n    pass\n")
    results = await follow(kernel, first)
    assert results[-1]["status"] == "exec-timeout"
    assert results[-1]["exitCode"] is None
    assert output(results) == "started\n"
    # SIGINT was enough, so the namespace survived.
    assert output(await query(kernel, "print(kept)", "run-0002")) == "yes\n"


async def test_exec_timeout_kills_a_child_ignoring_sigint(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.3, exec_timeout=0.5)
    kernel._kill_grace = 0.3  # the default 2 s would make the test slow
    pid = await child_pid(kernel)
    code = (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('started')\n"
        "while True:\n    pass\n"
    )
    results = await follow(kernel, await query(kernel, code))
    assert results[-1]["status"] == "exec-timeout"
    assert output(results) == "started\n"
    assert not pid_exists(pid)
    new_pid = await child_pid(kernel)
    assert new_pid != pid
    assert (await query(kernel, "print(1)", "run-0003"))["exitCode"] == 0


async def test_query_during_a_run_is_refused(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.1)
    first = await query(kernel, "import time\ntime.sleep(0.5)\nprint('end')\n")
    assert first["status"] == "continued"
    with pytest.raises(KernelBusyError):
        await query(kernel, "print(1)", "run-0002")
    with pytest.raises(KernelBusyError):
        await kernel.execute(mode="batch", run_id="run-0003", code="", options={"exec": "true"})
    results = await follow(kernel, first)
    assert output(results) == "end\n"
    assert (await query(kernel, "print(2)", "run-0004"))["console"] == [["stdout", "2\n"]]


async def test_child_crash_is_reported_and_the_kernel_recovers(
    make_kernel: KernelFactory,
) -> None:
    kernel = await make_kernel()
    result = await query(kernel, "import os\nos._exit(4)")
    assert result["status"] == "finished"
    assert result["exitCode"] == 4
    assert "exited unexpectedly" in output(result, "stderr")
    assert (await query(kernel, "print('alive')", "run-0002"))["exitCode"] == 0


async def test_batch_runs_phases_in_order(make_kernel: KernelFactory, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(
        "import sys\nprint('main ran')\nprint('warn', file=sys.stderr)\n"
    )
    kernel = await make_kernel()
    options = {"clean": "echo cleaning", "build": "echo building > built.txt", "exec": "*"}
    first = await kernel.execute(mode="batch", run_id="batch-001", code="", options=options)
    assert first["status"] == "clean-finished"
    assert first["exitCode"] == 0
    assert output(first) == "cleaning\n"
    assert kernel.running
    second = await kernel.execute(mode="continue", run_id="batch-001", code="")
    assert second["status"] == "build-finished"
    assert (tmp_path / "built.txt").read_text() == "building\n"
    third = await kernel.execute(mode="continue", run_id="batch-001", code="")
    assert third["status"] == "finished"
    assert third["exitCode"] == 0
    assert output(third) == "main ran\n"
    assert output(third, "stderr") == "warn\n"
    assert not kernel.running


async def test_batch_failing_build_ends_the_run(make_kernel: KernelFactory, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print('must not run')\n")
    kernel = await make_kernel()
    options = {"clean": "*", "build": "echo building; echo broken >&2; exit 2", "exec": "*"}
    result = await kernel.execute(mode="batch", run_id="batch-001", code="", options=options)
    assert result["status"] == "finished"
    assert result["exitCode"] == 2
    assert output(result) == "building\n"
    assert output(result, "stderr") == "broken\n"


async def test_batch_exec_exit_code(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    options = {"exec": "echo out; exit 5"}
    result = await kernel.execute(mode="batch", run_id="batch-001", code="", options=options)
    assert result["status"] == "finished"
    assert result["exitCode"] == 5
    assert output(result) == "out\n"


async def test_batch_can_be_interrupted_and_times_out(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.2, exec_timeout=1.0)
    options = {"exec": "echo begin; sleep 30"}
    first = await kernel.execute(mode="batch", run_id="batch-001", code="", options=options)
    assert first["status"] == "continued"
    await kernel.interrupt()
    results = await follow(kernel, first)
    assert results[-1]["status"] == "finished"
    assert results[-1]["exitCode"] == 130
    assert output(results) == "begin\n"

    options = {"exec": "trap '' INT; echo begin; sleep 30"}
    kernel._kill_grace = 0.3
    first = await kernel.execute(mode="batch", run_id="batch-002", code="", options=options)
    results = await follow(kernel, first)
    assert results[-1]["status"] == "exec-timeout"
    assert results[-1]["exitCode"] is None
    assert output(results) == "begin\n"


async def test_complete_uses_the_namespace(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    await query(kernel, "import os\nmy_variable = 1\n")
    result = await kernel.complete("my_var")
    assert result == {"status": "finished", "completions": ["my_variable"]}
    by_line = await kernel.complete("ignored", {"row": 0, "col": 9, "line": "y = os.pa"})
    assert "os.path" in by_line["completions"]
    assert (await kernel.complete(""))["completions"] == []


async def test_restart_loses_state(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel()
    await query(kernel, "lost = 1")
    pid = await child_pid(kernel)
    await kernel.restart()
    assert not pid_exists(pid)
    result = await query(kernel, "print(lost)", "run-0002")
    assert result["exitCode"] == 1
    assert "NameError" in output(result, "stderr")
    assert await child_pid(kernel) != pid


async def test_restart_aborts_an_active_run(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.1)
    first = await query(kernel, "import time\nwhile True:\n    time.sleep(0.05)\n")
    assert first["status"] == "continued"
    await kernel.restart()
    assert not kernel.running
    result = await kernel.execute(mode="continue", run_id="run-0001", code="")
    assert result["status"] == "finished"
    assert "restarted" in output(result, "stderr")
    assert (await query(kernel, "print(1)", "run-0002"))["exitCode"] == 0


async def test_close_reaps_the_child(make_kernel: KernelFactory) -> None:
    kernel = await make_kernel(flush_window=0.1)
    pid = await child_pid(kernel)
    grandchild = await query(
        kernel,
        "import subprocess\nproc = subprocess.Popen(['sleep', '30'])\nprint(proc.pid)",
        "run-0002",
    )
    grandchild_pid = int(output(grandchild))
    first = await query(kernel, "while True:\n    pass\n", "run-0003")
    assert first["status"] == "continued"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await kernel.close()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert not pid_exists(pid)
    # The grandchild was in the kernel's process group, so it was killed too.
    assert await is_dead(grandchild_pid)
    assert not kernel.running
    await kernel.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await query(kernel, "print(1)", "run-0004")


async def test_execute_before_start_is_an_error(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path)
    with pytest.raises(RuntimeError, match="not started"):
        await query(kernel, "print(1)")
    await kernel.close()
