"""Moving files: sources, the atomic destination writer, progress, resumable protocols.

- `sizes`: the block and chunk sizes;
- `sources`: what an upload reads from (a path, bytes, an async iterable);
- `destination`: where a download lands (a temporary file moved into place);
- `progress`: the one progress type, `TransferProgress`;
- `streams`: a streamed response body, `ByteStream`;
- `protocol`: folder paths, tus headers and HTTP ranges (pure);
- `policy`: when to resume, retry or give up (pure state machines);
- `tus` and `ranged`: the resumable upload and download;
- `tickets`: the storage-proxy URL and token the manager hands out;
- `tarsafe`: extracting a downloaded archive without leaving its destination.
"""
