"""Configuration values: parsing and checking of what the environment or a caller gives (pure).

Each function answers a clean value or raises
[`InvalidArgumentError`][backendai_aio.InvalidArgumentError] naming the setting, never showing a
value that may be a secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Final

from yarl import URL

from ._errors import InvalidArgumentError
from ._version import __version__

__all__ = [
    "user_agent",
    "check_agent_signature",
    "check_text",
    "folder_names",
    "override_storage_proxy",
    "parse_flag",
    "parse_seconds",
    "parse_storage_proxy_overrides",
]

# C0 controls and DEL: a CR or LF in a header value would end the header (aiohttp refuses it
# with a ValueError only when the request is sent), and none has a place in a key or a name.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

_TRUE: Final = frozenset({"y", "yes", "t", "true", "1"})
_FALSE: Final = frozenset({"n", "no", "f", "false", "0", ""})


def check_text(value: object, what: str) -> str:
    """*value* stripped, if it is a string without control characters."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a string, not {type(value).__name__}")
    if _CONTROL.search(value.strip()):
        # The value itself is not shown: it may be a secret.
        raise InvalidArgumentError(f"{what} contains a control character (such as CR or LF)")
    return value.strip()


def check_agent_signature(agent_signature: object) -> str | None:
    """*agent_signature* if it can go into a ``User-Agent`` header, else InvalidArgumentError."""
    if agent_signature is None:
        return None
    return check_text(agent_signature, "agent_signature")


def user_agent(agent_signature: object) -> str:
    """The ``User-Agent`` of the client's calls, with *agent_signature* appended if given."""
    own = f"backendai-aio/{__version__}"
    signature = check_agent_signature(agent_signature)
    return f"{own} {signature}" if signature else own


def parse_seconds(value: object, what: str) -> float | None:
    """A timeout in seconds: ``None`` (not set), or a finite number >= 0 (0: no limit)."""
    if value is None:
        return None
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or not 0 <= number < math.inf
    ):
        raise InvalidArgumentError(
            f"{what} is a finite number of seconds >= 0 (0: no limit), not {value!r}"
        )
    return float(number)


def parse_flag(value: str, what: str) -> bool:
    """A yes/no setting, spelled as the official SDK accepts it (empty: no)."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidArgumentError(f"{what} is yes/true/1 or no/false/0, not {value!r}")


def _proxy_url(text: str, what: str) -> URL:
    """An override's side: an absolute http(s) URL, or a bare ``host[:port]``."""
    try:
        url = URL(text if "://" in text else f"//{text}")
        url.port  # noqa: B018 (an invalid port only shows when read)
    except ValueError:
        url = URL()
    if url.scheme not in ("", "http", "https") or not url.host:
        raise InvalidArgumentError(
            f"{what}: {text!r} is not an http(s) URL nor a host name with an optional port"
        )
    return url


def _pair(item: str) -> tuple[str, str]:
    key, _, target = item.partition("=")
    return key, target


def parse_storage_proxy_overrides(value: str | Mapping[str, str]) -> dict[str, str]:
    """The storage-proxy address map: ``"X1=Y1,X2=Y2"`` (or a mapping) to a dict.

    Each *X* is a storage-proxy URL as the manager hands it out; each *Y* the address to use
    instead: a URL, or a host name with an optional port (the scheme and path are kept).
    """
    what = "BACKEND_OVERRIDE_STORAGE_PROXY"
    pairs: Iterable[tuple[str, str]]
    if isinstance(value, Mapping):
        what = "storage_proxy_address_map"
        pairs = value.items()
    elif isinstance(value, str):
        pairs = [_pair(item) for item in value.split(",") if item.strip()]
    else:
        raise InvalidArgumentError(f"{what} is a mapping, not {type(value).__name__}")
    overrides: dict[str, str] = {}
    for key, target in pairs:
        key, target = check_text(key, what), check_text(target, what)
        if not key or not target:
            raise InvalidArgumentError(f"{what} is a list of FROM=TO pairs, not {value!r}")
        _proxy_url(key, what)
        _proxy_url(target, what)
        overrides[key] = target
    return overrides


def _matches(key: URL, url: URL) -> bool:
    if key.scheme and key.scheme != url.scheme:
        return False
    if (key.host or "").lower() != (url.host or "").lower():
        return False
    if key.explicit_port is not None and key.port != url.port:
        return False
    return key.path in ("", "/") or key.path.rstrip("/") == url.path.rstrip("/")


def override_storage_proxy(url: URL, overrides: Mapping[str, str]) -> URL:
    """The storage-proxy URL to use for *url*, as handed out by the manager (pure).

    A key matches *url* when what it names agrees: the whole URL (the official SDK's rule),
    an origin (``http://proxy:6021``) or a host with an optional port (``proxy:6021``). A
    target with a path replaces the whole URL; otherwise it replaces only what it names
    (scheme, host, port), the path of *url* being kept. With overrides configured, a URL
    that none matches is an [`InvalidArgumentError`][backendai_aio.InvalidArgumentError], as in the
    official SDK: the bytes would otherwise go where the configuration says they must not.
    """
    if not overrides:
        return url
    for key, target in overrides.items():
        if _matches(_proxy_url(key, "the storage-proxy override"), url):
            return _replace_origin(url, _proxy_url(target, "the storage-proxy override"))
    raise InvalidArgumentError(
        f"storage-proxy overrides are configured (BACKEND_OVERRIDE_STORAGE_PROXY), but none "
        f"matches the storage proxy {url.scheme}://{url.raw_host}:{url.port}"
    )


def _replace_origin(url: URL, target: URL) -> URL:
    scheme = target.scheme or url.scheme
    if target.path not in ("", "/"):
        return target.with_scheme(scheme)
    port = target.explicit_port
    if port is None and scheme == url.scheme:
        # A bare host keeps the port; a new scheme without a port gets its default one.
        port = url.explicit_port
    return url.with_scheme(scheme).with_host(target.raw_host or "").with_port(port)


def folder_names(value: object, what: str) -> tuple[str, ...]:
    """Folder names: an iterable of strings, or one comma-separated string."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{what} is a list of folder names, not {value!r}")
    names = (check_text(name, what) for name in value)
    # Repeated names would mount one folder twice, which the manager refuses.
    return tuple(dict.fromkeys(name for name in names if name))
