"""Model serving end to end: a tiny HTTP model deployed from a folder, called at its URL."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import aiohttp
import pytest

from backendai_aio import Client, NotFoundError, ServiceNotReadyError
from backendai_aio.emulator import USER_ACCESS_KEY, USER_SECRET_KEY, Emulator
from backendai_aio.emulator._services import SERVICES_KEY

from .wire import Wire

pytestmark = pytest.mark.timeout(60)

# A model: answers every GET with its greeting (from the environment), its port and pid.
MODEL = b"""\
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({
            "greeting": os.environ.get("GREETING", "hello"),
            "path": self.path,
            "port": int(sys.argv[1]),
            "pid": os.getpid(),
            "authorization": self.headers.get("Authorization"),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

DEFINITION = b"""\
models:
  - name: "echo-model"
    model_path: "/models"
    service:
      start_command:
        - python
        - /models/server.py
        - "8000"
      port: 8000
      health_check:
        path: /health
        max_retries: 10
        interval: 1
"""

BROKEN = b"""\
models:
  - name: broken
    model_path: /models
    service:
      start_command: python -c "import sys; print('model weights missing'); sys.exit(3)"
      port: 8000
"""


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    # The emulator's own defaults (the 26.9 profile, its flush window and execution timeout).
    return {"flush_window": 0.5, "exec_timeout": 60.0}


async def _model_folder(client: Client, name: str, definition: bytes = DEFINITION) -> None:
    await client.vfolders.create(name, usage_mode="model")
    await client.vfolders.get(name).upload(MODEL, "server.py")
    await client.vfolders.get(name).upload(definition, "model-definition.yaml")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def _until_gone(pids: list[int], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if not any(_alive(pid) for pid in pids):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"processes still running: {[p for p in pids if _alive(p)]}")


async def test_a_model_folder_serves_through_its_endpoint(
    emulator: Emulator, admin_client: Client
) -> None:
    await _model_folder(admin_client, "echo-model")
    created = await admin_client.services.create(
        "echo-model",
        name="echo-svc",
        image="python:3.12",
        environ={"GREETING": "bonjour"},
        resources={"cpu": 1, "mem": "256m"},
    )
    service_id = uuid.UUID(created["endpoint_id"])
    info = await admin_client.services.wait_ready(service_id, timeout=30)
    assert len(info["active_routes"]) == 1
    assert info.get("runtime_variant") == "custom"
    url = info["service_endpoint"]
    assert url is not None and url.startswith("http://127.0.0.1:")
    listed = await admin_client.services.list()
    assert [(s["name"], s["active_route_count"]) for s in listed] == [("echo-svc", 1)]

    token = await admin_client.services.generate_token(service_id, duration="10m")
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "predict?x=1") as response:
            assert response.status == 401
        bad = {"Authorization": "BackendAI not-the-token"}
        async with http.get(url + "predict", headers=bad) as response:
            assert response.status == 403
        good = {"Authorization": f"BackendAI {token}"}
        async with http.get(url + "predict?x=1", headers=good) as response:
            assert response.status == 200
            answer = await response.json()
        assert answer["greeting"] == "bonjour"
        assert answer["path"] == "/predict?x=1"
        # The token is the endpoint's business: the model never sees it.
        assert answer["authorization"] is None
        first_pid = answer["pid"]

        # Two replicas: both serve, on ports of their own.
        scaled = await admin_client.services.scale(service_id, 2)
        assert scaled["target_count"] == 2
        info = await admin_client.services.wait_ready(service_id, timeout=30)
        assert len(info["active_routes"]) == 2
        pids = set()
        for _ in range(10):
            async with http.get(url, headers=good) as response:
                pids.add((await response.json())["pid"])
        assert len(pids) == 2
        assert sorted(emulator._app[SERVICES_KEY].pids(service_id)) == sorted(pids)

        # Back to one: a process stops.
        await admin_client.services.scale(service_id, 1)
        info = await admin_client.services.wait_ready(service_id, timeout=30)
        assert len(info["active_routes"]) == 1
        remaining = emulator._app[SERVICES_KEY].pids(service_id)
        assert len(remaining) == 1
        await _until_gone([pid for pid in pids if pid not in remaining])
        assert first_pid in pids

        # Deleting the service stops its processes and its endpoint.
        assert (await admin_client.services.delete(service_id)) == {"success": True}
        await _until_gone(list(pids))
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(url, headers=good):
                pass
    with pytest.raises(NotFoundError):
        await admin_client.services.info(service_id)
    assert await admin_client.services.list() == []


async def test_a_public_service_needs_no_token(admin_client: Client) -> None:
    await _model_folder(admin_client, "public-model")
    created = await admin_client.services.create("public-model", open_to_public=True)
    info = await admin_client.services.wait_ready(created["endpoint_id"], timeout=30)
    assert info["is_public"] is True
    url = info["service_endpoint"]
    assert url is not None
    async with aiohttp.ClientSession() as http, http.get(url + "hi") as response:
        assert response.status == 200
        assert (await response.json())["path"] == "/hi"


async def test_a_failing_model_shows_in_errors_and_wait_ready_says_so(admin_client: Client) -> None:
    await _model_folder(admin_client, "broken-model", BROKEN)
    created = await admin_client.services.create("broken-model", name="broken-svc")
    with pytest.raises(ServiceNotReadyError) as raised:
        await admin_client.services.wait_ready(created["endpoint_id"], timeout=30)
    assert raised.value.reason == "failed"
    assert "model weights missing" in str(raised.value)
    errors = await admin_client.services.errors(created["endpoint_id"])
    assert errors["retries"] == 1
    assert "exited with status 3" in errors["errors"][0]["error"]["repr"]
    await admin_client.services.clear_errors(created["endpoint_id"])
    # Cleared, a new replica is tried (and fails again, the model being broken).
    for _ in range(100):
        errors = await admin_client.services.errors(created["endpoint_id"])
        if errors["errors"]:
            break
        await asyncio.sleep(0.05)
    assert errors["retries"] == 1


async def test_wait_ready_times_out_and_notices_deletion(admin_client: Client) -> None:
    slow = DEFINITION.replace(b"path: /health", b"path: /health\n        expected_status_code: 204")
    await _model_folder(admin_client, "slow-model", slow)
    created = await admin_client.services.create("slow-model")
    with pytest.raises(ServiceNotReadyError) as raised:
        await admin_client.services.wait_ready(created["endpoint_id"], timeout=0.5)
    assert raised.value.reason == "timeout"
    waiting = asyncio.create_task(
        admin_client.services.wait_ready(created["endpoint_id"], timeout=20)
    )
    await asyncio.sleep(0.3)
    await admin_client.services.delete(created["endpoint_id"])
    with pytest.raises(ServiceNotReadyError) as raised:
        await waiting
    assert raised.value.reason == "gone"


async def test_routes_can_be_weighted_and_replaced(admin_client: Client) -> None:
    await _model_folder(admin_client, "routes-model")
    created = await admin_client.services.create("routes-model", replicas=2)
    info = await admin_client.services.wait_ready(created["endpoint_id"], timeout=30)
    first, second = (route["route_id"] for route in info["active_routes"])
    await admin_client.services.update_route(created["endpoint_id"], first, 0)
    token = await admin_client.services.generate_token(created["endpoint_id"])
    url = info["service_endpoint"]
    assert url is not None
    async with aiohttp.ClientSession() as http:
        ports = set()
        for _ in range(6):
            headers = {"Authorization": f"Bearer {token}"}
            async with http.get(url, headers=headers) as response:
                ports.add((await response.json())["port"])
    assert len(ports) == 1
    await admin_client.services.delete_route(created["endpoint_id"], second)
    # The wanted count stays two: a replacement starts.
    info = await admin_client.services.wait_ready(created["endpoint_id"], timeout=30)
    assert len(info["active_routes"]) == 2
    assert second not in {route["route_id"] for route in info["active_routes"]}
    assert (await admin_client.services.sync(created["endpoint_id"]))["success"] is True


async def test_runtimes_and_unknown_services(admin_client: Client) -> None:
    runtimes = await admin_client.services.runtimes()
    assert {"name": "vllm", "human_readable_name": "vLLM"} in runtimes
    with pytest.raises(NotFoundError):
        await admin_client.services.info(uuid.uuid4())
    body = await admin_client.request("GET", "/services")
    assert body == []


async def test_unknown_services_answer_as_each_release_does() -> None:
    # As the real managers answer (tests/integration/test_services.py): 26.9 checks the
    # caller's permission on the deployment first, 23.09 answers a plain 404.
    missing = uuid.uuid4()
    async with Emulator() as emulator, aiohttp.ClientSession() as http:
        user = Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)
        for method, path, permission in [
            ("GET", f"/services/{missing}", "READ: 1"),
            ("POST", f"/services/{missing}/scale", "UPDATE: 2"),
            ("POST", f"/services/{missing}/token", "CREATE: 4"),
            ("DELETE", f"/services/{missing}", "SOFT_DELETE: 8"),
            ("DELETE", f"/services/{missing}/routings/{uuid.uuid4()}", "SOFT_DELETE: 8"),
        ]:
            status, problem = await user.call(method, path)
            assert status == 403, (method, path)
            assert problem["error_code"] == "permission_access_forbidden"
            assert f"<Permission.{permission}> on deployment {missing}" in problem["msg"]
        status, problem = await Wire(emulator, http).call("GET", f"/services/{missing}")
        assert (status, problem["title"]) == (404, "No such model service.")
        status, problem = await user.call("GET", "/services/not-a-uuid")
        assert (status, problem["error_code"]) == (400, "api_parsing_invalid-parameters")
    async with Emulator(release="23.09") as emulator, aiohttp.ClientSession() as http:
        user = Wire(emulator, http, access_key=USER_ACCESS_KEY, secret_key=USER_SECRET_KEY)
        status, problem = await user.call("GET", f"/services/{missing}")
        assert (status, problem["title"]) == (404, "No such object.")
        status, problem = await user.call("GET", "/services/not-a-uuid")
        assert (status, problem["title"]) == (500, "Internal server error.")


