"""Extracted files follow the destination contract: written beside their name, then moved."""

from __future__ import annotations

import io
import os
import resource
import signal
import tarfile
from pathlib import Path

import pytest

from backendai_aio._transfer.destination import temp_name
from backendai_aio._transfer.tarsafe import extract_safely


def _archive(path: Path, name: str, data: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.bin").write_bytes(b"old")
    archive = _archive(tmp_path / "a.tar", "a.bin", bytes(256 * 1024))
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
    try:
        with pytest.raises(OSError, match="File too large"):
            extract_safely(archive, dest)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert sorted(os.listdir(dest)) == ["a.bin"]
    assert (dest / "a.bin").read_bytes() == b"old"


def test_a_replaced_file_is_a_new_one(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a.txt").write_bytes(b"old")
    os.link(dest / "a.txt", tmp_path / "other-link")
    assert extract_safely(_archive(tmp_path / "a.tar", "a.txt", b"new"), dest) == ["a.txt"]
    assert (dest / "a.txt").read_bytes() == b"new"
    assert (tmp_path / "other-link").read_bytes() == b"old"  # not written through
    assert sorted(os.listdir(dest)) == ["a.txt"]


@pytest.mark.parametrize(
    ("name", "kept"), [("a.txt", True), ("x" * 201, False), ("é" * 101, False)]
)
def test_temporary_names_stay_short_and_hidden(name: str, kept: bool) -> None:
    temp = temp_name(name)
    assert temp.startswith(".") and temp.endswith(".part")
    assert (name in temp) is kept
    assert len(os.fsencode(temp)) <= 255
    assert temp != temp_name(name)
