"""The emulated storage proxy: tus uploads and ranged downloads, authorised by their token.

Served by the emulator's own application under `UPLOAD_PATH` and
`DOWNLOAD_PATH`: unsigned, like the real proxy's, and authorised by the
``token`` query parameter that ``request-upload`` and ``request-download`` hand out (an
opaque random string here, a JWT on the real proxy).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
import urllib.parse
from collections.abc import AsyncIterable
from typing import IO, Final

from aiohttp import web

from ._auth import public
from ._problems import (
    NoSuchUploadSession,
    StorageFileNotFound,
    StorageInvalidParameters,
    UploadOffsetMismatch,
    VFolderOperationFailed,
)
from ._vfolders import (
    DOWNLOAD_PATH,
    UPLOAD_PATH,
    VFOLDER_STORE_KEY,
    VFolderStore,
    _discard,
    _finish_upload,
    _fs,
    _locate,
    _UploadSession,
)

__all__ = ["TRANSFER_BLOCK", "append_upload", "routes"]

#: The storage proxy's client-facing routes.
routes = web.RouteTableDef()


#: How much of a transfer is read or written at a time.
TRANSFER_BLOCK: Final = 256 * 1024
_MAX_UPLOAD_SIZE: Final = 100 * 1024**3
_UPLOAD_OFFSET = re.compile(r"[0-9]{1,18}")
_TUS_CORS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": (
        "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Content-Type"
    ),
    "Access-Control-Expose-Headers": (
        "Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Content-Type"
    ),
    "Access-Control-Allow-Methods": "*",
}


# -- the emulated storage proxy ------------------------------------------------------------


def _token(request: web.Request) -> str:
    token = request.query.get("token")
    if not token:
        raise StorageInvalidParameters(data={"token": "is required"})
    return token


def _upload_session(request: web.Request) -> tuple[VFolderStore, str, _UploadSession]:
    store = request.app[VFOLDER_STORE_KEY]
    token = _token(request)
    session = store.uploads.get(token)
    if session is None:
        if token in store.finished:
            raise NoSuchUploadSession()
        raise StorageInvalidParameters(data={"token": "cannot decode the given value"})
    return store, token, session


def _tus_headers(session: _UploadSession, offset: int) -> dict[str, str]:
    return {
        **_TUS_CORS,
        "Cache-Control": "no-store",
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Upload-Length": str(session.size),
    }


@routes.route("OPTIONS", UPLOAD_PATH)
@public
async def _tus_options(request: web.Request) -> web.Response:
    return web.Response(
        headers={
            **_TUS_CORS,
            "Tus-Resumable": "1.0.0",
            "Tus-Version": "1.0.0",
            "Tus-Max-Size": str(_MAX_UPLOAD_SIZE),
            "X-Content-Type-Options": "nosniff",
        }
    )


@routes.route("HEAD", UPLOAD_PATH)
@public
async def _tus_head(request: web.Request) -> web.Response:
    _, _, session = _upload_session(request)
    offset = (await asyncio.to_thread(session.staging.stat)).st_size
    return web.Response(headers=_tus_headers(session, offset))


@routes.route("PATCH", UPLOAD_PATH)
@public
async def _tus_patch(request: web.Request) -> web.Response:
    return await append_upload(request, request.content.iter_chunked(TRANSFER_BLOCK))


def _open_staging(session: _UploadSession) -> tuple[IO[bytes], int]:
    """Open the upload's staging file for appending, and its size (blocking)."""
    file = session.staging.open("ab")
    return file, file.tell()  # append mode starts at the end


def _write(file: IO[bytes], blocks: list[bytes], *, close: bool = False) -> None:
    """Write *blocks* to *file*, then close it if *close* (blocking)."""
    try:
        file.writelines(blocks)
    finally:
        if close:
            file.close()


