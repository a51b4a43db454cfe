"""Upload and download with tqdm progress bars.

Needs tqdm (``pip install '.[examples]'``). Run it as::

    python examples/progress.py [FILE] [--dest DIR]

It uploads FILE (by default ``sample.bin``, a 16 MiB text it writes first) into a compute
session, has the session compress it, downloads the compressed file and the original back into
DIR (default: ``downloads``), each transfer with its own bar, and checks that what came back is
what went up.
It talks to ``BACKEND_ENDPOINT`` when it is set, else to a local emulator it starts itself.

Progress callbacks take ``(bytes done, bytes total or None)``; :func:`bar` turns a tqdm bar
into one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm  # pyright: ignore[reportMissingModuleSource]

from backendai_aio import BackendError, Client
from backendai_aio.emulator import configured_or_emulated

SAMPLE_SIZE = 16 * 1024 * 1024

Progress = Callable[[int, int | None], None]

COMPRESS = """
import gzip, shutil
with open({name!r}, "rb") as source, gzip.open({name!r} + ".gz", "wb") as target:
    shutil.copyfileobj(source, target)
print("compressed")
"""


@contextlib.contextmanager
def bar(description: str, total: int | None = None) -> Iterator[Progress]:
    """A tqdm bar, as a progress callback."""
    with tqdm(desc=description, total=total, unit="B", unit_scale=True, unit_divisor=1024) as t:

        def update(done: int, total: int | None) -> None:
            if total is not None and t.total != total:
                t.total = total
                t.refresh()
            t.update(done - t.n)

        yield update


def sha256(path: Path, *, gzipped: bool = False) -> str:
    """The SHA-256 of a file (of its uncompressed content if *gzipped*), read in chunks."""
    with gzip.open(path, "rb") if gzipped else path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


async def transfer(source: Path, size: int, dest: Path) -> Path:
    """Upload *source*, compress it remotely, download both files into *dest*.

    Returns the path of the downloaded compressed file.
    """
    image = os.environ.get("BACKEND_IMAGE", "python")
    compressed = dest / f"{source.name}.gz"
    async with configured_or_emulated(announce=print) as config, Client(config) as client:
        session = await client.create_if_not_exists(image)
        name = session["sessionName"]
        try:
            with bar("upload", size) as progress:
                await client.sessions.upload(name, {source.name: source}, progress=progress)
            result = await client.sessions.run(name, COMPRESS.format(name=source.name))
            if not result.ok:
                raise SystemExit(f"compressing failed:\n{result.stderr}")
            with bar("download .gz") as progress:
                await client.sessions.download_single_to(
                    name, compressed.name, compressed, progress=progress
                )
            with bar("download original") as progress:
                await client.sessions.download(name, [source.name], dest, progress=progress)
        finally:
            await client.destroy(name)
    return compressed


def main(source: Path, dest: Path) -> None:
    """Transfer *source* there and back, then check what came back."""
    dest.mkdir(parents=True, exist_ok=True)
    size = source.stat().st_size
    compressed = asyncio.run(transfer(source, size, dest))
    original = sha256(source)
    if sha256(dest / source.name) != original or sha256(compressed, gzipped=True) != original:
        raise SystemExit("the downloaded files differ from the upload")
    print(f"Uploaded {source.name}: {size} bytes")
    print(f"Downloaded {compressed}: {compressed.stat().st_size} bytes")
    print(f"Verified: SHA-256 {original}")


def sample(path: Path) -> Path:
    """Write a sample text file of SAMPLE_SIZE bytes."""
    line = b"%08d The quick brown fox jumps over the lazy dog on Backend.AI.\n"
    with path.open("wb") as file:
        for start in range(0, SAMPLE_SIZE // len(line % 0), 1024):
            file.write(b"".join(line % number for number in range(start, start + 1024)))
        file.truncate(SAMPLE_SIZE)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Upload and download with tqdm progress bars.")
    parser.add_argument("file", nargs="?", type=Path, help="the file to upload")
    parser.add_argument("--dest", type=Path, default=Path("downloads"))
    args = parser.parse_args()
    try:
        main(args.file or sample(Path("sample.bin")), args.dest)
    except BackendError as error:
        sys.exit(f"Backend.AI call failed ({error.type}): {error}")
