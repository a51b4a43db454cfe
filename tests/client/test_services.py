"""``client.request`` and ``client.services``: pure parts as tables, calls on a transport."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from backendai_aio import (
    BackendError,
    Client,
    InvalidArgumentError,
    NotFoundError,
    ServiceNotReadyError,
    Services,
    Transport,
    TrialOptions,
)
from backendai_aio._paths import relative_path
from backendai_aio._service_types import (
    Readiness,
    readiness,
    service_body,
    service_id,
    token_body,
)
from backendai_aio._timeouts import NOT_GIVEN, TimeoutArg
from backendai_aio.emulator._model_definition import (
    DefinitionError,
    parse_definition,
    parse_yaml,
)
from backendai_aio.emulator._service_proxy import round_robin
from backendai_aio.emulator._services import replica_command

SID = "8d2b9c5e-0d7a-4a8f-9c1e-3f5a6b7c8d9e"


# -- the escape hatch ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/services", "services"),
        ("services", "services"),
        ("/services/_/runtimes", "services/_/runtimes"),
        ("/folders/my%20folder", "folders/my%20folder"),
        ("/", ""),
    ],
)
def test_relative_path_accepts_routes(path: str, expected: str) -> None:
    assert relative_path("GET", path).raw_path == expected


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "https://evil.example/services"),
        ("GET", "//evil.example/services"),
        ("GET", "/services?name=x"),
        ("GET", "/services#x"),
        ("GET", "/services/../admin"),
        ("GET", "/services/./x"),
        ("GET", "/ser vices"),
        ("GET", "/services\n"),
        ("get", "/services"),
        ("", "/services"),
        ("GET", b"/services"),
    ],
)
def test_relative_path_refuses_what_would_go_elsewhere(method: str, path: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        relative_path(method, path)


async def test_request_signs_any_route_with_the_same_errors(admin_client: Client) -> None:
    assert await admin_client.request("GET", "/services") == []
    assert isinstance(await admin_client.request("GET", "folders"), list)
    with pytest.raises(NotFoundError) as raised:
        await admin_client.request("GET", f"/services/{SID}")
    assert raised.value.status == 404 and raised.value.method == "GET"
    with pytest.raises(InvalidArgumentError):
        await admin_client.request("GET", "http://127.0.0.1:1/services")


async def test_client_services_is_one_namespace_per_client(admin_client: Client) -> None:
    assert admin_client.services is admin_client.services
    assert isinstance(admin_client.services, Services)


# -- the namespace on a transport ----------------------------------------------------------


class RecordingTransport:
    """A transport answering canned bodies, in turn, and recording the calls."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, Any, Any]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        self.calls.append((method, path, params, json))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def test_a_client_is_a_transport(admin_client: Client) -> None:
    transport: Transport = admin_client._transport
    assert callable(transport.request)


async def test_calls_go_to_the_managers_routes() -> None:
    transport = RecordingTransport(
        [], {"success": True}, {"current_route_count": 1, "target_count": 3},
        {"success": True}, None, {"success": True}, {"success": True}, {"token": "t"},
        {"runtimes": [{"name": "vllm", "human_readable_name": "vLLM"}]}, {"task_id": "x"},
    )  # fmt: skip
    services = Services(cast(Transport, transport))
    route = uuid.uuid4()
    await services.list(name="svc1")
    await services.delete(uuid.UUID(SID))
    await services.scale(SID, 3)
    await services.sync(SID)
    await services.clear_errors(SID)
    await services.update_route(SID, route, 0.5)
    await services.delete_route(SID, str(route))
    assert await services.generate_token(SID, valid_until=1_900_000_000) == "t"
    assert await services.runtimes() == [{"name": "vllm", "human_readable_name": "vLLM"}]
    await services.try_start("model", name="trial1")
    assert [call[:2] for call in transport.calls] == [
        ("GET", "/services"),
        ("DELETE", f"/services/{SID}"),
        ("POST", f"/services/{SID}/scale"),
        ("POST", f"/services/{SID}/sync"),
        ("POST", f"/services/{SID}/errors/clear"),
        ("PUT", f"/services/{SID}/routings/{route}"),
        ("DELETE", f"/services/{SID}/routings/{route}"),
        ("POST", f"/services/{SID}/token"),
        ("GET", "/services/_/runtimes"),
        ("POST", "/services/_/try"),
    ]
    assert transport.calls[0][2] == {"name": "svc1"}
    assert transport.calls[2][3] == {"to": 3}
    assert transport.calls[5][3] == {"traffic_ratio": 0.5}
    assert transport.calls[7][3] == {"valid_until": 1_900_000_000}


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.info("not-a-uuid"),
        lambda s: s.info(42),
        lambda s: s.scale(SID, -1),
        lambda s: s.scale(SID, True),
        lambda s: s.update_route(SID, SID, -0.5),
        lambda s: s.update_route(SID, "x", 1),
        lambda s: s.create("model", name="a b"),
        lambda s: s.create("model", replicas=-1),
        lambda s: s.generate_token(SID, valid_until=1, duration="1h"),
        lambda s: s.wait_ready(SID, timeout=0),
    ],
)
async def test_misuse_is_refused_before_any_call(call: Any) -> None:
    transport = RecordingTransport()
    with pytest.raises(InvalidArgumentError):
        await call(Services(cast(Transport, transport)))
    assert transport.calls == []


