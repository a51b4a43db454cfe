"""Response bodies decoded by their Content-Type (pure functions, no I/O).

The rule is the original JavaScript client's: JSON media types (``application/json``,
``application/problem+json``, any ``*/json`` or ``*+json``) are parsed, ``text/*`` becomes
``str``, anything else stays ``bytes``, and ``204 No Content`` is ``None``.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from typing import Any, Final

__all__ = [
    "DECODE_COST_FACTOR",
    "BodyDecodeError",
    "decode_body",
    "estimate_json_cost",
    "is_json_media_type",
    "parse_content_type",
]

#: The memory a JSON body may cost once decoded, as a multiple of its size (bodies small
#: enough for `_MIN_COST_BUDGET` are never refused). Realistic answers (listings,
#: session details, logs) cost 2 to 6 times their size; ``[{},{},...]`` costs 25 times.
DECODE_COST_FACTOR: Final = 10
_MIN_COST_BUDGET: Final = 32 * 1024 * 1024
# The most a JSON value can cost per byte of its text (``[{},{},...]``): a body this much
# smaller than the budget needs no estimate.
_WORST_FACTOR: Final = 40
# Estimated bytes per container, per comma-separated value and per object member
# (CPython 3.11 on 64 bits: an empty dict is 64 bytes, a short str about 50, a pointer 8).
_CONTAINER_COST: Final = 64
_VALUE_COST: Final = 56
_MEMBER_COST: Final = 32
# Possessive quantifiers: without them the regex engine keeps state for every repetition,
# many times the text's size.
_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)
_WHOLE = re.compile(rb'(?:[^"]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
_WINDOW: Final = 256 * 1024


class BodyDecodeError(ValueError):
    """A body could not be decoded according to its Content-Type."""


def parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    """Split a ``Content-Type`` value into (bare lower-case media type, charset or None)."""
    if not content_type:
        return "", None
    media_type, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return media_type.strip().lower(), charset


def is_json_media_type(media_type: str) -> bool:
    """Tell whether a bare media type carries JSON (``*/json`` or ``*+json``)."""
    return media_type.endswith(("/json", "+json"))


@functools.lru_cache(maxsize=64)
def _text_codec(charset: str | None, default: str) -> str:
    if charset is None:
        return default
    try:
        info = codecs.lookup(charset)
    except LookupError:
        # An unknown charset label must not turn a readable body into an error.
        return default
    # Only text encodings: "rot13" or "base64" name codecs that bytes.decode refuses (it
    # checks only when there is something to decode).
    try:
        b"a".decode(info.name)
    except LookupError:
        return default
    except ValueError:
        pass  # a text codec that needs more than one byte (UTF-16, UTF-32): fine
    return info.name


def _structure_cost(text: bytes, start: int = 0, end: int | None = None) -> int:
    """The structure's estimated cost in *text* (``[start:end]``), its bytes not counted."""
    stop = len(text) if end is None else end
    containers = text.count(b"{", start, stop) + text.count(b"[", start, stop)
    return (
        _CONTAINER_COST * containers
        + _VALUE_COST * text.count(b",", start, stop)
        + _MEMBER_COST * text.count(b":", start, stop)
    )


def _structure_outside_strings(body: bytes, window_size: int = _WINDOW) -> int:
    """`_structure_cost` of *body* with its strings set aside, window by window.

    Stripping strings from the whole body at once would cost many times its size; a
    window at a time, the memory is bounded by the window's, and each byte is scanned a
    bounded number of times.
    """
    cost = 0
    position = 0
    size = len(body)
    while position < size:
        window = body[position : position + window_size]
        # Up to the first string the window cuts: starting outside a string, the scan
        # takes whole strings only, so that an escaped quote is never taken for an end.
        scanned = _WHOLE.match(window)
        end = scanned.end() if scanned is not None else 0
        if end:
            cost += _structure_cost(_STRING.sub(b'""', window[:end]))
            position += end
            continue
        # A string longer than a window: skip it whole (no copy is made).
        string = _STRING.match(body, position)
        if string is None:
            break  # unterminated: invalid JSON, which decoding reports
        position = string.end()
    return cost


def estimate_json_cost(body: bytes) -> int:
    """About how many bytes of memory decoding the JSON *body* would take (an upper bound).

    Structural characters inside strings are counted first, which is fast and usually
    harmless; when that count is too high to accept, strings are set aside and it is counted
    again.
    """
    cost = len(body) + _structure_cost(body)
    if cost > _cost_budget(len(body)):
        cost = len(body) + _structure_outside_strings(body)
    return cost


def _cost_budget(size: int) -> int:
    return max(_MIN_COST_BUDGET, DECODE_COST_FACTOR * size)


def _check_cost(body: bytes) -> None:
    if len(body) * _WORST_FACTOR <= _MIN_COST_BUDGET:
        return
    cost = estimate_json_cost(body)
    budget = _cost_budget(len(body))
    if cost > budget:
        raise BodyDecodeError(
            f"decoding this {len(body)}-byte JSON body would take about {cost >> 20} MiB of "
            f"memory, more than the {budget >> 20} MiB allowed ({DECODE_COST_FACTOR} times "
            "its size)"
        )


def decode_body(status: int, content_type: str | None, body: bytes) -> Any:
    """Decode *body* by *content_type*; raise `BodyDecodeError` for invalid JSON.

    An empty body decodes to ``None`` whatever its type: the server sent no value. What
    decoding JSON may cost is bounded: a body nested too deeply, or one whose values would
    take more than `DECODE_COST_FACTOR` times its size in memory, is refused.
    """
    if status == 204 or not body:
        return None
    media_type, charset = parse_content_type(content_type)
    if is_json_media_type(media_type):
        _check_cost(body)
        try:
            if charset is None:
                # json.loads detects UTF-8, -16 and -32 in bytes by itself.
                return json.loads(body)
            return json.loads(body.decode(_text_codec(charset, "utf-8")))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BodyDecodeError(f"invalid JSON in a {media_type} body: {exc}") from exc
        except RecursionError:
            raise BodyDecodeError(f"a {media_type} body nested too deeply to decode") from None
    if media_type.startswith("text/"):
        return body.decode(_text_codec(charset, "utf-8"), errors="replace")
    return body
