"""Response bodies decoded by their Content-Type (pure functions, no I/O).

The rule is the original JavaScript client's: JSON media types (``application/json``,
``application/problem+json``, any ``*/json`` or ``*+json``) are parsed, ``text/*`` becomes
``str``, anything else stays ``bytes``, and ``204 No Content`` is ``None``.
"""

from __future__ import annotations

import codecs
import functools
import json
from typing import Any

__all__ = ["BodyDecodeError", "decode_body", "is_json_media_type", "parse_content_type"]


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


def decode_body(status: int, content_type: str | None, body: bytes) -> Any:
    """Decode *body* by *content_type*; raise :class:`BodyDecodeError` for invalid JSON.

    An empty body decodes to ``None`` whatever its type: the server sent no value.
    """
    if status == 204 or not body:
        return None
    media_type, charset = parse_content_type(content_type)
    if is_json_media_type(media_type):
        try:
            if charset is None:
                # json.loads detects UTF-8, -16 and -32 in bytes by itself.
                return json.loads(body)
            return json.loads(body.decode(_text_codec(charset, "utf-8")))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BodyDecodeError(f"invalid JSON in a {media_type} body: {exc}") from exc
    if media_type.startswith("text/"):
        return body.decode(_text_codec(charset, "utf-8"), errors="replace")
    return body
