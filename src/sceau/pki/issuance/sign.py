"""Step 2: sign exactly the recorded TBS with the CA key, and check the result."""

from __future__ import annotations

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from sceau.pki.der import signed_structure
from sceau.pki.errors import KeyBackendError
from sceau.pki.issuance.models import PreparedCertificate
from sceau.pki.signing.base import SigningKey


def sign_tbs(tbs: bytes, key: SigningKey, issuer: x509.Certificate | None) -> x509.Certificate:
    """Sign ``tbs`` (DER TBSCertificate) and verify the signature before returning.

    Used both for fresh issuance and for resuming a recorded intent after a crash: RSA
    PKCS#1 v1.5 is deterministic, so the same TBS always gives the same certificate.
    ``issuer`` is None for a self-signed certificate.
    """
    signature = key.sign(tbs)
    certificate = x509.load_der_x509_certificate(signed_structure(tbs, signature))
    if certificate.tbs_certificate_bytes != tbs:
        raise KeyBackendError("tbs_mismatch", "the signed TBS differs from the recorded one")
    try:
        certificate.verify_directly_issued_by(issuer or certificate)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise KeyBackendError(
            "signature_invalid", f"the CA key produced a signature that does not verify: {exc}"
        ) from exc
    return certificate


def sign_prepared(
    prepared: PreparedCertificate, key: SigningKey, issuer: x509.Certificate
) -> x509.Certificate:
    return sign_tbs(prepared.tbs, key, issuer)
