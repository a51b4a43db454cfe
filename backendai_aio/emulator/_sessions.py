"""Compute sessions of the emulator: the registry and the ``/session`` handlers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from .._apiversion import ApiVersion, parse_api_version
from ._accounts import ACCOUNTS_KEY, DEFAULT_GROUP_ID, is_default_project
from ._auth import ACCESS_KEY, current_keypair
from ._eventhub import EventHub, LifecycleEvent
from ._images import ResolvedImage, resolve_image
from ._kernel import Kernel, KernelBusyError, KernelLimits
from ._params import read_checked_params, read_json_body
from ._problems import (
    GenericBadRequest,
    InsufficientPrivilege,
    InternalServerError,
    InvalidAPIParameters,
    NotImplementedAPI,
    QuotaExceeded,
    SessionAlreadyExists,
    SessionNotFound,
)
from ._releases import RELEASE_KEY, ReleaseProfile
from ._validation import (
    Check,
    Invalid,
    Key,
    choice,
    either,
    enum,
    integer,
    list_of,
    mapping,
    null_or,
    number,
    regexp,
    string,
    to_bool,
    url,
    uuid_string,
    validate,
)

__all__ = [
    "KNOWN_SLOTS",
    "REGISTRY_KEY",
    "SERVER_VERSION_KEY",
    "EmulatedSession",
    "SessionRegistry",
    "add_session_routes",
    "check_running",
    "ensure_running",
    "request_session",
]

_V7: Final = ApiVersion(7, "20230615")
_SESSION_TYPES: Final = ("interactive", "batch", "inference")
_CLUSTER_MODES: Final = ("single-node", "multi-node")
_EXECUTE_MODES: Final = ("query", "batch", "continue", "input", "complete")
# The manager's session name pattern, quoted as it is in its validation errors.
_NAME_PATTERN: Final = r"^(?=.{4,64}$)\w[\w.-]*\w$"
# The example resource policy allows one container per session.
_MAX_CONTAINERS_PER_SESSION: Final = 1
#: The resource slots the emulated manager knows (no accelerators).
KNOWN_SLOTS: Final = ("cpu", "mem")
_BINARY_SUFFIXES: Final = {
    "y": 2**80, "z": 2**70, "e": 2**60, "p": 2**50, "t": 2**40,
    "g": 2**30, "m": 2**20, "k": 2**10, " ": 1,
}  # fmt: skip
_BINARY_ENDINGS: Final = ("ibytes", "ibyte", "ib", "bytes", "byte", "b")
# The owner of a session made without one (only internal callers do that).
_NO_USER: Final = uuid.UUID(int=0)
# The shared memory a session gets by default (64 MiB), reported in its resource options.
_DEFAULT_SHMEM: Final = 64 * 2**20
# Reasons carried by lifecycle events (the manager's KernelLifecycleEventReason values). Newer
# managers default the session creation events' reason to "unknown"; kernel creation events
# carry an empty reason.
_CREATION_REASON: Final = "unknown"
_USER_REQUESTED: Final = "user-requested"
_FAILED_TO_START: Final = "failed-to-start"
_SHUTDOWN_REASON: Final = "agent-termination"
# The manager's kernel_terminating carries the event's default exit code; kernel_terminated
# carries the container's, and the emulator kills its kernel with SIGKILL (128 + 9).
_UNKNOWN_EXIT: Final = -1
_KILLED_EXIT: Final = 137
# How long destroying a session waits for its file transfers to end before cancelling them.
_TRANSFER_GRACE: Final = 2.0


@dataclass(eq=False)
class EmulatedSession:
    """One compute session: its identity, status and the kernel running its code."""

    name: str
    #: The image as the manager names it (a row's canonical name, or the name asked for).
    image: str
    owner: str
    session_type: str
    tag: str | None
    environ: dict[str, str]
    #: The requested resource slots (``cpu``, ``mem``), as the manager normalises them.
    resources: dict[str, Decimal]
    workdir: Path
    kernel: Kernel
    registry_name: str = "index.docker.io"
    #: The owning user's id.
    user_id: uuid.UUID = _NO_USER
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    #: The id of the session's only kernel (reported by kernel lifecycle events).
    kernel_id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: str = "PENDING"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: When the session was terminated (None while it lives).
    terminated_at: datetime | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    start_task: asyncio.Task[None] | None = None
    #: What the session's code printed, served as the container logs.
    logs: list[str] = field(default_factory=list)
    #: The requests transferring files with the work folder (their tasks, and an event set
    #: when each ends); destroying the session waits for them before removing the folder.
    transfers: dict[asyncio.Task[Any], asyncio.Event] = field(default_factory=dict)

    @contextlib.contextmanager
    def transfer(self) -> Iterator[None]:
        """Register the current request as a file transfer while the ``with`` block runs."""
        task = asyncio.current_task()
        assert task is not None
        done = asyncio.Event()
        self.transfers[task] = done
        try:
            yield
        finally:
            self.transfers.pop(task, None)
            done.set()

    async def end_transfers(self) -> None:
        """Wait a little for the transfers in progress, then cancel those still going."""
        if not self.transfers:
            return
        waiting = list(self.transfers.values())
        _, pending = await asyncio.wait(
            [asyncio.create_task(done.wait()) for done in waiting], timeout=_TRANSFER_GRACE
        )
        if pending:
            for task in list(self.transfers):
                task.cancel()
            _, still = await asyncio.wait(pending, timeout=_TRANSFER_GRACE)
            for waiter in still:
                waiter.cancel()
            await asyncio.gather(*still, return_exceptions=True)

    def info(self) -> dict[str, Any]:
        """The ``GET /session/{name}`` body (the manager's legacy session info fields).

        As the 23.09 manager answers it: the slot, environment and option fields are the
        Python text of the stored values (``"{'cpu': Decimal('1'), ...}"``), not JSON, and
        the times are ``str()`` of the stored datetimes.
        """
        occupying = self.resources if self.status == "RUNNING" else {}
        return {
            "domainName": "default",
            "groupId": str(DEFAULT_GROUP_ID),
            "userId": str(self.user_id),
            "lang": self.image,
            "image": self.image,
            "architecture": "x86_64",
            "registry": self.registry_name,
            "tag": self.tag,
            # A container id is a 64-digit hex string; derive a stable one from the kernel.
            "containerId": hashlib.sha256(self.kernel_id.bytes).hexdigest(),
            "occupiedSlots": repr(self.resources),
            "occupyingSlots": repr(occupying),
            "requestedSlots": repr(self.resources),
            "occupiedShares": "{}",
            "environ": repr(self.environ),
            "resourceOpts": repr({"main1": {"shmem": _DEFAULT_SHMEM}}),
            "status": self.status,
            "statusInfo": "None",
            "statusData": None,
            "age": int((datetime.now(UTC) - self.created_at).total_seconds() * 1000),
            "creationTime": str(self.created_at),
            "terminationTime": None,
            "numQueriesExecuted": self.kernel.num_queries_executed,
            "lastStat": None,
            "idleChecks": {
                "session_lifetime": {
                    "remaining": None,
                    "remaining_time_type": "expire_after",
                    "extra": None,
                }
            },
        }


class SessionRegistry:
    """The emulator's sessions, keyed by (owner access key, name).

    Every lifecycle transition is published on :attr:`events`, in the order the manager emits
    them: on creation ``session_enqueued``, ``session_scheduled``, ``session_preparing``,
    ``kernel_preparing``, ``kernel_creating``, then ``kernel_started`` and ``session_started``
    (or ``kernel_cancelled`` and ``session_cancelled`` when the kernel cannot start); on
    termination ``session_terminating``, ``kernel_terminating``, ``kernel_terminated`` and
    ``session_terminated``.
    """

    def __init__(
        self, *, flush_window: float, exec_timeout: float, limits: KernelLimits | None = None
    ) -> None:
        self._sessions: dict[tuple[str, str], EmulatedSession] = {}
        # Terminated sessions by (owner, name) and (owner, id): the manager keeps their rows,
        # and a recursive destroy still finds them.
        self._terminated: dict[tuple[str, str], EmulatedSession] = {}
        self._flush_window = flush_window
        self._exec_timeout = exec_timeout
        self._limits = limits
        #: Where the sessions' lifecycle events are published.
        self.events = EventHub()

    def _emit(
        self,
        session: EmulatedSession,
        name: str,
        reason: str,
        *,
        exit_code: int | None = None,
    ) -> None:
        kernel_id = session.kernel_id if name.startswith("kernel_") else None
        self.events.publish(
            LifecycleEvent(
                name=name,
                session_id=session.id,
                session_name=session.name,
                owner=session.owner,
                reason=reason,
                exit_code=exit_code,
                kernel_id=kernel_id,
            )
        )

    def get(self, owner: str, name_or_id: str) -> EmulatedSession:
        """Find a session by name or id, or raise SessionNotFound."""
        found = self._sessions.get((owner, name_or_id))
        if found is None:
            for session in self._sessions.values():
                if session.owner == owner and str(session.id) == name_or_id:
                    return session
            # The 23.09 manager names the session it looked for in ``msg``.
            raise SessionNotFound(f"Session (id={name_or_id}) does not exist.")
        return found

    def find(self, owner: str, name: str) -> EmulatedSession | None:
        """Return the session named *name*, if any."""
        return self._sessions.get((owner, name))

    def owned_by(self, owner: str) -> list[EmulatedSession]:
        """The sessions of *owner*."""
        return [session for (key, _), session in self._sessions.items() if key == owner]

    def every_session(self) -> list[EmulatedSession]:
        """Every session of every owner, live or terminated, each once."""
        seen = {id(s): s for s in (*self._sessions.values(), *self._terminated.values())}
        return list(seen.values())

    def find_any(self, owner: str, name_or_id: str) -> EmulatedSession | None:
        """The live or terminated session of *owner* named (or identified) *name_or_id*."""
        found = self._sessions.get((owner, name_or_id))
        if found is None:
            found = next(
                (s for s in self.owned_by(owner) if str(s.id) == name_or_id),
                self._terminated.get((owner, name_or_id)),
            )
        return found

    def terminated(self) -> list[EmulatedSession]:
        """The sessions being or having been terminated, once each (the manager keeps them)."""
        return list({id(session): session for session in self._terminated.values()}.values())

    def create(
        self,
        owner: str,
        name: str,
        image: ResolvedImage,
        *,
        user_id: uuid.UUID,
        session_type: str = "interactive",
        tag: str | None = None,
        environ: dict[str, str] | None = None,
        resources: dict[str, Decimal] | None = None,
    ) -> EmulatedSession:
        """Register a new session and start its kernel in the background."""
        workdir = Path(tempfile.mkdtemp(prefix=f"backendai-emulator-{name}-"))
        session = EmulatedSession(
            name=name,
            image=image.name,
            owner=owner,
            session_type=session_type,
            tag=tag,
            environ=dict(environ or {}),
            resources=dict(resources or {"cpu": image.min_cpu, "mem": image.min_mem}),
            workdir=workdir,
            kernel=Kernel(
                workdir,
                flush_window=self._flush_window,
                exec_timeout=self._exec_timeout,
                limits=self._limits,
            ),
            registry_name=image.registry,
            user_id=user_id,
        )
        self._sessions[(owner, name)] = session
        # The emulator has no queue nor agents: scheduling and preparation happen at once.
        for event in ("session_enqueued", "session_scheduled", "session_preparing"):
            self._emit(session, event, _CREATION_REASON)
        self._emit(session, "kernel_preparing", "")
        self._emit(session, "kernel_creating", "")
        session.start_task = asyncio.create_task(self._start(session))
        return session

    async def _start(self, session: EmulatedSession) -> None:
        try:
            await session.kernel.start()
        except Exception:
            if session.status == "PENDING":
                session.status = "ERROR"
                self._emit(session, "kernel_cancelled", _FAILED_TO_START)
                self._emit(session, "session_cancelled", _FAILED_TO_START)
        else:
            # A session destroyed while its kernel was starting stays terminated.
            if session.status == "PENDING":
                session.status = "RUNNING"
                self._emit(session, "kernel_started", "")
                self._emit(session, "session_started", _CREATION_REASON)
        finally:
            session.ready.set()

    def rename(self, session: EmulatedSession, new_name: str) -> None:
        """Give *session* a new name; the name must not be taken by another session."""
        if (session.owner, new_name) in self._sessions:
            raise SessionAlreadyExists(f"Session with name '{new_name}' already exists")
        del self._sessions[(session.owner, session.name)]
        session.name = new_name
        self._sessions[(session.owner, new_name)] = session

    async def destroy(self, session: EmulatedSession, *, reason: str = _USER_REQUESTED) -> None:
        """Terminate a session: stop its kernel and its transfers, and remove its work folder."""
        self._sessions.pop((session.owner, session.name), None)
        self._terminated[(session.owner, session.name)] = session
        self._terminated[(session.owner, str(session.id))] = session
        session.status = "TERMINATING"
        self._emit(session, "session_terminating", reason)
        self._emit(session, "kernel_terminating", reason, exit_code=_UNKNOWN_EXIT)
        if session.start_task is not None:
            await asyncio.gather(session.start_task, return_exceptions=True)
        await session.kernel.close()
        await session.end_transfers()
        await asyncio.to_thread(shutil.rmtree, session.workdir, True)
        session.status = "TERMINATED"
        session.terminated_at = datetime.now(UTC)
        self._emit(session, "kernel_terminated", reason, exit_code=_KILLED_EXIT)
        self._emit(session, "session_terminated", reason)

    async def close(self) -> None:
        """Terminate every session (on emulator shutdown)."""
        for session in list(self._sessions.values()):
            await self.destroy(session, reason=_SHUTDOWN_REASON)


REGISTRY_KEY: Final = web.AppKey("sessions", SessionRegistry)
#: The newest API version the emulated manager speaks.
SERVER_VERSION_KEY: Final = web.AppKey("server_version", ApiVersion)


def check_running(session: EmulatedSession) -> EmulatedSession:
    """Refuse *session* unless it is running (e.g. once it is being destroyed)."""
    if session.status != "RUNNING":
        raise GenericBadRequest(f"The session is not running (status: {session.status}).")
    return session


async def ensure_running(session: EmulatedSession) -> EmulatedSession:
    """Wait until *session* has started; refuse it unless it is running."""
    await session.ready.wait()
    return check_running(session)


def request_session(request: web.Request) -> EmulatedSession:
    """The caller's session named (or identified) by the ``{name}`` of *request*'s path."""
    registry: SessionRegistry = request.app[REGISTRY_KEY]
    return registry.get(ACCESS_KEY.get(), request.match_info["name"])


def _request_api_version(request: web.Request) -> ApiVersion:
    """The API version the call speaks (the server's newest when it names none)."""
    version = request.headers.get("X-BackendAI-Version")
    return request.app[SERVER_VERSION_KEY] if version is None else parse_api_version(version)


def _owner(request: web.Request, owner_access_key: str | None) -> str:
    """The access key a call acts for (its own, or the one it may act on behalf of)."""
    return request.app[ACCOUNTS_KEY].owner_scope(current_keypair(request), owner_access_key)


# -- the creation parameters, as the manager's create_from_params checks them --------------

_NULL_OR_STRING: Final = null_or(string(allow_blank=True))

_CREATE_KEYS: Final = (
    Key.of(["name", "session_name", "clientSessionToken"], regexp(_NAME_PATTERN, re.ASCII),
           to="session_name"),
    Key.of(["image", "lang"], string(allow_blank=True)),
    Key.of(["arch", "architecture"], string(allow_blank=True), "x86_64", to="architecture"),
    Key.of(["type", "sessionType"], enum("SessionTypes", _SESSION_TYPES), "interactive",
           to="session_type"),
    Key.of(["group", "groupName", "group_name"], string(allow_blank=True), "default",
           to="group"),
    Key.of(["domain", "domainName", "domain_name"], string(allow_blank=True), "default",
           to="domain"),
    Key.of(["cluster_size", "clusterSize"], integer(gte=1, convert=True), 1, to="cluster_size"),
    Key.of(["cluster_mode", "clusterMode"], enum("ClusterMode", _CLUSTER_MODES), "single-node",
           to="cluster_mode"),
    Key.of("config", mapping(), dict),
    Key.of("tag", _NULL_OR_STRING, None),
    Key.of("enqueueOnly", to_bool(), False),
    Key.of("maxWaitSeconds", integer(gte=0, convert=True), 0),
    Key.of(["starts_at", "startsAt"], _NULL_OR_STRING, None, to="starts_at"),
    Key.of("reuseIfExists", to_bool(), True),
    Key.of("startupCommand", _NULL_OR_STRING, None),
    Key.of(["bootstrap_script", "bootstrapScript"], _NULL_OR_STRING, None,
           to="bootstrap_script"),
    Key.of("dependencies",
           either(null_or(list_of(uuid_string())), list_of(string(allow_blank=True))), None),
    Key.of(["callback_url", "callbackUrl", "callbackURL"], null_or(url()), None,
           to="callback_url"),
    Key.of("owner_access_key", _NULL_OR_STRING, None),
)  # fmt: skip

# What the 26.9 manager reads besides (its pydantic model ignores any other key): the
# scheduling options, at every API version.
_CREATE_KEYS_26: Final = (
    *_CREATE_KEYS,
    Key.of("priority", integer(gte=0, lte=100, convert=True), 10),
    Key.of("job_priority", integer(convert=True), 0),
    Key.of("is_preemptible", to_bool(), True),
    Key.of(["batch_timeout", "batchTimeout"], null_or(number(gte=0)), None,
           to="batch_timeout"),
)  # fmt: skip
_V8: Final = ApiVersion(8, "20240315")
_V9: Final = ApiVersion(9, "20250722")


def _create_keys(release: ReleaseProfile) -> tuple[Key, ...]:
    return _CREATE_KEYS_26 if release.creation_v9 else _CREATE_KEYS


def _config_keys(api_version: ApiVersion, release: ReleaseProfile) -> tuple[Key, ...]:
    """The keys ``config`` may hold for *api_version* (``cluster_size`` moved out in v6).

    The 26.9 manager adds ``attach_network`` at v8 and ``mount_ids`` / ``mount_id_map`` at v9.
    """
    strings = list_of(string(allow_blank=True))
    keys = [
        Key.of("mounts", null_or(strings), None),
        Key.of(["mount_map", "mountMap"], null_or(_string_mapping()), None, to="mount_map"),
        Key.of("environ", null_or(_string_mapping()), None),
        Key.of(["scaling_group", "scalingGroup"], _NULL_OR_STRING, None, to="scaling_group"),
        Key.of("resources", null_or(mapping()), None),
        Key.of(["resource_opts", "resourceOpts"], null_or(mapping()), None, to="resource_opts"),
        Key.of(["preopen_ports", "preopenPorts"], null_or(list_of(_port())), None,
               to="preopen_ports"),
    ]  # fmt: skip
    if api_version.major >= 6:
        keys.append(Key.of(["agent_list", "agentList"], null_or(strings), None, to="agent_list"))
    else:
        keys.append(
            Key.of(["cluster_size", "clusterSize"], null_or(integer(gte=1)), None,
                   to="cluster_size")
        )  # fmt: skip
    if release.creation_v9:
        keys.append(Key.of(["mount_options", "mountOptions"], null_or(mapping()), None,
                           to="mount_options"))  # fmt: skip
        if api_version >= _V8:
            keys.append(Key.of(["attach_network", "attachNetwork"], null_or(uuid_string()),
                               None, to="attach_network"))  # fmt: skip
        if api_version >= _V9:
            keys.append(Key.of("mount_ids", null_or(list_of(uuid_string())), None))
            keys.append(Key.of(["mount_id_map", "mountIdMap"], null_or(_uuid_mapping()), None,
                               to="mount_id_map"))  # fmt: skip
    return tuple(keys)


def _uuid_mapping() -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise Invalid("value is not a dict")
        try:
            return {uuid.UUID(str(k)): str(v) for k, v in value.items()}
        except ValueError:
            raise Invalid("cannot convert value to UUID") from None

    return check


def _string_mapping() -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise Invalid("value is not a dict")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise Invalid("value is not a string")
        return value

    return check


def _port() -> Check:
    return integer(gte=1024, lte=65535)


def _check_config(
    config: dict[str, Any], api_version: ApiVersion, release: ReleaseProfile
) -> dict[str, Any]:
    """Check ``config`` as the manager does: after the call's own parameters.

    The 23.09 manager checks it outside its parameter checking, so a bad ``config`` is not a
    400 but an unexpected error: 500 ``internal-server-error``. The 26.9 one answers 400
    "Input validation error" and ignores keys it does not know.
    """
    keys = _config_keys(api_version, release)
    if release.creation_v9:
        known = {name for key in keys for name in key.names}
        try:
            return validate({k: v for k, v in config.items() if k in known}, keys)
        except InvalidAPIParameters as exc:
            raise InvalidAPIParameters(
                "Input validation error", data={"config": str(exc.data)}
            ) from None
    try:
        return validate(config, keys)
    except InvalidAPIParameters:
        raise InternalServerError from None


def _bytes(value: Any) -> Decimal:
    """A memory size: a number of bytes, or text such as ``"1g"``, ``"512m"``, ``"1.5GiB"``."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        raise ValueError(value)
    expr = value.strip().replace("_", "")
    try:
        return Decimal(int(expr))
    except ValueError:
        pass
    expr = expr.lower()
    for ending in _BINARY_ENDINGS:
        if expr.endswith(ending):
            suffix, number = expr[-len(ending) - 1], expr[: -len(ending) - 1]
            break
    else:
        if not expr or expr[-1].isnumeric():
            # A plain number that is not an integer: fractional bytes.
            raise ValueError(value)
        suffix, number = expr[-1], expr[:-1]
    try:
        return Decimal(int(Decimal(number) * _BINARY_SUFFIXES[suffix]))
    except (ArithmeticError, KeyError):
        raise ValueError(value) from None


def _requested_slots(resources: dict[str, Any] | None) -> dict[str, Decimal | None]:
    """Convert ``config.resources`` as the manager does, or refuse it with its words."""
    slots: dict[str, Decimal | None] = {"cpu": None, "mem": None}
    for key, value in (resources or {}).items():
        if value is None:
            continue
        if key not in KNOWN_SLOTS:
            raise InvalidAPIParameters(f"Invalid resource allocation: Unknown slot type: {key!r}")
        try:
            if key == "mem":
                amount = _bytes(value)
            else:
                text = str(value) if isinstance(value, float) else value
                amount = Decimal(text).quantize(Decimal("0.001")).normalize()
            if not amount.is_finite():
                # NaN passes the conversion, but no amount compares with it.
                raise ValueError(value)
            slots[key] = amount
        except (ArithmeticError, ValueError, TypeError, InvalidOperation):
            raise InvalidAPIParameters(
                f"Invalid resource allocation: Cannot convert the slot {key!r} "
                f"to decimal: {value!r}"
            ) from None
    return slots


def _session_slots(
    requested: dict[str, Decimal | None], image: ResolvedImage
) -> dict[str, Decimal]:
    """Fill the slots not asked for with the image's minimums, and refuse smaller ones."""
    minimums = {"cpu": image.min_cpu, "mem": image.min_mem}
    slots = {key: value if value else minimums[key] for key, value in requested.items()}
    if any(slots[key] < minimums[key] for key in minimums):
        mem = f"{int(image.min_mem) // 2**20}m"
        raise InvalidAPIParameters(
            "Your resource request is smaller than the minimum required by the image. "
            f"(cpu={image.min_cpu} mem={mem})"
        )
    return slots


def add_session_routes(app: web.Application) -> None:
    """Install the ``/session`` routes on *app* (which holds a SessionRegistry)."""
    routes = web.RouteTableDef()

    def registry(request: web.Request) -> SessionRegistry:
        return request.app[REGISTRY_KEY]

    def owner(request: web.Request) -> str:
        return ACCESS_KEY.get()

    @routes.post("/session")
    async def create(request: web.Request) -> web.Response:
        # The manager's order: parameters, the reserved name, config, the owner, the project
        # and domain, the resources, the image, an existing session, then the quota.
        release = request.app[RELEASE_KEY]
        params = validate(
            await read_checked_params(request),
            _create_keys(release),
            allow_extra=release.creation_v9,
        )
        name: str = params["session_name"]
        if name == "from-template":
            raise InvalidAPIParameters(f"Requested session ID {name} is reserved word")
        config = _check_config(params["config"], _request_api_version(request), release)
        requester = current_keypair(request)
        if config.get("agent_list") is not None and not requester.is_superadmin:
            raise InsufficientPrivilege(
                "You are not allowed to manually assign agents for your session."
            )
        session_owner = _owner(request, params["owner_access_key"])
        if params["domain"] != requester.user.domain_name:
            raise InvalidAPIParameters("You can only set the domain to your domain.")
        if not is_default_project(params["group"]):
            raise InvalidAPIParameters("Invalid group")
        requested = _requested_slots(config["resources"])
        image = resolve_image(params["image"])
        existing = registry(request).find(session_owner, name)
        if existing is not None:
            # The image must be the same when get-or-create meets an existing session.
            if existing.image != image.name or not params["reuseIfExists"]:
                raise SessionAlreadyExists(data={"existingSessionId": str(existing.id)})
            return web.json_response(_reused(existing), status=201)
        if params["cluster_size"] > _MAX_CONTAINERS_PER_SESSION:
            raise QuotaExceeded(
                "You cannot create session with more than "
                f"{_MAX_CONTAINERS_PER_SESSION} containers."
            )
        slots = _session_slots(requested, image)
        if config.get("agent_list"):
            # Only a superadmin gets this far; the emulator has no agents to name.
            raise InvalidAPIParameters(f"No such agent: {config['agent_list'][0]}")
        accounts = request.app[ACCOUNTS_KEY]
        owner_keypair = accounts.keypair(session_owner)
        assert owner_keypair is not None
        session = registry(request).create(
            session_owner,
            name,
            image,
            user_id=owner_keypair.user.uuid,
            session_type=params["session_type"],
            tag=params["tag"],
            environ=config["environ"],
            resources=slots,
        )
        if not params["enqueueOnly"]:
            max_wait = params["maxWaitSeconds"]
            try:
                await asyncio.wait_for(session.ready.wait(), timeout=max_wait or None)
            except TimeoutError:
                return web.json_response(_created(session, status="TIMEOUT"), status=201)
        return web.json_response(_created(session), status=201)

    @routes.get("/session/{name}")
    async def get_info(request: web.Request) -> web.Response:
        # The manager reads no parameters here: an owner_access_key in the query is ignored.
        session = registry(request).get(owner(request), request.match_info["name"])
        return web.json_response(session.info())

    @routes.patch("/session/{name}")
    async def restart(request: web.Request) -> web.Response:
        if not request.app[RELEASE_KEY].restarts_sessions:
            # 26.9 keeps the route as a stub: nothing is looked up, whatever the session.
            raise NotImplementedAPI(
                "Session restart is no longer supported. "
                "Terminate the session and enqueue a new one instead."
            )
        params = validate(
            await read_checked_params(request), [Key.of("owner_access_key", _NULL_OR_STRING, None)]
        )
        session_owner = _owner(request, params["owner_access_key"])
        session = await ensure_running(
            registry(request).get(session_owner, request.match_info["name"])
        )
        await session.kernel.restart()
        return web.Response(status=204)

    @routes.delete("/session/{name}")
    async def destroy(request: web.Request) -> web.Response:
        params = validate(
            await read_checked_params(request),
            [
                Key.of("forced", to_bool(), False),
                Key.of("recursive", to_bool(), False),
                Key.of("owner_access_key", _NULL_OR_STRING, None),
            ],
        )
        session_owner = _owner(request, params["owner_access_key"])
        name = request.match_info["name"]
        if params["recursive"]:
            # The manager answers the list of the destroyed sessions' statistics; a session
            # terminated before counts as done (an empty list). Emulated sessions have no
            # dependents.
            found = registry(request).find_any(session_owner, name)
            if found is None:
                raise SessionNotFound(f"Session (id={name}) does not exist.")
            if found.status in ("TERMINATING", "TERMINATED"):
                return web.json_response([])
            await registry(request).destroy(found)
            return web.json_response([{"status": "terminated"}])
        session = registry(request).get(session_owner, name)
        await registry(request).destroy(session)
        return web.json_response({"stats": {"status": "terminated"}})

    @routes.post("/session/{name}")
    async def execute(request: web.Request) -> web.Response:
        session = registry(request).get(owner(request), request.match_info["name"])
        body = await read_json_body(request)
        params = validate(body, _EXECUTE_KEYS, allow_extra=True)
        mode: str = params["mode"]
        if mode == "complete":
            return await _completion(session, body)
        await ensure_running(session)
        run_id: str | None = params["run_id"]
        code: str = params["code"]
        options: dict[str, Any] = params["options"] or {}
        if run_id is None:
            # The 23.09 manager (API v7) refuses a call without the runId key; its agent assigns
            # one to a null runId (what the official SDK sends), as newer managers do to both.
            named = "runId" in body or "run_id" in body
            if mode in ("continue", "input") or (
                request.app[SERVER_VERSION_KEY] <= _V7 and not named
            ):
                raise InvalidAPIParameters("runId is missing!")
            run_id = uuid.uuid4().hex
        try:
            result = await session.kernel.execute(
                mode=mode, run_id=run_id, code=code, options=options
            )
        except KernelBusyError:
            raise GenericBadRequest("Another run is still in progress in this session.") from None
        except ValueError as exc:
            raise InvalidAPIParameters(str(exc)) from None
        session.logs.extend(
            str(payload) for kind, payload in result["console"] if kind in ("stdout", "stderr")
        )
        return web.json_response({"result": result})

    @routes.post("/session/{name}/interrupt")
    async def interrupt(request: web.Request) -> web.Response:
        session = await ensure_running(
            registry(request).get(owner(request), request.match_info["name"])
        )
        await session.kernel.interrupt()
        return web.Response(status=204)

    @routes.post("/session/{name}/complete")
    async def complete(request: web.Request) -> web.Response:
        session = registry(request).get(owner(request), request.match_info["name"])
        return await _completion(session, await read_json_body(request))

    @routes.post("/session/{name}/rename")
    async def rename(request: web.Request) -> web.Response:
        params = validate(
            await read_checked_params(request),
            [
                Key.of(
                    ["name", "session_name", "clientSessionToken"],
                    regexp(_NAME_PATTERN, re.ASCII),
                    to="session_name",
                )
            ],
        )
        new_name: str = params["session_name"]
        session = request_session(request)
        await session.ready.wait()
        if session.status != "RUNNING":
            raise InvalidAPIParameters("Can't change name of not running session")
        registry(request).rename(session, new_name)
        return web.Response(status=204)

    @routes.get("/session/{name}/logs")
    async def get_logs(request: web.Request) -> web.Response:
        params = validate(
            await read_checked_params(request), [Key.of("owner_access_key", _NULL_OR_STRING, None)]
        )
        session_owner = _owner(request, params["owner_access_key"])
        session = await ensure_running(
            registry(request).get(session_owner, request.match_info["name"])
        )
        return web.json_response({"result": {"logs": "".join(session.logs)}})

    app.add_routes(routes)


def _run_id() -> Check:
    def check(value: Any) -> Any:
        if not isinstance(value, str) or not 8 <= len(value) <= 64:
            raise Invalid("must be a string of 8 to 64 characters")
        return value

    return check


# What a completion request reads (``/complete``, or execute's ``complete`` mode).
_COMPLETION_KEYS: Final = (
    Key.of("code", string(allow_blank=True), ""),
    Key.of("options", null_or(mapping()), None),
)
# What an execute call reads; servers up to 25.5 read runId, later ones run_id, and the
# emulator reads whichever came.
_EXECUTE_KEYS: Final = (
    Key.of("mode", choice(*_EXECUTE_MODES)),
    Key.of(["run_id", "runId"], null_or(_run_id()), None, to="run_id"),
    *_COMPLETION_KEYS,
)


async def _completion(session: EmulatedSession, params: Mapping[str, Any]) -> web.Response:
    """Answer a completion request: the kernel's completions of ``code`` (or of its line)."""
    checked = validate(params, _COMPLETION_KEYS, allow_extra=True)
    await ensure_running(session)
    result = await session.kernel.complete(checked["code"], checked["options"] or {})
    return web.json_response({"result": result})


def _reused(session: EmulatedSession) -> Any:
    # The 23.09 manager answers a reused session with ``service_ports`` (snake case, null)
    # where a new one gets ``servicePorts``.
    return {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": session.status,
        "service_ports": None,
        "created": False,
    }


def _created(session: EmulatedSession, *, status: str | None = None) -> Any:
    return {
        "sessionId": str(session.id),
        "sessionName": session.name,
        "status": status or session.status,
        "servicePorts": [],
        "created": True,
    }
