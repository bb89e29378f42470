"""Where CA keys are made and found: each key is loaded once per process and kept."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sceau.pki.errors import KeyBackendError
from sceau.pki.signing.base import SigningKey
from sceau.pki.signing.file import generate_file_key, load_file_key

_LABEL = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Pkcs11Settings:
    module_path: str
    token_label: str
    pin: Callable[[], str | None]


_FILE_KEYS: dict[tuple[str, int, int, bytes], SigningKey] = {}
_FILE_KEYS_LOCK = threading.Lock()


def _load_file_key_once(path: Path, passphrase: bytes) -> SigningKey:
    """Load an encrypted key file once per process (RSA-4096 validation costs up to a second).

    Keyed by path, size, modification time and a digest of the passphrase: a replaced file or
    another passphrase loads again.
    """
    try:
        stat = path.stat()
    except OSError:
        return load_file_key(path, passphrase)  # raises the backend's clear error
    cache_key = (str(path), stat.st_size, stat.st_mtime_ns, hashlib.sha256(passphrase).digest())
    with _FILE_KEYS_LOCK:
        cached = _FILE_KEYS.get(cache_key)
    if cached is None:
        cached = load_file_key(path, passphrase)
        with _FILE_KEYS_LOCK:
            cached = _FILE_KEYS.setdefault(cache_key, cached)
    return cached


class KeyRing:
    """Generates new CA keys in the configured backend and loads keys by reference."""

    def __init__(
        self,
        keys_dir: Path,
        passphrase: Callable[[], bytes | None],
        backend: str = "file",
        pkcs11: Pkcs11Settings | None = None,
    ):
        self._keys_dir = keys_dir
        self._passphrase = passphrase
        self._backend = backend
        self._pkcs11 = pkcs11
        self._loaded: dict[str, SigningKey] = {}
        self._lock = threading.Lock()

    def _require_passphrase(self) -> bytes:
        passphrase = self._passphrase()
        if not passphrase:
            raise KeyBackendError(
                "passphrase_missing",
                "no CA key passphrase: set SCEAU_CA_PASSPHRASE or SCEAU_CA_PASSPHRASE_FILE",
            )
        return passphrase

    def _require_pin(self) -> str:
        assert self._pkcs11 is not None
        pin = self._pkcs11.pin()
        if not pin:
            raise KeyBackendError(
                "pin_missing", "no PKCS#11 PIN: set SCEAU_PKCS11_PIN or SCEAU_PKCS11_PIN_FILE"
            )
        return pin

    def generate(
        self, label: str, key_size: int = 4096, *, backend: str | None = None
    ) -> SigningKey:
        if not _LABEL.match(label):
            raise KeyBackendError("key_label", f"invalid key label {label!r}")
        chosen = backend or self._backend
        if chosen == "pkcs11":
            if self._pkcs11 is None:
                raise KeyBackendError(
                    "pkcs11_unconfigured", "the PKCS#11 backend is not configured"
                )
            from sceau.pki.signing.pkcs11 import generate_pkcs11_key

            key: SigningKey = generate_pkcs11_key(
                self._pkcs11.module_path,
                self._pkcs11.token_label,
                self._require_pin(),
                label,
                key_size,
            )
        else:
            key = generate_file_key(
                self._keys_dir / f"{label}.key.pem", self._require_passphrase(), key_size
            )
        with self._lock:
            self._loaded[key.reference] = key
        return key

    def load(self, reference: str) -> SigningKey:
        with self._lock:
            cached = self._loaded.get(reference)
        if cached is not None:
            return cached
        if reference.startswith("file:"):
            key: SigningKey = _load_file_key_once(
                Path(reference.removeprefix("file:")), self._require_passphrase()
            )
        elif reference.startswith("pkcs11:"):
            if self._pkcs11 is None:
                raise KeyBackendError(
                    "pkcs11_unconfigured", "the PKCS#11 backend is not configured"
                )
            from sceau.pki.signing.pkcs11 import load_pkcs11_key

            key = load_pkcs11_key(self._pkcs11.module_path, reference, self._require_pin())
        else:
            raise KeyBackendError("key_reference", f"unknown key reference {reference!r}")
        with self._lock:
            self._loaded.setdefault(reference, key)
            return self._loaded[reference]
