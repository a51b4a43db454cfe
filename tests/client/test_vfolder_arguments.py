"""Bad arguments to the folder lifecycle calls fail before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from backendai_aio import Client, ClientConfig, InvalidArgumentError, VFolder

# A port nothing listens on: a call that sent anything would fail with a connection error.
UNREACHABLE = "http://127.0.0.1:9"

Call = Callable[[VFolder], Awaitable[Any]]


@pytest.fixture
async def offline() -> AsyncIterator[Client]:
    key, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    async with Client(ClientConfig(key, secret, UNREACHABLE)) as opened:
        yield opened


BAD_CALLS: list[tuple[str, Call, str]] = [
    ("empty new name", lambda f: f.rename(""), "name"),
    ("permission", lambda f: f.update_options(permission="all"), "permission"),
    ("no option", lambda f: f.update_options(), "permission= or cloneable="),
    ("cloneable not a bool", lambda f: f.update_options(cloneable=1), "True or False"),  # type: ignore[arg-type]
    ("clone permission", lambda f: f.clone("c", permission="x"), "permission"),
    ("clone cloneable", lambda f: f.clone("c", cloneable="yes"), "True or False"),  # type: ignore[arg-type]
    ("clone into no name", lambda f: f.clone(""), "name"),
    ("move out of the folder", lambda f: f.move_file("a", "../b"), "path"),
    ("share to nobody", lambda f: f.share("ro", []), "one or more emails"),
    ("share to an empty email", lambda f: f.share("ro", ["a@b.c", ""]), "non-empty string"),
    ("share to a number", lambda f: f.share("ro", [3]), "non-empty string"),  # type: ignore[list-item]
    ("share emails not a list", lambda f: f.share("ro", 3), "one or more emails"),  # type: ignore[arg-type]
    ("share permission", lambda f: f.share("r", "a@b.c"), "permission"),
    ("unshare nobody", lambda f: f.unshare(()), "one or more emails"),
    ("archive of nothing", lambda f: f.download_archive([], "x.zip"), "no paths"),
    ("archive outside", lambda f: f.download_archive("/etc", "x.zip"), "path"),
    ("archive attempts", lambda f: f.download_archive("a", "x.zip", max_attempts=0), "at least 1"),
    ("archive bool attempts", lambda f: f.download_archive("a", "x", max_attempts=True), "least 1"),
]


@pytest.mark.parametrize(
    ("call", "match"), [(c, m) for _, c, m in BAD_CALLS], ids=[i for i, *_ in BAD_CALLS]
)
async def test_bad_arguments_are_refused_before_sending(
    offline: Client, call: Call, match: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        await call(offline.vfolders.get("data"))


@pytest.mark.parametrize("ref", ["", None, 3])
async def test_the_trash_calls_need_a_folder(offline: Client, ref: Any) -> None:
    for call in (offline.vfolders.restore, offline.vfolders.delete_forever, offline.vfolders.purge):
        with pytest.raises(InvalidArgumentError):
            await call(ref)


async def test_clone_sends_its_options(client: Client) -> None:
    await client.vfolders.create("origin", cloneable=True)
    await client.vfolders.upload("origin", b"1", "one.txt")
    cloned = await client.vfolders.clone("origin", "ro-copy", permission="ro", cloneable=False)
    assert (cloned["name"], cloned["permission"], cloned["cloneable"]) == ("ro-copy", "ro", False)
    # (26.9 shows an owner "rw" in the folder's details whatever its permission.)
    assert (await client.vfolders.info("ro-copy"))["name"] == "ro-copy"
