"""Staff passwords, hashed with scrypt from the standard library.

Stored as ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>`` so the cost can be raised later
without breaking existing hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Interactive-login cost (RFC 7914 suggests n=2**14, r=8, p=1): ~50 ms, 16 MiB.
_N, _R, _P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024
_LENGTH = 32
MINIMUM_LENGTH = 12


class WeakPassword(ValueError):
    """A password too short to protect patients' records."""


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` to store; never the password itself."""
    if len(password) < MINIMUM_LENGTH:
        raise WeakPassword(f"a staff password needs at least {MINIMUM_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N, _R, _P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed, bytes.fromhex(digest))


#: Checked against when the email is unknown, so a wrong email costs as long as a wrong
#: password (no account discovery by timing).
DUMMY_HASH = f"scrypt${_N}${_R}${_P}${'00' * 16}${'00' * _LENGTH}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_LENGTH
    )
