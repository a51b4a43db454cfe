"""The official SDK's calls, run by the python of an official SDK's venv (not by the suite's).

``python driver.py SCENARIO WORKDIR NAME`` makes the scenario's calls with the SDK's
synchronous ``Session`` (configured by ``BACKEND_ENDPOINT``, ``BACKEND_ACCESS_KEY`` and
``BACKEND_SECRET_KEY``) and prints one JSON object of what they answered on its last line of
standard output. WORKDIR is a scratch folder for the files uploaded and downloaded; NAME names
the session or folder the scenario creates. Written for Python 3.11 and 3.13 alike, with only
the standard library and the SDK: it never imports the project.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from ai.backend.client.session import Session  # type: ignore[import-not-found]

SDK_VERSION = version("backend.ai-client")
IS_23 = SDK_VERSION.startswith("23.")


def _run(kernel: Any, code: str) -> dict[str, Any]:
    """Execute *code* to its end (following ``continued``); its stdout, stderr and status."""
    result = kernel.execute(code=code, mode="query")
    run_id = result["runId"]
    console = list(result["console"])
    while result["status"] == "continued":
        result = kernel.execute(run_id, code="", mode="continue")
        console.extend(result["console"])
    stdout = "".join(item[1] for item in console if item[0] == "stdout")
    stderr = "".join(item[1] for item in console if item[0] == "stderr")
    return {"status": result["status"], "stdout": stdout, "stderr": stderr, "run_id": run_id}


def session_scenario(api: Any, work: Path, name: str) -> dict[str, Any]:
    """Get-or-create, state across executes, files up and down, info, logs, destroy."""
    out: dict[str, Any] = {}
    kernel = api.ComputeSession.get_or_create("python", name=name)
    out["created"] = bool(kernel.created)
    again = api.ComputeSession.get_or_create("python", name=name)
    out["created_again"] = bool(again.created)
    out["define"] = _run(kernel, "answer = 6 * 7")
    out["use"] = _run(kernel, "print(answer)")
    out["error"] = _run(kernel, "raise ValueError('boom')")
    source = work / "up"
    source.mkdir()
    (source / "hello.txt").write_text("hello from the official SDK\n", encoding="utf-8")
    kernel.upload([source / "hello.txt"], basedir=source)
    out["read_uploaded"] = _run(kernel, "print(open('hello.txt').read(), end='')")
    listing = kernel.list_files(".")
    files = listing["files"]
    if isinstance(files, str):  # 23.09 answers the listing as JSON text
        files = json.loads(files)
    out["files"] = sorted(entry["filename"] for entry in files)
    _run(kernel, "open('made.txt', 'w').write('made in the session\\n')")
    dest = work / "down"
    dest.mkdir()
    kernel.download(["made.txt"], dest=dest)
    out["downloaded"] = (dest / "made.txt").read_text(encoding="utf-8")
    info = kernel.get_info()
    out["info"] = {key: info.get(key) for key in ("status", "image", "domainName", "groupName")}
    logs = kernel.get_logs()
    out["logs_type"] = type(logs.get("result", {}).get("logs")).__name__
    kernel.destroy()
    out["destroyed"] = True
    return out


def folder_scenario(api: Any, work: Path, name: str) -> dict[str, Any]:
    """Folder create, list, upload, ls, download, delete."""
    out: dict[str, Any] = {}
    created = api.VFolder.create(name)
    out["created_name"] = created["name"]
    out["listed"] = sorted(entry["name"] for entry in api.VFolder.list())
    folder = api.VFolder(name)
    source = work / "up"
    source.mkdir()
    (source / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    folder.upload(["data.csv"], basedir=source)
    listing = folder.list_files(".")
    items = listing["items"] if "items" in listing else listing["files"]
    if isinstance(items, str):
        items = json.loads(items)
    out["files"] = sorted(item["name"] for item in items)
    dest = work / "down"
    dest.mkdir()
    folder.download(["data.csv"], basedir=dest)
    out["downloaded"] = (dest / "data.csv").read_text(encoding="utf-8")
    folder.delete()
    out["listed_after_delete"] = sorted(
        entry["name"] for entry in api.VFolder.list() if entry.get("status") != "delete-pending"
    )
    return out


def presets_scenario(api: Any, work: Path, name: str) -> dict[str, Any]:
    """The resource presets, and which of them the keypair can start now."""
    presets = api.Resource.list()
    checked = api.Resource.check_presets() if IS_23 else api.Resource.check_presets("default")
    return {
        "names": sorted(preset["name"] for preset in presets["presets"]),
        "checked_names": sorted(preset["name"] for preset in checked["presets"]),
        "has_remaining": "keypair_remaining" in checked,
    }


def graphql_scenario(api: Any, work: Path, name: str) -> dict[str, Any]:
    """GraphQL: the caller's keypair, and the image rows."""
    keypair = api.Admin.query("{ keypair { access_key is_admin is_active } }")
    images = api.Admin.query("{ images { name tag registry } }")
    return {
        "keypair": keypair["keypair"],
        "image_names": sorted({image["name"] for image in images["images"]}),
    }


