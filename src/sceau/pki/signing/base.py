"""The signing interface every CA key backend implements."""

from __future__ import annotations

import functools
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import rsa


@runtime_checkable
class SigningKey(Protocol):
    """A CA private key that stays where it lives (file, HSM) and only signs.

    ``sign`` returns an RSASSA-PKCS1-v1_5 signature with SHA-256 over ``data`` (the caller
    passes the raw TBS bytes; hashing is the backend's job). The key object is loaded once
    per process and kept: loading an RSA key costs tens of milliseconds.
    """

    @property
    def reference(self) -> str:
        """Where the key lives, e.g. ``file:/path/org.key.pem`` or ``pkcs11:token=…;object=…``."""
        ...

    def public_key(self) -> rsa.RSAPublicKey: ...

    def sign(self, data: bytes) -> bytes: ...


@functools.cache
def throwaway_key() -> rsa.RSAPrivateKey:
    """A per-process RSA key used to sign TBS copies for linting; never trusted anywhere.

    Only its signature algorithm (sha256WithRSAEncryption, as the CA's) reaches the TBS: the
    copy's signature value is discarded, so the smallest RSA key makes the copy cheapest.
    """
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - never trusted