async def test_emulator_shutdown_stops_every_replica() -> None:
    async with Emulator() as emulator, Client(emulator.config) as client:
        await _model_folder(client, "shutdown-model")
        created = await client.services.create("shutdown-model", replicas=2)
        await client.services.wait_ready(created["endpoint_id"], timeout=30)
        pids = emulator._app[SERVICES_KEY].pids(uuid.UUID(created["endpoint_id"]))
        assert len(pids) == 2
    await _until_gone(pids)


async def test_the_2309_profile_speaks_the_legacy_shapes() -> None:
    async with Emulator(api_version="v7.20230615") as emulator, Client(emulator.config) as client:
        await _model_folder(client, "legacy-model")
        created = await client.services.create("legacy-model", image="python:3.12")
        assert set(created) == {"endpoint_id"}
        info = await client.services.wait_ready(created["endpoint_id"], timeout=30)
        assert "replicas" not in info and "runtime_variant" not in info
        assert "replicas" not in (await client.services.list())[0]
        with pytest.raises(NotFoundError):
            await client.services.runtimes()
        # 23.09 refuses the keys it does not know.
        from backendai_aio import BadRequestError

        with pytest.raises(BadRequestError):
            await client.services.create("legacy-model", image="x", runtime_variant="vllm")


async def test_a_replica_that_dies_is_replaced_by_sync(
    emulator: Emulator, admin_client: Client
) -> None:
    await _model_folder(admin_client, "dying-model")
    created = await admin_client.services.create("dying-model", open_to_public=True)
    service_id = uuid.UUID(created["endpoint_id"])
    info = await admin_client.services.wait_ready(service_id, timeout=30)
    url = info["service_endpoint"]
    assert url is not None
    [pid] = emulator._app[SERVICES_KEY].pids(service_id)
    os.kill(pid, 9)
    for _ in range(200):
        if not (await admin_client.services.info(service_id))["active_routes"]:
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 503
        await admin_client.services.sync(service_id)
        await admin_client.services.wait_ready(service_id, timeout=30)
        async with http.get(url) as response:
            assert response.status == 200
            assert (await response.json())["pid"] != pid


