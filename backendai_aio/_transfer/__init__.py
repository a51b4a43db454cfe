"""Moving files: sources, the atomic destination writer, progress, resumable protocols.

- `sizes`: the block and chunk sizes;
- `sources`: what an upload reads from (a path, bytes, an async iterable);
- `destination`: where a download lands (a temporary file moved into place);
- `progress`: the one progress type, `TransferProgress`;
- `streams`: a streamed response body, `ByteStream`;
- `protocol`: folder paths, tus headers and HTTP ranges (pure);
- `policy`: when a transfer step may be tried again, and what an answer means (pure);
- `tus_resume` and `range_resume`: the resume decisions, as pure state machines;
- `exchange`: what the resumable upload and download share (URL, token, their errors);
- `tus` and `ranged`: the resumable upload and download, following those machines;
- `multipart` and `batches`: session file uploads as multipart parts, in bounded batches;
- `tickets`: the storage-proxy URL and token the manager hands out;
- `tarsafe`: extracting a downloaded archive without leaving its destination.
"""
