"""The server's version document and the API version negotiated from it."""

from __future__ import annotations

from backendai_aio import Client, ClientConfig

from ._support import ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, Release


async def test_server_version_and_negotiation(admin_client: Client, release: Release) -> None:
    assert admin_client.api_version is None
    version = await admin_client.get_server_version()
    assert version == {"version": release.api_version, "manager": release.manager_version}
    # The client steps down to the server's version (v7 on 23.09) or stays on it (v9).
    assert admin_client.api_version == release.api_version
    assert admin_client.api_version == release.api_version


async def test_first_signed_call_negotiates(release: Release) -> None:
    config = ClientConfig(ADMIN_ACCESS_KEY, ADMIN_SECRET_KEY, release.endpoint)
    async with Client(config) as client:
        # No explicit get_server_version(): the first signed call must negotiate by itself,
        # or the manager would refuse the client's newest version (v9) as unsupported.
        answer = await client._transport.call(
            "GET", client._transport.url("auth"), params={"echo": "negotiated"}
        )
        # 26.9 no longer echoes the query of GET /auth; the signed call passed all the same.
        echo = "negotiated" if release.is_2309 else ""
        assert answer == {"authorized": "yes", "echo": echo}
        assert client.api_version == release.api_version


async def test_keypair_roles(admin_client: Client, user_client: Client) -> None:
    admin = await admin_client._transport.call("GET", admin_client._transport.url("auth", "role"))
    user = await user_client._transport.call("GET", user_client._transport.url("auth", "role"))
    assert admin["global_role"] == "superadmin"
    assert user["global_role"] == "user"


async def test_rate_limit_headers(admin_client: Client) -> None:
    await admin_client._transport.call(
        "GET", admin_client._transport.url("auth"), params={"echo": "one"}
    )
    first = admin_client.rate_limit
    await admin_client._transport.call(
        "GET", admin_client._transport.url("auth"), params={"echo": "two"}
    )
    second = admin_client.rate_limit
    # The example keypair's resource policy allows 30000 calls per 15-minute window.
    assert first is not None and second is not None
    assert first.limit == second.limit == 30000
    assert first.window == second.window == 900
    assert first.remaining is not None and second.remaining is not None
    # The window slides and other clients may share the keypair, so the count between two
    # calls is not certain; that each call counts is.
    assert first.remaining < 30000
    assert second.remaining < 30000
