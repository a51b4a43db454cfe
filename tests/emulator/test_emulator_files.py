"""File transfer with a session's work folder, and renaming sessions, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import tarfile
import tempfile
import tracemalloc
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import Emulator
from backendai_aio.emulator._sessions import REGISTRY_KEY, EmulatedSession

from .wire import PROBS, Wire


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The 26.9 profile (the default).
    return {"flush_window": 0.2}


def form(*files: tuple[str, Any], quote: bool = False) -> aiohttp.MultipartWriter:
    """A multipart body with one ``src`` part per (filename, content) pair.

    Filenames go unquoted unless *quote*: aiohttp would percent-encode the slashes otherwise.
    """
    writer = aiohttp.MultipartWriter("form-data")
    for filename, content in files:
        part = writer.append(content)
        part.set_content_disposition("form-data", quote_fields=quote, name="src", filename=filename)
    return writer


async def upload(wire: Wire, name: str, *files: tuple[str, Any]) -> tuple[int, Any]:
    return await wire.call(
        "POST", f"/session/{name}/upload", data=form(*files), content_type="multipart/form-data"
    )


def listing(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert body["files"].endswith("\n")
    return {entry["filename"]: entry for entry in json.loads(body["files"])}


async def test_upload_several_files_into_the_work_folder(admin_wire: Wire) -> None:
    await admin_wire.create_session("files-up")
    status, body = await upload(
        admin_wire,
        "files-up",
        ("a.txt", b"alpha\n"),
        ("sub/b.txt", b"beta\n"),
        ("sub/deeper/c.bin", bytes(range(256))),
    )
    assert (status, body) == (204, None)
    # The kernel works in the same folder: the code sees the files at relative paths.
    out = await admin_wire.run(
        "files-up",
        "print(open('a.txt').read() + open('sub/b.txt').read() + "
        "str(len(open('sub/deeper/c.bin', 'rb').read())))",
    )
    assert out == "alpha\nbeta\n256\n"
    # Uploading again replaces the file, which gets the mode of any file the session creates.
    assert (await upload(admin_wire, "files-up", ("a.txt", b"again")))[0] == 204
    await admin_wire.run("files-up", "open('made-here.txt', 'w').close()")
    status, body = await admin_wire.call("GET", "/session/files-up/files", body={"path": "."})
    assert status == 200
    entries = listing(body)
    assert entries["a.txt"]["size"] == 5
    assert entries["a.txt"]["mode"] == entries["made-here.txt"]["mode"]
    # No temporary file is left behind.
    assert sorted(entries) == ["a.txt", "made-here.txt", "sub"]


async def test_upload_quoted_filenames_are_taken_literally(admin_wire: Wire) -> None:
    # aiohttp's default quoting turns "/" into "%2F", which the manager does not decode.
    await admin_wire.create_session("files-quoted")
    status, _ = await admin_wire.call(
        "POST",
        "/session/files-quoted/upload",
        data=form(("sub/q.txt", b"q"), quote=True),
        content_type="multipart/form-data",
    )
    assert status == 204
    _, body = await admin_wire.call("GET", "/session/files-quoted/files", body={"path": "."})
    assert set(listing(body)) == {"sub%2Fq.txt"}


async def test_list_files_shape(admin_wire: Wire) -> None:
    await admin_wire.create_session("files-list")
    await upload(admin_wire, "files-list", ("top.txt", b"1234"), ("dir/inner.txt", b"x"))
    status, body = await admin_wire.call("GET", "/session/files-list/files", body={"path": "."})
    assert status == 200
    assert set(body) == {"files", "errors", "abspath"}
    assert (body["errors"], body["abspath"]) == ("", ".")
    assert isinstance(body["files"], str)
    entries = listing(body)
    assert set(entries) == {"top.txt", "dir"}
    for entry in entries.values():
        assert set(entry) == {"mode", "size", "ctime", "mtime", "atime", "filename"}
        assert all(isinstance(entry[key], float) for key in ("ctime", "mtime", "atime"))
    assert entries["top.txt"]["size"] == 4
    assert entries["dir"]["mode"].startswith("d")
    # The path as given comes back as abspath; a query works as well as the body.
    status, body = await admin_wire.call("GET", "/session/files-list/files?path=dir")
    assert status == 200 and body["abspath"] == "dir"
    assert set(listing(body)) == {"inner.txt"}
    status, body = await admin_wire.call(
        "GET", "/session/files-list/files", body={"path": "/home/work/dir"}
    )
    assert set(listing(body)) == {"inner.txt"}
    # A listing that fails reports the error in "errors", as the agent's script does.
    status, body = await admin_wire.call("GET", "/session/files-list/files", body={"path": "nope"})
    assert status == 200
    assert body["files"] == "" and body["abspath"] == "nope"
    assert body["errors"].startswith("FileNotFoundError")


async def test_download_several_files_as_tar_parts(admin_wire: Wire) -> None:
    await admin_wire.create_session("files-down")
    blob = os.urandom(300_000)
    await upload(
        admin_wire,
        "files-down",
        ("one.txt", b"first file\n"),
        ("data/blob.bin", blob),
        ("data/nested/two.txt", b"second\n"),
    )
    async with admin_wire.request(
        "POST", "/session/files-down/download", body={"files": ["one.txt", "data"]}
    ) as response:
        assert response.status == 200
        assert response.content_type == "multipart/mixed"
        total = int(response.headers["Content-Length"])
        reader = aiohttp.MultipartReader.from_response(response)
        raw_parts: list[bytes] = []
        received = 0
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            assert part.headers["Content-Type"] == "application/octet-stream"
            assert part.headers["Content-Encoding"] == "identity"
            raw = await part.read()
            assert int(part.headers["Content-Length"]) == len(raw)
            received += len(raw)
            raw_parts.append(raw)
        assert 0 < received < total
    assert len(raw_parts) == 2
    with (
        tarfile.open(fileobj=io.BytesIO(raw_parts[0])) as first,
        tarfile.open(fileobj=io.BytesIO(raw_parts[1])) as second,
    ):
        check_archives(first, second, blob)


def check_archives(first: tarfile.TarFile, second: tarfile.TarFile, blob: bytes) -> None:
    assert first.getnames() == ["one.txt"]
    member = first.extractfile("one.txt")
    assert member is not None and member.read() == b"first file\n"
    assert set(second.getnames()) == {
        "data",
        "data/blob.bin",
        "data/nested",
        "data/nested/two.txt",
    }
    member = second.extractfile("data/blob.bin")
    assert member is not None and member.read() == blob
    member = second.extractfile("data/nested/two.txt")
    assert member is not None and member.read() == b"second\n"


async def test_download_reads_files_from_the_query_too(admin_wire: Wire) -> None:
    await admin_wire.create_session("files-query")
    await upload(admin_wire, "files-query", ("x.txt", b"x"), ("y.txt", b"y"))
    async with admin_wire.request(
        "POST", "/session/files-query/download?files=x.txt&files=%2Fhome%2Fwork%2Fy.txt"
    ) as response:
        assert response.status == 200
        reader = aiohttp.MultipartReader.from_response(response)
        names = []
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            with tarfile.open(fileobj=io.BytesIO(await part.read())) as archive:
                names += archive.getnames()
    assert names == ["x.txt", "y.txt"]
    # 26.9 (the default profile) routes downloads as POST only; 23.09's GET is covered in
    # test_emulator_releases.
    async with admin_wire.request(
        "GET", "/session/files-query/download_single", body={"file": "y.txt"}
    ) as response:
        assert response.status == 405


async def test_download_single_large_file_streams(admin_wire: Wire, tmp_path: Path) -> None:
    await admin_wire.create_session("files-big")
    source = tmp_path / "big.bin"
    expected = hashlib.sha256()
    with source.open("wb") as sink:
        for _ in range(64):
            chunk = os.urandom(1 << 20)
            expected.update(chunk)
            sink.write(chunk)
    with source.open("rb") as stream:
        status, _ = await upload(admin_wire, "files-big", ("big.bin", stream))
    assert status == 204
    received = hashlib.sha256()
    size = 0
    tracemalloc.start()
    try:
        async with admin_wire.request(
            "POST", "/session/files-big/download_single", body={"file": "big.bin"}
        ) as response:
            assert response.status == 200
            assert response.content_type == "application/octet-stream"
            assert int(response.headers["Content-Length"]) == 64 << 20
            async for chunk in response.content.iter_chunked(1 << 18):
                received.update(chunk)
                size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size == 64 << 20
    assert received.hexdigest() == expected.hexdigest()
    # Neither side held the file in memory.
    assert peak < 16 << 20


@pytest.mark.slow
async def test_upload_of_256_mib_is_streamed_to_disk(admin_wire: Wire, tmp_path: Path) -> None:
    await admin_wire.create_session("files-huge")
    source = tmp_path / "huge.bin"
    expected = hashlib.sha256()
    block = os.urandom(1 << 20)
    with source.open("wb") as sink:
        for index in range(256):
            chunk = block[index:] + block[:index]
            expected.update(chunk)
            sink.write(chunk)
    tracemalloc.start()
    try:
        with source.open("rb") as stream:
            status, _ = await upload(admin_wire, "files-huge", ("huge.bin", stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 204
    assert peak < 32 << 20
    out = await admin_wire.run(
        "files-huge",
        "import hashlib\n"
        "h = hashlib.sha256()\n"
        "with open('huge.bin', 'rb') as f:\n"
        "    for chunk in iter(lambda: f.read(1 << 20), b''):\n"
        "        h.update(chunk)\n"
        "print(h.hexdigest())",
    )
    assert out.strip() == expected.hexdigest()


@pytest.mark.parametrize(
    ("filename", "star"),
    [
        ("../escape.txt", False),
        ("sub/../../escape.txt", False),
        ("/etc/escape.txt", True),
        ("/home/work/../escape.txt", True),
        ("..", False),
    ],
)
async def test_upload_path_traversal_is_refused(
    admin_wire: Wire, filename: str, star: bool
) -> None:
    await admin_wire.create_session("files-trav")
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append(b"evil")
    if star:
        # RFC 5987 form: aiohttp's server does not strip a leading "/" from it.
        quoted = filename.replace("/", "%2F")
        part.headers["Content-Disposition"] = f"form-data; name=\"src\"; filename*=UTF-8''{quoted}"
    else:
        part.set_content_disposition("form-data", quote_fields=False, name="src", filename=filename)
    status, body = await admin_wire.call(
        "POST", "/session/files-trav/upload", data=writer, content_type="multipart/form-data"
    )
    assert (status, body["type"], body["msg"]) == (
        400,
        PROBS + "invalid-api-params",
        "malformed upload filename and path.",
    )
    assert not escaped()


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


async def _racing_upload(
    emulator: Emulator, wire: Wire, name: str
) -> tuple[EmulatedSession, asyncio.Event, asyncio.Task[tuple[int, Any]]]:
    """Start uploading ``sub/deep/f.bin`` into *name*; its rest waits for the event."""
    await wire.create_session(name)
    session = emulator._app[REGISTRY_KEY].get(wire.access_key, name)
    proceed = asyncio.Event()

    async def content() -> AsyncIterator[bytes]:
        yield b"first part "
        await proceed.wait()
        yield b"second part"

    uploading = asyncio.create_task(upload(wire, name, ("sub/deep/f.bin", content())))
    await _until(
        lambda: any((session.workdir / "sub" / "deep").glob(".f.bin.upload-*")),
        "the upload started",
    )
    return session, proceed, uploading


async def test_an_upload_racing_a_destroy_is_refused(emulator: Emulator, admin_wire: Wire) -> None:
    session, proceed, uploading = await _racing_upload(emulator, admin_wire, "files-race")
    destroying = asyncio.create_task(admin_wire.call("DELETE", "/session/files-race"))
    await _until(lambda: session.status != "RUNNING", "the destroy started")
    proceed.set()
    status, body = await uploading
    assert (status, body["type"]) == (400, PROBS + "generic-bad-request")
    assert (await destroying)[0] == 200
    assert session.status == "TERMINATED"
    assert not session.workdir.exists()


async def test_a_stalled_upload_does_not_hold_a_destroy(
    emulator: Emulator, admin_wire: Wire
) -> None:
    session, proceed, uploading = await _racing_upload(emulator, admin_wire, "files-stall")
    status, _ = await asyncio.wait_for(admin_wire.call("DELETE", "/session/files-stall"), 10)
    assert status == 200
    assert not session.workdir.exists()
    # The stalled request was cut off; going on recreates nothing.
    proceed.set()
    with contextlib.suppress(aiohttp.ClientError):
        await asyncio.wait_for(uploading, 10)
    assert not session.workdir.exists()
    await emulator.stop()
    assert not session.workdir.exists()


def escaped() -> bool:
    # Session folders live in the system's temporary folder: nothing may land next to them.
    return (Path(tempfile.gettempdir()) / "escape.txt").exists() or Path("/etc/escape.txt").exists()


async def test_reading_outside_the_work_folder_is_refused(admin_wire: Wire) -> None:
    await admin_wire.create_session("files-out")
    # A symbolic link leading out of the folder does not open a way out either.
    await admin_wire.run("files-out", "import os; os.symlink('/etc', 'etc-link')")
    for path in ("../../etc/hostname", "/etc/hostname", "etc-link/hostname"):
        status, body = await admin_wire.call(
            "POST", "/session/files-out/download_single", body={"file": path}
        )
        assert (status, body["msg"]) == (400, "You cannot download files outside /home/work")
        status, body = await admin_wire.call(
            "POST", "/session/files-out/download", body={"files": [path]}
        )
        assert (status, body["msg"]) == (400, "You cannot download files outside /home/work")
    for path in ("..", "/etc", "etc-link"):
        status, body = await admin_wire.call("GET", "/session/files-out/files", body={"path": path})
        assert (status, body["type"], body["msg"]) == (
            400,
            PROBS + "invalid-api-params",
            "You cannot list files outside /home/work",
        )


async def test_file_call_errors(admin_wire: Wire) -> None:
    for method, path, body in [
        ("POST", "/session/ghost-files/download_single", {"file": "a"}),
        ("POST", "/session/ghost-files/download", {"files": ["a"]}),
        ("GET", "/session/ghost-files/files", {"path": "."}),
        ("POST", "/session/ghost-files/rename", {"name": "other-name"}),
    ]:
        status, problem = await admin_wire.call(method, path, body=body)
        assert (status, problem["title"], problem["msg"]) == (
            404,
            "Entity not found.",  # 26.9's words
            "No SessionRow matches the given key",
        )
    status, problem = await upload(admin_wire, "ghost-files", ("a.txt", b"a"))
    assert (status, problem["type"]) == (404, PROBS + "entity-not-found")

    await admin_wire.create_session("files-err")
    status, problem = await admin_wire.call(
        "POST", "/session/files-err/download_single", body={"file": "missing.txt"}
    )
    assert (status, problem["msg"]) == (400, "The file is not found.")
    status, problem = await admin_wire.call(
        "POST", "/session/files-err/download_single", body={"file": "."}
    )
    assert (status, problem["msg"]) == (400, "The file is not found.")
    status, problem = await admin_wire.call(
        "POST", "/session/files-err/download", body={"files": ["missing.txt"]}
    )
    assert (status, problem["msg"]) == (400, "The file is not found.")
    status, problem = await admin_wire.call(
        "POST", "/session/files-err/download", body={"files": list("abcdef")}
    )
    assert (status, problem["type"], problem["msg"]) == (
        400,
        PROBS + "vfolder-operation-failed",
        "Too many files (maximum 5 files allowed)",
    )
    invalid: list[tuple[str, str, Any]] = [
        ("POST", "/session/files-err/download_single", {}),
        ("POST", "/session/files-err/download_single", {"file": 3}),
        ("POST", "/session/files-err/download", {}),
        ("POST", "/session/files-err/download", {"files": {"a": 1}}),
        ("POST", "/session/files-err/download", {"files": []}),
        ("GET", "/session/files-err/files", {"path": ["a"]}),
    ]
    for method, path, body in invalid:
        status, problem = await admin_wire.call(method, path, body=body)
        assert (status, problem["type"], problem["msg"]) == (
            400,
            PROBS + "invalid-api-params",
            "Input validation error",
        )
    status, problem = await admin_wire.call(
        "GET", "/session/files-err/files", body=["not", "a", "dict"]
    )
    assert (status, problem["msg"]) == (400, "Malformed body")
    status, problem = await upload(
        admin_wire, "files-err", *[(f"f{index}.txt", b"x") for index in range(21)]
    )
    assert (status, problem["msg"]) == (400, "Too many files")
    status, problem = await admin_wire.call(
        "POST", "/session/files-err/upload", body={"not": "multipart"}
    )
    assert (status, problem["msg"]) == (400, "Malformed body")


async def test_rename_then_info_by_the_new_name(admin_wire: Wire) -> None:
    created = await admin_wire.create_session("rename-old")
    assert (
        await admin_wire.call("POST", "/session/rename-old/rename", body={"name": "rename-new"})
    ) == (
        204,
        None,
    )
    status, info = await admin_wire.call("GET", "/session/rename-new")
    assert status == 200 and info["status"] == "RUNNING"
    status, problem = await admin_wire.call("GET", "/session/rename-old")
    assert (status, problem["title"]) == (404, "Entity not found.")
    # The session, its id and its kernel are the same.
    assert await admin_wire.run("rename-new", "print(6 * 7)") == "42\n"
    status, _ = await admin_wire.call("GET", f"/session/{created['sessionId']}")
    assert status == 200
    # The name may also come in the query string (or under its older keys).
    status, _ = await admin_wire.call("POST", "/session/rename-new/rename?name=rename-third")
    assert status == 204
    status, _ = await admin_wire.call(
        "POST", "/session/rename-third/rename", body={"clientSessionToken": "rename-new"}
    )
    assert status == 204


@pytest.mark.corrected_by_real_manager
async def test_rename_errors(admin_wire: Wire) -> None:
    await admin_wire.create_session("rename-a")
    await admin_wire.create_session("rename-b")
    status, problem = await admin_wire.call(
        "POST", "/session/rename-a/rename", body={"name": "rename-b"}
    )
    assert (status, problem["type"], problem["msg"]) == (
        400,
        PROBS + "session-already-exists",
        "Session with name 'rename-b' already exists",
    )
    for new_name in ("ab", "-bad-start", "x" * 65):
        status, problem = await admin_wire.call(
            "POST", "/session/rename-a/rename", body={"name": new_name}
        )
        assert (status, problem["msg"]) == (400, "Input validation error")
    status, problem = await admin_wire.call("POST", "/session/rename-a/rename", body={})
    # The real manager names a missing new name by its target key, session_name.
    assert (status, problem["data"]) == (400, {"session_name": "is required"})
    # It refuses unknown keys too: {"x": "x is not allowed key"}.
    status, problem = await admin_wire.call(
        "POST", "/session/rename-a/rename", body={"name": "rename-c", "x": 1}
    )
    assert (status, problem["data"]) == (400, {"x": "x is not allowed key"})
