"""Moving files: sources, the atomic destination writer, progress, resumable protocols.

- :mod:`.sizes`: the block and chunk sizes;
- :mod:`.sources`: what an upload reads from (a path, bytes, an async iterable);
- :mod:`.destination`: where a download lands (a temporary file moved into place);
- :mod:`.progress`: the one progress type, :class:`~.progress.TransferProgress`;
- :mod:`.streams`: a streamed response body, :class:`~.streams.ByteStream`;
- :mod:`.protocol`: folder paths, tus headers and HTTP ranges (pure);
- :mod:`.policy`: when to resume, retry or give up (pure state machines);
- :mod:`.tus` and :mod:`.ranged`: the resumable upload and download;
- :mod:`.tickets`: the storage-proxy URL and token the manager hands out;
- :mod:`.tarsafe`: extracting a downloaded archive without leaving its destination.
"""
