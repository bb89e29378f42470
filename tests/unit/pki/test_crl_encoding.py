"""The CRL entries sceau encodes itself are byte for byte what ``cryptography`` encodes."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.crl import RevokedEntry, build_crl
from sceau.pki.errors import PolicyError
from sceau.pki.hierarchy import CaNaming, create_root_certificate
from sceau.pki.signing.base import throwaway_key
from sceau.pki.signing.file import FileSigningKey

NOW = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.UTC)
PARIS = dt.timezone(dt.timedelta(hours=1))


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, FileSigningKey]:
    key = FileSigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), "memory")
    name = CaNaming("test").name("AC RACINE IGC-SANTE ELEMENTAIRE")
    return create_root_certificate(key, name, NOW - dt.timedelta(days=1), "http://x/PC"), key


def reference_tbs(issuer: x509.Certificate, entries: list[RevokedEntry], number: int) -> bytes:
    """The same CRL built entirely by ``cryptography``'s builder."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    revoked = [
        x509.RevokedCertificateBuilder(
            e.serial,
            e.revoked_at,
            []
            if e.reason in (None, x509.ReasonFlags.unspecified)
            else [x509.Extension(x509.CRLReason.oid, False, x509.CRLReason(e.reason))],
        ).build()
        for e in sorted(entries, key=lambda e: e.serial)
    ]
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=issuer.subject,
        last_update=NOW,
        next_update=NOW + dt.timedelta(days=3),
        extensions=[
            x509.Extension(
                x509.AuthorityKeyIdentifier.oid,
                False,
                x509.AuthorityKeyIdentifier(ski.digest, None, None),
            ),
            x509.Extension(x509.CRLNumber.oid, False, x509.CRLNumber(number)),
        ],
        revoked_certificates=revoked,
    )
    return builder.sign(throwaway_key(), hashes.SHA256()).tbs_certlist_bytes


def test_entries_match_cryptography_byte_for_byte(ca):
    issuer, key = ca
    reasons = [None, *x509.ReasonFlags]
    times = [
        NOW,
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.UTC),  # before the epoch
        dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC),  # last UTCTime
        dt.datetime(2050, 1, 1, 0, 0, 0, tzinfo=dt.UTC),  # first GeneralizedTime
        dt.datetime(2026, 3, 1, 0, 30, 0, tzinfo=PARIS),  # converted to UTC: 28 February
        dt.datetime(2026, 5, 4, 3, 2, 1, 999_999, tzinfo=dt.UTC),  # fraction dropped
        dt.datetime(2026, 5, 4, 3, 2, 1),  # naive: UTC
    ]
    serials = [1, 0x7F, 0x80, 0xFF, 0x8000, (1 << 127) - 1, 1 << 126, (1 << 159) - 1]
    entries = [
        RevokedEntry(serial + 1000 * i if serial < 1 << 20 else serial - i, times[i % len(times)],
                     reasons[i % len(reasons)])
        for i, serial in enumerate(serials * 3)
    ]  # fmt: skip
    crl = build_crl(issuer, key, entries, number=5, this_update=NOW,
                    next_update=NOW + dt.timedelta(days=3))  # fmt: skip
    assert crl.tbs_certlist_bytes == reference_tbs(issuer, entries, 5)
    assert crl.is_signature_valid(issuer.public_key())
    assert len(crl) == len(entries)


def test_no_entry_means_no_revoked_certificates_field(ca):
    issuer, key = ca
    crl = build_crl(issuer, key, [], number=1, this_update=NOW, next_update=NOW + dt.timedelta(3))
    assert crl.tbs_certlist_bytes == reference_tbs(issuer, [], 1)
    assert len(crl) == 0


@pytest.mark.parametrize(
    ("serials", "code"),
    [([5, 5], "crl_duplicate_serial"), ([0], "crl_serial"), ([1 << 159], "crl_serial")],
)
def test_bad_serials_are_refused(ca, serials, code):
    issuer, key = ca
    with pytest.raises(PolicyError) as caught:
        build_crl(issuer, key, [(s, NOW, None) for s in serials], number=1, this_update=NOW,
                  next_update=NOW + dt.timedelta(days=1))  # fmt: skip
    assert caught.value.code == code


def test_numbers_and_dates_are_checked(ca):
    issuer, key = ca
    later = NOW + dt.timedelta(days=1)
    for kwargs, code in (
        ({"number": 0}, "crl_number"),
        ({"number": 3, "delta_base": 3}, "crl_delta_base"),
        ({"number": 3, "next_update": NOW}, "crl_next_update"),
    ):
        arguments = {"this_update": NOW, "next_update": later, **kwargs}
        with pytest.raises(PolicyError) as caught:
            build_crl(issuer, key, [], **arguments)
        assert caught.value.code == code
