"""Encrypted PKCS#8 file key backend. The passphrase never comes from a command line."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sceau.pki.errors import KeyBackendError


class FileSigningKey:
    """An RSA key loaded from an encrypted PKCS#8 PEM file and kept in memory."""

    def __init__(self, key: rsa.RSAPrivateKey, reference: str):
        self._key = key
        self._reference = reference

    @property
    def reference(self) -> str:
        return self._reference

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        return self._key

    def public_key(self) -> rsa.RSAPublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def generate_file_key(path: Path, passphrase: bytes, key_size: int = 4096) -> FileSigningKey:
    """Create a new RSA key and write it encrypted (AES-256-CBC, PBKDF2) with mode 0600."""
    if not passphrase:
        raise KeyBackendError("passphrase_missing", "a non-empty passphrase is required")
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise KeyBackendError("key_exists", f"refusing to overwrite existing key file {path}")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return FileSigningKey(key, f"file:{path}")


def load_file_key(path: Path, passphrase: bytes) -> FileSigningKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyBackendError("key_unreadable", f"cannot read key file {path}: {exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise KeyBackendError(
            "key_locked", f"cannot decrypt key file {path}: wrong passphrase or damaged file"
        ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyBackendError("key_type", f"{path} does not hold an RSA key")
    return FileSigningKey(key, f"file:{path}")
