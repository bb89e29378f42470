"""CSR intake: parse, check proof of possession and key policy; keep only the public key.

The CSR's subject and extensions are never trusted: the subject comes from the registry.
Checks that need the certificate store (key already certified for another structure, key of
a certificate revoked for keyCompromise) are done by the registration layer with
``ValidatedCsr.key_fingerprint``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.errors import CsrError
from sceau.pki.profiles import ALLOWED_KEY_SIZES
from sceau.pki.roca import is_roca_vulnerable

MAX_CSR_BYTES = 64 * 1024


@dataclass(frozen=True)
class ValidatedCsr:
    public_key: rsa.RSAPublicKey
    key_size: int
    key_fingerprint: str  # hex SHA-256 of the DER SubjectPublicKeyInfo
    der: bytes


def public_key_fingerprint(key: rsa.RSAPublicKey) -> str:
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def _parse(data: bytes) -> x509.CertificateSigningRequest:
    if not data or not data.strip():
        raise CsrError("csr_empty", "la CSR est vide")
    if len(data) > MAX_CSR_BYTES:
        raise CsrError("csr_too_large", f"la CSR dépasse {MAX_CSR_BYTES} octets")
    stripped = data.lstrip()
    try:
        if stripped.startswith(b"-----BEGIN"):
            if b"CERTIFICATE REQUEST-----" not in stripped.split(b"\n", 1)[0]:
                raise CsrError(
                    "csr_malformed",
                    "CSR mal formée: un bloc PEM « CERTIFICATE REQUEST » est attendu",
                )
            return x509.load_pem_x509_csr(stripped)
        return x509.load_der_x509_csr(data)
    except CsrError:
        raise
    except (ValueError, x509.InvalidVersion) as exc:
        raise CsrError(
            "csr_malformed", f"CSR mal formée: ce n'est pas une demande PKCS#10 lisible ({exc})"
        ) from exc


def validate_csr(data: bytes) -> ValidatedCsr:
    """Return the CSR's public key once every intake rule has passed, or raise ``CsrError``."""
    csr = _parse(data)
    try:
        key = csr.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CsrError(
            "csr_unsupported_key", f"clé publique illisible ou non prise en charge ({exc})"
        ) from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise CsrError(
            "csr_unsupported_key",
            f"type de clé {type(key).__name__.removeprefix('_')} refusé: "
            "seule une clé RSA est acceptée",
        )
    try:
        signature_ok = csr.is_signature_valid
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.UnsupportedGeneralNameType) as exc:
        raise CsrError("csr_bad_signature", f"signature de la CSR invérifiable ({exc})") from exc
    if not signature_ok:
        raise CsrError(
            "csr_bad_signature",
            "la signature de la CSR est invalide: la preuve de possession de la clé privée échoue",
        )
    if key.key_size not in ALLOWED_KEY_SIZES:
        raise CsrError(
            "csr_key_size",
            f"clé RSA de {key.key_size} bits refusée: tailles acceptées 2048, 3072 ou 4096 bits",
        )
    numbers = key.public_numbers()
    if numbers.e != 65537:
        raise CsrError(
            "csr_key_exponent", f"exposant public {numbers.e} refusé: seul 65537 est accepté"
        )
    if is_roca_vulnerable(numbers.n):
        raise CsrError(
            "csr_roca_key",
            "clé refusée: elle présente l'empreinte ROCA (CVE-2017-15361) d'un générateur "
            "défaillant; générez une nouvelle clé",
        )
    return ValidatedCsr(
        public_key=key,
        key_size=key.key_size,
        key_fingerprint=public_key_fingerprint(key),
        der=csr.public_bytes(serialization.Encoding.DER),
    )