async def test_malformed_answers_are_backend_errors() -> None:
    services = Services(cast(Transport, RecordingTransport({"nope": 1}, {"token": 3})))
    with pytest.raises(BackendError):
        await services.runtimes()
    with pytest.raises(BackendError):
        await services.generate_token(SID)


def _info(replicas: int, healthy: int) -> dict[str, Any]:
    routes = [{"route_id": str(uuid.uuid4()), "session_id": None, "traffic_ratio": 1.0}]
    return {
        "endpoint_id": SID,
        "desired_session_count": replicas,
        "active_routes": routes * healthy,
    }


async def test_wait_ready_polls_until_the_routes_are_healthy() -> None:
    transport = RecordingTransport(
        _info(2, 0), {"errors": [], "retries": 0}, _info(2, 1), {"errors": [], "retries": 0},
        _info(2, 2),
    )  # fmt: skip
    info = await Services(cast(Transport, transport)).wait_ready(SID, timeout=10)
    assert len(info["active_routes"]) == 2
    assert [c[1] for c in transport.calls] == [
        f"/services/{SID}",
        f"/services/{SID}/errors",
    ] * 2 + [f"/services/{SID}"]


async def test_wait_ready_reports_a_failed_and_a_gone_service() -> None:
    failure = {"errors": [{"session_id": None, "error": {"repr": "OOM"}}], "retries": 1}
    with pytest.raises(ServiceNotReadyError) as raised:
        await Services(cast(Transport, RecordingTransport(_info(1, 0), failure))).wait_ready(
            SID, timeout=5
        )
    assert raised.value.reason == "failed" and "OOM" in str(raised.value)
    assert raised.value.errors == failure["errors"]
    gone = NotFoundError("GET /services/x: 404", status=404)
    with pytest.raises(ServiceNotReadyError) as raised:
        await Services(cast(Transport, RecordingTransport(gone))).wait_ready(SID, timeout=5)
    assert raised.value.reason == "gone"
    assert isinstance(raised.value, BackendError)


# -- the pure parts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("info", "errors", "expected"),
    [
        (_info(1, 1), None, Readiness.READY),
        (_info(2, 1), None, Readiness.WAIT),
        (_info(2, 1), {"errors": [], "retries": 0}, Readiness.WAIT),
        (_info(2, 1), {"errors": [{"error": {}}], "retries": 1}, Readiness.FAILED),
        # Enough healthy routes: old failures do not matter.
        (_info(1, 1), {"errors": [{"error": {}}], "retries": 1}, Readiness.READY),
        (_info(0, 0), None, Readiness.READY),
        ({**_info(5, 2), "replicas": 2}, None, Readiness.READY),
        (
            {"endpoint_id": SID, "desired_session_count": 1, "active_routes": None},
            None,
            Readiness.WAIT,
        ),
    ],
)
def test_readiness(
    info: dict[str, Any], errors: dict[str, Any] | None, expected: Readiness
) -> None:
    assert readiness(info, errors) is expected


def test_service_body_sends_only_what_was_asked() -> None:
    assert service_body("model", name="svc1", replicas=1) == {
        "name": "svc1",
        "desired_session_count": 1,
        "open_to_public": False,
        "config": {"model": "model", "scaling_group": "default"},
    }
    folder = uuid.uuid4()
    body = service_body(
        folder,
        name="svc-2",
        replicas=2,
        image="python:3.12",
        runtime_variant="vllm",
        environ={"A": "1"},
        resources={"cpu": 1},
        open_to_public=True,
        model_definition_path="defs/model.yaml",
    )
    assert body["config"] == {
        "model": str(folder),
        "model_definition_path": "defs/model.yaml",
        "environ": {"A": "1"},
        "scaling_group": "default",
        "resources": {"cpu": 1},
    }
    assert (body["image"], body["runtime_variant"], body["open_to_public"]) == (
        "python:3.12",
        "vllm",
        True,
    )


def test_service_body_refuses_unknown_options() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown service options: imgae"):
        service_body("model", name="svc1", replicas=1, imgae="python")  # type: ignore[call-arg]
    # A trial replica is neither shared nor tagged.
    with pytest.raises(InvalidArgumentError, match="open_to_public, tag"):
        trial = TrialOptions.__optional_keys__
        service_body("model", name="svc1", replicas=1, allowed=trial, tag="x", open_to_public=True)


