"""Who may call the emulator: keypairs, the users owning them, and per-keypair rate limits.

By default the emulator knows the manager's two example accounts (its example fixtures):

============================  =====================  ==========  ===========================
user (login e-mail)           webserver password     role        keypair
============================  =====================  ==========  ===========================
``admin@lablup.com``          ``wJalrXUt``           superadmin  ``AKIAIOSFODNN7EXAMPLE``
``user@lablup.com``           ``C8qnIo29``           user        ``AKIANABBDUSEREXAMPLE``
============================  =====================  ==========  ===========================

Any other keypair given to the emulator belongs to a plain user ``<access key in lower
case>@emulator.invalid`` whose webserver password is the secret key.

Rate limits work as the manager's: each signed call counts against its keypair in a rolling
window of 900 seconds; a call past the keypair's limit (30000) is refused with 429, and a
successful answer tells how many calls remain (``X-RateLimit-*`` headers).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from ._problems import GenericForbidden, InvalidAPIParameters

__all__ = [
    "ACCOUNTS_KEY",
    "ADMIN_KEYPAIR",
    "ANONYMOUS_RATE_LIMIT",
    "DEFAULT_GROUP_ID",
    "DEFAULT_GROUP_NAME",
    "DEFAULT_RATE_LIMIT",
    "RATE_LIMIT_WINDOW",
    "USER_KEYPAIR",
    "AccountDirectory",
    "Keypair",
    "User",
    "is_default_project",
    "keypairs_from_secrets",
]

#: The rolling window of the rate limit, in seconds (the manager's 15 minutes).
RATE_LIMIT_WINDOW: Final = 900
#: Calls per window of the example keypairs (their ``rate_limit`` column).
DEFAULT_RATE_LIMIT: Final = 30000
#: What the manager reports on calls that need no keypair (it does not count them).
ANONYMOUS_RATE_LIMIT: Final = 1000
#: The example fixtures' only project (user group), of which every user is a member.
DEFAULT_GROUP_ID: Final = uuid.UUID("2de2b969-1d04-48a6-af16-0bc8adb3c831")
#: The name of that project.
DEFAULT_GROUP_NAME: Final = "default"
# Users of keypairs the fixtures do not know get stable ids derived from their e-mail.
_NAMESPACE: Final = uuid.UUID("5e2c1ad8-3f6a-4d7e-9b0c-6a1f2e3d4c5b")


def is_default_project(ref: object) -> bool:
    """Whether *ref* names the default project: by its name, or by its id (text or UUID)."""
    if isinstance(ref, uuid.UUID):
        return ref == DEFAULT_GROUP_ID
    if not isinstance(ref, str):
        return False
    if ref == DEFAULT_GROUP_NAME:
        return True
    try:
        return uuid.UUID(ref) == DEFAULT_GROUP_ID
    except ValueError:
        return False


@dataclass(frozen=True)
class User:
    """A user account, as the manager's ``users`` table holds it."""

    uuid: uuid.UUID
    email: str
    username: str
    #: The password the webserver login checks.
    password: str
    full_name: str
    description: str
    #: ``superadmin``, ``admin`` (of its domain), ``user`` or ``monitor``.
    role: str
    domain_name: str = "default"
    status: str = "active"
    status_info: str = "admin-requested"
    need_password_change: bool = False
    resource_policy: str = "default"


@dataclass(frozen=True)
class Keypair:
    """A keypair and the user owning it."""

    access_key: str
    secret_key: str
    user: User
    #: The ``is_admin`` column (a domain admin's or superadmin's keypair).
    is_admin: bool
    rate_limit: int = DEFAULT_RATE_LIMIT
    resource_policy: str = "default"

    @property
    def is_superadmin(self) -> bool:
        """Whether the owner is a superadmin."""
        return self.user.role == "superadmin"


#: The example superadmin (``admin@lablup.com``) and its keypair.
ADMIN_KEYPAIR: Final = Keypair(
    access_key="AKIAIOSFODNN7EXAMPLE",
    secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    user=User(
        uuid=uuid.UUID("f38dea23-50fa-42a0-b5ae-338f5f4693f4"),
        email="admin@lablup.com",
        username="admin",
        password="wJalrXUt",
        full_name="Admin Lablup",
        description="Lablup's Admin Account",
        role="superadmin",
    ),
    is_admin=True,
)

#: The example plain user (``user@lablup.com``) and its keypair.
USER_KEYPAIR: Final = Keypair(
    access_key="AKIANABBDUSEREXAMPLE",
    secret_key="C8qnIo29EZvXkPK_MXcuAakYTy4NYrxwmCEyNPlf",
    user=User(
        uuid=uuid.UUID("dfa9da54-4b28-432f-be29-c0d680c7a412"),
        email="user@lablup.com",
        username="user",
        password="C8qnIo29",
        full_name="User Lablup",
        description="Lablup's User Account",
        role="user",
    ),
    is_admin=False,
)

_EXAMPLES: Final = {kp.access_key: kp for kp in (ADMIN_KEYPAIR, USER_KEYPAIR)}


