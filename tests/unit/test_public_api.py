from __future__ import annotations

import inspect

import backendai_aio
import backendai_aio.emulator


def test_all_is_sorted_unique_and_importable() -> None:
    for module in (backendai_aio, backendai_aio.emulator):
        names = list(module.__all__)
        assert names == sorted(names, key=lambda n: (not n.isupper(), n.startswith("_"), n))
        assert len(set(names)) == len(names)
        for name in names:
            assert getattr(module, name) is not None


def test_public_names_are_documented() -> None:
    for name in backendai_aio.__all__:
        obj = getattr(backendai_aio, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name


def test_issue_api_names() -> None:
    from backendai_aio import (  # noqa: F401
        ERR_REQUEST,
        ERR_RESPONSE,
        ERR_SERVER,
        BackendError,
        Client,
        ClientConfig,
    )

    assert (Client.ERR_SERVER, Client.ERR_RESPONSE, Client.ERR_REQUEST) == (
        ERR_SERVER,
        ERR_RESPONSE,
        ERR_REQUEST,
    )
