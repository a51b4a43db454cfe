"""Safe tar extraction: the rules for names, kinds and what already lies in the destination."""

from __future__ import annotations

import errno
import glob
import io
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

from backendai_aio._transfer.tarsafe import UnsafeArchiveError, extract_safely


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for info, data in members:
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.mark.parametrize(
    ("members", "why"),
    [
        # PAX records carry a NUL that a plain header would cut off.
        ([(_member("a\x00" + "b" * 120), b"x")], "has a NUL character in its name"),
        ([(_member("dev", tarfile.CHRTYPE), None)], "is a device, pipe or other special file"),
        ([(_member("fifo", tarfile.FIFOTYPE), None)], "is a device, pipe or other special file"),
        ([(_member("f"), b"x"), (_member("f/x"), b"y")], "lies under 'f', not a directory"),
        ([(_member("empty", tarfile.SYMTYPE, ""), None)], "is a link without a usable target"),
        (
            [(_member("nul", tarfile.SYMTYPE, "a\x00" + "b" * 120), None)],
            "is a link without a usable target",
        ),
        (
            [(_member("h", tarfile.LNKTYPE, "missing"), None)],
            "is a hard link to something other than a file before it",
        ),
        (
            [(_member("d", tarfile.DIRTYPE), None), (_member("h", tarfile.LNKTYPE, "d"), None)],
            "is a hard link to something other than a file before it",
        ),
        ([(_member("x" * 300), b"x")], "would replace a unusable entry (File name too long)"),
    ],
)
def test_refused_members_leave_the_destination_empty(
    tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], why: str
) -> None:
    archive = _tar(tmp_path / "evil.tar", members)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match="refused the archive") as caught:
        extract_safely(archive, dest)
    assert why in str(caught.value)
    assert _tree(dest) == []


def test_an_existing_file_in_the_destination_is_no_folder(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "f").write_bytes(b"mine")
    under = _tar(tmp_path / "under.tar", [(_member("f/x"), b"x")])
    with pytest.raises(UnsafeArchiveError, match="lies under 'f', not a directory"):
        extract_safely(under, dest)
    replace = _tar(tmp_path / "replace.tar", [(_member("f", tarfile.DIRTYPE), None)])
    with pytest.raises(UnsafeArchiveError, match="would replace a file with a directory"):
        extract_safely(replace, dest)
    assert (dest / "f").read_bytes() == b"mine"
    assert _tree(dest) == ["f"]


def test_existing_folders_are_walked_into_and_kept(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "a" / "b").mkdir(parents=True)
    (dest / "a" / "keep.txt").write_bytes(b"kept")
    archive = _tar(
        tmp_path / "ok.tar",
        [(_member("a/b", tarfile.DIRTYPE), None), (_member("a/b/c.txt"), b"C")],
    )
    assert extract_safely(archive, dest) == ["a/b", "a/b/c.txt"]
    assert (dest / "a" / "b" / "c.txt").read_bytes() == b"C"
    assert (dest / "a" / "keep.txt").read_bytes() == b"kept"


@pytest.mark.parametrize("linkname", ["a\\b", "./a//b", "a/./b/"])
def test_a_hard_link_is_found_by_the_same_rules_as_member_names(
    tmp_path: Path, linkname: str
) -> None:
    archive = _tar(
        tmp_path / "links.tar",
        [(_member("a/b"), b"bytes of b"), (_member("h", tarfile.LNKTYPE, linkname), None)],
    )
    dest = tmp_path / "dest"
    assert extract_safely(archive, dest) == ["a/b", "h"]
    assert (dest / "h").read_bytes() == b"bytes of b"
    assert not (dest / "h").samefile(dest / "a" / "b")  # a copy, not a link


def test_a_hard_link_copies_the_latest_file_of_that_name(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "twice.tar",
        [
            (_member("f"), b"first"),
            (_member("h1", tarfile.LNKTYPE, "f"), None),
            (_member("f"), b"second"),
            (_member("h2", tarfile.LNKTYPE, "f"), None),
        ],
    )
    dest = tmp_path / "dest"
    extract_safely(archive, dest)
    assert (dest / "h1").read_bytes() == b"first"
    assert (dest / "h2").read_bytes() == b"second"
    assert (dest / "f").read_bytes() == b"second"


def test_a_folder_swapped_for_a_link_during_extraction_is_not_written_through(
    tmp_path: Path,
) -> None:
    # A large member gives the time to replace a folder the archive made by a link.
    big = b"\x00" * (32 * 1024 * 1024)
    archive = _tar(
        tmp_path / "race.tar.gz",
        [
            (_member("a/b", tarfile.DIRTYPE), None),
            (_member("a/big"), big),
            (_member("a/b/c.txt"), b"C"),
        ],
        mode="w:gz",
    )
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    swapped = threading.Event()

    def swap() -> None:
        deadline = time.monotonic() + 20
        # The big member is being written (under its temporary name) once this exists.
        while not glob.glob(str(dest / "a" / ".big.*.part")) and time.monotonic() < deadline:
            time.sleep(0.0002)
        os.rename(dest / "a" / "b", dest / "a" / "b-moved")
        os.symlink(outside, dest / "a" / "b")
        swapped.set()

    thread = threading.Thread(target=swap)
    thread.start()
    try:
        with pytest.raises(UnsafeArchiveError, match="'b' is not a plain folder"):
            extract_safely(archive, dest)
    finally:
        thread.join(30)
    assert swapped.is_set()
    assert list(outside.iterdir()) == []
    assert list((dest / "a" / "b-moved").iterdir()) == []


def test_a_platform_without_folder_relative_calls_is_an_os_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _tar(tmp_path / "ok.tar", [(_member("a.txt"), b"A")])
    monkeypatch.setattr(os, "supports_dir_fd", set())
    with pytest.raises(OSError, match="folder-relative file calls") as caught:
        extract_safely(archive, tmp_path / "dest")
    assert caught.value.errno == errno.ENOSYS
    assert not (tmp_path / "dest").exists()
