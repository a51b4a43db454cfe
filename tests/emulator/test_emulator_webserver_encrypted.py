"""The webserver decrypts every body marked ``X-BackendAI-Encoded``, not only the login's.

As its ``decrypt_payload`` middleware does: the key is the first 32 bytes of
``base64(endpoint URL) + iv + iv``, the body ``<iv>:<base64 of AES-256-CBC(PKCS#7(data))>``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from backendai_aio.emulator import USER_ACCESS_KEY, Emulator

pytestmark = pytest.mark.timeout(60)

USER = {"username": "user@lablup.com", "password": "C8qnIo29"}
ENCODED = {"X-BackendAI-Encoded": "true", "Content-Type": "application/octet-stream"}


def encrypt(endpoint: str, data: Any) -> bytes:
    """*data* as JSON, encrypted as the official SDK encrypts a body for *endpoint*."""
    ciphers = pytest.importorskip("cryptography.hazmat.primitives.ciphers")
    padding = pytest.importorskip("cryptography.hazmat.primitives.padding")
    iv = secrets.token_hex(8).encode()
    key = (base64.b64encode(endpoint.encode()) + iv + iv)[:32]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(json.dumps(data).encode()) + padder.finalize()
    encryptor = ciphers.Cipher(ciphers.algorithms.AES(key), ciphers.modes.CBC(iv)).encryptor()
    return iv + b":" + base64.b64encode(encryptor.update(padded) + encryptor.finalize())


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies, even for 127.0.0.1."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def send(browser: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, Any]:
    async with browser.post(url, data=body, headers=ENCODED) as response:
        return response.status, await response.json()


async def test_encrypted_login_and_func_calls(
    emulator: Emulator, browser: aiohttp.ClientSession
) -> None:
    status, answer = await send(
        browser, emulator.endpoint + "/server/login", encrypt(emulator.endpoint, USER)
    )
    assert (status, answer["authenticated"]) == (200, True)
    query = {"query": "{ keypair { access_key is_admin } }"}
    status, answer = await send(
        browser, emulator.endpoint + "/func/admin/gql", encrypt(emulator.endpoint, query)
    )
    assert status == 200, answer
    assert answer == {"data": {"keypair": {"access_key": USER_ACCESS_KEY, "is_admin": False}}}
    # Not what the SDK would send (the data is not whole AES blocks): refused before the call.
    status, answer = await send(
        browser, emulator.endpoint + "/func/admin/gql", b"ABCDEFGHIJKLMNOP:AAAA"
    )
    assert status == 400
    assert answer["title"] == "The encrypted request body cannot be decrypted."
