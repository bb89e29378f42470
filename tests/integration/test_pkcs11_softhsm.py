"""The PKCS#11 key backend against a real SoftHSM2 token in a private token directory."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass

from sceau.pki.der import signed_structure
from sceau.pki.errors import KeyBackendError
from sceau.pki.signing.base import SigningKey, throwaway_key
from sceau.pki.signing.pkcs11 import (
    Pkcs11SigningKey,
    format_pkcs11_uri,
    generate_pkcs11_key,
    load_pkcs11_key,
    parse_pkcs11_uri,
)

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "sceau-test"
PIN_TOKEN = "sceau-pin"  # a token no test keeps a key open on, so every login is a real C_Login
PIN = "1234"
SO_PIN = "5678"

pytestmark = pytest.mark.skipif(
    not Path(MODULE).is_file(), reason=f"SoftHSM2 module {MODULE} is not installed"
)


@dataclass(frozen=True)
class Token:
    module: str
    label: str
    pin: str


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Token]:
    """Two fresh SoftHSM2 tokens in a private directory, made before the library is loaded.

    SoftHSM2 reads ``SOFTHSM2_CONF`` and scans its token directory in ``C_Initialize`` only, and
    python-pkcs11 keeps a loaded library for the life of the process: the tokens exist before
    the first load, and the library is re-initialised if an earlier test loaded it elsewhere.
    """
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        pin_options = ["--pin", PIN, "--so-pin", SO_PIN]
        for label in (TOKEN, PIN_TOKEN):
            subprocess.run(
                ["softhsm2-util", "--init-token", "--free", "--label", label, *pin_options],
                check=True,
                capture_output=True,
            )
        library = pkcs11.lib(MODULE)
        if TOKEN not in {t.label for t in library.get_tokens()}:
            library.reinitialize()
        yield Token(MODULE, TOKEN, PIN)


def unique_label() -> str:
    return f"key-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def hsm_key(token: Token) -> Iterator[Pkcs11SigningKey]:
    """One RSA-2048 key generated on the token, shared by the tests of this module."""
    key = generate_pkcs11_key(token.module, token.label, token.pin.encode(), unique_label(), 2048)
    yield key
    key.close()


def verify(public_key: rsa.RSAPublicKey, signature: bytes, data: bytes) -> None:
    public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


def test_generated_key_signs_and_the_signature_verifies(
    token: Token, hsm_key: Pkcs11SigningKey
) -> None:
    assert isinstance(hsm_key, SigningKey)
    assert hsm_key.reference.startswith(f"pkcs11:token={TOKEN};object=key-")
    assert hsm_key.module_path == MODULE
    public = hsm_key.public_key()
    assert public.key_size == 2048
    assert public.public_numbers().e == 65537
    assert hsm_key.public_key() is public  # cached
    data = b"to be signed \x00\xff" * 100
    signature = hsm_key.sign(data)
    assert len(signature) == 256
    verify(public, signature, data)
    assert hsm_key.sign(data) == signature  # PKCS#1 v1.5 is deterministic
    with pytest.raises(InvalidSignature):
        verify(public, signature, data + b"!")


def test_token_signs_a_self_signed_ca_certificate_that_openssl_accepts(
    hsm_key: Pkcs11SigningKey, tmp_path: Path
) -> None:
    public = hsm_key.public_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sceau Test"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Sceau HSM Test Root"),
        ]
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    draft = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(throwaway_key(), hashes.SHA256())
    )
    tbs = draft.tbs_certificate_bytes
    certificate = x509.load_der_x509_certificate(signed_structure(tbs, hsm_key.sign(tbs)))

    assert certificate.tbs_certificate_bytes == tbs
    assert certificate.signature_hash_algorithm is not None
    assert certificate.signature_hash_algorithm.name == "sha256"
    certificate.verify_directly_issued_by(certificate)
    with pytest.raises(InvalidSignature):
        draft.verify_directly_issued_by(draft)  # the throwaway signature does not match the key

    pem = tmp_path / "ca.pem"
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pem), str(pem)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{pem}: OK"


def test_key_is_sensitive_and_not_extractable(token: Token, hsm_key: Pkcs11SigningKey) -> None:

    label = hsm_key.reference.rsplit("object=", 1)[1]
    # A session without PIN sees private objects because this process is logged in (through
    # hsm_key); closing it does not log out.
    with pkcs11.lib(MODULE).get_token(token_label=TOKEN).open(rw=True) as session:
        private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        assert private[Attribute.TOKEN] is True
        assert private[Attribute.PRIVATE] is True
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.ALWAYS_SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.DECRYPT] is False
        for secret in (Attribute.PRIVATE_EXPONENT, Attribute.PRIME_1, Attribute.PRIME_2):
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                private[secret]
        with pytest.raises(pkcs11.exceptions.AttributeReadOnly):
            private[Attribute.EXTRACTABLE] = True  # cannot be made extractable later
        key_id = private.id
    assert len(key_id) == 16

    # The same key, named by id only, is found and has the same public key.
    by_id = load_pkcs11_key(MODULE, format_pkcs11_uri(TOKEN, None, key_id), PIN)
    with by_id:
        assert by_id.public_key().public_numbers() == hsm_key.public_key().public_numbers()
        verify(hsm_key.public_key(), by_id.sign(b"by id"), b"by id")
    verify(hsm_key.public_key(), hsm_key.sign(b"still logged in"), b"still logged in")


def test_keys_on_one_token_share_the_login(token: Token, hsm_key: Pkcs11SigningKey) -> None:
    second = load_pkcs11_key(MODULE, hsm_key.reference, PIN.encode())
    assert second.reference == hsm_key.reference
    second.close()
    second.close()  # idempotent
    with pytest.raises(KeyBackendError) as closed:
        second.sign(b"x")
    assert closed.value.code == "key_closed"
    # Closing the second key did not log the first one out.
    verify(hsm_key.public_key(), hsm_key.sign(b"after close"), b"after close")


def test_signing_from_several_threads(hsm_key: Pkcs11SigningKey) -> None:
    results: list[tuple[bytes, bytes]] = []
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(10):
                data = f"{worker}-{i}".encode()
                results.append((data, hsm_key.sign(data)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 40
    for data, signature in results:
        verify(hsm_key.public_key(), signature, data)


def test_generation_refuses_an_existing_label(token: Token, hsm_key: Pkcs11SigningKey) -> None:
    label = hsm_key.reference.rsplit("object=", 1)[1]
    with pytest.raises(KeyBackendError) as exists:
        generate_pkcs11_key(MODULE, TOKEN, PIN, label, 2048)
    assert exists.value.code == "key_exists"
    with pytest.raises(KeyBackendError) as small:
        generate_pkcs11_key(MODULE, TOKEN, PIN, unique_label(), 1024)
    assert small.value.code == "key_size"


def test_wrong_pin_is_refused(token: Token, hsm_key: Pkcs11SigningKey) -> None:
    # Real C_Login on a token nobody is logged in to.
    for wrong in ("0000", b"123", "12345678"):
        with pytest.raises(KeyBackendError) as refused:
            Pkcs11SigningKey(MODULE, PIN_TOKEN, wrong, key_label="anything")
        assert refused.value.code == "pin_incorrect"
        assert PIN_TOKEN in refused.value.message
    # The right PIN gets past the login (and then finds no such key).
    with pytest.raises(KeyBackendError) as past_login:
        Pkcs11SigningKey(MODULE, PIN_TOKEN, PIN, key_label="anything")
    assert past_login.value.code == "key_not_found"
    # On a token this process is already logged in to, a wrong PIN is still refused.
    with pytest.raises(KeyBackendError) as refused:
        load_pkcs11_key(MODULE, hsm_key.reference, "0000")
    assert refused.value.code == "pin_incorrect"
    with pytest.raises(KeyBackendError) as empty:
        load_pkcs11_key(MODULE, hsm_key.reference, b"")
    assert empty.value.code == "pin_missing"
    with pytest.raises(KeyBackendError) as not_text:
        load_pkcs11_key(MODULE, hsm_key.reference, b"\xff\xfe")
    assert not_text.value.code == "pin_invalid"


def test_missing_key_token_and_module_are_named(token: Token, tmp_path: Path) -> None:
    with pytest.raises(KeyBackendError) as missing_key:
        load_pkcs11_key(MODULE, f"pkcs11:token={TOKEN};object=no-such-key", PIN)
    assert missing_key.value.code == "key_not_found"
    assert "no-such-key" in missing_key.value.message
    with pytest.raises(KeyBackendError) as missing_id:
        load_pkcs11_key(MODULE, f"pkcs11:token={TOKEN};id=%de%ad", PIN)
    assert missing_id.value.code == "key_not_found"
    with pytest.raises(KeyBackendError) as missing_token:
        load_pkcs11_key(MODULE, "pkcs11:token=no-such-token;object=x", PIN)
    assert missing_token.value.code == "token_not_found"
    with pytest.raises(KeyBackendError) as missing_module:
        load_pkcs11_key(str(tmp_path / "libnothing.so"), f"pkcs11:token={TOKEN};object=x", PIN)
    assert missing_module.value.code == "pkcs11_module_not_found"
    not_a_module = tmp_path / "libbroken.so"
    not_a_module.write_bytes(b"not a shared object")
    with pytest.raises(KeyBackendError) as broken:
        Pkcs11SigningKey(str(not_a_module), TOKEN, PIN, key_label="x")
    assert broken.value.code == "pkcs11_module_unusable"


def test_pkcs11_uri_round_trip_and_refusals(token: Token) -> None:
    uri = format_pkcs11_uri("My Token;1", "CA clé/ORG?", b"\x01\xab")
    assert uri == "pkcs11:token=My%20Token%3B1;object=CA%20cl%C3%A9%2FORG%3F;id=%01%ab"
    assert parse_pkcs11_uri(uri) == {"token": "My Token;1", "object": "CA clé/ORG?", "id": "01ab"}
    assert parse_pkcs11_uri("PKCS11:token=t;object=o;type=private?module-path=/usr/lib/x.so") == {
        "token": "t",
        "object": "o",
        "type": "private",
        "module-path": "/usr/lib/x.so",
    }
    assert parse_pkcs11_uri("pkcs11:") == {}
    for bad, code in [
        ("file:/tmp/key.pem", "pkcs11_uri_invalid"),
        ("pkcs11:token=t;object=o;object=p", "pkcs11_uri_invalid"),
        ("pkcs11:token=t;colour=blue", "pkcs11_uri_invalid"),
        ("pkcs11:token=t;object", "pkcs11_uri_invalid"),
        ("pkcs11:token=%ff", "pkcs11_uri_invalid"),
        ("pkcs11:token=t;object=o?pin-value=1234", "pkcs11_uri_pin"),
    ]:
        with pytest.raises(KeyBackendError) as refused:
            parse_pkcs11_uri(bad)
        assert refused.value.code == code, bad


@pytest.mark.slow
def test_rsa_4096_key_on_the_token(token: Token) -> None:
    with generate_pkcs11_key(MODULE, TOKEN, PIN, unique_label()) as key:
        assert key.public_key().key_size == 4096
        data = b"tbs" * 300
        verify(key.public_key(), key.sign(data), data)
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < 1.0:
            key.sign(data + count.to_bytes(4, "big"))
            count += 1
        print(f"\nRSA-4096 on SoftHSM2: {count / elapsed:.0f} signatures/s")
