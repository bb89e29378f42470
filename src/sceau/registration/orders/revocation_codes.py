"""Secrets typed by administrators: the revocation code (RETIRER) and its brute-force guard.

The code is chosen at retrieval, typed twice, and stored only as an argon2id hash; it later
lets its holder revoke the certificate without logging in (domain §11, §14). A code chosen by
a person may be weak, hence the slow hash. A code the platform draws itself
(``generate_revocation_code``: 160 random bits, shown once) cannot be guessed however fast
its hash, so it is stored as an HMAC-SHA256 keyed with a random salt: a brute force of
2^160 codes is out of reach, and retrieving a fleet's thousands of certificates does not
spend ~20 ms of argon2 per certificate. ``verify_secret`` tells the two apart by the stored
form. Wrong codes are
counted per certificate and per source: past a limit within the window, every attempt —
even with the right code — is refused until the window has passed. Every attempt, right,
wrong or locked out, is written to the audit trail. The same guard counts wrong PKCS#12
passwords at retrieval.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sceau.pki.errors import ErrorKind, SceauError

MIN_LENGTH = 8
MAX_LENGTH = 128

# OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): ~20 ms here, slow for a guesser.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

# Platform-drawn codes: 20 random bytes in base32, in groups of four (easy to read aloud).
GENERATED_BYTES = 20
_GENERATED_PREFIX = "$sceau-hmac-sha256$"

KIND_REVOCATION_CODE = "revocation_code"
KIND_PKCS12 = "pkcs12_password"


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many wrong secrets are tolerated before attempts are refused for a while."""

    window: dt.timedelta = dt.timedelta(hours=1)
    per_certificate: int = 5
    per_source: int = 20


DEFAULT_POLICY = ThrottlePolicy()


def check_strength(code: str, what: str = "code de révocation") -> str:
    """A code worth hashing: long enough, not one repeated character, two kinds of sign."""
    if len(code) < MIN_LENGTH or len(code) > MAX_LENGTH:
        raise SceauError(
            "secret_length",
            f"{what}: {MIN_LENGTH} à {MAX_LENGTH} caractères attendus ({len(code)} donnés)",
        )
    if code != code.strip():
        raise SceauError("secret_spaces", f"{what}: pas d'espace au début ni à la fin")
    kinds = sum(
        (
            any(c.isalpha() for c in code),
            any(c.isdigit() for c in code),
            any(not c.isalnum() for c in code),
        )
    )
    if len(set(code)) < 4 or kinds < 2:
        raise SceauError(
            "secret_weak",
            f"{what} trop faible: au moins 4 caractères différents et deux sortes de signes "
            "(lettres, chiffres, autres)",
        )
    return code


def new_revocation_code(code: str, confirmation: str) -> str:
    """The argon2id hash of a code typed twice; refuses a mismatch or a weak code."""
    if code != confirmation:
        raise SceauError(
            "revocation_code_mismatch",
            "les deux saisies du code de révocation sont différentes",
        )
    return hash_secret(check_strength(code))


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def generate_revocation_code() -> tuple[str, str]:
    """A code drawn by the platform (160 bits, ``ABCD-EFGH-…``) and the hash to store.

    The code is returned once to whoever retrieves the certificate; only the hash is kept.
    """
    text = base64.b32encode(secrets.token_bytes(GENERATED_BYTES)).decode()
    code = "-".join(text[i : i + 4] for i in range(0, len(text), 4))
    return code, _hash_generated(code, secrets.token_bytes(16))


def _normalise_generated(code: str) -> bytes:
    """Generated codes are compared without case, spaces or dashes (typed back by hand)."""
    return "".join(code.split()).replace("-", "").upper().encode()


def _hash_generated(code: str, salt: bytes) -> str:
    mac = hmac.new(salt, _normalise_generated(code), hashlib.sha256).digest()
    encode = base64.urlsafe_b64encode
    return f"{_GENERATED_PREFIX}{encode(salt).decode()}${encode(mac).decode()}"


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    if not stored_hash:
        return False
    if stored_hash.startswith(_GENERATED_PREFIX):
        try:
            salt_text, _ = stored_hash.removeprefix(_GENERATED_PREFIX).split("$", 1)
            salt = base64.urlsafe_b64decode(salt_text)
        except ValueError:
            return False
        return hmac.compare_digest(_hash_generated(secret, salt), stored_hash)
    try:
        return _HASHER.verify(stored_hash, secret)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def ensure_not_locked(
    uow: Any,
    *,
    kind: str,
    certificate_id: int | None,
    source: str | None,
    now: dt.datetime,
    actor: str,
    target: str,
    policy: ThrottlePolicy = DEFAULT_POLICY,
) -> None:
    """Refuse (and audit, and commit the audit) when too many wrong secrets were given."""
    since = now - policy.window
    per_certificate = (
        uow.orders.failures_since(kind, since, certificate_id=certificate_id)
        if certificate_id is not None
        else 0
    )
    per_source = uow.orders.failures_since(kind, since, source=source) if source else 0
    if per_certificate < policy.per_certificate and per_source < policy.per_source:
        return
    scope = "ce certificat" if per_certificate >= policy.per_certificate else "cette origine"
    uow.audit.record(
        at=now,
        actor=actor,
        action=f"{kind}.attempt",
        outcome="refused",
        target=target,
        details={
            "why": "locked",
            "failures_certificate": per_certificate,
            "failures_source": per_source,
        },
        source=source,
    )
    uow.commit()
    minutes = int(policy.window.total_seconds() // 60)
    raise SceauError(
        "too_many_attempts",
        f"trop d'essais erronés pour {scope}: nouvel essai possible dans {minutes} minutes au "
        "plus; chaque essai est journalisé",
        ErrorKind.RATE_LIMITED,
    )


def record_attempt(
    uow: Any,
    *,
    kind: str,
    success: bool,
    certificate_id: int | None,
    source: str | None,
    now: dt.datetime,
    actor: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Count the attempt for throttling and write it to the audit trail (not committed)."""
    uow.orders.record_attempt(
        kind=kind, certificate_id=certificate_id, source=source, at=now, success=success
    )
    uow.audit.record(
        at=now,
        actor=actor,
        action=f"{kind}.attempt",
        outcome="success" if success else "refused",
        target=target,
        details=details,
        source=source,
    )
