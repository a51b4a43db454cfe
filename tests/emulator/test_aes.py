"""The emulator's AES-CBC decryption, against the published test vectors."""

from __future__ import annotations

import pytest

from backendai_aio.emulator._aes import PaddingError, cbc_decrypt, decrypt_block, expand_key, unpad
from backendai_aio.emulator._webserver import decrypt_body

# FIPS-197 appendix C: the example vectors of each key size (plaintext 00112233...eeff).
FIPS_197 = [
    ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
    ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
    (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "8ea2b7ca516745bfeafc49904b496089",
    ),
]
# NIST SP 800-38A F.2.2, F.2.4 and F.2.6: CBC-AES128/192/256.Decrypt.
SP_800_38A_KEYS = [
    "2b7e151628aed2a6abf7158809cf4f3c",
    "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
    "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
]
SP_800_38A_CIPHERTEXTS = [
    "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
    "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
    "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
    "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
    "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
    "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
]
SP_800_38A_IV = "000102030405060708090a0b0c0d0e0f"
SP_800_38A_PLAINTEXT = (
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)


@pytest.mark.parametrize(("key", "ciphertext"), FIPS_197)
def test_fips_197_inverse_cipher(key: str, ciphertext: str) -> None:
    plain = decrypt_block(expand_key(bytes.fromhex(key)), bytes.fromhex(ciphertext))
    assert plain.hex() == "00112233445566778899aabbccddeeff"


@pytest.mark.parametrize(
    ("key", "ciphertext"), list(zip(SP_800_38A_KEYS, SP_800_38A_CIPHERTEXTS, strict=True))
)
def test_sp_800_38a_cbc_decrypt(key: str, ciphertext: str) -> None:
    plain = cbc_decrypt(bytes.fromhex(key), bytes.fromhex(SP_800_38A_IV), bytes.fromhex(ciphertext))
    assert plain.hex() == SP_800_38A_PLAINTEXT


def test_wrong_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="16, 24 or 32"):
        expand_key(b"short")
    with pytest.raises(ValueError, match="IV"):
        cbc_decrypt(bytes(32), bytes(8), bytes(16))
    with pytest.raises(ValueError, match="whole number"):
        cbc_decrypt(bytes(32), bytes(16), bytes(17))


def test_pkcs7_unpad() -> None:
    assert unpad(b"abc" + bytes([13]) * 13) == b"abc"
    assert unpad(b"a" * 16 + bytes([16]) * 16) == b"a" * 16
    for bad in (b"", b"a" * 15, b"a" * 15 + b"\x00", b"a" * 15 + b"\x11", b"a" * 14 + b"\x01\x02"):
        with pytest.raises(PaddingError):
            unpad(bad)


# What the official 26.9.6 SDK's ``encrypt_payload`` makes of a login body for
# ``http://127.0.0.1:8090`` with the IV ``ABCDEFGHIJKLMNOP`` (made with PyCryptodome).
SDK_PAYLOAD = (
    b"ABCDEFGHIJKLMNOP:0VTC/WpV5VChyvZzx4CuNI4EpzJS/3sH/B7o/AXi/+kdVYvNBLtY8x4YtMVdeelE55j2"
    b"CF57lTCK7s9vqzYLRA=="
)


def test_the_sdks_login_body_decrypts() -> None:
    body = decrypt_body("http://127.0.0.1:8090", SDK_PAYLOAD)
    assert body == b'{"username": "user@lablup.com", "password": "C8qnIo29"}'
    # Another endpoint is another key: the padding no longer checks out (or the JSON is noise).
    try:
        other = decrypt_body("http://127.0.0.1:8091", SDK_PAYLOAD)
    except ValueError:
        other = b""
    assert other != body
    for bad in (b"no separator", b"ABCDEFGHIJKLMNOP:not base64!", b"short:" + b"A" * 24):
        with pytest.raises(ValueError):
            decrypt_body("http://127.0.0.1:8090", bad)
