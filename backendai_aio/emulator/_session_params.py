"""What ``POST /session`` checks, as the manager's ``create_from_params`` does."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from .._apiversion import ApiVersion
from ._images import ResolvedImage
from ._problems import (
    InternalServerError,
    InvalidAPIParameters,
)
from ._releases import ReleaseProfile
from ._sessions import KNOWN_SLOTS
from ._validation import (
    Check,
    Invalid,
    Key,
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
    "NAME_PATTERN",
    "NULL_OR_STRING",
    "check_config",
    "create_keys",
    "requested_slots",
    "session_slots",
]


_SESSION_TYPES: Final = ("interactive", "batch", "inference")
_CLUSTER_MODES: Final = ("single-node", "multi-node")


# The manager's session name pattern, quoted as it is in its validation errors.
NAME_PATTERN: Final = r"^(?=.{4,64}$)\w[\w.-]*\w$"


_BINARY_SUFFIXES: Final = {
    "y": 2**80, "z": 2**70, "e": 2**60, "p": 2**50, "t": 2**40,
    "g": 2**30, "m": 2**20, "k": 2**10, " ": 1,
}  # fmt: skip
_BINARY_ENDINGS: Final = ("ibytes", "ibyte", "ib", "bytes", "byte", "b")


NULL_OR_STRING: Final = null_or(string(allow_blank=True))

_CREATE_KEYS: Final = (
    Key.of(["name", "session_name", "clientSessionToken"], regexp(NAME_PATTERN, re.ASCII),
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
    Key.of("tag", NULL_OR_STRING, None),
    Key.of("enqueueOnly", to_bool(), False),
    Key.of("maxWaitSeconds", integer(gte=0, convert=True), 0),
    Key.of(["starts_at", "startsAt"], NULL_OR_STRING, None, to="starts_at"),
    Key.of("reuseIfExists", to_bool(), True),
    Key.of("startupCommand", NULL_OR_STRING, None),
    Key.of(["bootstrap_script", "bootstrapScript"], NULL_OR_STRING, None,
           to="bootstrap_script"),
    Key.of("dependencies",
           either(null_or(list_of(uuid_string())), list_of(string(allow_blank=True))), None),
    Key.of(["callback_url", "callbackUrl", "callbackURL"], null_or(url()), None,
           to="callback_url"),
    Key.of("owner_access_key", NULL_OR_STRING, None),
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


def create_keys(release: ReleaseProfile) -> tuple[Key, ...]:
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
        Key.of(["scaling_group", "scalingGroup"], NULL_OR_STRING, None, to="scaling_group"),
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


def check_config(
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


def requested_slots(resources: dict[str, Any] | None) -> dict[str, Decimal | None]:
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


def session_slots(requested: dict[str, Decimal | None], image: ResolvedImage) -> dict[str, Decimal]:
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
