"""Typed results built from the manager's raw answers: runs, session and folder listings."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest

from backendai_aio import ResponseError
from backendai_aio._results import ConsoleItem, RunResult, session_entries, vfolder_entries


def test_a_run_result_gathers_its_steps() -> None:
    result = RunResult("r1")
    first = result.add_step(
        {
            "status": "continued",
            "console": [
                ["stdout", "hello "],
                ["stderr", "warn"],
                ["media", ["image/png", "AAAA"]],
                ["media", ["image/svg+xml"]],
                ["media", []],
                ["html", "<b>x</b>"],
                "not a pair",
                ["too", "many", "parts"],
            ],
            "files": [{"name": "out.txt"}],
            "exitCode": True,  # not a number: ignored
        }
    )
    assert first[0] == ConsoleItem("stdout", "hello ")
    assert len(first) == 6
    assert (result.status, result.exit_code, result.ok) == ("continued", None, False)
    assert result.add_step({"status": "finished", "console": [["stdout", "world"]]}) == [
        ConsoleItem("stdout", "world")
    ]
    result.add_step({"status": "finished", "exitCode": 0, "console": None, "files": "x"})
    assert result.stdout == "hello world"
    assert result.stderr == "warn"
    assert result.media == [("image/png", "AAAA"), ("image/svg+xml", None)]
    assert result.html == ["<b>x</b>"]
    assert result.files == [{"name": "out.txt"}]
    assert (result.status, result.exit_code, result.ok) == ("finished", 0, True)
    assert len(result.raw) == 3


def test_a_run_that_ends_with_an_error_code_is_not_ok() -> None:
    result = RunResult("r2")
    result.add_step({"status": "finished", "exitCode": 1})
    assert not result.ok


def test_a_console_that_is_not_a_list_is_refused_and_not_recorded() -> None:
    result = RunResult("r3")
    with pytest.raises(ResponseError, match="console is not a list: 'text'") as caught:
        result.add_step({"status": "finished", "console": "text"})
    assert caught.value.body == {"status": "finished", "console": "text"}
    assert (result.raw, result.status) == ([], "")


def _listing(items: Any) -> dict[str, str]:
    return {"files": json.dumps(items)}


def test_session_entries_read_modes_as_text_or_numbers() -> None:
    listing = _listing(
        [
            {"filename": "d", "size": 4096, "mode": "drwxr-xr-x", "mtime": "t1"},
            {"filename": "l", "size": "12", "mode": "lrwxrwxrwx"},
            {"filename": "f", "size": None, "mode": "-rw-r--r--"},
            {"filename": "n", "size": 1, "mode": stat.S_IFDIR | 0o755},
            {"filename": "s", "size": 1, "mode": stat.S_IFLNK | 0o777},
            {"filename": "r", "size": 1, "mode": stat.S_IFREG | 0o644},
            {"filename": "none"},
            {"filename": "inf", "size": 1e400},
            "not an entry",
        ]
    )
    entries = session_entries(listing)
    assert [(e.name, e.type, e.size) for e in entries] == [
        ("d", "DIRECTORY", 4096),
        ("l", "SYMLINK", 12),
        ("f", "FILE", 0),
        ("n", "DIRECTORY", 1),
        ("s", "SYMLINK", 1),
        ("r", "FILE", 1),
        ("none", "FILE", 0),
        ("inf", "FILE", 0),
    ]
    assert entries[0].is_dir and not entries[2].is_dir
    assert entries[0].modified == "t1"
    assert entries[0].raw["mode"] == "drwxr-xr-x"


@pytest.mark.parametrize("listing", [None, [], {}, {"files": ""}, _listing({"a": 1})])
def test_session_entries_of_nothing_are_empty(listing: Any) -> None:
    assert session_entries(listing) == []


def test_session_entries_that_are_not_json_are_a_response_error() -> None:
    with pytest.raises(ResponseError, match="file listing \\(list_files\\) that is not JSON"):
        session_entries({"files": "{not json"})
    with pytest.raises(ResponseError, match="that is not JSON"):
        session_entries({"files": 12})


def test_session_entries_nested_too_deeply_are_a_response_error() -> None:
    with pytest.raises(ResponseError, match="nested too deeply to decode"):
        session_entries({"files": "[" * 100_000 + "]" * 100_000})


def test_vfolder_entries() -> None:
    listing = {
        "items": [
            {"name": "a", "type": "DIRECTORY", "size": 0, "modified": "m"},
            {"name": "b", "size": "7"},
            42,
        ]
    }
    entries = vfolder_entries(listing)
    assert [(e.name, e.type, e.size, e.modified) for e in entries] == [
        ("a", "DIRECTORY", 0, "m"),
        ("b", "FILE", 7, None),
    ]
    assert vfolder_entries({}) == vfolder_entries(None) == []


def test_vfolder_entries_whose_items_are_not_a_list_are_refused() -> None:
    with pytest.raises(ResponseError, match="whose items is not a list: 'x'") as caught:
        vfolder_entries({"items": "x"})
    assert caught.value.body == {"items": "x"}
