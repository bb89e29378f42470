"""Private keys generated on the pharmacy's or vendor's machine: they never leave it.

RSA-2048 with e = 65537, what every IGC-Santé ORG leaf carries (domain.md §0). Keys are
written as PKCS#8 PEM, owner-only (0600), through a temporary file renamed into place so a
crash never leaves half a key behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.errors import SceauError

KEY_SIZE = 2048
PUBLIC_EXPONENT = 65537


def generate_key(key_size: int = KEY_SIZE) -> rsa.RSAPrivateKey:
    """A fresh RSA key made here, with the operating system's random source."""
    if key_size not in (2048, 3072, 4096):
        raise SceauError("key_size", f"taille de clé {key_size} refusée: 2048, 3072 ou 4096 bits")
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=key_size)


def generate_key_pem(key_size: int = KEY_SIZE) -> bytes:
    """A fresh key as unencrypted PKCS#8 PEM (picklable: used by the fleet's process pool)."""
    return key_to_pem(generate_key(key_size))


def key_to_pem(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_key_pem(
    data: bytes, password: bytes | None = None, *, own: bool = False
) -> rsa.RSAPrivateKey:
    """The RSA key in ``data``. ``own=True`` is for a key this client generated and wrote
    itself (the fleet's key folder, 0700/0600): OpenSSL's consistency check of an RSA key
    (primality of p and q…, ~35 ms) is then skipped, as for the key object it just made.
    A key file from elsewhere is always checked."""
    try:
        key = serialization.load_pem_private_key(data, password, unsafe_skip_rsa_key_validation=own)
    except (ValueError, TypeError) as exc:
        raise SceauError("key_unreadable", f"clé privée illisible ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SceauError("key_type", "la clé privée doit être une clé RSA")
    return key


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (the parent folder must exist)."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_key(path: Path, key: rsa.RSAPrivateKey, password: bytes | None = None) -> Path:
    """Save ``key`` at ``path`` (0600, atomic); refuse to overwrite an existing key."""
    path = Path(path)
    if path.exists():
        raise SceauError(
            "key_exists",
            f"{path} existe déjà: une clé n'est jamais écrasée (choisir un autre fichier)",
        )
    write_private(path, key_to_pem(key, password))
    return path


def read_key(path: Path, password: bytes | None = None) -> rsa.RSAPrivateKey:
    return load_key_pem(Path(path).read_bytes(), password)
