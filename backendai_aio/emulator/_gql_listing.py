"""The manager's paginated lists: ``filter`` and ``order`` expressions over answered rows.

The manager reads two small languages in the ``filter`` and ``order`` arguments of its
``*_list`` fields and turns them into SQL; the emulator evaluates them on the rows it answers.

- ``order``: comma-separated field names, each optionally prefixed with ``+`` (ascending, the
  default) or ``-`` (descending): ``-created_at,name``.
- ``filter``: ``field OP value`` with OP one of ``==``, ``!=``, ``>``, ``>=``, ``<``, ``<=``,
  ``contains``, ``in``, ``is``, ``isnot``, ``like``, ``ilike`` (``%`` and ``_`` wildcards);
  values are JSON strings, numbers, ``null``, ``true``, ``false`` or ``[...]`` arrays;
  expressions combine with ``&``, ``|``, ``!`` and parentheses, as in ``status == "RUNNING"
  & name ilike "%test%"``.

Only the fields the manager lets each list filter and order by are accepted; another one is
refused with the manager's message (a resolver error on the list field).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

__all__ = ["ListingError", "filter_rows", "order_rows", "page"]

Row = Mapping[str, Any]
_Predicate = Callable[[Row], bool]


class ListingError(Exception):
    """A ``filter`` or ``order`` expression the manager would refuse."""


_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
        |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
        |(?P<op>==|!=|>=|<=|>|<|&|\||!|\(|\)|\[|\]|,)
        |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_WORD_OPS: Final = frozenset({"contains", "in", "is", "isnot", "like", "ilike"})
_ATOMS: Final = {"null": None, "true": True, "false": False}
# How deeply parentheses and negations may nest (far more than any real filter needs).
_MAX_NESTING: Final = 50


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        if text[index:].strip() == "":
            break
        match = _TOKEN.match(text, index)
        if match is None or match.lastgroup is None:
            raise ListingError(f"Query filter parsing error: unexpected input at {index}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        index = match.end()
    return tokens


class _FilterParser:
    def __init__(self, text: str, fields: Collection[str], enums: Collection[str]) -> None:
        self._tokens = _tokens(text)
        self._at = 0
        self._depth = 0
        self._fields = fields
        self._enums = enums

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ListingError("Query filter parsing error: unexpected end of expression")
        self._at += 1
        return token

    def parse(self) -> _Predicate:
        predicate = self._combined()
        extra = self._peek()
        if extra is not None:
            raise ListingError(f"Query filter parsing error: unexpected {extra[1]!r}")
        return predicate

    def _combined(self) -> _Predicate:
        # The manager's grammar gives & and | the same precedence, grouping from the left.
        left = self._unary()
        while (token := self._peek()) is not None and token[1] in ("&", "|"):
            self._take()
            right = self._unary()
            left = _both(left, right) if token[1] == "&" else _either(left, right)
        return left

    def _unary(self) -> _Predicate:
        token = self._take()
        if token[1] in ("!", "("):
            self._depth += 1
            if self._depth > _MAX_NESTING:
                raise ListingError("Query filter parsing error: the expression nests too deeply")
            try:
                return self._negated() if token[1] == "!" else self._grouped()
            finally:
                self._depth -= 1
        if token[0] != "name" or token[1] in _WORD_OPS:
            raise ListingError(f"Query filter parsing error: unexpected {token[1]!r}")
        field = token[1]
        if field not in self._fields:
            raise ListingError(f"Invalid field name: {field}")
        op = self._take()[1]
        if op not in _WORD_OPS and op not in ("==", "!=", ">", ">=", "<", "<="):
            raise ListingError(f"Query filter parsing error: unknown operator {op!r}")
        value = self._value()
        if field in self._enums:
            value = [_upper(v) for v in value] if isinstance(value, list) else _upper(value)
        return _comparison(field, op, value)

    def _negated(self) -> _Predicate:
        inner = self._unary()
        return lambda row: not inner(row)

    def _grouped(self) -> _Predicate:
        inner = self._combined()
        if self._take()[1] != ")":
            raise ListingError("Query filter parsing error: ')' expected")
        return inner

    def _value(self) -> Any:
        kind, text = self._take()
        if kind in ("string", "number"):
            try:
                return json.loads(text)
            except ValueError:
                raise ListingError(f"Query filter parsing error: invalid value {text}") from None
        if kind == "name" and text in _ATOMS:
            return _ATOMS[text]
        if text == "[":
            items: list[Any] = []
            while (token := self._peek()) is not None and token[1] != "]":
                items.append(self._value())
                if (token := self._peek()) is not None and token[1] == ",":
                    self._take()
            self._take()
            return items
        raise ListingError(f"Query filter parsing error: unexpected {text!r}")


def _both(first: _Predicate, second: _Predicate) -> _Predicate:
    return lambda row: first(row) and second(row)


def _either(first: _Predicate, second: _Predicate) -> _Predicate:
    return lambda row: first(row) or second(row)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = ("." if char == "_" else ".*" if char == "%" else re.escape(char) for char in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _comparison(field: str, op: str, value: Any) -> _Predicate:
    def test(row: Row) -> bool:
        found = row.get(field)
        if op in ("is", "==") and value is None:
            return found is None
        if op in ("isnot", "!=") and value is None:
            return found is not None
        if found is None:
            return False
        if op in ("==", "is"):
            return bool(found == value or (isinstance(found, list) and value in found))
        if op in ("!=", "isnot"):
            return bool(found != value)
        if op in ("like", "ilike"):
            return _like(str(value), ignore_case=op == "ilike").fullmatch(str(found)) is not None
        if op == "contains":
            return value in found if isinstance(found, list) else str(value) in str(found)
        if op == "in":
            return isinstance(value, list) and found in value
        try:
            return bool(
                {
                    ">": found > value,
                    ">=": found >= value,
                    "<": found < value,
                    "<=": found <= value,
                }[op]
            )
        except TypeError:
            return False

    return test


def filter_rows(
    rows: Sequence[Row], text: str | None, fields: Collection[str], enums: Collection[str] = ()
) -> list[Row]:
    """The *rows* that the ``filter`` expression *text* selects (all of them if None)."""
    if text is None:
        return list(rows)
    predicate = _FilterParser(text, fields, enums).parse()
    return [row for row in rows if predicate(row)]


def order_rows(rows: Sequence[Row], text: str | None, fields: Collection[str]) -> list[Row]:
    """*rows* in the order the ``order`` expression *text* asks for (as given if None)."""
    ordered = list(rows)
    if text is None or not text.strip():
        return ordered
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("+-").strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ListingError(f"Query ordering parsing error: {part.strip()!r}")
        if name not in fields:
            raise ListingError(f"Unknown/unsupported field name: {name}")
        keys.append((name, descending))
    # Sort by the last key first: Python's sort is stable. As in PostgreSQL, nulls come
    # last in ascending order and first in descending order.
    for name, descending in reversed(keys):
        present = [row for row in ordered if row.get(name) is not None]
        absent = [row for row in ordered if row.get(name) is None]
        present.sort(key=lambda row: row[name], reverse=descending)
        ordered = absent + present if descending else present + absent
    return ordered


def page(rows: Sequence[Row], limit: int, offset: int) -> dict[str, Any]:
    """``{items, total_count}`` for the slice *offset*:*offset* + *limit* of *rows*."""
    start = max(offset, 0)
    return {"items": list(rows[start : start + max(limit, 0)]), "total_count": len(rows)}
