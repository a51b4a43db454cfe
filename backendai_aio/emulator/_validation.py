"""Parameter checks that word their errors as the manager's (trafaret-based) ones do.

The manager checks each call's parameters with trafaret schemas and answers 400
``invalid-api-params`` "Input validation error" with ``data`` mapping each bad key to its
problem. These checkers reproduce the checks the emulated calls use, and trafaret's wording:

- a missing key: ``"is required"``; an unknown one: ``"<key> is not allowed key"``;
- ``String``: ``"value is not a string"``, ``"blank value is not allowed"``;
- ``Int``/``ToInt``: ``"value is not int"``, ``"value can't be converted to int"``,
  ``"value is less than N"``, ``"value is greater than N"``; ``Float``: ``"value is not
  float"`` (and the same bounds); ``ToBool``: ``"value can't be converted to Bool"``;
- a Python enum (the manager's ``tx.Enum``): ``"value is not a valid member of <EnumName>"``;
  trafaret's ``Enum`` of plain values: ``"value doesn't match any variant"``; ``Mapping``:
  ``"value is not a dict"``; ``List``: ``"value is not a list"``; a UUID: ``"cannot convert
  value to UUID"``;
- ``Null | X``: both alternatives' errors, keyed by position: ``{"0": "value should be None",
  "1": <X's error>}``.

Every checker looks at the value's type before anything else, so a JSON list or object where
text is expected is refused like any other wrong value.

A key may have aliases (the manager's ``AliasedKey``): an error names the alias the caller used,
and a missing key is reported under the key's target name.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from yarl import URL

from ._problems import InvalidAPIParameters

__all__ = [
    "REQUIRED",
    "Check",
    "Invalid",
    "Key",
    "check_params",
    "choice",
    "either",
    "enum",
    "integer",
    "list_of",
    "mapping",
    "null",
    "null_or",
    "number",
    "regexp",
    "string",
    "to_bool",
    "url",
    "uuid_string",
    "validate",
]


class Invalid(Exception):
    """A value failed a check; *error* is trafaret's message (or a nested mapping of them)."""

    def __init__(self, error: Any) -> None:
        super().__init__(error)
        self.error = error


#: A checker: returns the (possibly converted) value, or raises `Invalid`.
Check = Callable[[Any], Any]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a key that must be given.
REQUIRED: Final = _Required()

_TRUE: Final = ("t", "true", "y", "yes", "on", "1", "1.0")
_FALSE: Final = ("false", "n", "no", "off", "0", "none", "0.0")


def string(*, allow_blank: bool = False) -> Check:
    """As trafaret's ``String``."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid("value is not a string")
        if not value and not allow_blank:
            raise Invalid("blank value is not allowed")
        return value

    return check


def regexp(pattern: str, flags: int = 0) -> Check:
    """As trafaret's ``Regexp`` (a string that matches *pattern* from its start)."""
    compiled = re.compile(pattern, flags)

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid("value is not a string")
        if compiled.match(value) is None:
            raise Invalid(f"does not match pattern {pattern}")
        return value

    return check


def to_bool() -> Check:
    """As trafaret's ``ToBool``: booleans and their usual spellings, as text or numbers."""

    def check(value: Any) -> Any:
        # trafaret compares the value's text, so True, 1, "Yes" and 1.0 all pass.
        text = str(value).strip().lower()
        if text not in _TRUE + _FALSE:
            raise Invalid("value can't be converted to Bool")
        return text in _TRUE

    return check


def integer(*, gte: int | None = None, lte: int | None = None, convert: bool = False) -> Check:
    """As trafaret's ``Int`` (*convert* False) or ``ToInt`` (True), with optional bounds.

    Both accept numbers and numeric strings; ``Int`` hands the value back as given, ``ToInt``
    converted.
    """

    def check(value: Any) -> Any:
        if isinstance(value, int):
            number = int(value)
        elif isinstance(value, float):
            if not value.is_integer():
                raise Invalid("value is not int")
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                raise Invalid("value can't be converted to int") from None
        else:
            raise Invalid("value is not int")
        _check_bounds(number, gte, lte)
        return number if convert else value

    return check


def number(*, gte: float | None = None, lte: float | None = None) -> Check:
    """As trafaret's ``Float``, with optional bounds: a finite number, returned as a float."""

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Invalid("value is not float")
        try:
            converted = float(value)
        except ValueError:
            raise Invalid("value can't be converted to float") from None
        if not math.isfinite(converted):
            raise Invalid("value is not float")
        _check_bounds(converted, gte, lte)
        return converted

    return check