def keypairs_from_secrets(secrets: Mapping[str, str]) -> list[Keypair]:
    """Keypairs for *secrets* (access key -> secret key).

    The example access keys keep their example owners; any other key belongs to a plain user
    ``<key>@emulator.invalid`` (its password is the secret key).
    """
    keypairs = []
    for access_key, secret_key in secrets.items():
        example = _EXAMPLES.get(access_key)
        if example is not None:
            keypairs.append(
                Keypair(access_key, secret_key, example.user, example.is_admin, example.rate_limit)
            )
            continue
        email = f"{access_key.lower()}@emulator.invalid"
        owner = User(
            uuid=uuid.uuid5(_NAMESPACE, email),
            email=email,
            username=access_key.lower(),
            password=secret_key,
            full_name="",
            description="A user of the Backend.AI emulator",
            role="user",
        )
        keypairs.append(Keypair(access_key, secret_key, owner, is_admin=False))
    return keypairs


@dataclass
class _Usage:
    """What the manager keeps per keypair in Redis: recent call times and a query count."""

    calls: deque[float] = field(default_factory=deque)
    num_queries: int = 0
    last_used: datetime | None = None


class AccountDirectory:
    """The emulator's keypairs and users, and the calls each keypair made."""

    def __init__(self, keypairs: Iterable[Keypair], *, rate_limit: int | None = None) -> None:
        self._keypairs: dict[str, Keypair] = {}
        for keypair in keypairs:
            if rate_limit is not None:
                keypair = Keypair(
                    keypair.access_key,
                    keypair.secret_key,
                    keypair.user,
                    keypair.is_admin,
                    rate_limit,
                    keypair.resource_policy,
                )
            self._keypairs[keypair.access_key] = keypair
        self._usage: dict[str, _Usage] = {}
        #: When the accounts were created (their ``created_at``).
        self.created_at = datetime.now(UTC)

    def keypairs(self) -> list[Keypair]:
        """Every keypair, in the order given."""
        return list(self._keypairs.values())

    def keypair(self, access_key: str) -> Keypair | None:
        """The keypair of *access_key*, if any."""
        return self._keypairs.get(access_key)

    def secret_key(self, access_key: str) -> str | None:
        """The secret key of *access_key*, if it is known."""
        keypair = self._keypairs.get(access_key)
        return None if keypair is None else keypair.secret_key

    def users(self) -> list[User]:
        """Every user owning a keypair, once each."""
        seen: dict[uuid.UUID, User] = {}
        for keypair in self._keypairs.values():
            seen.setdefault(keypair.user.uuid, keypair.user)
        return list(seen.values())

    def user_by_email(self, email: str) -> User | None:
        """The user with *email*, if any."""
        return next((user for user in self.users() if user.email == email), None)

    def main_keypair(self, user: User) -> Keypair:
        """The user's main keypair (the first one given for it)."""
        return next(kp for kp in self._keypairs.values() if kp.user.uuid == user.uuid)

    def replace_user(self, user: User) -> None:
        """Store *user* (found by its id) in place of the record every keypair of it holds."""
        for access_key, keypair in self._keypairs.items():
            if keypair.user.uuid == user.uuid:
                self._keypairs[access_key] = dataclasses.replace(keypair, user=user)

    def authenticate(self, email: str, password: str) -> Keypair | None:
        """The main keypair of the active user *email* if *password* is theirs."""
        user = self.user_by_email(email)
        if user is None or user.password != password or user.status != "active":
            return None
        return self.main_keypair(user)

    # -- usage ----------------------------------------------------------------------------

    def record_call(self, access_key: str) -> int:
        """Count a signed call of *access_key*; return the calls in the current window.

        Like the manager's rolling counter, the call itself is counted, whatever its outcome.
        """
        usage = self._usage.setdefault(access_key, _Usage())
        now = time.monotonic()
        while usage.calls and usage.calls[0] <= now - RATE_LIMIT_WINDOW:
            usage.calls.popleft()
        usage.calls.append(now)
        usage.num_queries += 1
        usage.last_used = datetime.now(UTC)
        return len(usage.calls)

    def num_queries(self, access_key: str) -> int:
        """How many signed calls *access_key* has made."""
        usage = self._usage.get(access_key)
        return 0 if usage is None else usage.num_queries

    def last_used(self, access_key: str) -> datetime | None:
        """When *access_key* last made a signed call."""
        usage = self._usage.get(access_key)
        return None if usage is None else usage.last_used

    # -- acting on behalf of others -------------------------------------------------------

    def owner_scope(self, requester: Keypair, owner_access_key: str | None) -> str:
        """The access key a call acts for: *owner_access_key* if *requester* may act for it.

        As the manager decides it: an unknown key is 400 "Unknown owner access key"; only a
        superadmin, or a domain admin for the users of its domain (not superadmins), may act
        on behalf of another keypair (else 403).
        """
        if owner_access_key is None or owner_access_key == requester.access_key:
            return requester.access_key
        target = self._keypairs.get(owner_access_key)
        if target is None:
            raise InvalidAPIParameters("Unknown owner access key")
        role = requester.user.role
        if role == "admin":
            if requester.user.domain_name != target.user.domain_name:
                raise GenericForbidden(
                    "Domain-admins can perform operations on behalf of "
                    "other users in the same domain only."
                )
            if target.user.role == "superadmin":
                raise GenericForbidden(
                    "Domain-admins cannot perform operations on behalf of super-admins."
                )
        elif role != "superadmin":
            raise GenericForbidden("Only admins can perform operations on behalf of other users.")
        return target.access_key


#: Where the application keeps its `AccountDirectory`.
ACCOUNTS_KEY: Final = web.AppKey("accounts", AccountDirectory)
