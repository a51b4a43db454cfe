"""Model serving (``client.services``) against the real managers.

Neither stack of the tier can start a replica: 26.9.6 refuses a new service with 503 until a
resource group names an app-proxy coordinator (the tier runs none), and 23.09.10's ``default``
resource group takes no inference sessions. What the stacks can serve is checked as they
answer: the listing, the runtimes, the refusal of ``create``, and the answers for a service
that does not exist, which differ between the releases (26.9 checks permissions first).
"""

from __future__ import annotations

import uuid

import pytest

from backendai_aio import (
    Client,
    InternalServerError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)

from ._support import PROBS, Release

MODEL_DEFINITION = b"""models:
  - name: echo
    model_path: /models
    service:
      start_command: [python3, -m, http.server, "8000"]
      port: 8000
"""


async def test_list_and_runtimes(user_client: Client, release: Release) -> None:
    assert isinstance(await user_client.services.list(), list)
    if release.is_2309:
        # 23.09 has no runtime variants: the route does not exist there.
        with pytest.raises(NotFoundError) as caught:
            await user_client.services.runtimes()
        assert caught.value.title == "Unknown URL path."
        return
    runtimes = {runtime["name"] for runtime in await user_client.services.runtimes()}
    assert {"custom", "vllm", "cmd"} <= runtimes


async def test_create_is_refused_without_an_inference_group(
    user_client: Client, release: Release
) -> None:
    folder = f"svc-model-{uuid.uuid4().hex[:8]}"
    await user_client.vfolders.create(folder, usage_mode="model")
    try:
        await user_client.vfolders.get(folder).upload(
            MODEL_DEFINITION, target_path="model-definition.yaml"
        )
        if release.is_2309:
            with pytest.raises(NotFoundError) as caught:
                await user_client.services.create(folder, image="python", name="svc-refused")
            assert "does not accept the session type" in (caught.value.msg or "")
        else:
            with pytest.raises(InternalServerError) as refused:
                await user_client.services.create(folder, image="python", name="svc-refused")
            assert refused.value.status == 503
            assert "No coordinator configured" in (refused.value.msg or "")
        assert [s for s in await user_client.services.list() if s["name"] == "svc-refused"] == []
    finally:
        await user_client.vfolders.get(folder).delete()


async def test_unknown_service(user_client: Client, admin_client: Client, release: Release) -> None:
    missing = uuid.uuid4()
    if release.is_2309:
        for client in (user_client, admin_client):
            with pytest.raises(NotFoundError) as caught:
                await client.services.info(missing)
            assert caught.value.problem_type == PROBS + "object-not-found"
            assert caught.value.title == "No such object."
        return
    # 26.9 checks the caller's permission on the deployment before looking it up.
    calls = {
        "READ": user_client.services.info(missing),
        "UPDATE": user_client.services.scale(missing, 2),
        "CREATE": user_client.services.generate_token(missing),
        "SOFT_DELETE": user_client.services.delete(missing),
    }
    for permission, call in calls.items():
        with pytest.raises(PermissionDeniedError) as denied:
            await call
        assert denied.value.problem_type == PROBS + "not-enough-permission"
        assert f"<Permission.{permission}:" in (denied.value.msg or "")
    with pytest.raises(NotFoundError) as caught:
        await admin_client.services.info(missing)
    assert caught.value.title == "No such model service."


async def test_malformed_id_is_refused_before_sending(user_client: Client) -> None:
    with pytest.raises(InvalidArgumentError):
        await user_client.services.info("not-a-uuid")
