"""Local file problems of session transfers are LocalIOErrors (OSErrors too), never bare ones."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import pytest

from backendai_aio import BackendError, Client, LocalIOError, RequestError

SIZE = 3 * 1024 * 1024


async def test_download_single_to_a_folder_removed_meanwhile_is_a_local_io_error(
    admin_client: Client, tmp_path: Path
) -> None:
    await admin_client.create_if_not_exists("python", "local-gone")
    await admin_client.sessions.upload("local-gone", {"big.bin": b"x" * SIZE})
    folder = tmp_path / "dest"
    folder.mkdir()

    def remove_the_folder(done: int, total: int | None) -> None:
        # The destination disappears while the bytes arrive: os.replace then finds no folder.
        shutil.rmtree(folder, ignore_errors=True)

    with pytest.raises(LocalIOError) as caught:
        await admin_client.sessions.download_single_to(
            "local-gone", "big.bin", folder / "big.bin", progress=remove_the_folder
        )
    error = caught.value
    assert isinstance(error, OSError) and isinstance(error, BackendError)
    assert not isinstance(error, FileNotFoundError)
    assert error.errno == errno.ENOENT
    assert isinstance(error.__cause__, FileNotFoundError)
    assert not folder.exists()


async def test_download_single_to_under_a_file_is_a_local_io_error(
    admin_client: Client, tmp_path: Path
) -> None:
    await admin_client.create_if_not_exists("python", "local-under-file")
    await admin_client.sessions.upload("local-under-file", {"a.txt": b"alpha"})
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(LocalIOError, match="does not exist") as caught:
        await admin_client.sessions.download_single_to(
            "local-under-file", "a.txt", blocker / "a.txt"
        )
    assert caught.value.errno == errno.ENOENT
    assert caught.value.filename == str(blocker)
    assert blocker.read_bytes() == b""


async def test_an_upload_source_removed_after_planning_is_a_local_io_error(
    admin_client: Client, tmp_path: Path
) -> None:
    await admin_client.create_if_not_exists("python", "local-upload")
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(b"1" * SIZE)
    second.write_bytes(b"2" * 10)

    def remove_the_second(done: int, total: int | None) -> None:
        second.unlink(missing_ok=True)

    with pytest.raises(LocalIOError, match="cannot read") as caught:
        await admin_client.sessions.upload(
            "local-upload", [first, second], basedir=tmp_path, progress=remove_the_second
        )
    # The disk's fault, not the network's: not a RequestError that invites a retry.
    assert not isinstance(caught.value, RequestError)
    assert caught.value.errno == errno.ENOENT
    assert caught.value.filename == str(second)
