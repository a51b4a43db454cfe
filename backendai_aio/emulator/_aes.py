"""AES decryption (FIPS-197) in CBC mode with PKCS#7 padding, in pure Python.

The official SDK encrypts its login body when it talks to a webserver over plain HTTP (see
`_webserver`); the webserver decrypts it with PyCryptodome. The emulator needs only the
decrypting direction, for a few hundred bytes per login, so it carries this small
implementation instead of a dependency. It is not constant-time and is never used to keep
anything secret: the SDK's key is derived from the endpoint's URL and the IV it sends along.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BLOCK_SIZE", "PaddingError", "cbc_decrypt", "decrypt_block", "expand_key", "unpad"]

#: AES's block size in bytes.
BLOCK_SIZE: Final = 16


def _xtime(value: int) -> int:
    """Multiplication by x (that is, 2) in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1."""
    value <<= 1
    return value ^ 0x11B if value & 0x100 else value


def _multiply(a: int, b: int) -> int:
    result = 0
    while b:
        if b & 1:
            result ^= a
        a = _xtime(a)
        b >>= 1
    return result


def _make_sbox() -> tuple[bytes, bytes]:
    """The S-box and its inverse, computed (FIPS-197 5.1.1) rather than typed in."""
    sbox = bytearray(256)
    inverse = [0] * 256
    for value in range(1, 256):
        # The multiplicative inverse: the value whose product with *value* is 1.
        inverse[value] = next(c for c in range(1, 256) if _multiply(value, c) == 1)
    for value in range(256):
        b = inverse[value]
        s = b
        for shift in range(1, 5):
            s ^= ((b << shift) | (b >> (8 - shift))) & 0xFF
        sbox[value] = s ^ 0x63
    inv_sbox = bytearray(256)
    for value, substituted in enumerate(sbox):
        inv_sbox[substituted] = value
    return bytes(sbox), bytes(inv_sbox)


_SBOX, _INV_SBOX = _make_sbox()
# The products InvMixColumns needs, one table per coefficient.
_MUL: Final = {c: bytes(_multiply(v, c) for v in range(256)) for c in (9, 11, 13, 14)}


def expand_key(key: bytes) -> list[bytes]:
    """The round keys (FIPS-197 5.2) of a 16-, 24- or 32-byte *key*, one 16-byte block each."""
    if len(key) not in (16, 24, 32):
        raise ValueError("an AES key is 16, 24 or 32 bytes long")
    nk = len(key) // 4
    rounds = nk + 6
    words = [key[4 * i : 4 * i + 4] for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        temp = words[i - 1]
        if i % nk == 0:
            temp = bytes(_SBOX[b] for b in temp[1:] + temp[:1])
            temp = bytes([temp[0] ^ rcon]) + temp[1:]
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            temp = bytes(_SBOX[b] for b in temp)
        words.append(bytes(a ^ b for a, b in zip(words[i - nk], temp, strict=True)))
    return [b"".join(words[4 * r : 4 * r + 4]) for r in range(rounds + 1)]


def decrypt_block(round_keys: list[bytes], block: bytes) -> bytes:
    """The inverse cipher (FIPS-197 5.3) of one 16-byte *block*."""
    rounds = len(round_keys) - 1
    # The state is column-major: state[r + 4c] is row r of column c, as the bytes come.
    state = bytearray(a ^ b for a, b in zip(block, round_keys[rounds], strict=True))
    for round_index in range(rounds - 1, -1, -1):
        # InvShiftRows: row r moves r places to the right.
        state = bytearray(state[(r + 4 * (c - r)) % 16] for c in range(4) for r in range(4))
        # InvSubBytes, then AddRoundKey.
        key = round_keys[round_index]
        state = bytearray(_INV_SBOX[b] ^ k for b, k in zip(state, key, strict=True))
        if round_index == 0:
            break
        # InvMixColumns.
        m9, m11, m13, m14 = _MUL[9], _MUL[11], _MUL[13], _MUL[14]
        mixed = bytearray(16)
        for c in range(4):
            a0, a1, a2, a3 = state[4 * c : 4 * c + 4]
            mixed[4 * c] = m14[a0] ^ m11[a1] ^ m13[a2] ^ m9[a3]
            mixed[4 * c + 1] = m9[a0] ^ m14[a1] ^ m11[a2] ^ m13[a3]
            mixed[4 * c + 2] = m13[a0] ^ m9[a1] ^ m14[a2] ^ m11[a3]
            mixed[4 * c + 3] = m11[a0] ^ m13[a1] ^ m9[a2] ^ m14[a3]
        state = mixed
    return bytes(state)


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """*data* decrypted with AES in CBC mode (NIST SP 800-38A 6.2), padding left on."""
    if len(iv) != BLOCK_SIZE:
        raise ValueError("a CBC IV is 16 bytes long")
    if len(data) % BLOCK_SIZE:
        raise ValueError("CBC ciphertext is a whole number of 16-byte blocks")
    round_keys = expand_key(key)
    out = bytearray()
    previous = iv
    for start in range(0, len(data), BLOCK_SIZE):
        block = data[start : start + BLOCK_SIZE]
        plain = decrypt_block(round_keys, block)
        out += bytes(a ^ b for a, b in zip(plain, previous, strict=True))
        previous = block
    return bytes(out)


class PaddingError(ValueError):
    """The decrypted data does not end with valid PKCS#7 padding."""


def unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """*data* without its PKCS#7 padding (RFC 5652 6.3), as PyCryptodome's ``unpad`` checks it."""
    if not data or len(data) % block_size:
        raise PaddingError("the data is not a whole number of blocks")
    count = data[-1]
    if not 1 <= count <= block_size or data[-count:] != bytes([count]) * count:
        raise PaddingError("the padding is not PKCS#7")
    return data[:-count]
