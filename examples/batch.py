"""A batch job: upload a small project, then run its build and exec commands.

Run it as::

    python examples/batch.py

Batch mode (``client.sessions.run(session, "", mode="batch", opts={...})``) runs shell
commands in the session's work folder: ``build`` first, then ``exec`` if the build succeeded
(``clean`` may come before both). Their output streams to ``on_output`` as it arrives, and the
call returns the job's :class:`~backendai_aio.RunResult`. It talks to ``BACKEND_ENDPOINT`` when
it is set, else to a local emulator it starts itself; ``BACKEND_IMAGE`` picks the image (default
``python``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from backendai_aio import BackendError, Client
from backendai_aio.emulator import configured_or_emulated

# The project: a word count over a text file.
PROJECT = {
    "wordcount/__init__.py": b"",
    "wordcount/count.py": b"""\
import collections, re


def top_words(text, n=3):
    return collections.Counter(re.findall(r"[a-z']+", text.lower())).most_common(n)
""",
    "main.py": b"""\
import sys
from wordcount.count import top_words

with open(sys.argv[1]) as file:
    for word, count in top_words(file.read()):
        print(f"{word}: {count}")
""",
    "data.txt": b"the cat and the hat and the bat sat on the mat\n",
}

OPTIONS = {
    "build": "python -m compileall -q wordcount main.py && echo build ok",
    "exec": "python main.py data.txt",
}


def show(kind: str, payload: Any) -> None:
    """Print each console item as it arrives."""
    print(f"[{kind}] {payload}", end="" if str(payload).endswith("\n") else "\n")


async def main() -> int:
    """Run the batch job; return its exit code."""
    image = os.environ.get("BACKEND_IMAGE", "python")
    async with configured_or_emulated(announce=print) as config, Client(config) as client:
        session = await client.create_if_not_exists(image)
        name = session["sessionName"]
        try:
            await client.sessions.upload(name, PROJECT)
            result = await client.sessions.run(name, "", mode="batch", opts=OPTIONS, on_output=show)
        finally:
            await client.destroy(name)
    print(f"Batch job {result.status} with exit code {result.exit_code}")
    return 0 if result.ok else result.exit_code or 1


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except BackendError as error:
        sys.exit(f"Backend.AI call failed ({error.type}): {error}")