async def test_the_wire_refuses_what_the_manager_refuses(
    admin_client: Client, admin_wire: Wire, user_wire: Wire
) -> None:
    await _model_folder(admin_client, "wire-model")
    good = {
        "name": "wire-svc",
        "replicas": 1,
        "config": {"model": "wire-model", "scaling_group": "default"},
    }
    status, created = await admin_wire.call("POST", "/services", body=good)
    assert status == 201
    assert created["replicas"] == 1 and created["model_id"] and created["active_routes"] == []
    sid = created["endpoint_id"]
    cases = [
        ("POST", "/services", {**good, "name": "x y"}, 400),
        ("POST", "/services", {**good, "name": "wire-svc"}, 400),  # the name is taken
        (
            "POST",
            "/services",
            {**good, "config": {"model": "nope", "scaling_group": "default"}},
            400,
        ),
        ("POST", "/services", {**good, "replicas": 99}, 400),
        ("POST", "/services", {**good, "runtime_variant": "unknown"}, 400),
        ("POST", "/services", {**good, "config": {"model": "wire-model"}}, 400),
        ("GET", "/services/not-a-uuid", None, 400),
        ("GET", f"/services/{uuid.uuid4()}", None, 404),
        ("POST", f"/services/{sid}/scale", {"to": -1}, 400),
        ("POST", f"/services/{sid}/token", {}, 400),
        ("POST", f"/services/{sid}/token", {"valid_until": 1}, 400),
        ("PUT", f"/services/{sid}/routings/{uuid.uuid4()}", {"traffic_ratio": 1}, 404),
        ("DELETE", f"/services/{sid}/routings/{uuid.uuid4()}", None, 404),
    ]
    for method, path, body, expected in cases:
        status, problem = await admin_wire.call(method, path, body=body)
        assert (method, path, status) == (method, path, expected), problem
        assert problem["type"].startswith("https://api.backend.ai/probs/")
    # Another user neither sees nor reaches it: 26.9 answers a permission error.
    assert await user_wire.call("GET", "/services") == (200, [])
    status, problem = await user_wire.call("GET", f"/services/{sid}")
    assert (status, problem["type"]) == (403, "https://api.backend.ai/probs/not-enough-permission")
    await admin_client.vfolders.get("wire-model").delete_files(["model-definition.yaml"])
    status, problem = await admin_wire.call("POST", "/services", body={**good, "name": "wire-svc2"})
    assert status == 400 and "definition" in problem["msg"]


