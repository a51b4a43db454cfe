"""The caller's own account: its SSH keypair, its password and its full name.

As the manager serves them (``/auth/...``, any signed caller, or a webserver login):

- ``GET /auth/ssh-keypair``: ``{"ssh_public_key"}`` (23.09 answers null for a keypair that
  has none, 26.09 an empty string).
- ``PATCH /auth/ssh-keypair``: a fresh 2048-bit RSA keypair (the private key in the
  traditional PEM format, the public one in OpenSSH's), made by ``ssh-keygen``; answers
  ``{"ssh_public_key", "ssh_private_key"}``. Without ``ssh-keygen`` on the ``PATH`` it is
  501 ``not-implemented`` with a message saying so.
- ``POST /auth/ssh-keypair`` (``pubkey``, ``privkey``): stores them (each with one
  trailing newline) and answers them. The 26.09 profile checks that they match, as 26.09
  does (400 ``invalid-ssh-private-key``, ``invalid-ssh-public-key`` or
  ``ssh-keypair-mismatch``), when ``ssh-keygen`` can tell.
- ``POST /auth/update-password`` (``old_password``, ``new_password``, ``new_password2``): a
  wrong old password is 401 "Old password mismatch"; two new ones differing 400
  ``{"error_msg": "new password mismatch"}`` (checked first by the 26.09 profile, after the
  old one by the 23.09 one); else the webserver login takes the new one.
- ``POST /auth/update-full-name`` (``email``, ``full_name``): sets the caller's full name
  (the e-mail given is required but, as in the manager, the caller is the one changed).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Final

from aiohttp import web

from ._accounts import ACCOUNTS_KEY
from ._auth import current_keypair
from ._params import read_checked_params
from ._problems import AuthorizationFailed, Problem
from ._sessions import SERVER_VERSION_KEY
from ._validation import Key, string, validate

__all__ = ["SSH_KEYS_KEY", "add_self_service_routes"]

#: Each keypair's SSH keypair (public, private), by access key.
SSH_KEYS_KEY: Final = web.AppKey("ssh_keys", dict[str, tuple[str, str]])
# The API version of the 26.09 profile, which checks uploaded keypairs (and passwords in
# its own order).
_CHECKS_UPLOADS_FROM: Final = 9
_KEYGEN_TIMEOUT: Final = 30.0


class _NoKeygen(Problem):
    status, slug, title = 501, "not-implemented", "Not implemented."


class _BadPrivateKey(Problem):
    status, slug = 400, "invalid-ssh-private-key"
    title = "The SSH private key is invalid or in an unsupported format."


class _BadPublicKey(Problem):
    status, slug = 400, "invalid-ssh-public-key"
    title = "The SSH public key is invalid or in an unsupported format."


class _Mismatch(Problem):
    status, slug = 400, "ssh-keypair-mismatch"
    title = "The SSH public key does not match the private key."


async def _keygen(*args: str) -> tuple[int, bytes]:
    process = await asyncio.create_subprocess_exec(
        "ssh-keygen",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), _KEYGEN_TIMEOUT)
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out


async def generate_keypair() -> tuple[str, str]:
    """A fresh RSA keypair from ``ssh-keygen``: (OpenSSH public key, PEM private key)."""
    if shutil.which("ssh-keygen") is None:
        raise _NoKeygen("The emulator needs ssh-keygen (OpenSSH) to generate SSH keypairs.")
    with tempfile.TemporaryDirectory(prefix="backendai-ssh-") as folder:
        path = Path(folder) / "id_rsa"
        code, _ = await _keygen("-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C", "",
                                "-f", str(path))  # fmt: skip
        if code != 0:
            raise _NoKeygen("ssh-keygen failed to generate a keypair.")
        private = path.read_text()
        public = path.with_suffix(".pub").read_text().strip()
    return public, private


def _key_material(public_key: str) -> str | None:
    parts = public_key.split()
    return " ".join(parts[:2]) if len(parts) >= 2 else None


async def check_keypair(public_key: str, private_key: str) -> None:
    """Refuse a keypair whose keys do not match, as 26.09 does (if ssh-keygen can tell)."""
    if shutil.which("ssh-keygen") is None:
        return
    if _key_material(public_key) is None:
        raise _BadPublicKey("Invalid public key format")
    with tempfile.TemporaryDirectory(prefix="backendai-ssh-") as folder:
        path = Path(folder) / "key"
        path.write_text(private_key)
        path.chmod(0o600)
        code, derived = await _keygen("-y", "-P", "", "-f", str(path))
    if code != 0:
        raise _BadPrivateKey("Invalid private key format")
    if _key_material(derived.decode(errors="replace")) != _key_material(public_key):
        raise _Mismatch("Public key does not match the private key")


#: ``/auth/ssh-keypair``, ``/auth/update-password`` and ``/auth/update-full-name``.
routes = web.RouteTableDef()


@routes.get("/auth/ssh-keypair")
async def _get_ssh_keypair(request: web.Request) -> web.Response:
    stored = request.app[SSH_KEYS_KEY].get(current_keypair(request).access_key)
    modern = request.app[SERVER_VERSION_KEY].major >= _CHECKS_UPLOADS_FROM
    public = stored[0] if stored else ("" if modern else None)
    return web.json_response({"ssh_public_key": public})


@routes.patch("/auth/ssh-keypair")
async def _generate_ssh_keypair(request: web.Request) -> web.Response:
    public, private = await generate_keypair()
    request.app[SSH_KEYS_KEY][current_keypair(request).access_key] = (public, private)
    return web.json_response({"ssh_public_key": public, "ssh_private_key": private})


@routes.post("/auth/ssh-keypair")
async def _upload_ssh_keypair(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request),
        [
            Key.of("pubkey", string(allow_blank=True)),
            Key.of("privkey", string(allow_blank=True)),
        ],
    )
    public = params["pubkey"].rstrip() + "\n"
    private = params["privkey"].rstrip() + "\n"
    if request.app[SERVER_VERSION_KEY].major >= _CHECKS_UPLOADS_FROM:
        await check_keypair(public, private)
    request.app[SSH_KEYS_KEY][current_keypair(request).access_key] = (public, private)
    return web.json_response({"ssh_public_key": public, "ssh_private_key": private})


@routes.post("/auth/update-password")
async def _update_password(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request),
        [Key.of(name, string()) for name in ("old_password", "new_password", "new_password2")],
    )
    accounts = request.app[ACCOUNTS_KEY]
    user = current_keypair(request).user
    mismatch = params["new_password"] != params["new_password2"]
    # 26.09 looks at the two new passwords first, 23.09 at the old one.
    modern = request.app[SERVER_VERSION_KEY].major >= _CHECKS_UPLOADS_FROM
    if mismatch and modern:
        return web.json_response({"error_msg": "new password mismatch"}, status=400)
    if params["old_password"] != user.password:
        raise AuthorizationFailed("Old password mismatch")
    if mismatch:
        return web.json_response({"error_msg": "new password mismatch"}, status=400)
    accounts.replace_user(
        dataclasses.replace(user, password=params["new_password"], need_password_change=False)
    )
    return web.json_response({})


@routes.post("/auth/update-full-name")
async def _update_full_name(request: web.Request) -> web.Response:
    params = validate(
        await read_checked_params(request),
        [Key.of("email", string()), Key.of("full_name", string(allow_blank=True))],
    )
    user = current_keypair(request).user
    request.app[ACCOUNTS_KEY].replace_user(dataclasses.replace(user, full_name=params["full_name"]))
    return web.json_response({})


def add_self_service_routes(app: web.Application) -> None:
    """Install ``/auth/ssh-keypair``, ``/auth/update-password`` and ``/auth/update-full-name``."""
    app[SSH_KEYS_KEY] = {}
    app.add_routes(routes)
