"""A model folder's ``model-definition.yaml``: the small YAML subset it is written in.

The emulator reads what it needs to start a model, without a YAML library: block mappings
and sequences by indentation, ``- key: value`` items, flow sequences (``[a, "b"]``) and
mappings (``{a: 1}``) of scalars, quoted and plain scalars, and ``#`` comments. JSON, being
YAML too, is read as such. Anchors, tags, multi-document streams and block scalars
(``|``, ``>``) are refused with a clear message rather than misread.

The definition, as the manager documents it:

```python
models:
  - name: my-model
    model_path: /models
    service:
      start_command: [python, server.py, "8000"]   # or a shell command line
      port: 8000
      health_check:
        path: /health
```
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFINITION_NAMES",
    "DefinitionError",
    "ModelDefinition",
    "parse_definition",
    "parse_yaml",
]

#: The file names the manager looks for when the service names none.
DEFINITION_NAMES: Final = ("model-definition.yaml", "model-definition.yml")

_INT: Final = re.compile(r"[-+]?\d+")
_FLOAT: Final = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")


class DefinitionError(ValueError):
    """The definition cannot be read, or lacks what starting the model needs."""


@dataclass(frozen=True)
class ModelDefinition:
    """What the emulator needs of a definition's first model to run it."""

    name: str
    model_path: str
    start_command: list[str]
    port: int
    health_path: str | None = None
    expected_status: int = 200
    #: Seconds to wait for the first healthy answer (the manager's retries times interval).
    start_timeout: float = 30.0


# -- the YAML subset -----------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    """*line* without a trailing ``# comment`` (outside quotes)."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index].rstrip()
    return line.rstrip()


def _split_flow(text: str) -> list[str]:
    """Split the inside of ``[...]`` or ``{...}`` at top-level commas (no nesting)."""
    parts, current, quote = [], "", ""
    for char in text:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current += char
        elif char in "[]{}":
            raise DefinitionError(f"nested flow collections are not supported: {text!r}")
        elif char == ",":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _split_key(text: str) -> tuple[str, str] | None:
    """``key: value`` as (key, value); None when *text* is not a mapping entry."""
    if text[:1] in "'\"":
        end = text.find(text[0], 1)
        if end > 0 and text[end + 1 : end + 2] == ":":
            rest = text[end + 2 :]
            if rest == "" or rest[0] in " \t":
                return text[1:end], rest.strip()
        return None
    match = re.match(r"([^:#'\"\[\]{},][^:#]*?):(\s+|$)", text)
    if match is None:
        return None
    return match.group(1).strip(), text[match.end() :].strip()


