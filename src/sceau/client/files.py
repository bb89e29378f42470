"""Read certificate material in the forms pharmacy software keeps it: PKCS#12, PEM, DER.

``load_material`` returns the leaf (the certificate matching the key, else the first one),
the other certificates in file order, the key when there is one, and for PKCS#12 what the
file is made of (algorithms, order of the certificate bags), so ``check`` can say whether a
given software will read it (domain.md §15).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki import der
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.pkcs12 import Pkcs12Error, load_pkcs12

PKCS12_SUFFIXES = (".p12", ".pfx")
PEM_SUFFIXES = (".pem", ".crt", ".cer", ".der", ".key", ".chain")

# Algorithms that decide who can read a PKCS#12 file (DER-encoded OIDs, searched in clear).
_RC2_OIDS = {
    der.oid("1.2.840.113549.1.12.1.5"): "pbeWithSHAAnd128BitRC2-CBC",
    der.oid("1.2.840.113549.1.12.1.6"): "pbeWithSHAAnd40BitRC2-CBC",
}
_3DES_OID = der.oid("1.2.840.113549.1.12.1.3")
_PBES2_OID = der.oid("1.2.840.113549.1.5.13")
_ENCRYPTED_DATA_OID = der.oid("1.2.840.113549.1.7.6")
_SHA1_OID = der.oid("1.3.14.3.2.26")
_SHA256_OID = der.oid("2.16.840.1.101.3.4.2.1")


@dataclass(frozen=True)
class Pkcs12Layout:
    key_algorithm: str  # "3des" | "pbes2-aes" | "rc2" | "unknown"
    mac: str  # "sha1" | "sha256" | "unknown"
    certificates_in_clear: bool
    leaf_first: bool | None  # None when the certificate bags are encrypted
    uses_rc2: bool
    mac_iterations: int | None


@dataclass
class Material:
    path: Path
    format: str  # "pkcs12" | "pem" | "der"
    certificate: x509.Certificate
    others: list[x509.Certificate] = field(default_factory=list)
    key: rsa.RSAPrivateKey | None = None
    layout: Pkcs12Layout | None = None
    password_used: bytes | None = None


def _mac_iterations(data: bytes) -> int | None:
    """The last INTEGER of the PFX (MacData.iterations) when it is small and present."""
    tail = data[-6:]
    for length in (1, 2, 3, 4):
        start = len(tail) - length - 2
        if start >= 0 and tail[start] == 0x02 and tail[start + 1] == length:
            return int.from_bytes(tail[start + 2 :], "big")
    return None


def pkcs12_layout(
    data: bytes, leaf: x509.Certificate, others: Sequence[x509.Certificate]
) -> Pkcs12Layout:
    rc2 = any(oid in data for oid in _RC2_OIDS)
    if rc2:
        key_algorithm = "rc2"
    elif _PBES2_OID in data:
        key_algorithm = "pbes2-aes"
    elif _3DES_OID in data:
        key_algorithm = "3des"
    else:
        key_algorithm = "unknown"
    tail = data[-120:]
    mac = "sha256" if _SHA256_OID in tail else "sha1" if _SHA1_OID in tail else "unknown"
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    leaf_at = data.find(leaf_der)
    in_clear = leaf_at >= 0
    leaf_first: bool | None = None
    if in_clear:
        positions = [data.find(c.public_bytes(serialization.Encoding.DER)) for c in others]
        leaf_first = all(p < 0 or leaf_at < p for p in positions)
    return Pkcs12Layout(
        key_algorithm=key_algorithm,
        mac=mac,
        certificates_in_clear=in_clear and _ENCRYPTED_DATA_OID not in data[:leaf_at],
        leaf_first=leaf_first,
        uses_rc2=rc2,
        mac_iterations=_mac_iterations(data),
    )


def _load_pkcs12(path: Path, data: bytes, passwords: Sequence[bytes]) -> Material:
    last: SceauError | None = None
    for password in [*passwords, b""] if b"" not in passwords else passwords:
        try:
            key, certificate, chain = load_pkcs12(data, password)
        except Pkcs12Error as exc:
            last = exc
            if exc.code != "pkcs12_bad_password":
                break
            continue
        return Material(
            path,
            "pkcs12",
            certificate,
            list(chain),
            key,
            pkcs12_layout(data, certificate, chain),
            password,
        )
    if last is not None and last.code == "pkcs12_bad_password":
        raise SceauError(
            "pkcs12_bad_password",
            f"{path}: mot de passe PKCS#12 incorrect (aucun des mots de passe fournis)",
            ErrorKind.INVALID_INPUT,
        )
    raise SceauError("pkcs12_unreadable", f"{path}: fichier PKCS#12 illisible ({last})")


def _pem_key(data: bytes, passwords: Sequence[bytes]) -> rsa.RSAPrivateKey | None:
    if b"PRIVATE KEY-----" not in data:
        return None
    for password in [None, *passwords]:
        try:
            key = serialization.load_pem_private_key(data, password or None)
        except (ValueError, TypeError):
            continue
        return key if isinstance(key, rsa.RSAPrivateKey) else None
    return None


def _choose_leaf(
    certificates: list[x509.Certificate], key: rsa.RSAPrivateKey | None
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    leaf = certificates[0]
    if key is not None:
        leaf = next((c for c in certificates if c.public_key() == key.public_key()), leaf)
    return leaf, [c for c in certificates if c is not leaf]


def load_material(
    path: Path, passwords: Sequence[bytes] = (), key_path: Path | None = None
) -> Material:
    """Read ``path`` (PKCS#12, PEM bundle or DER certificate); ``key_path`` adds a PEM key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SceauError("file_unreadable", f"{path}: {exc.strerror}", ErrorKind.NOT_FOUND) from exc
    if path.suffix.lower() in PKCS12_SUFFIXES or (data[:1] == b"\x30" and _looks_pkcs12(data)):
        return _load_pkcs12(path, data, passwords)
    key = _pem_key(data, passwords)
    if key_path is not None:
        key = _pem_key(Path(key_path).read_bytes(), passwords)
        if key is None:
            raise SceauError("key_unreadable", f"{key_path}: clé privée PEM illisible")
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certificates = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise SceauError("pem_unreadable", f"{path}: PEM illisible ({exc})") from exc
        leaf, others = _choose_leaf(certificates, key)
        return Material(path, "pem", leaf, others, key)
    try:
        certificate = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise SceauError(
            "not_a_certificate", f"{path}: ni PKCS#12, ni PEM, ni certificat DER lisible"
        ) from exc
    return Material(path, "der", certificate, [], key)


def _looks_pkcs12(data: bytes) -> bool:
    """A DER SEQUENCE starting with INTEGER 3 (PFX version) followed by a ContentInfo."""
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        return b"\x02\x01\x03\x30" in data[:12]
    return False
