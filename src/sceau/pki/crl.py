"""Certificate revocation lists: a full CRL and a delta CRL of one CA (RFC 5280 §5).

The CRL's header and extensions come from ``cryptography``'s builder, signed once with the
throw-away key to get its TBSCertList; the revoked entries are encoded here and put into that
TBS (``add_revoked_certificate`` copies the growing list on each call, which is quadratic, and
even given all at once, per-entry objects cost more than the rest of the CRL). The TBS is then
signed by the CA's ``SigningKey`` (file or PKCS#11) and assembled here, as issuance does for
certificates, parsed back and verified against the CA certificate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sceau.pki.der import octet_string, oid, sequence, signed_structure, tlv
from sceau.pki.errors import KeyBackendError, PolicyError
from sceau.pki.signing.base import SigningKey, throwaway_key

_CRL_REASON_OID = oid("2.5.29.21")
# crlEntryExtensions holding only a reasonCode: SEQUENCE { SEQUENCE { id-ce-cRLReasons,
# OCTET STRING { ENUMERATED reason } } }; none for "unspecified" (RFC 5280 §5.3.1).
_REASON_EXTENSIONS: dict[x509.ReasonFlags, bytes] = {
    reason: sequence(sequence(_CRL_REASON_OID, octet_string(tlv(0x0A, bytes([code])))))
    for reason, code in (
        (x509.ReasonFlags.key_compromise, 1),
        (x509.ReasonFlags.ca_compromise, 2),
        (x509.ReasonFlags.affiliation_changed, 3),
        (x509.ReasonFlags.superseded, 4),
        (x509.ReasonFlags.cessation_of_operation, 5),
        (x509.ReasonFlags.certificate_hold, 6),
        (x509.ReasonFlags.remove_from_crl, 8),
        (x509.ReasonFlags.privilege_withdrawn, 9),
        (x509.ReasonFlags.aa_compromise, 10),
    )
}
# Enum members hash in Python; they are singletons, so entries look their reason up by identity.
_REASON_BY_IDENTITY = {id(reason): der for reason, der in _REASON_EXTENSIONS.items()}
_EPOCH = dt.date(1970, 1, 1)


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


def _day_prefix(day: int) -> bytes:
    """Tag, length and date part of a CRL time on ``day`` (days since 1970-01-01 UTC):
    UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 §5.1.2.4)."""
    date = _EPOCH + dt.timedelta(days=day)
    if date.year < 2050:
        return b"\x17\x0d%02d%02d%02d" % (date.year % 100, date.month, date.day)
    return b"\x18\x0f%04d%02d%02d" % (date.year, date.month, date.day)


def revoked_certificates_der(
    entries: Iterable[RevokedEntry | tuple[int, dt.datetime, x509.ReasonFlags | None]],
) -> bytes:
    """The DER ``revokedCertificates`` SEQUENCE, entries sorted by serial; empty bytes when
    there is no entry (the field is then absent, RFC 5280 §5.1.2.6).

    Encoded here rather than through ``cryptography``'s per-entry objects, which cost more
    for 100,000 entries; the tests check the bytes equal what ``cryptography`` encodes.
    """
    normalised = sorted(
        (e if isinstance(e, RevokedEntry) else RevokedEntry(*e) for e in entries),
        key=lambda e: e.serial,
    )
    encoded: list[bytes] = []
    append = encoded.append
    reasons = _REASON_BY_IDENTITY
    days: dict[int, bytes] = {}
    previous = 0
    for entry in normalised:
        serial = entry.serial
        if serial <= previous or serial.bit_length() > 159:
            if serial > 0 and serial == previous:
                raise PolicyError("crl_duplicate_serial", f"serial {serial:x} listed twice")
            raise PolicyError("crl_serial", f"serial {serial:x} is not a positive 20-octet integer")
        previous = serial
        instant = entry.revoked_at
        if instant.tzinfo is None:  # naive means UTC, as in cryptography
            instant = instant.replace(tzinfo=dt.UTC)
        day, second = divmod(int(instant.timestamp() // 1), 86400)
        prefix = days.get(day)
        if prefix is None:
            prefix = days[day] = _day_prefix(day)
        revoked_at = b"%b%02d%02d%02dZ" % (prefix, second // 3600, second // 60 % 60, second % 60)
        # A serial of at most 20 octets keeps every length below 128: one length octet.
        serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
        body = b"\x02%c%b%b%b" % (
            len(serial_bytes),
            serial_bytes,
            revoked_at,
            reasons.get(id(entry.reason), b""),
        )
        append(b"\x30%c%b" % (len(body), body))
    return sequence(*encoded) if encoded else b""


def _header(data: bytes, offset: int) -> tuple[int, int]:
    """(header length, content length) of the DER element at ``offset``."""
    first = data[offset + 1]
    if first < 0x80:
        return 2, first
    size = first & 0x7F
    return 2 + size, int.from_bytes(data[offset + 2 : offset + 2 + size], "big")


def _with_revoked(tbs: bytes, revoked: bytes) -> bytes:
    """Insert ``revokedCertificates`` into a TBSCertList that has none: after nextUpdate,
    before the ``[0]`` extensions."""
    header, length = _header(tbs, 0)
    content = tbs[header : header + length]
    offset = 0
    while offset < len(content) and content[offset] != 0xA0:
        child_header, child_length = _header(content, offset)
        offset += child_header + child_length
    return sequence(content[:offset], revoked, content[offset:])


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
    revoked = revoked_certificates_der(entries)
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer.subject,
        last_update=this_update,
        next_update=next_update,
        extensions=extensions,
    )
    tbs = builder.sign(throwaway_key(), hashes.SHA256()).tbs_certlist_bytes
    if revoked:
        tbs = _with_revoked(tbs, revoked)
    return sign_crl_tbs(tbs, key, issuer)


def sign_crl_tbs(
    tbs: bytes, key: SigningKey, issuer: x509.Certificate
) -> x509.CertificateRevocationList:
    """Sign a DER TBSCertList with the CA key and check the result against the issuer.

    The signature is verified over our own TBS bytes (asking the parsed CRL to verify
    itself re-encodes every entry, which costs more than building them).
    """
    public_key = issuer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyBackendError("ca_key_type", "only RSA CA keys are supported")
    signature = key.sign(tbs)
    try:
        public_key.verify(signature, tbs, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise KeyBackendError(
            "signature_invalid",
            "the CA key produced a CRL signature that does not verify with the CA certificate",
        ) from None
    try:
        return x509.load_der_x509_crl(signed_structure(tbs, signature))
    except ValueError as exc:
        raise KeyBackendError("crl_encoding", f"the assembled CRL does not parse: {exc}") from exc
