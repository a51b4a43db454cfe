"""MkDocs hook: leave out of the navigation the optional pages that do not exist (yet).

``docs/vfolders.md`` and ``docs/benchmarks.md`` are listed in ``mkdocs.yml`` but written
separately; until one exists, its entry is dropped instead of failing the strict build. Any
other missing page still fails it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

OPTIONAL_PAGES = frozenset({"vfolders.md", "benchmarks.md"})

log = logging.getLogger("mkdocs.hooks.optional_pages")


def _present(item: Any, docs: Path) -> bool:
    target = next(iter(item.values())) if isinstance(item, dict) else item
    if isinstance(target, str) and target in OPTIONAL_PAGES:
        return (docs / target).is_file()
    return True


def _prune(nav: list[Any], docs: Path) -> list[Any]:
    kept = []
    for item in nav:
        if not _present(item, docs):
            log.info("optional page %s is missing: left out of the navigation", item)
            continue
        if isinstance(item, dict):
            title, target = next(iter(item.items()))
            if isinstance(target, list):
                item = {title: _prune(target, docs)}
        kept.append(item)
    return kept


def on_config(config: Any) -> Any:
    """Drop the navigation entries of missing optional pages."""
    if config["nav"]:
        config["nav"] = _prune(config["nav"], Path(config["docs_dir"]))
    return config
