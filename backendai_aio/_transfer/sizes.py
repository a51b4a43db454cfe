"""The sizes transfers move bytes in, in one place.

Three granularities, each chosen for what it bounds:

- `BLOCK_SIZE` is how much one file read or write (in a worker thread) handles, and
  so how often progress is reported: small enough that a callback sees steady movement,
  large enough that the thread hop costs little beside the I/O;
- `CHUNK_SIZE` is how much one read of a streamed response (or one multipart part of
  a session upload, or one copy out of a downloaded archive) takes at a time;
- `UPLOAD_CHUNK_SIZE` is the default length of one tus ``PATCH``: what a resumed
  upload may have to send again, and what a stream source keeps in memory to resend it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BLOCK_SIZE", "CHUNK_SIZE", "UPLOAD_CHUNK_SIZE"]

#: Bytes of one file read or write, and the step of progress reports (256 KiB).
BLOCK_SIZE: Final = 256 * 1024
#: Bytes of one read of a streamed body, multipart part or archive copy (1 MiB).
CHUNK_SIZE: Final = 1024 * 1024
#: The default bytes of one tus ``PATCH`` (8 MiB).
UPLOAD_CHUNK_SIZE: Final = 8 * 1024 * 1024
