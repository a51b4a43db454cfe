"""Names and paths of virtual-folder transfers, and the temporary file of a download."""

from __future__ import annotations

import uuid
from pathlib import Path, PurePosixPath

import pytest

from backendai_aio._errors import InvalidArgumentError
from backendai_aio._transfer.destination import AtomicFile
from backendai_aio._transfer.protocol import file_name, folder_name, folder_path


def test_a_folder_id_is_its_name() -> None:
    folder = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert folder_name(folder) == "12345678-1234-5678-1234-567812345678"


@pytest.mark.parametrize(("path", "expected"), [(PurePosixPath("a/./b"), "a/b"), ("a//b/", "a/b")])
def test_folder_paths_are_normalised(path: object, expected: str) -> None:
    assert folder_path(path) == expected


@pytest.mark.parametrize("path", [None, 42, b"a/b"])
def test_a_folder_path_is_text(path: object) -> None:
    with pytest.raises(InvalidArgumentError, match="the target is a string"):
        folder_path(path, what="target")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "the new name is a non-empty string"),
        (None, "the new name is a non-empty string"),
        ("a/b", "must be a plain file name"),
        ("..", "must be a plain file name"),
        ("a\x00", "must be a plain file name"),
    ],
)
def test_file_names_are_plain(name: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        file_name(name, what="new name")


def test_file_name_accepts_a_plain_name() -> None:
    assert file_name("b.txt") == "b.txt"


def test_the_temporary_file_repr_names_the_target(tmp_path: Path) -> None:
    sink = AtomicFile(tmp_path / "x.bin")
    try:
        assert repr(sink) == f"<AtomicFile target={str(tmp_path / 'x.bin')!r}>"
    finally:
        sink.abort()
    assert list(tmp_path.iterdir()) == []
