"""The emulated storage proxy: tus uploads and ranged downloads, authorised by their token.

Served by the emulator's own application under :data:`~._vfolders.UPLOAD_PATH` and
:data:`~._vfolders.DOWNLOAD_PATH`: unsigned, like the real proxy's, and authorised by the
``token`` query parameter that ``request-upload`` and ``request-download`` hand out (an
opaque random string here, a JWT on the real proxy).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import stat
import urllib.parse
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
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

__all__ = ["routes"]

#: The storage proxy's client-facing routes.
routes = web.RouteTableDef()


_BLOCK: Final = 256 * 1024
_MAX_UPLOAD_SIZE: Final = 100 * 1024**3
# At most 18 digits a number: what a file offset can be, and int() of it stays cheap.
_RANGE = re.compile(r"bytes=([0-9]{0,18})-([0-9]{0,18})")
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
    store, _, session = _upload_session(request)
    store.hooks.log.append("HEAD")
    offset = (await asyncio.to_thread(session.staging.stat)).st_size
    return web.Response(headers=_tus_headers(session, offset))


@routes.route("PATCH", UPLOAD_PATH)
@public
async def _tus_patch(request: web.Request) -> web.Response:
    store, token, session = _upload_session(request)
    raw_offset = request.headers.get("Upload-Offset", "")
    # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
    if _UPLOAD_OFFSET.fullmatch(raw_offset) is None:
        raise StorageInvalidParameters(f"Invalid Upload-Offset header value: {raw_offset[:40]!r}")
    client_offset = int(raw_offset)
    async with session.lock:
        offset = (await asyncio.to_thread(session.staging.stat)).st_size
        length = request.content_length
        entry = f"PATCH {client_offset}+{length}"
        if client_offset != offset:
            store.hooks.log.append(entry + " refused")
            raise UploadOffsetMismatch(f"expected {offset}, got {client_offset}")
        if length is not None and offset + length > session.size:
            store.hooks.log.append(entry + " refused")
            raise StorageInvalidParameters("The upload exceeds its declared Upload-Length.")
        drop_after = store.hooks.drop_upload_after
        store.hooks.drop_upload_after = None
        received = 0
        file: IO[bytes] = await asyncio.to_thread(open, session.staging, "ab")
        try:
            async for chunk in request.content.iter_chunked(_BLOCK):
                if offset + received + len(chunk) > session.size:
                    # A chunked body declares no length: it is only known as it arrives.
                    # What this PATCH wrote goes again, so the upload can still be made.
                    await asyncio.to_thread(file.truncate, offset)
                    store.hooks.log.append(entry + " refused")
                    raise StorageInvalidParameters("The upload exceeds its declared Upload-Length.")
                if drop_after is not None and received + len(chunk) >= drop_after:
                    # What arrived before the break stays, as on a real proxy.
                    await asyncio.to_thread(file.write, chunk[: drop_after - received])
                    store.hooks.log.append(entry + " dropped")
                    if request.transport is not None:
                        request.transport.abort()
                    return web.Response(status=204)
                await asyncio.to_thread(file.write, chunk)
                received += len(chunk)
        except (ConnectionError, asyncio.IncompleteReadError):
            store.hooks.log.append(entry + " aborted")
            return web.Response(status=204)  # the client is gone; nobody reads this
        finally:
            await asyncio.to_thread(file.close)
        store.hooks.log.append(entry)
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


def _wanted_range(request: web.Request, size: int, etag: str, mtime: float) -> range | None:
    """The byte range a GET asks for and may have (``None``: the whole file).

    ``If-Range`` is honoured as aiohttp's file responses do: a date gives the range only if
    the file is no newer; an ETag (which aiohttp ignores) only if it is the file's.
    """
    raw = request.headers.get("Range")
    match = _RANGE.fullmatch(raw.strip()) if raw else None
    if match is None or (not match[1] and not match[2]):
        return None
    if_range = request.headers.get("If-Range")
    if if_range:
        if if_range.startswith(('"', "W/")):
            if if_range != etag:
                return None
        else:
            try:
                date = parsedate_to_datetime(if_range)
            except (TypeError, ValueError, OverflowError):
                date = None
            if date is None or int(mtime) > date.timestamp():
                return None
    if not match[1]:  # bytes=-N: the last N bytes
        first = max(0, size - int(match[2]))
        last = size - 1
    else:
        first = int(match[1])
        last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or last < first:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return range(first, last + 1)


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
    etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": _content_disposition(path.name),
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": format_datetime(datetime.fromtimestamp(info.st_mtime, UTC), usegmt=True),
    }
    span = _wanted_range(request, info.st_size, etag, info.st_mtime)
    status = 200
    if span is None:
        span = range(0, info.st_size)
    else:
        status = 206
        headers["Content-Range"] = f"bytes {span.start}-{span.stop - 1}/{info.st_size}"
    store.hooks.log.append(f"GET {request.headers['Range']}" if status == 206 else "GET")
    drop_after = store.hooks.drop_download_after
    store.hooks.drop_download_after = None
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(span)
    await response.prepare(request)
    file: IO[bytes] = await asyncio.to_thread(open, path, "rb")
    try:
        await asyncio.to_thread(file.seek, span.start)
        sent = 0
        while sent < len(span):
            block = await asyncio.to_thread(file.read, min(_BLOCK, len(span) - sent))
            if not block:
                break
            if drop_after is not None and sent + len(block) >= drop_after:
                await response.write(block[: drop_after - sent])
                store.hooks.log[-1] += " dropped"
                if request.transport is not None:
                    request.transport.abort()
                return response
            await response.write(block)
            sent += len(block)
    except ConnectionError:
        return response  # the client went away
    finally:
        await asyncio.to_thread(file.close)
    await response.write_eof()
    return response
