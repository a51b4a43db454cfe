"""Quickstart: server version, a compute session, ``print("hello")``, clean-up.

Runs against ``BACKEND_ENDPOINT`` (with ``BACKEND_ACCESS_KEY`` / ``BACKEND_SECRET_KEY``) when
it is set, else against a local emulator it starts itself. ``BACKEND_IMAGE`` picks the image
(default ``python``).
"""

from __future__ import annotations

import asyncio
import os
import sys

from backendai_aio import BackendError, Client
from backendai_aio.emulator import configured_or_emulated


async def main() -> None:
    image = os.environ.get("BACKEND_IMAGE", "python")
    async with configured_or_emulated(announce=print) as config, Client(config) as client:
        version = await client.get_server_version()
        print(f"Server: manager {version['manager']}, API {version['version']}")

        session = await client.create_if_not_exists(image)
        name = session["sessionName"]
        print(f"Session {name}: {session['status']}")
        try:
            response = await client.execute(name, None, "query", 'print("hello")')
            result = response["result"]
            while result["status"] == "continued":
                response = await client.execute(name, result["runId"], "continue", "")
                result = response["result"]
            for kind, payload in result["console"]:
                print(f"[{kind}] {payload}", end="")
            print(f"Finished with exit code {result['exitCode']}")
        finally:
            await client.destroy(name)
            print(f"Session {name} destroyed")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except BackendError as error:
        sys.exit(f"Backend.AI call failed ({error.type}): {error}")
