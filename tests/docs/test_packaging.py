"""The installed distribution: one version, the typing marker, the pytest plugin, the license.

``nox -s wheel`` runs these against the built wheel installed into a fresh environment, with
``BACKENDAI_AIO_INSTALLED=1``: there the package must come from site-packages, not from a
source tree.
"""

from __future__ import annotations

import json
import os
import re
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import backendai_aio
from backendai_aio import __version__

DISTRIBUTION = "backendai-aio"
PACKAGE = Path(backendai_aio.__file__).resolve().parent
ROOT = Path(__file__).resolve().parent.parent.parent


def _editable_source(distribution: metadata.Distribution) -> Path | None:
    """The source folder of an editable install, None for a regular one."""
    direct = json.loads(distribution.read_text("direct_url.json") or "{}")
    if not direct.get("dir_info", {}).get("editable", False):
        return None
    return Path(unquote(urlparse(direct["url"]).path)).resolve()


@pytest.fixture(scope="module")
def distribution() -> metadata.Distribution:
    """The installed distribution that the imported package belongs to."""
    try:
        found = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{DISTRIBUTION} is not installed (the package is imported from a path)")
    source = _editable_source(found)
    # Imported from a source tree on PYTHONPATH while another copy is installed, the installed
    # metadata describes that other copy.
    ours = source == PACKAGE.parent if source is not None else PACKAGE.parent != ROOT
    if not ours:
        pytest.skip(f"the installed {DISTRIBUTION} is not the imported package ({PACKAGE})")
    return found


def test_the_metadata_version_is_the_package_version(distribution: metadata.Distribution) -> None:
    assert distribution.version == __version__


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", __version__), __version__


def test_the_package_is_marked_typed() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_the_pytest_plugin_is_registered(distribution: metadata.Distribution) -> None:
    plugins = {ep.name: ep.value for ep in distribution.entry_points if ep.group == "pytest11"}
    assert plugins == {"backendai_aio": "backendai_aio.emulator.pytest_plugin"}


def test_the_pytest_plugin_is_loaded(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("backendai_aio")


def test_the_license_is_declared_and_shipped(distribution: metadata.Distribution) -> None:
    fields = distribution.metadata
    declared = fields.get_all("License-Expression") or fields.get_all("License")
    assert declared == ["MIT"]
    files = [Path(str(name)).name for name in distribution.files or ()]
    assert "LICENSE" in files


def test_the_changelog_names_the_version() -> None:
    changelog = ROOT / "CHANGELOG.md"
    if not changelog.is_file():
        pytest.skip("no CHANGELOG.md beside the tests")
    headings = re.findall(r"^## (\S+)", changelog.read_text(encoding="utf-8"), re.MULTILINE)
    assert __version__ in headings, headings


@pytest.mark.skipif(
    os.environ.get("BACKENDAI_AIO_INSTALLED") != "1", reason="only against an installed wheel"
)
def test_the_package_comes_from_the_installed_wheel(distribution: metadata.Distribution) -> None:
    # An editable install or a source tree on sys.path would hide what the wheel lacks.
    assert _editable_source(distribution) is None
    assert not (PACKAGE.parent / "pyproject.toml").exists(), PACKAGE
    shipped = {Path(str(name)).as_posix() for name in distribution.files or ()}
    assert "backendai_aio/py.typed" in shipped
