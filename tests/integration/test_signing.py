"""Signed requests on paths and queries that need percent-encoding.

The manager signs ``request.raw_path`` (the path and query as sent on the wire), so a client
that signs one spelling and sends another gets 401 "Signature mismatch". An answer past the
authentication step (the 404 of an unknown session, a validation error, an echo) therefore
proves that the signature matched. On 23.09 the session name quoted back in the answer proves
the manager decoded the same name the caller gave; 26.9 quotes neither the name nor the echo
of ``GET /auth``, so there the signature is what these tests show.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from backendai_aio import BackendError, BadRequestError, Client, InvalidArgumentError, NotFoundError

from ._support import PROBS, USER_ACCESS_KEY, Release, assert_restart_unsupported

#: Session names the manager could never have created, each needing care on the wire: a
#: space, a literal plus (not a space in a path), percent signs (one that looks like an
#: escape, one that would decode to a slash), reserved query and fragment characters, and
#: non-ASCII in two- to four-byte UTF-8.
ODD_NAMES = [
    "odd name",
    "a+b",
    "50%",
    "%2F",
    "%41",
    "a?b#c",
    "a&b=c;d",
    "héllo wörld",
    "日本語 セッション",
    "🐍 py",
]

#: Values for query strings: everything a form encoder and a path encoder disagree about.
ODD_QUERY_VALUE = "a b+c%d&e=f?g#h/é 日本 🐍"

Call = Callable[[Client, str], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "GET info": lambda client, name: client.get_info(name),
    "GET logs": lambda client, name: client.get_logs(name),
    "DELETE destroy": lambda client, name: client.destroy(name),
    "DELETE destroy forced": lambda client, name: client.destroy(name, True, recursive=True),
    "PATCH restart": lambda client, name: client.restart(name),
    "POST execute": lambda client, name: client.execute(name, None, "query", "print(1)"),
    "POST interrupt": lambda client, name: client.interrupt(name),
    "POST complete": lambda client, name: client.complete(name, "pri"),
}


def assert_no_such_session(error: BackendError, name: str, release: Release) -> None:
    assert isinstance(error, NotFoundError)
    assert error.status == 404
    slug, title = release.session_not_found
    assert error.problem_type == PROBS + slug
    assert error.title == title
    assert error.msg == release.session_not_found_msg(name)


@pytest.mark.parametrize("name", ODD_NAMES)
@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
async def test_odd_session_names_are_signed_and_decoded(
    admin_client: Client, release: Release, call: str, name: str
) -> None:
    with pytest.raises(BackendError) as exc_info:
        await CALLS[call](admin_client, name)
    if call == "PATCH restart" and not release.is_2309:
        # Past authentication, before any lookup: 26.9 refuses every restart.
        assert_restart_unsupported(exc_info.value)
    else:
        assert_no_such_session(exc_info.value, name, release)


async def test_get_query_round_trips(admin_client: Client, release: Release) -> None:
    # GET /auth echoes its query parameter on 23.09: signed, and decoded back to the same
    # string. 26.9 reads `echo` of GET /auth no more (it answers ""): the signature matched.
    answer = await admin_client._transport.call(
        "GET", admin_client._transport.url("auth"), params={"echo": ODD_QUERY_VALUE}
    )
    echo = ODD_QUERY_VALUE if release.is_2309 else ""
    assert answer == {"authorized": "yes", "echo": echo}


async def test_post_with_query_and_body(admin_client: Client) -> None:
    # POST /auth/test reads `echo` from the JSON body; the query is only signed, not read.
    answer = await admin_client._transport.call(
        "POST",
        admin_client._transport.url("auth", "test"),
        params={"note": ODD_QUERY_VALUE},
        json={"echo": ODD_QUERY_VALUE},
    )
    assert answer == {"authorized": "yes", "echo": ODD_QUERY_VALUE}


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_delete_and_patch_queries_reach_validation(
    admin_client: Client, release: Release, method: str
) -> None:
    # These handlers validate their query: an unknown owner access key is refused after
    # authentication, with the key decoded as sent.
    name = "héllo +50% 日"
    with pytest.raises(BackendError) as exc_info:
        await admin_client._transport.call(
            method,
            admin_client._transport.url("session", name),
            params={"owner_access_key": ODD_QUERY_VALUE},
        )
    error = exc_info.value
    if method == "PATCH" and not release.is_2309:
        assert_restart_unsupported(error)
        return
    assert isinstance(error, BadRequestError)
    assert error.status == 400
    slug = "invalid-api-params" if release.is_2309 else "generic-bad-request"
    assert error.problem_type == PROBS + slug
    assert error.msg == "Unknown owner access key"


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
async def test_queries_on_odd_paths(admin_client: Client, release: Release, method: str) -> None:
    # A known owner (the user's keypair) passes validation: the lookup itself answers 404.
    name = "héllo +50% 日"
    with pytest.raises(BackendError) as exc_info:
        await admin_client._transport.call(
            method,
            admin_client._transport.url("session", name),
            params={"owner_access_key": USER_ACCESS_KEY},
        )
    if method == "PATCH" and not release.is_2309:
        assert_restart_unsupported(exc_info.value)
    else:
        assert_no_such_session(exc_info.value, name, release)


async def test_dots_beyond_two_are_sent_as_names(admin_client: Client, release: Release) -> None:
    with pytest.raises(NotFoundError) as exc_info:
        await admin_client.get_info("...")
    assert_no_such_session(exc_info.value, "...", release)


@pytest.mark.parametrize("name", [".", ".."])
async def test_dot_segments_never_reach_another_endpoint(admin_client: Client, name: str) -> None:
    # "/session/.." reaches no session handler on the manager (404 url-not-found), and a
    # proxy that normalises URLs would send it to "GET /": no session has such a name, so
    # the client refuses it before sending anything.
    with pytest.raises(InvalidArgumentError, match="path segment"):
        await admin_client.get_info(name)
