"""The emulator's request checks and error answers, with hand-signed raw requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

from backendai_aio._signing import authorization_header, sign
from backendai_aio.emulator import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulator, create_app

from .wire import Wire, invalid

PROBS = "https://api.backend.ai/probs/"


async def signed(
    emulator: Emulator,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    access_key: str = DEFAULT_ACCESS_KEY,
    secret_key: str = DEFAULT_SECRET_KEY,
    version: str | None = "v9.20250722",
    date: datetime | None = None,
    skew: timedelta = timedelta(),
    date_header: str | None = None,
    content_type: str = "application/json",
    authorization: str | None = None,
) -> tuple[int, str, Any]:
    """Send one request signed by hand; return (status, content type, decoded body)."""
    url = URL(emulator.endpoint + path, encoded=True)
    # The skew is added when the request is sent: a date taken when the tests are collected
    # would be minutes old by then.
    moment = (date or datetime.now(UTC)) + skew
    date_value = date_header or moment.isoformat()
    host = f"{url.host}:{url.port}"
    headers = {"Date": date_value, "Content-Type": content_type, "Host": host}
    if version is not None:
        headers["X-BackendAI-Version"] = version
    signature = sign(
        secret_key=secret_key,
        method=method,
        path_qs=url.raw_path_qs,
        date=moment,
        date_header=date_value,
        host=host,
        content_type=content_type,
        api_version=version or "",
    )
    headers["Authorization"] = authorization or authorization_header(access_key, signature)
    data = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers=headers, data=data) as response:
            text = await response.text()
            ctype = response.headers.get("Content-Type", "")
            return response.status, ctype, json.loads(text) if text else None


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The 26.9 profile (the default), with the emulator's own execution timeout.
    return {"flush_window": 0.2, "exec_timeout": 60.0}


async def test_root_needs_no_signature(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(emulator.endpoint + "/") as response:
            assert response.status == 200
            assert await response.json() == {"version": "v9.20250722", "manager": "26.9.6"}


async def test_valid_signature_passes(emulator: Emulator) -> None:
    status, _, body = await signed(emulator, "GET", "/session/no-such")
    assert status == 404
    # As 26.9 answers it (the default profile); 23.09's answer is in test_emulator_releases.
    assert body == {
        "type": PROBS + "entity-not-found",
        "title": "Entity not found.",
        "error_code": "session_lookup_not-found",
        "msg": "No SessionRow matches the given key",
    }


@pytest.mark.parametrize(
    ("kwargs", "status", "slug", "msg"),
    [
        ({"secret_key": "wrong"}, 401, "auth-failed", "Signature mismatch"),
        ({"access_key": "AKIAUNKNOWN"}, 401, "auth-failed", "Access key not found"),
        (
            {"skew": -timedelta(minutes=16)},
            400,
            "invalid-auth-params",
            "Date/time sync error",
        ),
        (
            {"skew": timedelta(minutes=16)},
            400,
            "invalid-auth-params",
            "Date/time sync error",
        ),
        ({"date_header": "yesterday-ish"}, 400, "invalid-auth-params", "Date/time sync error"),
        ({"version": "v3.20170615"}, 400, "generic-bad-request", "Unsupported API version."),
        (
            {"authorization": "garbage"},
            400,
            "invalid-auth-params",
            "Malformed authorization header",
        ),
        (
            {"authorization": "Bearer token"},
            400,
            "invalid-auth-params",
            "Invalid authorization type name",
        ),
        (
            {"authorization": "BackendAI signMethod=HMAC-SHA256"},
            400,
            "invalid-auth-params",
            "Missing or malformed authorization parameters",
        ),
        ({"version": None}, 400, "invalid-auth-params", "API version missing in request headers"),
    ],
)
async def test_auth_failures(
    emulator: Emulator, kwargs: dict[str, Any], status: int, slug: str, msg: str
) -> None:
    got_status, ctype, body = await signed(emulator, "GET", "/session/abcd", **kwargs)
    assert (got_status, body["type"], body["msg"]) == (status, PROBS + slug, msg)
    assert ctype == "application/problem+json"


async def test_rfc1123_and_other_timezones_are_accepted(emulator: Emulator) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rfc1123 = now.strftime("%a, %d %b %Y %H:%M:%S GMT")
    status, _, _ = await signed(emulator, "GET", "/session/abcd", date=now, date_header=rfc1123)
    assert status == 404
    seoul = datetime.now(UTC).astimezone(datetime.now().astimezone().tzinfo)
    status, _, _ = await signed(emulator, "GET", "/session/abcd", date=seoul)
    assert status == 404


async def test_signing_a_charset_parameter_fails(emulator: Emulator) -> None:
    # The manager signs the bare media type; a client that signs the parameter too is refused.
    status, _, _ = await signed(
        emulator, "GET", "/session/abcd", content_type="application/json; charset=utf-8"
    )
    assert status == 404  # the emulator itself parses the bare type, so this one is fine
    async with aiohttp.ClientSession() as session:
        moment = datetime.now(UTC)
        url = URL(emulator.endpoint + "/session/abcd")
        host = f"{url.host}:{url.port}"
        signature = sign(
            secret_key=DEFAULT_SECRET_KEY,
            method="GET",
            path_qs="/session/abcd",
            date=moment,
            host=host,
            content_type="application/json",
            api_version="v9.20250722",
        )
        headers = {
            "Date": moment.isoformat(),
            "X-BackendAI-Version": "v9.20250722",
            "Authorization": authorization_header(DEFAULT_ACCESS_KEY, signature),
        }
        # No Content-Type: the server signs application/octet-stream and the check fails.
        async with session.get(url, headers=headers, skip_auto_headers=["Content-Type"]) as r:
            assert r.status == 401


async def test_unsigned_request_is_refused(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        headers = {"Date": datetime.now(UTC).isoformat()}
        async with session.get(emulator.endpoint + "/session/abcd", headers=headers) as r:
            assert r.status == 401
            assert (await r.json())["msg"] == "Unauthorized access"


async def test_unknown_url_and_method(emulator: Emulator) -> None:
    status, _, body = await signed(emulator, "GET", "/no/such/path")
    assert (status, body["type"], body["title"]) == (
        404,
        PROBS + "url-not-found",
        "Unknown URL path.",
    )
    status, _, body = await signed(emulator, "PUT", "/session")
    assert (status, body["type"]) == (405, PROBS + "method-not-allowed")


async def test_create_validation(emulator: Emulator) -> None:
    status, _, body = await signed(emulator, "POST", "/session", raw_body=b"{not json")
    assert (status, body["type"], body["msg"]) == (
        400,
        PROBS + "invalid-api-params",
        "Malformed body",
    )

    status, _, body = await signed(
        emulator, "POST", "/session", body={"image": "python", "name": "ab"}
    )
    assert (status, body["msg"]) == (400, "Input validation error")
    assert "name" in body["data"]

    status, _, body = await signed(emulator, "POST", "/session", body={"name": "abcd"})
    assert status == 400 and "image" in body["data"]

    status, _, body = await signed(
        emulator, "POST", "/session", body={"image": "tensorflow:2.0", "name": "abcd"}
    )
    assert (status, body["title"]) == (404, "No such environment image.")


async def test_create_reuse_and_no_reuse(emulator: Emulator) -> None:
    request = {"image": "cr.backend.ai/stable/python:3.9-ubuntu20.04", "name": "reuse-me"}
    status, _, first = await signed(emulator, "POST", "/session", body=request)
    assert status == 201 and first["created"] is True and first["status"] == "RUNNING"
    status, _, second = await signed(emulator, "POST", "/session", body=request)
    assert status == 201 and second["created"] is False
    assert second["sessionId"] == first["sessionId"]
    status, _, body = await signed(
        emulator, "POST", "/session", body={**request, "reuseIfExists": False}
    )
    assert (status, body["type"]) == (400, PROBS + "session-already-exists")
    assert body["data"] == {"existingSessionId": first["sessionId"]}
    # Sessions can be addressed by id as well as by name.
    status, _, info = await signed(emulator, "GET", f"/session/{first['sessionId']}")
    assert status == 200 and info["status"] == "RUNNING"


async def test_execute_reads_run_id_or_runId(emulator: Emulator) -> None:
    await signed(emulator, "POST", "/session", body={"image": "python", "name": "exec-ids"})
    for key in ("runId", "run_id"):
        status, _, body = await signed(
            emulator,
            "POST",
            "/session/exec-ids",
            body={"mode": "query", "code": "print(1)", key: f"{key}-0001"},
        )
        assert status == 200
        assert body["result"]["runId"] == f"{key}-0001"
    status, _, body = await signed(
        emulator, "POST", "/session/exec-ids", body={"mode": "query", "code": "1", "runId": "short"}
    )
    assert status == 400 and "runId" in body["data"]
    status, _, body = await signed(
        emulator, "POST", "/session/exec-ids", body={"mode": "continue", "code": ""}
    )
    assert status == 400


async def test_older_api_version_only_accepts_its_versions() -> None:
    async with Emulator(api_version="v7.20230615") as old:
        status, _, body = await signed(old, "GET", "/session/abcd", version="v9.20250722")
        assert (status, body["msg"]) == (400, "Unsupported API version.")
        status, _, _ = await signed(old, "GET", "/session/abcd", version="v7.20230615")
        assert status == 404


def test_create_app_refuses_unknown_versions() -> None:
    with pytest.raises(ValueError, match="cannot speak"):
        create_app(api_version="v4.20190615")


@pytest.mark.corrected_by_real_manager
async def test_reused_session_answer_uses_snake_case_service_ports(emulator: Emulator) -> None:
    # The 23.09 manager answers a reused session with "service_ports": null, a new one with
    # "servicePorts": [...]; the emulator first answered both alike.
    request = {"image": "python", "name": "quirk-ports"}
    _, _, first = await signed(emulator, "POST", "/session", body=request)
    _, _, second = await signed(emulator, "POST", "/session", body=request)
    assert "servicePorts" in first
    assert second["service_ports"] is None
    assert "servicePorts" not in second


@pytest.mark.corrected_by_real_manager
async def test_api_v7_refuses_execute_without_run_id() -> None:
    # The 23.09 manager answers 400 "runId is missing!" where newer ones assign a run id.
    async with Emulator(api_version="v7.20230615") as old:
        status, _, _ = await signed(
            old,
            "POST",
            "/session",
            body={"image": "python", "name": "no-run-id"},
            version="v7.20230615",
        )
        assert status == 201
        status, _, body = await signed(
            old,
            "POST",
            "/session/no-run-id",
            body={"mode": "query", "code": "print(1)"},
            version="v7.20230615",
        )
        assert (status, body["type"], body["msg"]) == (
            400,
            PROBS + "invalid-api-params",
            "runId is missing!",
        )


async def test_api_v7_assigns_a_run_id_to_a_null_one() -> None:
    # 23.09's agent assigns a run id to "runId": null (what the official SDK 23.9.10 sends).
    async with Emulator(release="23.09") as old:
        v7 = "v7.20230615"
        session = {"image": "python", "name": "null-run-id"}
        await signed(old, "POST", "/session", body=session, version=v7)
        status, _, body = await signed(
            old,
            "POST",
            "/session/null-run-id",
            body={"mode": "query", "code": "print(6 * 7)", "runId": None},
            version=v7,
        )
        assert status == 200
        assert body["result"]["status"] == "finished"
        assert body["result"]["runId"]
        assert body["result"]["console"] == [["stdout", "42\n"]]


@pytest.mark.corrected_by_real_manager
async def test_not_found_and_conflict_details(emulator: Emulator) -> None:
    # The real manager names the missing session in msg and returns {"stats": ...} on destroy.
    _, _, body = await signed(emulator, "DELETE", "/session/ghost-session")
    assert body["msg"] == "No SessionRow matches the given key"  # 26.9's words
    await signed(emulator, "POST", "/session", body={"image": "python", "name": "to-destroy"})
    status, _, body = await signed(emulator, "DELETE", "/session/to-destroy")
    assert (status, body) == (200, {"stats": {"status": "terminated"}})


def invalid26(data: Any) -> dict[str, Any]:
    """The "Input validation error" body as 26.9 (the default profile) words it."""
    return {**invalid(data), "error_code": "api_generic_invalid-parameters"}


async def test_execute_refuses_lists_and_objects_where_text_goes(admin_wire: Wire) -> None:
    await admin_wire.create_session("exec-types")
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"mode": ["query"], "runId": "run-00001"}, {"mode": "value doesn't match any variant"}),
        ({"mode": {"query": 1}, "runId": "run-00001"}, {"mode": "value doesn't match any variant"}),
        ({"mode": "query", "runId": ["run-00001"]}, {"runId": RUN_ID_ERROR}),
        ({"mode": "query", "code": ["1"], "runId": "run-00001"}, {"code": "value is not a string"}),
        ({"mode": "query", "options": [1], "runId": "run-00001"}, {"options": OPTIONS_ERROR}),
        ({"mode": "complete", "code": "pri", "options": [1]}, {"options": OPTIONS_ERROR}),
        ({"code": "1"}, {"mode": "is required"}),
    ]
    for body, data in cases:
        assert await admin_wire.call("POST", "/session/exec-types", body=body) == (
            400,
            invalid26(data),
        )
    completions: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"code": "pri", "options": [1]}, {"options": OPTIONS_ERROR}),
        ({"code": {"pri": 1}}, {"code": "value is not a string"}),
        ({"code": "pri", "options": "line"}, {"options": OPTIONS_ERROR}),
    ]
    for body, data in completions:
        assert await admin_wire.call("POST", "/session/exec-types/complete", body=body) == (
            400,
            invalid26(data),
        )
    # Both ways of completing answer alike.
    completing = {"code": "", "options": {"line": "pri"}}
    status, direct = await admin_wire.call("POST", "/session/exec-types/complete", body=completing)
    assert status == 200
    assert "print(" in direct["result"]["completions"]
    assert await admin_wire.call(
        "POST", "/session/exec-types", body={"mode": "complete", **completing}
    ) == (200, direct)


RUN_ID_ERROR = {"0": "value should be None", "1": "must be a string of 8 to 64 characters"}
OPTIONS_ERROR = {"0": "value should be None", "1": "value is not a dict"}


@pytest.mark.parametrize(
    ("slot", "amount"),
    [
        ("cpu", "NaN"),
        ("cpu", "sNaN"),
        ("cpu", "-Infinity"),
        ("cpu", "Infinity"),
        ("cpu", [1]),
        ("mem", "NaN"),
        ("mem", "nang"),
        ("mem", "infg"),
        ("mem", {"g": 1}),
    ],
)
async def test_resources_that_are_not_finite_amounts_are_refused(
    admin_wire: Wire, slot: str, amount: Any
) -> None:
    body = {"image": "python", "name": "not-finite", "config": {"resources": {slot: amount}}}
    status, problem = await admin_wire.call("POST", "/session", body=body)
    assert (status, problem["type"], problem["msg"]) == (
        400,
        PROBS + "invalid-api-params",
        f"Invalid resource allocation: Cannot convert the slot {slot!r} to decimal: {amount!r}",
    )
