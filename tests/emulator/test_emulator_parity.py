"""Emulator answers corrected after the real 23.09 manager answered otherwise (raw requests)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    USER_ACCESS_KEY,
    USER_SECRET_KEY,
    Emulator,
)

from .wire import PROBS, Wire, invalid

pytestmark = pytest.mark.corrected_by_real_manager

INPUT_ERROR = "Input validation error"


def bad_request(msg: str) -> dict[str, Any]:
    return {
        "type": PROBS + "invalid-api-params",
        "title": "Missing or invalid API parameters.",
        "msg": msg,
    }


# -- unknown URLs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/no-such-endpoint", "/no-such-endpoint"),
        # A literal dot segment never matches a route: the real manager answers url-not-found
        # with the path as sent ("/session/.."), where the emulator looked the session "..".
        ("/session/..", "/session/.."),
        ("/session/./x", "/session/./x"),
        # Percent-encoded, it is decoded in the answer.
        ("/session/%2e%2e/x", "/session/../x"),
    ],
)
async def test_unknown_url_names_the_path(admin_wire: Wire, path: str, data: str) -> None:
    # Real: 404 {"type": ".../url-not-found", "title": "Unknown URL path.", "data": "<path>"}.
    status, body = await admin_wire.call("GET", path)
    assert (status, body) == (
        404,
        {"type": PROBS + "url-not-found", "title": "Unknown URL path.", "data": data},
    )


async def test_encoded_dots_are_a_session_name(admin_wire: Wire) -> None:
    # Real: GET /session/%2E%2E looks for a session named "..".
    status, body = await admin_wire.call("GET", "/session/%2E%2E")
    assert (status, body["msg"]) == (404, "Session (id=..) does not exist.")


async def test_unknown_url_is_answered_before_the_version_check(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    # Real: the router's 404 comes before "Unsupported API version.".
    async with http.get(
        emulator.endpoint + "/no-such", headers={"X-BackendAI-Version": "v1.20160915"}
    ) as response:
        assert response.status == 404
        assert (await response.json())["type"] == PROBS + "url-not-found"


# -- session creation parameters -------------------------------------------------------------


async def test_create_lists_unknown_keys_and_words_errors_as_the_manager(admin_wire: Wire) -> None:
    # Real: unknown keys are listed, the enum and the bounds worded by trafaret.
    body = {
        "image": "python",
        "name": "abcd",
        "unexpected": 1,
        "type": "foo",
        "maxWaitSeconds": -1,
        "cluster_size": 0,
    }
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem) == (
        400,
        invalid(
            {
                "type": "value is not a valid member of SessionTypes",
                "cluster_size": "value is less than 1",
                "maxWaitSeconds": "value is less than 0",
                "unexpected": "unexpected is not allowed key",
            }
        ),
    )


@pytest.mark.parametrize(
    ("change", "data"),
    [
        # Real: the camel-case alias is named as given; the emulator accepted a cluster of 0.
        ({"clusterSize": 0}, {"clusterSize": "value is less than 1"}),
        ({"enqueueOnly": "x"}, {"enqueueOnly": "value can't be converted to Bool"}),
        ({"enqueueOnly": 5}, {"enqueueOnly": "value can't be converted to Bool"}),
        ({"name": "ab"}, {"name": r"does not match pattern ^(?=.{4,64}$)\w[\w.-]*\w$"}),
        ({"name": 5}, {"name": "value is not a string"}),
        ({"image": None}, {"image": "value is not a string"}),
        ({"sessionType": "foo"}, {"sessionType": "value is not a valid member of SessionTypes"}),
        ({"cluster_size": "x"}, {"cluster_size": "value can't be converted to int"}),
        ({"cluster_size": 1.5}, {"cluster_size": "value is not int"}),
        ({"cluster_mode": "foo"}, {"cluster_mode": "value is not a valid member of ClusterMode"}),
        ({"config": []}, {"config": "value is not a dict"}),
        ({"tag": 5}, {"tag": {"0": "value should be None", "1": "value is not a string"}}),
        ({"maxWaitSeconds": "x"}, {"maxWaitSeconds": "value can't be converted to int"}),
        ({"reuseIfExists": "maybe"}, {"reuseIfExists": "value can't be converted to Bool"}),
        (
            {"dependencies": 5},
            {
                "dependencies": {
                    "0": {"0": "value should be None", "1": "value is not a list"},
                    "1": "value is not a list",
                }
            },
        ),
        (
            {"callback_url": "notaurl"},
            {
                "callback_url": {
                    "0": "value should be None",
                    "1": "ValueError('URL should be absolute')",
                }
            },
        ),
        ({"group": 5}, {"group": "value is not a string"}),
    ],
)
async def test_create_parameter_errors(admin_wire: Wire, change: dict[str, Any], data: Any) -> None:
    # Real: each of these is 400 "Input validation error" with exactly this data.
    body = {"image": "python", "name": "param-check", "enqueueOnly": True, **change}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem) == (400, invalid(data))


async def test_create_without_anything_names_the_required_keys(admin_wire: Wire) -> None:
    # Real: the missing name is reported under its target key, session_name.
    status, problem = await admin_wire.call("POST", "/session", body={})
    assert (status, problem) == (
        400,
        invalid({"session_name": "is required", "image": "is required"}),
    )


async def test_create_converts_like_the_manager(admin_wire: Wire) -> None:
    # Real: "yes" is a true enqueueOnly, "5" a maxWaitSeconds of 5, "1" a cluster of one.
    body = {
        "image": "python",
        "name": "converted",
        "enqueueOnly": "yes",
        "maxWaitSeconds": "5",
        "clusterSize": "1",
    }
    status, created = await admin_wire.call("POST", "/session", body=body)
    assert status == 201 and created["created"] is True


@pytest.mark.parametrize(
    ("change", "msg"),
    [
        # Real: the reserved name, the domain and the project are checked after the keys.
        ({"name": "from-template"}, "Requested session ID from-template is reserved word"),
        ({"domain": "nodomain"}, "You can only set the domain to your domain."),
        ({"group": "nogroup"}, "Invalid group"),
        ({"owner_access_key": "NOPE"}, "Unknown owner access key"),
        (
            {"config": {"resources": {"gpu": 1}}},
            "Invalid resource allocation: Unknown slot type: 'gpu'",
        ),
        (
            {"config": {"resources": {"mem": "1.5"}}},
            "Invalid resource allocation: Cannot convert the slot 'mem' to decimal: '1.5'",
        ),
        (
            {"config": {"resources": {"cpu": "x"}}},
            "Invalid resource allocation: Cannot convert the slot 'cpu' to decimal: 'x'",
        ),
        (
            {"config": {"resources": {"cpu": "0.5"}}},
            "Your resource request is smaller than the minimum required by the image. "
            "(cpu=1 mem=320m)",
        ),
        ({"config": {"agent_list": ["i-agent"]}}, "No such agent: i-agent"),
    ],
)
async def test_create_refusals(admin_wire: Wire, change: dict[str, Any], msg: str) -> None:
    body = {"image": "python", "name": "refused", "enqueueOnly": True, **change}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem) == (400, bad_request(msg))


async def test_create_quota_and_privilege(admin_wire: Wire, user_wire: Wire) -> None:
    # Real: a cluster larger than the policy's one container is 412 quota-exceeded.
    body = {"image": "python", "name": "quota", "enqueueOnly": True, "cluster_size": 2}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem) == (
        412,
        {
            "type": PROBS + "quota-exceeded",
            "title": "You have reached your resource limit.",
            "msg": "You cannot create session with more than 1 containers.",
        },
    )
    # Real: a plain user may not name agents (403), nor act for another keypair.
    body = {"image": "python", "name": "agents", "config": {"agent_list": ["x"]}}
    status, problem = await user_wire.call("POST", "/session", body=body)
    assert (status, problem["type"], problem["msg"]) == (
        403,
        PROBS + "insufficient-privilege",
        "You are not allowed to manually assign agents for your session.",
    )
    body = {"image": "python", "name": "on-behalf", "owner_access_key": DEFAULT_ACCESS_KEY}
    status, problem = await user_wire.call("POST", "/session", body=body)
    assert (status, problem["type"], problem["msg"]) == (
        403,
        PROBS + "generic-forbidden",
        "Only admins can perform operations on behalf of other users.",
    )


@pytest.mark.parametrize("config", [{"unknown": 1}, {"environ": 1}, {"mounts": "x"}])
async def test_a_bad_config_makes_the_manager_fail(
    admin_wire: Wire, config: dict[str, Any]
) -> None:
    # Real: config is checked outside the parameter checks: 500 internal-server-error.
    body = {"image": "python", "name": "bad-config", "config": config}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem) == (
        500,
        {"type": PROBS + "internal-server-error", "title": "Internal server error."},
    )


# -- images ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "msg"),
    [
        # Real: a bare name is looked up on Docker Hub in the lablup namespace, tag latest.
        ("nonexist", "ref:'index.docker.io/lablup/nonexist:latest', alias:'nonexist'"),
        ("tensorflow:2.0", "ref:'index.docker.io/lablup/tensorflow:2.0', alias:'tensorflow:2.0'"),
        # With a slash, the first part is the registry, as given.
        ("lablup/foo:1", "ref:'lablup/foo:1', alias:'lablup/foo:1'"),
        ("foo/bar", "ref:'foo/bar:latest', alias:'foo/bar'"),
        ("localhost:5000/foo", "ref:'localhost:5000/foo:latest', alias:'localhost:5000/foo'"),
        (
            "cr.backend.ai/stable/foo:1",
            "ref:'cr.backend.ai/stable/foo:1', alias:'cr.backend.ai/stable/foo:1'",
        ),
        # Only Docker Hub gets the implicit namespace.
        (
            "index.docker.io/foo",
            "ref:'index.docker.io/lablup/foo:latest', alias:'index.docker.io/foo'",
        ),
        ("docker.io/foo", "ref:'docker.io/foo:latest', alias:'docker.io/foo'"),
    ],
)
async def test_unknown_image_message(admin_wire: Wire, image: str, msg: str) -> None:
    body = {"image": image, "name": "no-image", "enqueueOnly": True}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem) == (
        404,
        {
            "type": PROBS + "object-not-found",
            "title": "No such environment image.",
            "msg": "Unknown image references: " + msg,
        },
    )


@pytest.mark.parametrize("image", ["python:", "http://x/y"])
async def test_unparsable_image_makes_the_manager_fail(admin_wire: Wire, image: str) -> None:
    # Real: the manager's image reference parser raises outside its error handling: 500.
    status, problem = await admin_wire.call(
        "POST", "/session", body={"image": image, "name": "bad-img"}
    )
    assert (status, problem["type"]) == (500, PROBS + "internal-server-error")


async def test_python_alias_resolves_to_the_image_row(admin_wire: Wire) -> None:
    # Real: "python" is the alias of cr.backend.ai/stable/python:3.9-ubuntu20.04; the session
    # reports the canonical name and its registry; the canonical name reuses the session.
    await admin_wire.create_session("alias-info")
    status, info = await admin_wire.call("GET", "/session/alias-info")
    assert status == 200
    assert info["image"] == info["lang"] == "cr.backend.ai/stable/python:3.9-ubuntu20.04"
    assert info["registry"] == "cr.backend.ai"
    again = {"image": "cr.backend.ai/stable/python:3.9-ubuntu20.04", "name": "alias-info"}
    status, reused = await admin_wire.call("POST", "/session", body=again)
    assert (status, reused["created"]) == (201, False)


async def test_emulator_python_images_keep_their_names(admin_wire: Wire) -> None:
    # The emulator's own python:<tag> images still run, named as asked, on Docker Hub.
    status, _ = await admin_wire.call(
        "POST", "/session", body={"image": "python:3.11", "name": "own-python"}
    )
    assert status == 201
    _, info = await admin_wire.call("GET", "/session/own-python")
    assert (info["image"], info["registry"]) == ("python:3.11", "index.docker.io")
    # Real: get-or-create with another image than the existing session's is a conflict.
    status, problem = await admin_wire.call(
        "POST", "/session", body={"image": "python", "name": "own-python"}
    )
    assert (status, problem["type"]) == (400, PROBS + "session-already-exists")


async def test_image_is_resolved_before_an_existing_session_is_reused(admin_wire: Wire) -> None:
    # Real: an unknown image is 404 even when the name is taken.
    await admin_wire.create_session("taken-name")
    body = {"image": "nosuch", "name": "taken-name"}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem["title"]) == (404, "No such environment image.")


async def test_session_info_fields_as_the_manager_writes_them(admin_wire: Wire) -> None:
    # Real: slots, environment and options are Python text, times str() of datetimes, the
    # resources default to the image minimum (cpu 1, mem 256m + 64m shared memory).
    body = {
        "image": "python",
        "name": "info-fields",
        "tag": "t1",
        "config": {"environ": {"A": "1"}, "resources": {"cpu": 2, "mem": "1g"}},
    }
    assert (await admin_wire.call("POST", "/session", body=body))[0] == 201
    _, info = await admin_wire.call("GET", "/session/info-fields")
    assert info["occupiedSlots"] == "{'cpu': Decimal('2'), 'mem': Decimal('1073741824')}"
    assert info["requestedSlots"] == info["occupiedSlots"]
    assert info["environ"] == "{'A': '1'}"
    assert info["resourceOpts"] == "{'main1': {'shmem': 67108864}}"
    assert info["statusInfo"] == "None"
    assert info["lastStat"] is None
    assert info["tag"] == "t1"
    assert info["userId"] == "f38dea23-50fa-42a0-b5ae-338f5f4693f4"
    assert " " in info["creationTime"] and info["creationTime"].endswith("+00:00")
    assert info["idleChecks"] == {
        "session_lifetime": {
            "remaining": None,
            "remaining_time_type": "expire_after",
            "extra": None,
        }
    }
    await admin_wire.create_session("info-default")
    _, info = await admin_wire.call("GET", "/session/info-default")
    assert info["requestedSlots"] == "{'cpu': Decimal('1'), 'mem': Decimal('335544320')}"


# -- destroy, restart, logs and rename: their query checks ---------------------------------------


@pytest.mark.parametrize("method", ["DELETE", "PATCH"])
async def test_unknown_query_key_is_refused(admin_wire: Wire, method: str) -> None:
    # Real: 400 invalid-api-params with data {"x": "x is not allowed key"}.
    status, problem = await admin_wire.call(method, "/session/nosuch?x=1")
    assert (status, problem) == (400, invalid({"x": "x is not allowed key"}))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/session/nosuch"),
        ("PATCH", "/session/nosuch"),
        ("GET", "/session/nosuch/logs"),
    ],
)
async def test_unknown_owner_access_key(admin_wire: Wire, method: str, path: str) -> None:
    # Real: 400 "Unknown owner access key" (before the session is looked up).
    status, problem = await admin_wire.call(method, path + "?owner_access_key=NOPE")
    assert (status, problem) == (400, bad_request("Unknown owner access key"))


async def test_logs_and_rename_check_their_keys(admin_wire: Wire) -> None:
    # Real: the logs call takes owner_access_key only; rename takes the new name only.
    status, problem = await admin_wire.call("GET", "/session/nosuch/logs?x=1")
    assert (status, problem) == (400, invalid({"x": "x is not allowed key"}))
    status, problem = await admin_wire.call("POST", "/session/nosuch/rename?x=1")
    assert (status, problem) == (
        400,
        invalid({"session_name": "is required", "x": "x is not allowed key"}),
    )


async def test_info_ignores_query_keys(admin_wire: Wire) -> None:
    # Real: GET /session/{name} reads no parameters, so any query is fine.
    status, problem = await admin_wire.call("GET", "/session/nosuch?x=1")
    assert (status, problem["msg"]) == (404, "Session (id=nosuch) does not exist.")


async def test_destroy_flags_and_body(admin_wire: Wire) -> None:
    # Real: forced must be a boolean; a JSON body is checked instead of the query.
    status, problem = await admin_wire.call("DELETE", "/session/nosuch?forced=maybe")
    assert (status, problem) == (400, invalid({"forced": "value can't be converted to Bool"}))
    status, problem = await admin_wire.call("DELETE", "/session/nosuch", body={"x": 1})
    assert (status, problem) == (400, invalid({"x": "x is not allowed key"}))
    status, problem = await admin_wire.call("DELETE", "/session/nosuch?x=1", body={})
    assert (status, problem["msg"]) == (404, "Session (id=nosuch) does not exist.")


async def test_recursive_destroy_answers_a_list(admin_wire: Wire) -> None:
    # Real: [stats...] for the destroyed sessions, [] for one already terminated, 404 for a
    # session that never was.
    await admin_wire.create_session("recursive")
    assert await admin_wire.call("DELETE", "/session/recursive?recursive=true") == (
        200,
        [{"status": "terminated"}],
    )
    assert await admin_wire.call("DELETE", "/session/recursive?recursive=true") == (200, [])
    status, problem = await admin_wire.call("DELETE", "/session/never-was?recursive=true")
    assert (status, problem["title"]) == (404, "No such session.")


async def test_acting_on_behalf_of_another_keypair(admin_wire: Wire, user_wire: Wire) -> None:
    # Real: a plain user may not (403); a superadmin may, and reaches the owner's sessions.
    await user_wire.create_session("users-own")
    status, problem = await user_wire.call(
        "DELETE", f"/session/users-own?owner_access_key={DEFAULT_ACCESS_KEY}"
    )
    assert (status, problem["type"], problem["msg"]) == (
        403,
        PROBS + "generic-forbidden",
        "Only admins can perform operations on behalf of other users.",
    )
    status, _ = await admin_wire.call("DELETE", "/session/users-own")
    assert status == 404
    status, body = await admin_wire.call(
        "DELETE", f"/session/users-own?owner_access_key={USER_ACCESS_KEY}"
    )
    assert (status, body) == (200, {"stats": {"status": "terminated"}})


@pytest.mark.parametrize(
    ("query", "data"),
    [
        ("x=1", {"x": "x is not allowed key"}),
        ("scope=foo", {"scope": "value doesn't match any variant"}),
        (
            "sessionId=xx",
            {"sessionId": {"0": "value should be None", "1": "cannot convert value to UUID"}},
        ),
        ("name=", {"name": "blank value is not allowed"}),
    ],
)
async def test_session_event_parameters(admin_wire: Wire, query: str, data: Any) -> None:
    # Real: the event stream's parameters are checked before it starts, in trafaret's words.
    status, problem = await admin_wire.call("GET", "/events/session?" + query)
    assert (status, problem) == (400, invalid(data))


# -- rate limits -------------------------------------------------------------------------------


async def test_rate_limit_headers_count_down_per_keypair(
    emulator: Emulator, admin_wire: Wire, user_wire: Wire
) -> None:
    # Real: X-RateLimit-Limit 30000 for the example keypairs, Window 900, Remaining counting
    # down per keypair (the call itself included); anonymous GET / reports 1000/1000/900.
    remaining = []
    for _ in range(3):
        async with admin_wire.request("GET", "/auth?echo=x") as response:
            assert response.status == 200
            assert response.headers["X-RateLimit-Limit"] == "30000"
            assert response.headers["X-RateLimit-Window"] == "900"
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]
    async with user_wire.request("GET", "/auth?echo=x") as response:
        assert response.headers["X-RateLimit-Remaining"] == "29999"
    async with admin_wire.session.get(emulator.endpoint + "/") as response:
        assert [response.headers[f"X-RateLimit-{h}"] for h in ("Limit", "Remaining", "Window")] == [
            "1000",
            "1000",
            "900",
        ]


async def test_no_rate_limit_headers_on_errors_but_they_count(admin_wire: Wire) -> None:
    # Real: an error carries no X-RateLimit headers, yet the call counts against the keypair.
    async with admin_wire.request("GET", "/auth?echo=x") as response:
        before = int(response.headers["X-RateLimit-Remaining"])
    async with admin_wire.request("GET", "/session/nosuch") as response:
        assert response.status == 404
        assert not any(h.startswith("X-RateLimit") for h in response.headers)
    async with admin_wire.request("GET", "/no-such-path") as response:
        assert not any(h.startswith("X-RateLimit") for h in response.headers)
    async with admin_wire.request("GET", "/auth?echo=x") as response:
        assert int(response.headers["X-RateLimit-Remaining"]) == before - 2


async def test_rate_limit_exceeded() -> None:
    # The manager refuses calls past the keypair's limit in the window with 429.
    async with Emulator(release="23.09", rate_limit=2) as small, aiohttp.ClientSession() as http:
        wire = Wire(small, http)
        assert (await wire.call("GET", "/auth?echo=a"))[0] == 200
        assert (await wire.call("GET", "/auth?echo=b"))[0] == 200
        status, problem = await wire.call("GET", "/auth?echo=c")
        assert (status, problem) == (
            429,
            {
                "type": PROBS + "rate-limit-exceeded",
                "title": "You have reached your API query rate limit.",
            },
        )


# -- keypairs ----------------------------------------------------------------------------------


async def test_default_emulator_accepts_both_example_keypairs(
    admin_wire: Wire, user_wire: Wire
) -> None:
    # The real manager's fixtures have both; the emulator served the admin keypair only.
    assert await admin_wire.call("GET", "/auth/role") == (
        200,
        {"global_role": "superadmin", "domain_role": "admin", "group_role": None},
    )
    assert await user_wire.call("GET", "/auth/role") == (
        200,
        {"global_role": "user", "domain_role": "user", "group_role": None},
    )


async def test_sessions_belong_to_their_keypair(admin_wire: Wire, user_wire: Wire) -> None:
    await user_wire.create_session("mine-only")
    _, info = await user_wire.call("GET", "/session/mine-only")
    assert info["userId"] == "dfa9da54-4b28-432f-be29-c0d680c7a412"
    # Real: another user's session is not found, even with owner_access_key (GET ignores it).
    status, _ = await admin_wire.call("GET", "/session/mine-only")
    assert status == 404


async def test_a_custom_keypair_still_works() -> None:
    async with Emulator(access_key="AKIACUSTOMEXAMPLE", secret_key="s3cr3t") as custom:
        async with aiohttp.ClientSession() as http:
            wire = Wire(custom, http, access_key="AKIACUSTOMEXAMPLE", secret_key="s3cr3t")
            assert await wire.call("POST", "/auth/test", body={"echo": "ok"}) == (
                200,
                {"authorized": "yes", "echo": "ok"},
            )
            # Only that keypair: the example admin's is unknown there.
            other = Wire(custom, http, access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY)
            status, problem = await other.call("POST", "/auth/test", body={"echo": "no"})
            assert (status, problem["msg"]) == (401, "Access key not found")
        assert custom.config.access_key == "AKIACUSTOMEXAMPLE"
        with pytest.raises(RuntimeError, match="example user"):
            custom.user_config  # noqa: B018


async def test_config_properties(emulator: Emulator) -> None:
    assert (emulator.config.access_key, emulator.config.secret_key) == (
        DEFAULT_ACCESS_KEY,
        DEFAULT_SECRET_KEY,
    )
    assert (emulator.user_config.access_key, emulator.user_config.secret_key) == (
        USER_ACCESS_KEY,
        USER_SECRET_KEY,
    )
    assert emulator.session_config.endpoint_type == "session"
    assert emulator.session_config.endpoint == emulator.endpoint


async def test_version_is_checked_before_the_signature_on_known_routes(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    # Real: a known route checks the version first: no signature is needed to be told.
    headers = {"X-BackendAI-Version": "v1.20160915"}
    async with http.get(emulator.endpoint + "/auth?echo=x", headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["msg"] == "Unsupported API version."
