"""Hostile input, property-based: whatever bytes or text arrive, the parsers and validators
answer with their own clear error (a ``SceauError`` with a code), never another exception.

CSR intake (``validate_csr``), FINESS extract lines (``parse_extract``), service applicatif
and DNS names (``sceau.pki.names``), e-mail addresses (order form and person record), and the
display escaping of the audit log. OCSP requests: ``tests/integration/test_hostile_ocsp.py``;
search fields on a database: ``tests/integration/test_hostile_search.py``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sceau.pki.csr import MAX_CSR_BYTES, validate_csr
from sceau.pki.errors import CsrError, PolicyError, SceauError
from sceau.pki.names import validate_dns_name, validate_service_applicatif
from sceau.registration.audit_chain import escape_for_display
from sceau.registration.finess_extract import (
    ExtractGeolocation,
    ExtractMetadata,
    ExtractRecord,
    ExtractReject,
    parse_extract,
)
from sceau.registration.finess_extract_generator import generate_extract
from sceau.registration.use_cases.persons import validate_email as validate_person_email
from sceau.registration.use_cases.request_certificates import validate_email as validate_order_email

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def valid_csr_der() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "INSI-AUTO")]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("a.example")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


def csr_outcome(data: bytes) -> str:
    """``accepted`` or the CsrError code; any other exception fails the test."""
    try:
        validate_csr(data)
    except CsrError as exc:
        assert exc.code and exc.message
        return exc.code
    return "accepted"


# ------------------------------------------------------------------------------------ CSRs


def test_the_valid_csr_is_accepted():
    assert csr_outcome(valid_csr_der()) == "accepted"
    assert csr_outcome(b"\n" + pem(valid_csr_der())) == "accepted"


def pem(der: bytes, label: bytes = b"CERTIFICATE REQUEST") -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN " + label + b"-----\n" + body + b"-----END " + label + b"-----\n"


@PROPERTY
@given(st.binary(max_size=4096))
def test_random_bytes_are_a_csr_error(data):
    assert csr_outcome(data) != "accepted"


@PROPERTY
@given(st.binary(max_size=2048), st.sampled_from([b"CERTIFICATE REQUEST", b"CERTIFICATE", b"X"]))
def test_random_pem_is_a_csr_error(body, label):
    assert csr_outcome(pem(body, label)) != "accepted"


@PROPERTY
@given(st.data())
def test_truncated_csr_is_a_csr_error(data):
    der = valid_csr_der()
    cut = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
    assert csr_outcome(der[:cut]) != "accepted"
    assert csr_outcome(pem(der[:cut])) != "accepted"


@PROPERTY
@given(st.data())
def test_mutated_csr_is_refused_or_still_valid(data):
    """Flipped, inserted or deleted bytes: a CsrError, or (rarely) a CSR still well signed."""
    der = bytearray(valid_csr_der())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        position = data.draw(st.integers(min_value=0, max_value=len(der) - 1))
        operation = data.draw(st.sampled_from(["flip", "insert", "delete", "length"]))
        if operation == "flip":
            der[position] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif operation == "insert":
            der[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete" and len(der) > 1:
            del der[position]
        else:  # a DER length octet claiming a huge length
            der[position : position + 1] = b"\x84\xff\xff\xff\xff"
    csr_outcome(bytes(der))


def test_huge_and_odd_csrs_are_refused_quickly():
    started = time.monotonic()
    assert csr_outcome(b"") == "csr_empty"
    assert csr_outcome(b" \n\t ") == "csr_empty"
    assert csr_outcome(b"0" * (MAX_CSR_BYTES + 1)) == "csr_too_large"
    assert csr_outcome(b"\x30\x84" + b"\xff" * (20 * 1024 * 1024)) == "csr_too_large"
    assert csr_outcome(pem(valid_csr_der()) * 100) == "csr_too_large"
    assert csr_outcome(b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * 60_000) != "accepted"
    # Nested SEQUENCEs thousands deep must not blow the parser's stack.
    deep = b"\x30\x80" * 20_000 + b"\x00\x00" * 20_000
    assert csr_outcome(deep) != "accepted"
    assert time.monotonic() - started < 5


def test_unknown_key_algorithm_is_a_csr_error():
    der = valid_csr_der()
    rsa_encryption = bytes.fromhex("06092a864886f70d010101")
    at = der.index(rsa_encryption) + len(rsa_encryption) - 1
    altered = der[:at] + b"\x05" + der[at + 1 :]  # 1.2.840.113549.1.1.5: not a key type
    assert csr_outcome(altered) == "csr_unsupported_key"


def test_unknown_csr_version_is_a_csr_error():
    der = valid_csr_der()
    at = der.index(b"\x02\x01\x00")  # CertificationRequestInfo.version INTEGER 0 (v1)
    altered = der[:at] + b"\x02\x01\x01" + der[at + 3 :]
    assert csr_outcome(altered) == "csr_malformed"


def test_csr_with_a_non_rsa_key_is_a_csr_error():
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    assert csr_outcome(csr.public_bytes(serialization.Encoding.DER)) == "csr_unsupported_key"


# ---------------------------------------------------------------------------- FINESS lines

ITEM_TYPES = (ExtractMetadata, ExtractRecord, ExtractGeolocation, ExtractReject)


def parsed(lines: list[bytes], environment: str = "prod") -> list:
    items = list(parse_extract(lines, environment=environment))
    assert all(isinstance(item, ITEM_TYPES) for item in items)
    return items


@PROPERTY
@given(st.lists(st.binary(max_size=400), max_size=20))
def test_random_extract_lines_become_items_or_rejects(lines):
    items = parsed(lines)
    non_blank = [line for line in lines if line.strip(b" \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85")]
    assert len(items) <= len(lines)
    assert len(items) >= len([line for line in non_blank if line.strip()]) - len(non_blank)
    for item in items:
        if isinstance(item, ExtractReject):
            assert item.code and item.reason and len(item.text) <= 200


@functools.cache
def sample_lines() -> tuple[str, ...]:
    return generate_extract(6, seed=8, broken=2).lines


@PROPERTY
@given(st.data())
def test_mutated_extract_lines_are_parsed_or_rejected(data):
    lines = list(sample_lines())
    index = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    line = lines[index]
    operation = data.draw(st.sampled_from(["field", "separator", "truncate", "control", "long"]))
    fields = line.split(";")
    if operation == "field":
        position = data.draw(st.integers(min_value=0, max_value=len(fields) - 1))
        fields[position] = data.draw(st.text(max_size=40))
        line = ";".join(fields)
    elif operation == "separator":
        line = line + ";" * data.draw(st.integers(min_value=1, max_value=5))
    elif operation == "truncate":
        line = line[: data.draw(st.integers(min_value=0, max_value=len(line)))]
    elif operation == "control":
        hostile = data.draw(st.sampled_from(["\x00", "\x1b[2J", "\u2028", "\r"]))
        line = line[:10] + hostile + line[10:]
    else:
        line = line + "X" * 100_000
    lines[index] = line
    encoding = data.draw(st.sampled_from(["utf-8", "latin-1"]))
    encoded = [text.encode(encoding, "replace") for text in lines]
    for environment in ("prod", "test"):
        parsed(encoded, environment)


# ------------------------------------------------------------------------------ names


@PROPERTY
@given(st.text(max_size=120), st.booleans())
def test_service_applicatif_is_valid_or_a_policy_error(value, insi):
    try:
        accepted = validate_service_applicatif(value, insi=insi)
    except PolicyError as exc:
        assert exc.code.startswith(("service_applicatif", "insi"))
        return
    assert accepted == value and 0 < len(accepted) <= 64
    assert escape_for_display(accepted) == accepted  # no control character can pass
    assert all(ord(c) <= 0x17F or c == "’" for c in accepted)  # Latin script only
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, accepted)])


def test_astral_letters_are_refused_in_service_applicatif():
    with pytest.raises(PolicyError):
        validate_service_applicatif("LGC-" + "\U0001d400" * 40)


@PROPERTY
@given(st.text(max_size=300))
def test_dns_name_is_valid_or_a_policy_error(value):
    try:
        name = validate_dns_name(value)
    except PolicyError as exc:
        assert exc.code == "dns_name_invalid"
        return
    assert name.isascii() and name == name.lower() and "*" not in name and len(name) <= 253
    x509.DNSName(name)


@PROPERTY
@given(st.from_regex(r"[a-z0-9-]{1,70}(\.[a-z0-9-]{0,70}){1,4}\.?", fullmatch=True))
def test_dns_like_names_are_valid_or_a_policy_error(value):
    with contextlib.suppress(PolicyError):
        x509.DNSName(validate_dns_name(value))


# ---------------------------------------------------------------------------- e-mail fields

EMAIL_LIKE = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(min_size=0, max_size=30),
    st.text(min_size=0, max_size=30),
    st.text(min_size=0, max_size=6),
)


def assert_safe_address(address: str) -> None:
    """An accepted address goes into mail headers: no line break, no control character."""
    assert address == address.strip() and len(address) <= 254
    assert not any(c in address for c in '\r\n\x00,;<>"')
    assert escape_for_display(address) == address


@PROPERTY
@given(st.one_of(st.text(max_size=300), EMAIL_LIKE))
def test_order_email_is_valid_or_a_clear_error(value):
    try:
        address = validate_order_email(value, "Email de l'acteur")
    except SceauError as exc:
        assert exc.code in ("email_required", "email_format")
        return
    assert_safe_address(address)


@PROPERTY
@given(st.one_of(st.text(max_size=300), EMAIL_LIKE))
def test_person_email_is_valid_or_a_clear_error(value):
    try:
        validate_person_email(value)
    except SceauError as exc:
        assert exc.code in ("email_required", "email_format")


@pytest.mark.parametrize(
    "value",
    [
        "a@b.fr\r\nBcc: victim@example.org",
        "a@b.fr\nSubject: x",
        "a@b.fr, c@d.fr",
        '"a"@b.fr',
        "a@b.fr\x00",
        "<a>@b.fr",
        "\x08@b.fr",
        "x" * 250 + "@b.fr",
    ],
)
def test_order_email_refuses_header_injection(value):
    with pytest.raises(SceauError):
        validate_order_email(value, "Email de l'acteur")


@pytest.mark.parametrize("value", ["a@b.fr\r\nBcc: victim@example.org", "a@b.fr\nSubject: x"])
def test_person_email_refuses_line_breaks(value):
    with pytest.raises(SceauError):
        validate_person_email(value)


@pytest.mark.parametrize("value", ["a,b@c.fr", "a@b.fr\x00", "\x08@0.0", "<a>@b.fr"])
def test_person_email_refuses_what_a_mail_header_cannot_carry(value):
    with pytest.raises(SceauError):
        validate_person_email(value)


# ----------------------------------------------------------------------------- audit display


@PROPERTY
@given(st.text(max_size=200))
def test_audit_display_is_one_line_without_control_characters(value):
    shown = escape_for_display(value)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert all(c.isprintable() or c == " " for c in shown)
