"""Step 1: build the to-be-signed certificate and sign a copy with a throw-away key."""

from __future__ import annotations

import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sceau.pki.clock import Clock, add_years
from sceau.pki.issuance.models import IssuanceRequest, IssuerContext, PreparedCertificate
from sceau.pki.profiles import VALIDITY_YEARS, leaf_extensions
from sceau.pki.signing.base import throwaway_key


def new_serial() -> int:
    """16 random bytes, high bit clear, first byte non-zero (so always 16 bytes in DER)."""
    while True:
        value = secrets.randbits(127)
        if value >> 120:
            return value


def prepare_certificate(
    request: IssuanceRequest, issuer: IssuerContext, serial: int, clock: Clock
) -> PreparedCertificate:
    """Build the TBS for ``request``; the copy signed by a throw-away key is kept for linting."""
    not_before = clock.now()
    not_after = add_years(not_before, VALIDITY_YEARS)
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject.to_name())
        .issuer_name(issuer.certificate.subject)
        .public_key(request.public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in leaf_extensions(
        request.profile,
        issuer.policy,
        request.public_key,
        issuer.key_identifier,
        not_before,
        not_after,
        request.dns_names,
    ):
        builder = builder.add_extension(extension, critical=critical)
    copy = builder.sign(throwaway_key(), hashes.SHA256())
    return PreparedCertificate(
        serial=serial,
        tbs=copy.tbs_certificate_bytes,
        not_before=not_before,
        not_after=not_after,
        request=request,
        lint_copy=copy,
    )
