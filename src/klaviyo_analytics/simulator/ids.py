"""Deterministic hashing and identifier helpers shared by the generators.

Everything random in the simulator derives from integer hashes of (seed, account, ...) so that any
piece of a store can be regenerated on its own, in any order, with the same result.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
import numpy.typing as npt

_MASK = (1 << 64) - 1
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def mix(*parts: int | str) -> int:
    """A stable 64-bit hash of integers and strings (not Python's salted ``hash``)."""
    data = "".join([f"{part}\x1f" for part in parts]).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def splitmix(x: int) -> int:
    """One splitmix64 step: a fast, well-mixed 64-bit integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def unsplitmix(z: int) -> int:
    """The inverse of :func:`splitmix` (every step of splitmix64 is a bijection on 64 bits)."""

    def unshift(y: int, s: int) -> int:
        x = y
        for _ in range(64 // s + 1):
            x = y ^ (x >> s)
        return x

    z = unshift(z & _MASK, 31)
    z = (z * _INV_M2) & _MASK
    z = unshift(z, 27)
    z = (z * _INV_M1) & _MASK
    z = unshift(z, 30)
    return (z - 0x9E3779B97F4A7C15) & _MASK


_INV_M1 = pow(0xBF58476D1CE4E5B9, -1, 1 << 64)
_INV_M2 = pow(0x94D049BB133111EB, -1, 1 << 64)


def splitmix_array(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Vectorised :func:`splitmix` over an unsigned 64-bit array."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit_array(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
    """Map hashed 64-bit values to floats in [0, 1)."""
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def short_id(*parts: int | str, length: int = 6) -> str:
    """A Klaviyo-style short alphanumeric id (metrics, flows, campaign messages look like this)."""
    n = mix(*parts)
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_ALNUM[r])
        if n == 0:
            n = mix(n, *parts, len(out))
    return "".join(out)


def ulid_like(*parts: int | str) -> str:
    """A 26-character ULID-looking id (Klaviyo profile and campaign ids look like this)."""
    n = mix(*parts) << 64 | mix(*parts, "lo")
    return "01" + "".join([_CROCKFORD[(n >> shift) & 31] for shift in range(0, 120, 5)])


def stable_uuid(*parts: int | str) -> str:
    """A deterministic version-4-shaped UUID string."""
    n = mix(*parts) << 64 | mix(*parts, "uuid")
    return str(uuid.UUID(int=n, version=4))