def webserver_scenario(work: Path, credentials: str) -> dict[str, Any]:
    """Log in to the webserver (``endpoint_type="session"``) as *credentials* (``email:password``),
    then call the manager through it. Over plain HTTP the 26.9 SDK encrypts the login body."""
    from ai.backend.client.config import APIConfig  # type: ignore[import-not-found]

    email, _, password = credentials.partition(":")
    config = APIConfig(endpoint=os.environ["BACKEND_ENDPOINT"], endpoint_type="session")
    with Session(config=config) as api:
        login = api.Auth.login(email, password)
        out: dict[str, Any] = {"authenticated": login["authenticated"], "data": login["data"]}
        if login["authenticated"]:
            api.aiohttp_session.cookie_jar.update_cookies(login["cookies"])
            out["keypair"] = api.Admin.query("{ keypair { access_key is_admin } }")["keypair"]
            out["presets"] = sorted(p["name"] for p in api.Resource.list()["presets"])
            if not IS_23:
                out["encrypted_query"] = _encrypted_query(config, login["cookies"])
    return out


def _encrypted_query(config: Any, cookies: Any) -> Any:
    """A GraphQL call through the webserver with its body encrypted as the SDK encrypts the
    login's (26.9's ``encrypt_payload``, header ``X-BackendAI-Encoded``)."""
    import asyncio

    from ai.backend.client.auth import encrypt_payload  # type: ignore[import-not-found]
    from ai.backend.client.request import Request  # type: ignore[import-not-found]
    from ai.backend.client.session import AsyncSession  # type: ignore[import-not-found, unused-ignore]

    async def call() -> Any:
        async with AsyncSession(config=config) as api:
            api.aiohttp_session.cookie_jar.update_cookies(cookies)
            rqst = Request("POST", "/admin/gql")
            rqst.headers["X-BackendAI-Encoded"] = "true"
            body = json.dumps({"query": "{ keypair { access_key is_admin } }"}).encode()
            rqst.set_content(encrypt_payload(str(config.endpoint), body))
            async with rqst.fetch() as resp:
                return await resp.json()

    return asyncio.run(call())


#: Scenarios that make their own ``Session`` (the others are given one).
OWN_SESSION: dict[str, Callable[[Path, str], dict[str, Any]]] = {
    "webserver": webserver_scenario,
}

SCENARIOS: dict[str, Callable[[Any, Path, str], dict[str, Any]]] = {
    "session": session_scenario,
    "folder": folder_scenario,
    "presets": presets_scenario,
    "graphql": graphql_scenario,
}


def main() -> None:
    """Run the scenario named on the command line and print its answers as JSON."""
    scenario, work, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    if scenario in OWN_SESSION:
        print(json.dumps({"sdk": SDK_VERSION, **OWN_SESSION[scenario](work, name)}))
        return
    with Session() as api:
        answers = SCENARIOS[scenario](api, work, name)
    print(json.dumps({"sdk": SDK_VERSION, **answers}))


if __name__ == "__main__":
    main()
