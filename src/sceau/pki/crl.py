"""Certificate revocation lists: a full CRL and a delta CRL of one CA (RFC 5280 §5).

The CRL is built by ``cryptography``'s builder, signed once with the throw-away key to get
the exact TBSCertList, then the TBS is signed by the CA's ``SigningKey`` (file or PKCS#11)
and assembled here, as issuance does for certificates. Entries are handed to the builder all
at once: ``add_revoked_certificate`` copies the growing list on each call (quadratic).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from sceau.pki.der import signed_structure
from sceau.pki.errors import KeyBackendError, PolicyError
from sceau.pki.signing.base import SigningKey, throwaway_key

_REASON_EXTENSIONS: dict[x509.ReasonFlags, list[x509.Extension[x509.ExtensionType]]] = {
    reason: [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(reason))]
    for reason in x509.ReasonFlags
    if reason is not x509.ReasonFlags.unspecified
}


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate: serial, revocation instant (UTC) and optional reason."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None = None


def parse_reason(value: str | None) -> x509.ReasonFlags | None:
    """A stored reason (``"keyCompromise"``…) as a flag; ``None`` stays ``None``."""
    if value is None:
        return None
    try:
        return x509.ReasonFlags(value)
    except ValueError:
        raise PolicyError(
            "revocation_reason", f"unknown RFC 5280 revocation reason {value!r}"
        ) from None


def _revoked_certificates(
    entries: Iterable[RevokedEntry | tuple[int, dt.datetime, x509.ReasonFlags | None]],
) -> list[x509.RevokedCertificate]:
    """Entries sorted by serial; no reason code for ``unspecified`` (RFC 5280 §5.3.1)."""
    normalised = sorted(
        (e if isinstance(e, RevokedEntry) else RevokedEntry(*e) for e in entries),
        key=lambda e: e.serial,
    )
    revoked: list[x509.RevokedCertificate] = []
    previous: int | None = None
    for entry in normalised:
        if entry.serial == previous:
            raise PolicyError("crl_duplicate_serial", f"serial {entry.serial:x} listed twice")
        previous = entry.serial
        extensions = _REASON_EXTENSIONS.get(entry.reason, []) if entry.reason else []
        revoked.append(
            x509.RevokedCertificateBuilder(entry.serial, entry.revoked_at, extensions).build()
        )
    return revoked


def _distribution_points(urls: Sequence[str]) -> list[x509.DistributionPoint]:
    return [
        x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
        for url in urls
    ]


def build_crl(
    issuer: x509.Certificate,
    key: SigningKey,
    entries: Iterable[RevokedEntry | tuple[int, dt.datetime, x509.ReasonFlags | None]],
    *,
    number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    delta_base: int | None = None,
    freshest_crl_urls: Sequence[str] = (),
) -> x509.CertificateRevocationList:
    """Build and sign a CRL of ``issuer``; a delta CRL when ``delta_base`` is given.

    A full CRL lists every entry given and may point at its delta CRLs (freshestCRL,
    RFC 5280 §5.2.6); a delta CRL carries the critical Delta CRL Indicator naming the number
    of the full CRL it completes (§5.2.4), and no freshestCRL. Both carry the CRL number and
    the issuer's key identifier. The signature is checked with the issuer's public key.
    """
    if number < 1:
        raise PolicyError("crl_number", "a CRL number is a positive integer")
    if delta_base is not None and not 1 <= delta_base < number:
        raise PolicyError(
            "crl_delta_base", "a delta CRL's base must be an earlier, positive CRL number"
        )
    if next_update <= this_update:
        raise PolicyError("crl_next_update", "nextUpdate must come after thisUpdate")
    issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    extensions: list[x509.Extension[x509.ExtensionType]] = [
        x509.Extension(
            x509.AuthorityKeyIdentifier.oid,
            False,
            x509.AuthorityKeyIdentifier(issuer_ski.digest, None, None),
        ),
        x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
    ]
    if delta_base is not None:
        extensions.append(
            x509.Extension(x509.DeltaCRLIndicator.oid, True, x509.DeltaCRLIndicator(delta_base))
        )
    elif freshest_crl_urls:
        extensions.append(
            x509.Extension(
                x509.FreshestCRL.oid,
                False,
                x509.FreshestCRL(_distribution_points(freshest_crl_urls)),
            )
        )
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=extensions,
        revoked_certificates=_revoked_certificates(entries),
    )
    tbs = builder.sign(throwaway_key(), hashes.SHA256()).tbs_certlist_bytes
    return sign_crl_tbs(tbs, key, issuer)


def sign_crl_tbs(
    tbs: bytes, key: SigningKey, issuer: x509.Certificate
) -> x509.CertificateRevocationList:
    """Sign a DER TBSCertList with the CA key and check the result against the issuer."""
    crl = x509.load_der_x509_crl(signed_structure(tbs, key.sign(tbs)))
    if crl.tbs_certlist_bytes != tbs:
        raise KeyBackendError("tbs_mismatch", "the signed CRL differs from the one built")
    public_key = issuer.public_key()
    try:
        valid = crl.is_signature_valid(public_key)  # type: ignore[arg-type]  # RSA CA keys only
    except (InvalidSignature, TypeError, ValueError):
        valid = False
    if not valid:
        raise KeyBackendError(
            "signature_invalid",
            "the CA key produced a CRL signature that does not verify with the CA certificate",
        )
    return crl