def _scalar(text: str) -> Any:
    text = text.strip()
    if text[:1] in ("&", "*", "!", "|", ">"):
        raise DefinitionError(f"anchors, tags and block scalars are not supported: {text!r}")
    if text.startswith("["):
        if not text.endswith("]"):
            raise DefinitionError(f"an unclosed flow sequence: {text!r}")
        return [_scalar(part) for part in _split_flow(text[1:-1])]
    if text.startswith("{"):
        if not text.endswith("}"):
            raise DefinitionError(f"an unclosed flow mapping: {text!r}")
        mapping: dict[str, Any] = {}
        for part in _split_flow(text[1:-1]):
            entry = _split_key(part)
            if entry is None:
                raise DefinitionError(f"not a key: value pair: {part!r}")
            mapping[entry[0]] = _scalar(entry[1]) if entry[1] else None
        return mapping
    if text[:1] == '"':
        if len(text) < 2 or not text.endswith('"'):
            raise DefinitionError(f"an unclosed quoted string: {text!r}")
        try:
            return json.loads(text)
        except ValueError:
            raise DefinitionError(f"a malformed quoted string: {text!r}") from None
    if text[:1] == "'":
        if len(text) < 2 or not text.endswith("'"):
            raise DefinitionError(f"an unclosed quoted string: {text!r}")
        return text[1:-1].replace("''", "'")
    lowered = text.lower()
    if lowered in ("", "~", "null"):
        return None
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _lines(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for raw in text.splitlines():
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise DefinitionError("indentation with tabs is not YAML")
        line = _strip_comment(raw)
        if not line.strip() or line.strip() in ("---", "..."):
            if line.strip() == "---" and found:
                raise DefinitionError("multi-document files are not supported")
            continue
        found.append((len(line) - len(line.lstrip(" ")), line.strip()))
    return found


def _block(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[Any, int]:
    """Parse the block whose lines begin at *start* with indentation *indent*."""
    if lines[start][1].startswith("- ") or lines[start][1] == "-":
        return _sequence(lines, start, indent)
    return _mapping(lines, start, indent)


def _value_after(
    lines: list[tuple[int, str]], index: int, indent: int, inline: str
) -> tuple[Any, int]:
    """The value of an entry whose inline part is *inline*: itself, or the nested block."""
    if inline:
        return _scalar(inline), index + 1
    following = index + 1
    if following < len(lines) and (
        lines[following][0] > indent
        or (lines[following][0] == indent and lines[following][1].startswith("-"))
    ):
        return _block(lines, following, lines[following][0])
    return None, following


def _mapping(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[Any, int]:
    result: dict[str, Any] = {}
    index = start
    while index < len(lines) and lines[index][0] == indent:
        entry = _split_key(lines[index][1])
        if entry is None:
            raise DefinitionError(f"expected 'key: value', found {lines[index][1]!r}")
        key, inline = entry
        if key in result:
            raise DefinitionError(f"the key {key!r} appears twice")
        result[key], index = _value_after(lines, index, indent, inline)
    if index < len(lines) and lines[index][0] > indent:
        raise DefinitionError(f"unexpected indentation at {lines[index][1]!r}")
    return result, index


def _sequence(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[Any, int]:
    result: list[Any] = []
    index = start
    while index < len(lines) and lines[index][0] == indent and lines[index][1].startswith("-"):
        text = lines[index][1]
        if text != "-" and not text.startswith("- "):
            raise DefinitionError(f"expected '- item', found {text!r}")
        item = text[1:].strip()
        if not item:
            value, index = _value_after(lines, index, indent, "")
            result.append(value)
            continue
        # "- key: value" opens a mapping whose further keys align with "key".
        inner = indent + (len(text) - len(item))
        if _split_key(item) is not None:
            rest = [(inner, item), *lines[index + 1 :]]
            value, used = _mapping(rest, 0, inner)
            result.append(value)
            index += used
            continue
        result.append(_scalar(item))
        index += 1
    if index < len(lines) and lines[index][0] > indent:
        raise DefinitionError(f"unexpected indentation at {lines[index][1]!r}")
    return result, index


def parse_yaml(text: str) -> Any:
    """Parse *text*, written in the YAML subset described above (or JSON)."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            return json.loads(stripped)
        except ValueError:
            pass  # perhaps a flow collection on one line: read it as YAML below
    lines = _lines(text)
    if not lines:
        return None
    if lines[0][0] != 0:
        raise DefinitionError("the document must start at the first column")
    value, used = _block(lines, 0, 0)
    if used != len(lines):
        raise DefinitionError(f"unexpected text at {lines[used][1]!r}")
    return value


# -- the definition ------------------------------------------------------------------------


def _positive_number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return default
    return float(value)


def parse_definition(text: str) -> ModelDefinition:
    """The first model of a ``model-definition.yaml``, as the emulator runs it."""
    document = parse_yaml(text)
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, list) or not models or not isinstance(models[0], dict):
        raise DefinitionError("the definition has no 'models' list")
    model = models[0]
    service = model.get("service")
    if not isinstance(service, dict):
        raise DefinitionError(f"the model {model.get('name')!r} has no 'service' section")
    command = service.get("start_command")
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise DefinitionError(f"a malformed start_command: {exc}") from None
    if (
        not isinstance(command, list)
        or not command
        or not all(
            isinstance(arg, str | int | float) and not isinstance(arg, bool) for arg in command
        )
    ):
        raise DefinitionError("service.start_command must be a command line or a list of words")
    port = service.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise DefinitionError(f"service.port must be a port number, not {port!r}")
    health = service.get("health_check")
    health_path = None
    expected = 200
    timeout = 30.0
    if isinstance(health, dict):
        path = health.get("path")
        health_path = path if isinstance(path, str) and path.startswith("/") else "/"
        status = health.get("expected_status_code")
        if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
            expected = status
        retries = _positive_number(health.get("max_retries"), 10)
        interval = _positive_number(health.get("interval"), 3)
        delay = _positive_number(health.get("initial_delay"), 0)
        timeout = min(max(delay + retries * interval, 5.0), 300.0)
    name = model.get("name")
    model_path = model.get("model_path")
    return ModelDefinition(
        name=name if isinstance(name, str) else "model",
        model_path=model_path if isinstance(model_path, str) else "/models",
        start_command=[str(arg) for arg in command],
        port=port,
        health_path=health_path,
        expected_status=expected,
        start_timeout=timeout,
    )
