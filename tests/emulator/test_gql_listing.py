"""The manager's ``filter`` and ``order`` languages, as the emulator evaluates them (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from backendai_aio.emulator._gql_listing import ListingError, filter_rows, order_rows, page

ROWS: list[dict[str, Any]] = [
    {"name": "alpha", "status": "RUNNING", "size": 3, "tags": ["a", "b"], "tag": None},
    {"name": "beta", "status": "TERMINATED", "size": 1, "tags": [], "tag": "x"},
    {"name": "Gamma", "status": "RUNNING", "size": 2, "tags": ["b"], "tag": None},
]
FIELDS = ("name", "status", "size", "tags", "tag")


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ('name == "alpha"', ["alpha"]),
        ('name != "alpha"', ["beta", "Gamma"]),
        ("size > 1", ["alpha", "Gamma"]),
        ("size <= 2", ["beta", "Gamma"]),
        ('name like "%a"', ["alpha", "beta", "Gamma"]),
        ('name like "g%"', []),
        ('name ilike "g%"', ["Gamma"]),
        ('name like "_eta"', ["beta"]),
        ('name in ["alpha", "beta"]', ["alpha", "beta"]),
        ('tags contains "b"', ["alpha", "Gamma"]),
        ("tag is null", ["alpha", "Gamma"]),
        ("tag isnot null", ["beta"]),
        ('status == "running"', ["alpha", "Gamma"]),
        ('status == "running" & size < 3', ["Gamma"]),
        ('status == "terminated" | size == 3', ["alpha", "beta"]),
        ('!(status == "running")', ["beta"]),
        ('! name == "beta" & (size == 1 | size == 2)', ["Gamma"]),
        ('name == "with \\"quote\\""', []),
        ('status in ["running", 3]', ["alpha", "Gamma"]),
        ("((" + 'name == "beta"' + "))", ["beta"]),
    ],
)
def test_filters(expression: str, names: list[str]) -> None:
    chosen = filter_rows(ROWS, expression, FIELDS, enums=("status",))
    assert [row["name"] for row in chosen] == names


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('nosuch == "x"', "Invalid field name: nosuch"),
        ('name === "x"', "Query filter parsing error"),
        ('name == "x" &', "Query filter parsing error"),
        ('(name == "x"', "Query filter parsing error"),
        ("name ==", "Query filter parsing error"),
        ('name == "x" name', "Query filter parsing error"),
        ('name ~ "x"', "Query filter parsing error"),
        ('name == "\\q"', "Query filter parsing error: invalid value"),
        ("(" * 60 + 'name == "x"' + ")" * 60, "nests too deeply"),
        ("!" * 100 + 'name == "x"', "nests too deeply"),
    ],
)
def test_refused_filters(expression: str, message: str) -> None:
    with pytest.raises(ListingError, match=message.replace("(", r"\(")):
        filter_rows(ROWS, expression, FIELDS)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        (None, ["alpha", "beta", "Gamma"]),
        ("", ["alpha", "beta", "Gamma"]),
        ("size", ["beta", "Gamma", "alpha"]),
        ("+size", ["beta", "Gamma", "alpha"]),
        ("-size", ["alpha", "Gamma", "beta"]),
        ("status,-name", ["alpha", "Gamma", "beta"]),
        ("tag,name", ["beta", "Gamma", "alpha"]),
        # As in PostgreSQL: nulls last ascending, first descending.
        ("-tag", ["alpha", "Gamma", "beta"]),
    ],
)
def test_orders(expression: str | None, names: list[str]) -> None:
    assert [row["name"] for row in order_rows(ROWS, expression, FIELDS)] == names


@pytest.mark.parametrize("expression", ["nosuch", "name,-", "na me"])
def test_refused_orders(expression: str) -> None:
    with pytest.raises(ListingError):
        order_rows(ROWS, expression, FIELDS)


@pytest.mark.parametrize(
    ("limit", "offset", "names"),
    [(2, 0, ["alpha", "beta"]), (2, 2, ["Gamma"]), (5, 3, []), (0, 0, []), (1, -1, ["alpha"])],
)
def test_pages(limit: int, offset: int, names: list[str]) -> None:
    answer = page(ROWS, limit, offset)
    assert ([row["name"] for row in answer["items"]], answer["total_count"]) == (names, 3)