def _check_bounds(value: float, gte: float | None, lte: float | None) -> None:
    if gte is not None and value < gte:
        raise Invalid(f"value is less than {gte}")
    if lte is not None and value > lte:
        raise Invalid(f"value is greater than {lte}")


def enum(name: str, members: Iterable[str]) -> Check:
    """The manager's ``Enum`` of a Python enum class called *name* with these values."""
    allowed = frozenset(members)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid(f"value is not a valid member of {name}")
        return value

    return check


def choice(*variants: str) -> Check:
    """As trafaret's ``Enum`` of text values: one of *variants* (anything else is refused)."""
    allowed = frozenset(variants)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in allowed:
            raise Invalid("value doesn't match any variant")
        return value

    return check


def mapping() -> Check:
    """As trafaret's ``Mapping(String, Any)``."""

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise Invalid("value is not a dict")
        return value

    return check


def list_of(item: Check) -> Check:
    """As trafaret's ``List``; an element's error is keyed by its index."""

    def check(value: Any) -> Any:
        if not isinstance(value, list):
            raise Invalid("value is not a list")
        errors: dict[str, Any] = {}
        result = []
        for index, element in enumerate(value):
            try:
                result.append(item(element))
            except Invalid as exc:
                errors[str(index)] = exc.error
        if errors:
            raise Invalid(errors)
        return result

    return check


def uuid_string() -> Check:
    """The manager's ``UUID`` checker (a UUID object or its text)."""

    def check(value: Any) -> Any:
        try:
            return uuid.UUID(str(value)) if not isinstance(value, uuid.UUID) else value
        except ValueError:
            raise Invalid("cannot convert value to UUID") from None

    return check


def null() -> Check:
    """As trafaret's ``Null``."""

    def check(value: Any) -> Any:
        if value is not None:
            raise Invalid("value should be None")
        return None

    return check


def either(*alternatives: Check) -> Check:
    """As trafaret's ``A | B``: the first alternative that passes, else all errors by index."""

    def check(value: Any) -> Any:
        errors: dict[str, Any] = {}
        for index, alternative in enumerate(alternatives):
            try:
                return alternative(value)
            except Invalid as exc:
                errors[str(index)] = exc.error
        raise Invalid(errors)

    return check


def null_or(alternative: Check) -> Check:
    """As trafaret's ``Null | X``: None, or whatever X accepts."""
    return either(null(), alternative)


def url() -> Check:
    """The manager's ``URL`` checker: an absolute URL (its error is the exception's repr)."""

    def check(value: Any) -> Any:
        try:
            parsed = URL(value)
            parsed.origin()
        except (ValueError, TypeError) as exc:
            raise Invalid(repr(exc)) from None
        return parsed

    return check


@dataclass(frozen=True)
class Key:
    """One key of a checked mapping: its accepted names, its check and its default.

    *target* is the name the checked value is stored under (default: the first name); a
    missing key is reported under it.
    """

    names: tuple[str, ...]
    check: Check
    default: Any = REQUIRED
    target: str | None = None

    @classmethod
    def of(
        cls,
        names: str | Sequence[str],
        check: Check,
        default: Any = REQUIRED,
        to: str | None = None,
    ) -> Key:
        """Build a key from one name or a list of aliases."""
        return cls((names,) if isinstance(names, str) else tuple(names), check, default, to)

    @property
    def stored_as(self) -> str:
        """The name the value is stored under."""
        return self.target or self.names[0]


def validate(
    params: Mapping[str, Any], keys: Sequence[Key], *, allow_extra: bool = False
) -> dict[str, Any]:
    """Check *params* against *keys*; return the checked values by their stored names.

    Raises the manager's "Input validation error" with every problem found.
    """
    errors: dict[str, Any] = {}
    result: dict[str, Any] = {}
    consumed: set[str] = set()
    for key in keys:
        given = next((name for name in key.names if name in params), None)
        consumed.update(key.names)
        if given is None:
            if key.default is REQUIRED:
                errors[key.stored_as] = "is required"
            else:
                result[key.stored_as] = key.default() if callable(key.default) else key.default
            continue
        try:
            result[key.stored_as] = key.check(params[given])
        except Invalid as exc:
            errors[given] = exc.error
    if not allow_extra:
        for name in params:
            if name not in consumed:
                errors[name] = f"{name} is not allowed key"
    check_params(errors)
    return result


def check_params(errors: Mapping[str, Any]) -> None:
    """Raise the manager's "Input validation error" when *errors* (key -> problem) is not empty."""
    if errors:
        raise InvalidAPIParameters("Input validation error", data=dict(errors))