async def test_try_start_refuses_what_a_trial_does_not_take(admin_client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="unknown service options: tag"):
        await admin_client.services.try_start("model", tag="x")  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["abc", "-abc", "abc-", "a" * 65, "a b c d", "ünï-code"])
def test_service_body_refuses_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgumentError):
        service_body("model", name=name, replicas=1)


@pytest.mark.parametrize(
    ("valid_until", "duration", "expected"),
    [
        (None, None, {"duration": "1d"}),
        (None, "30m", {"duration": "30m"}),
        (None, "2yr", {"duration": "2yr"}),
        (None, timedelta(hours=1), {"duration": "3600s"}),
        (1_900_000_000, None, {"valid_until": 1_900_000_000}),
        (datetime(2030, 1, 1, tzinfo=UTC), None, {"valid_until": 1893456000}),
    ],
)
def test_token_body(valid_until: Any, duration: Any, expected: dict[str, Any]) -> None:
    assert token_body(valid_until, duration) == expected


@pytest.mark.parametrize(
    ("valid_until", "duration"),
    [
        (None, "soon"),
        (None, timedelta(0)),
        (datetime(2030, 1, 1), None),  # naive: which zone?
        ("2030", None),
        (True, None),
    ],
)
def test_token_body_refuses(valid_until: Any, duration: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        token_body(valid_until, duration)


def test_service_id_normalises() -> None:
    assert service_id(uuid.UUID(SID)) == SID
    assert service_id(SID.upper()) == SID


# -- the emulator's pure parts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: [x, 'y z', \"q\"]\n", {"a": 1, "b": ["x", "y z", "q"]}),
        ("a:\n  - 1\n  - two # comment\n", {"a": [1, "two"]}),
        ("a:\n- k: v\n  n: 2\n- 3\n", {"a": [{"k": "v", "n": 2}, 3]}),
        ("x: {p: 8000, q: true}\n", {"x": {"p": 8000, "q": True}}),
        (
            "x: ~\ny: 1.5\nz: 'it''s'\nu: http://h:1/p#f\n",
            {"x": None, "y": 1.5, "z": "it's", "u": "http://h:1/p#f"},
        ),
        ('{"models": []}', {"models": []}),
        ("---\na: b\n", {"a": "b"}),
    ],
)
def test_parse_yaml(text: str, expected: Any) -> None:
    assert parse_yaml(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "a: |\n  block\n",
        "a: &anchor 1\n",
        "a: 1\na: 2\n",
        "a: [1, [2]]\n",
        "a: 1\n   b: 2\n",
        "a: 1\n---\nb: 2\n",
        "\ta: 1\n",
        'a: "open\n',
    ],
)
def test_parse_yaml_refuses_what_it_does_not_read(text: str) -> None:
    with pytest.raises(DefinitionError):
        parse_yaml(text)


@pytest.mark.parametrize(
    "text",
    [
        "models: []\n",
        "models:\n  - name: m\n",
        "models:\n  - service:\n      port: 8000\n",
        "models:\n  - service:\n      start_command: x\n      port: 70000\n",
        'models:\n  - service:\n      start_command: "unterminated\n      port: 1\n',
    ],
)
def test_parse_definition_needs_a_command_and_port(text: str) -> None:
    with pytest.raises(DefinitionError):
        parse_definition(text)


def test_replica_command_moves_port_and_paths() -> None:
    definition = parse_definition(
        "models:\n  - name: m\n    service:\n"
        "      start_command: python /models/app.py --port=8000 8000 --bind 0.0.0.0:8000 /modelsx\n"
        "      port: 8000\n"
    )
    folder = Path("/data/f")
    words = replica_command(definition, folder=folder, mount="/models", port=4321)
    assert words[1:] == [
        "/data/f/app.py", "--port=4321", "4321", "--bind", "0.0.0.0:4321", "/modelsx",
    ]  # fmt: skip
    assert words[0].endswith("python") or "python" in words[0]


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        ([], set()),
        ([(1, 0.0)], set()),
        ([(1, 1.0)], {1}),
        ([(1, 1.0), (2, 0.0)], {1}),
        ([(1, 1.0), (2, 1.0)], {1, 2}),
    ],
)
def test_round_robin_follows_traffic_ratios(
    candidates: list[tuple[int, float]], expected: set[int]
) -> None:
    pick = round_robin()
    seen = {pick(candidates) for _ in range(20)} - {None}
    assert seen == expected


def test_round_robin_shares_in_proportion() -> None:
    pick = round_robin()
    counts = {1: 0, 2: 0}
    for _ in range(400):
        port = pick([(1, 3.0), (2, 1.0)])
        assert port is not None
        counts[port] += 1
    assert 270 <= counts[1] <= 330
