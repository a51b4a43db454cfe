"""The pytest plugin's fixtures, run for real in pytest subprocesses (strict asyncio mode)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backendai_aio import Client
from backendai_aio.emulator import USER_ACCESS_KEY, Emulator
from backendai_aio.emulator.pytest_plugin import EmulatorThread

ROOT = Path(__file__).resolve().parent.parent.parent
# Whether the emulator has release profiles; the fixtures work either way.
_TAKES_RELEASE = "release" in inspect.signature(Emulator).parameters


def _section_blocks(page: Path, heading: str) -> list[str]:
    """The ``python`` blocks of one ``## heading`` section of a docs page."""
    text = page.read_text()
    section = text[text.index(f"## {heading}\n") :]
    following = section.find("\n## ", 3)
    section = section if following == -1 else section[:following]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def _run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pytest in *directory* with its own ini file, this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKEND_", "PYTEST_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _strict_project(tmp_path: Path, source: str, ini: str = "") -> Path:
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nasyncio_mode = strict\n{ini}")
    (tmp_path / "test_user_suite.py").write_text(source)
    return tmp_path


def test_the_documented_snippets_pass_in_strict_mode(tmp_path: Path) -> None:
    blocks = _section_blocks(ROOT / "docs" / "emulator.md", "In your tests")
    assert len(blocks) >= 2
    project = _strict_project(tmp_path, "\n\n".join(blocks))
    result = _run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b3 passed\b", result.stdout), result.stdout


def test_isolated_fixture_keeps_tests_apart_and_the_shared_one_does_not(
    tmp_path: Path,
) -> None:
    source = textwrap.dedent(
        """
        import pytest

        from backendai_aio import Client

        CODE = "print(globals().get('leaked', 'fresh')); leaked = 'left over'"


        async def _run(emulator):
            async with Client(emulator.config) as client:
                await client.create_if_not_exists("python", "same-name")
                return (await client.sessions.run("same-name", CODE)).stdout


        @pytest.mark.asyncio
        @pytest.mark.parametrize("turn", [1, 2])
        async def test_isolated(backendai_emulator_isolated, turn):
            assert await _run(backendai_emulator_isolated) == "fresh\\n"


        @pytest.mark.asyncio
        @pytest.mark.parametrize("turn", [1, 2])
        async def test_shared(backendai_emulator, turn):
            expected = "fresh\\n" if turn == 1 else "left over\\n"
            assert await _run(backendai_emulator) == expected
        """
    )
    result = _run_pytest(_strict_project(tmp_path, source))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b4 passed\b", result.stdout), result.stdout


def test_release_choice_reaches_the_emulator_or_fails_clearly(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        import pytest


        def test_shared(backendai_emulator):
            assert backendai_emulator.options.get("release") == "23.09"


        @pytest.mark.backendai_emulator(release="26.9", exec_timeout=5)
        def test_marked(backendai_emulator_isolated):
            assert backendai_emulator_isolated.options["release"] == "26.9"
            assert backendai_emulator_isolated.options["exec_timeout"] == 5


        @pytest.mark.backendai_emulator(no_such_option=1)
        def test_misspelled(backendai_emulator_isolated):
            pass
        """
    )
    project = _strict_project(tmp_path, source, ini="backendai_emulator_release = 26.9\n")
    result = _run_pytest(project, "--backendai-emulator-release", "23.09", "-rE")
    output = result.stdout + result.stderr
    assert re.search(r"the emulator cannot be made with \{.*'no_such_option': 1\}", output)
    assert "Traceback" not in output
    if _TAKES_RELEASE:
        assert re.search(r"\b2 passed, 1 error\b", output), output
    else:
        # An emulator of one release only: the choice is refused, not silently ignored.
        assert "release= is not taken" in output
        assert re.search(r"\b3 errors?\b", output), output


def test_ini_setting_alone_picks_the_release(tmp_path: Path) -> None:
    source = "def test_ini(backendai_emulator):\n"
    source += "    assert backendai_emulator.options.get('release') == '23.09'\n"
    result = _run_pytest(
        _strict_project(tmp_path, source, ini="backendai_emulator_release = 23.09\n")
    )
    if _TAKES_RELEASE:
        assert result.returncode == 0, result.stdout + result.stderr
    else:
        assert "release= is not taken" in result.stdout


async def test_the_fixture_object_has_the_documented_configurations() -> None:
    thread = EmulatorThread(exec_timeout=5.0)
    assert "not started" in repr(thread)
    with thread:
        assert thread.running and thread.endpoint in repr(thread)
        assert thread.user_config.access_key == USER_ACCESS_KEY
        assert thread.session_config.endpoint_type == "session"
        assert thread.options == {"exec_timeout": 5.0}
        async with Client(thread.user_config) as client:
            assert (await client.get_server_version())["version"]
    assert "stopped" in repr(thread)
    assert not thread.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = thread.user_config