async def append_upload(request: web.Request, body: AsyncIterable[bytes]) -> web.Response:
    """Answer a tus ``PATCH``: append *body* (the request's, as it arrives) to its upload.

    The blocks are written a `TRANSFER_BLOCK` or more at a time, each write in a thread:
    a small file takes one thread hop to open and one to write and close (each hop costs
    more than the writing itself).
    """
    store, token, session = _upload_session(request)
    raw_offset = request.headers.get("Upload-Offset", "")
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    if _UPLOAD_OFFSET.fullmatch(raw_offset) is None:
        raise StorageInvalidParameters(f"Invalid Upload-Offset header value: {raw_offset[:40]!r}")
    client_offset = int(raw_offset)
    async with session.lock:
        file, offset = await asyncio.to_thread(_open_staging, session)
        pending: list[bytes] = []
        try:
            length = request.content_length
            if client_offset != offset:
                raise UploadOffsetMismatch(f"expected {offset}, got {client_offset}")
            if length is not None and offset + length > session.size:
                raise StorageInvalidParameters("The upload exceeds its declared Upload-Length.")
            received = buffered = 0
            try:
                async for chunk in body:
                    if offset + received + buffered + len(chunk) > session.size:
                        # A chunked body declares no length: it is only known as it arrives.
                        # What this PATCH wrote goes again, so the upload can still be made.
                        pending.clear()
                        await asyncio.to_thread(file.truncate, offset)
                        raise StorageInvalidParameters(
                            "The upload exceeds its declared Upload-Length."
                        )
                    pending.append(chunk)
                    buffered += len(chunk)
                    if buffered >= TRANSFER_BLOCK:
                        blocks, pending = pending, []
                        await asyncio.to_thread(_write, file, blocks)
                        received, buffered = received + buffered, 0
            except (ConnectionError, asyncio.IncompleteReadError):
                # What arrived before the break stays, as on a real proxy.
                return web.Response(status=204)  # the client is gone; nobody reads this
            received += buffered
        finally:
            await asyncio.to_thread(_write, file, pending, close=True)
        new_offset = offset + received
        headers = _tus_headers(session, new_offset)
        if store.uploads.get(token) is not session:
            # The folder was deleted while the body arrived, and its staging file with it.
            await asyncio.to_thread(_discard, session.staging)
            raise NoSuchUploadSession()
        if new_offset >= session.size:
            folder = session.folder
            target = _locate(folder, session.relpath)
            await _fs(folder, _finish_upload, folder.root, session.staging, target)
            store.uploads.pop(token, None)
            store.finished.add(token)
            if store.folders.get(folder.id) is not folder:
                # Deleted while the file was moved into place: it goes with the folder.
                await asyncio.to_thread(shutil.rmtree, folder.root, True)
                raise NoSuchUploadSession()
    return web.Response(status=204, headers=headers)


def _content_disposition(name: str) -> str:
    ascii_name = name.encode("ascii", errors="ignore").decode("ascii").replace('"', r"\"")
    quoted = urllib.parse.quote(name, encoding="utf-8")
    return f"attachment;filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


@routes.route("GET", DOWNLOAD_PATH)
@public
async def _download(request: web.Request) -> web.StreamResponse:
    store = request.app[VFOLDER_STORE_KEY]
    session = store.downloads.get(_token(request))
    if session is None:
        raise StorageInvalidParameters(data={"token": "cannot decode the given value"})
    try:
        path = _locate(session.folder, session.relpath)
        info = await asyncio.to_thread(path.stat)
    except (VFolderOperationFailed, OSError):
        raise StorageFileNotFound() from None
    if not stat.S_ISREG(info.st_mode):
        raise StorageInvalidParameters("The file is not a regular file.")
    # aiohttp's file response, as the real proxy's: Range (206, or 416 past the end), If-Range
    # (a date older than the file gives it whole), ETag, Last-Modified and the validators.
    response = web.FileResponse(
        path,
        chunk_size=TRANSFER_BLOCK,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": _content_disposition(path.name),
        },
    )
    if _validator_fails(request, info):
        # Served whole, as RFC 9110 says; aiohttp would read an ETag or a date it cannot
        # parse as no If-Range at all (and fail on a date past what datetime holds).
        whole = request.clone(
            headers={k: v for k, v in request.headers.items() if k not in ("Range", "If-Range")}
        )
        await response.prepare(whole)
    return response


def _validator_fails(request: web.Request, info: os.stat_result) -> bool:
    """Whether the request's ``If-Range`` is there and cannot match the file.

    An ETag matches only the file's own; a date is left to aiohttp, which compares it with
    the file's time, unless aiohttp cannot read it.
    """
    value = request.headers.get("If-Range")
    if value is None:
        return False
    if value.startswith(('"', "W/")):
        return value != f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    try:
        return request.if_range is None
    except (OverflowError, ValueError):
        return True