async def test_try_start_runs_a_trial_and_keeps_nothing(
    emulator: Emulator, admin_client: Client
) -> None:
    await _model_folder(admin_client, "trial-model")
    task = await admin_client.services.try_start("trial-model", image="python:3.12")
    uuid.UUID(task["task_id"])
    registry = emulator._app[SERVICES_KEY]
    pids: list[int] = []
    for _ in range(200):
        pids = [pid for sid in registry.services for pid in registry.pids(sid)]
        if pids:
            break
        await asyncio.sleep(0.02)
    assert pids, "the trial never started a replica"
    # Not listed while it runs, and gone (process and all) once it answered.
    assert await admin_client.services.list() == []
    for _ in range(200):
        if not registry.services:
            break
        await asyncio.sleep(0.05)
    assert registry.services == {}
    await _until_gone(pids)
    assert await admin_client.services.list() == []


async def test_a_start_command_that_cannot_run_is_an_error(admin_client: Client) -> None:
    missing = BROKEN.replace(
        b"""python -c "import sys; print('model weights missing'); sys.exit(3)\"""",
        b"no-such-program-for-the-model --serve",
    )
    assert b"no-such-program" in missing
    await _model_folder(admin_client, "missing-model", missing)
    created = await admin_client.services.create("missing-model")
    with pytest.raises(ServiceNotReadyError) as raised:
        await admin_client.services.wait_ready(created["endpoint_id"], timeout=20)
    assert raised.value.reason == "failed"
    assert "cannot run the start command 'no-such-program-for-the-model'" in str(raised.value)


async def test_graphql_endpoints_are_the_services(
    emulator: Emulator, admin_client: Client, user_client: Client
) -> None:
    await _model_folder(admin_client, "gql-model")
    created = await admin_client.services.create(
        "gql-model", name="gql-svc", image="cr.backend.ai/stable/python:3.9-ubuntu20.04"
    )
    service_id = created["endpoint_id"]
    await admin_client.services.wait_ready(uuid.UUID(service_id), timeout=30)
    fields = (
        "endpoint_id name image image_object { name } replicas desired_session_count url "
        "status lifecycle_stage routings { status health_status traffic_ratio }"
    )
    listed = await admin_client.query(
        f"{{ endpoint_list(limit: 10, offset: 0) {{ total_count items {{ {fields} }} }} }}"
    )
    assert listed["endpoint_list"]["total_count"] == 1
    (item,) = listed["endpoint_list"]["items"]
    assert item["endpoint_id"] == service_id
    assert item["name"] == "gql-svc"
    # As on the manager: the deprecated ``image`` is null, ``image_object`` names the image.
    assert item["image"] is None
    assert item["image_object"] == {"name": "stable/python"}
    assert (item["replicas"], item["desired_session_count"]) == (1, 1)
    assert item["url"].startswith("http://127.0.0.1:")
    # The 26.9 profile: a running route is RUNNING, its health separate.
    assert item["routings"] == [
        {"status": "RUNNING", "health_status": "HEALTHY", "traffic_ratio": 1.0}
    ]
    assert (item["status"], item["lifecycle_stage"]) == ("HEALTHY", "EndpointLifecycle.READY")
    one = await admin_client.query(
        "query($id: UUID!) { endpoint(endpoint_id: $id) { name } }", {"id": service_id}
    )
    assert one == {"endpoint": {"name": "gql-svc"}}
    filtered = await admin_client.query(
        '{ endpoint_list(limit: 10, offset: 0, filter: "name == \\"other\\"") { total_count } }'
    )
    assert filtered == {"endpoint_list": {"total_count": 0}}
    # A plain user sees only their own services, and not someone else's by id.
    mine = await user_client.query("{ endpoint_list(limit: 10, offset: 0) { total_count } }")
    assert mine == {"endpoint_list": {"total_count": 0}}
    body = {
        "query": "query($id: UUID!) { endpoint(endpoint_id: $id) { name } }",
        "variables": {"id": service_id},
    }
    answer = await user_client.request("POST", "/admin/gql", json=body)
    assert answer["data"] == {"endpoint": None}
    assert answer["errors"][0]["message"] == "No such endpoint."
