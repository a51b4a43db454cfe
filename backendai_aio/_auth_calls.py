"""Account self-service: ``client.auth``, the manager's ``/auth/...`` routes for the caller.

Logging in to and out of a webserver, the credentials check (``/auth/test``), the role
(``/auth/role``), the keypair's SSH keypair (``/auth/ssh-keypair``), and the user's password
and full name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yarl import URL

from ._catalog_types import SSHKeypair, SSHPublicKey
from ._errors import AuthenticationError, InvalidArgumentError, ResponseError
from ._gql_call import graphql_data
from ._timeouts import NOT_GIVEN, TimeoutArg
from ._transport import Transport

__all__ = ["Auth"]

_MY_EMAIL = "query { user { email } }"


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    return value


def _keypair(answer: Any) -> SSHKeypair:
    if not isinstance(answer, Mapping) or not all(
        isinstance(answer.get(key), str) for key in ("ssh_public_key", "ssh_private_key")
    ):
        # Never echo the answer: it may hold a private key.
        raise ResponseError("an SSH keypair answer without both keys")
    return SSHKeypair(
        ssh_public_key=answer["ssh_public_key"], ssh_private_key=answer["ssh_private_key"]
    )


class Auth:
    """The caller's own account: `client.auth`.

    Webserver login and logout, the credentials check, the role, the SSH keypair, the
    password and the full name; it uses only the transport. Passwords and private keys are
    sent in the body only, and never appear in an error or a log line:

    ```python
    keys = await client.auth.generate_ssh_keypair()
    assert (await client.auth.ssh_keypair())["ssh_public_key"] == keys["ssh_public_key"]
    ```
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<Auth of {self._transport!r}>"

    async def login(
        self,
        username: str,
        password: str,
        *,
        otp: str | None = None,
        timeout: TimeoutArg = NOT_GIVEN,
    ) -> Any:
        """Log in to a webserver endpoint (`endpoint_type="session"`).

        The session cookie the webserver sets authorises every later call, which goes under
        `/func/`. The password never appears in an error or a log line.

        Args:
            username: The user's e-mail or name.
            password: The user's password.
            otp: The one-time code of a user with two-factor authentication.
            timeout: The limits of this call.

        Returns:
            The webserver's `data` (access key, role, status).

        Raises:
            AuthenticationError: The login was refused (the message says why).
            InvalidArgumentError: The endpoint is not a webserver's, or a credential is empty.
        """
        if not self._transport.webserver:
            raise InvalidArgumentError("login() needs a ClientConfig with endpoint_type='session'")
        if not username or not password:
            raise InvalidArgumentError("login() needs a user name and a password")
        url = self._server_url("login")
        creds = {"username": username, "password": password}
        if otp:
            creds["otp"] = otp
        body = await self._transport.call("POST", url, json=creds, timeout=timeout, signed=False)
        if not isinstance(body, Mapping) or body.get("authenticated") is not True:
            details = body.get("data") if isinstance(body, Mapping) else None
            details = details if isinstance(details, Mapping) else {}
            title = details.get("title")
            reason = details.get("details")
            message = "login refused"
            if title or reason:
                message += ": " + " ".join(str(part) for part in (title, reason) if part)
            raise AuthenticationError(
                message,
                status=200,
                problem_type=details.get("type"),
                title=None if title is None else str(title),
                msg=None if reason is None else str(reason),
                body=body,
                method="POST",
                url=str(url),
            )
        return body.get("data")

    async def logout(self, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """End the webserver login session (`endpoint_type="session"`).

        Raises:
            InvalidArgumentError: The endpoint is not a webserver's.
        """
        if not self._transport.webserver:
            raise InvalidArgumentError("logout() needs a ClientConfig with endpoint_type='session'")
        await self._transport.call(
            "POST", self._server_url("logout"), timeout=timeout, signed=False
        )

    def _server_url(self, name: str) -> URL:
        # The webserver's own routes live beside /func/, not under it.
        return URL(str(self._transport.endpoint) + "server/" + name, encoded=True)

    async def check(self, echo: str, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """`POST /auth/test`: check the credentials.

        Returns:
            `{"authorized": "yes", "echo": echo}`.

        ```python
        assert (await client.auth.check("hello"))["authorized"] == "yes"
        ```
        """
        return await self._transport.request(
            "POST", "/auth/test", json={"echo": echo}, timeout=timeout
        )

    async def role(self, group: str | None = None, *, timeout: TimeoutArg = NOT_GIVEN) -> Any:
        """`GET /auth/role`: the caller's roles.

        Args:
            group: A group id, to ask for the role in that group too.
            timeout: The limits of this call.

        Returns:
            `{"global_role", "domain_role", "group_role"}`.

        ```python
        print((await client.auth.role())["global_role"])
        ```
        """
        params = {} if group is None else {"group": group}
        return await self._transport.request("GET", "/auth/role", params=params, timeout=timeout)

    async def ssh_keypair(self, *, timeout: TimeoutArg = NOT_GIVEN) -> SSHPublicKey:
        """``GET /auth/ssh-keypair``: the keypair's SSH public key (empty if none yet).

        ```python
        print((await client.auth.ssh_keypair())["ssh_public_key"])
        ```
        """
        answer = await self._transport.request("GET", "/auth/ssh-keypair", timeout=timeout)
        if not isinstance(answer, Mapping) or "ssh_public_key" not in answer:
            raise ResponseError(f"an SSH key answer without ssh_public_key: {answer!r:.200}")
        # 23.09 answers null for a keypair without one; 26.09 an empty string.
        public = answer["ssh_public_key"]
        return SSHPublicKey(ssh_public_key="" if public is None else str(public))

    async def generate_ssh_keypair(self, *, timeout: TimeoutArg = NOT_GIVEN) -> SSHKeypair:
        """``PATCH /auth/ssh-keypair``: make a new RSA keypair; answers both keys.

        The private key is answered this once; later reads show the public key only.

        ```python
        keys = await client.auth.generate_ssh_keypair()
        Path("id_rsa").write_text(keys["ssh_private_key"])
        ```
        """
        answer = await self._transport.request("PATCH", "/auth/ssh-keypair", timeout=timeout)
        return _keypair(answer)

    async def upload_ssh_keypair(
        self, public_key: str, private_key: str, *, timeout: TimeoutArg = NOT_GIVEN
    ) -> SSHKeypair:
        """``POST /auth/ssh-keypair``: use your own SSH keypair.

        The public key in OpenSSH's format, the private one in PEM or OpenSSH's, without a
        passphrase. 26.09 refuses keys that do not match with 400 ``ssh-keypair-mismatch``.

        ```python
        await client.auth.upload_ssh_keypair(Path("id.pub").read_text(), Path("id").read_text())
        ```
        """
        body = {
            "pubkey": _text(public_key, "the public key"),
            "privkey": _text(private_key, "the private key"),
        }
        answer = await self._transport.request(
            "POST", "/auth/ssh-keypair", json=body, timeout=timeout
        )
        return _keypair(answer)

    async def update_password(self, old: str, new: str, *, timeout: TimeoutArg = NOT_GIVEN) -> None:
        """``POST /auth/update-password``: change the user's password.

        A wrong *old* password raises [`AuthenticationError`][backendai_aio.AuthenticationError].

        ```python
        await client.auth.update_password("old secret", "new secret")
        ```
        """
        body = {
            "old_password": _text(old, "the old password"),
            "new_password": _text(new, "the new password"),
            "new_password2": new,
        }
        await self._transport.request("POST", "/auth/update-password", json=body, timeout=timeout)

    async def update_full_name(
        self, name: str, *, email: str | None = None, timeout: TimeoutArg = NOT_GIVEN
    ) -> None:
        """``POST /auth/update-full-name``: change the user's full name.

        The manager requires the user's *email* in the body (and acts on the caller
        whatever it says); without it, the call looks it up first with GraphQL ``user``.

        ```python
        await client.auth.update_full_name("Ada Lovelace")
        ```
        """
        if not isinstance(name, str):
            raise InvalidArgumentError(f"a full name must be a string, not {name!r}")
        if email is None:
            data = await graphql_data(self._transport, _MY_EMAIL, timeout=timeout)
            user = data.get("user")
            found = user.get("email") if isinstance(user, Mapping) else None
            if not isinstance(found, str) or not found:
                raise ResponseError("GraphQL user answered no e-mail for the caller")
            email = found
        body = {"email": _text(email, "the e-mail"), "full_name": name}
        await self._transport.request("POST", "/auth/update-full-name", json=body, timeout=timeout)
