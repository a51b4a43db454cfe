"""Which files of a tree download come in archives, and how an archive's files are written."""

from __future__ import annotations

import errno
import resource
import signal
import zipfile
from pathlib import Path

import pytest

from backendai_aio import LocalIOError
from backendai_aio._transfer.tree_archives import (
    ARCHIVE_MAX_FILE,
    FileJob,
    extract_listed,
    plan_archives,
)

MiB = 1 << 20


def _jobs(*sizes: int, name: str = "f") -> list[FileJob]:
    return [(f"{name}{index}", Path(f"/x/{name}{index}"), size) for index, size in enumerate(sizes)]


@pytest.mark.parametrize(
    ("sizes", "batches", "singles"),
    [
        ([], [], []),
        ([10] * 7, [], list(range(7))),  # too few for an archive
        ([10] * 8, [list(range(8))], []),
        ([10] * 8 + [ARCHIVE_MAX_FILE + 1], [list(range(8))], [8]),  # too large for one
        ([ARCHIVE_MAX_FILE] * 8, [list(range(8))], []),  # the limit itself is small enough
        ([MiB] * 20, [list(range(16)), list(range(16, 20))], list(range(16, 20))),
        ([MiB] * 24, [list(range(16)), list(range(16, 24))], []),  # 16 MiB an archive
    ],
)
def test_plan_by_size(sizes: list[int], batches: list[list[int]], singles: list[int]) -> None:
    jobs = _jobs(*sizes)
    planned, alone = plan_archives(jobs, [rel for rel, _, _ in jobs])
    assert planned == [batch for batch in batches if len(batch) >= 8]
    assert alone == singles


def test_plan_by_the_length_of_the_names() -> None:
    # The token carries the names in a URL: about 3,000 bytes of them an archive.
    jobs = _jobs(*[1] * 40)
    paths = ["d" * 97 + f"{index:03}" for index in range(40)]  # 100 bytes, 103 in JSON
    planned, alone = plan_archives(jobs, paths)
    assert [len(batch) for batch in planned] == [29, 11]
    assert alone == []
    assert [index for batch in planned for index in batch] == list(range(40))


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_extract_writes_the_listed_files_by_their_folder_paths(tmp_path: Path) -> None:
    archive = _archive(
        tmp_path / "a.zip",
        {"data/a.txt": b"alpha", "data/b.txt": b"beta", "data/c.txt": b"changed", "x": b"?"},
    )
    dest = tmp_path / "out"
    dest.mkdir()
    files: list[FileJob] = [
        ("a.txt", dest / "a.txt", 5),
        ("b.txt", dest / "b.txt", 4),
        ("c.txt", dest / "c.txt", 3),  # listed with another size: fetched again alone
        ("gone.txt", dest / "gone.txt", 1),  # not in the archive
    ]
    paths = [f"data/{rel}" for rel, _, _ in files]
    result = extract_listed(archive, files, paths, [0, 1, 2, 3])
    assert result.landed == ["a.txt", "b.txt"]
    assert result.leftover == [2, 3]
    assert result.failure is None
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "b.txt"]  # nor "x"
    assert (dest / "a.txt").read_bytes() == b"alpha"


def test_an_unreadable_archive_leaves_every_file_for_later(tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 not really")
    files = _jobs(1, 1)
    assert extract_listed(archive, files, ["f0", "f1"], [0, 1]).leftover == [0, 1]
    assert extract_listed(tmp_path / "missing.zip", files, ["f0", "f1"], [1]).leftover == [1]


def test_a_corrupt_member_leaves_it_and_the_rest_for_later(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.zip", {"a": b"A" * 1000, "b": b"B" * 1000, "c": b"C"})
    info = zipfile.ZipFile(archive).getinfo("b")
    raw = bytearray(archive.read_bytes())
    # The local header: 30 bytes, the name, no extra field; then b's deflated data.
    raw[info.header_offset + 30 + len("b") + 1] ^= 0xFF
    archive.write_bytes(bytes(raw))
    files: list[FileJob] = [(n, tmp_path / f"out-{n}", s) for n, s in (("a", 1000), ("b", 1000))]
    files.append(("c", tmp_path / "out-c", 1))
    result = extract_listed(archive, files, ["a", "b", "c"], [0, 1, 2])
    assert result.landed == ["a"]
    assert result.leftover == [1, 2]
    assert not (tmp_path / "out-b").exists()
    assert not list(tmp_path.glob("*.part"))


def test_a_local_failure_names_the_file_and_stops(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.zip", {"a": b"A", "b": b"B", "c": b"C"})
    files: list[FileJob] = [
        ("a", tmp_path / "a", 1),
        ("b", tmp_path / "no-such-dir" / "b", 1),
        ("c", tmp_path / "c", 1),
    ]
    result = extract_listed(archive, files, ["a", "b", "c"], [0, 1, 2])
    assert result.landed == ["a"]
    assert result.failure is not None
    rel, error = result.failure
    assert rel == "b" and isinstance(error, LocalIOError)
    assert not (tmp_path / "c").exists()  # nothing after the failure


def test_a_failing_write_is_a_local_error_naming_the_file(tmp_path: Path) -> None:
    data = bytes(3 << 20)
    archive = _archive(tmp_path / "a.zip", {"big": data})
    files: list[FileJob] = [("big", tmp_path / "big", len(data))]
    # Writes past 1 MiB fail as on a full disk (EFBIG instead of the signal).
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        result = extract_listed(archive, files, ["big"], [0])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert result.failure is not None
    rel, error = result.failure
    assert rel == "big" and error.errno == errno.EFBIG
    assert "cannot write" in str(error)
    assert not (tmp_path / "big").exists() and not list(tmp_path.glob("*.part"))
