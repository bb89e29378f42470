"""PKCS#12 files in the layout pharmacy software reads (domain.md §11, §15).

The ANS ordering platform writes: certificates in clear (a ``pkcs7-data`` safe, readable
without the password), leaf first, then the issuing CA, then the root; the private key in a
``pkcs8ShroudedKeyBag`` under pbeWithSHAAnd3-KeyTripleDES-CBC; an HMAC-SHA1 MAC; 2048
iterations everywhere; ``localKeyID`` on the key and leaf bags only. That layout is read by
OpenSSL 3 without ``-legacy``, old Java, old Windows and the macOS keychain, so it is the
default. The modern layout keeps the same shape with AES-256-CBC/PBKDF2-SHA256 and a SHA-256
MAC. ``cryptography``'s writer encrypts the certificate safe too, hence the hand-built DER.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import constant_time, hashes, hmac, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)

from sceau.pki import der
from sceau.pki.errors import SceauError

LEGACY_ITERATIONS = 2048  # what the ANS platform writes, for the key and the MAC
MODERN_ITERATIONS = 10_000  # far below the 600,000 Windows accepts
_MAX_ITERATIONS = 1_000_000  # when checking a MAC we did not write

_ID_DATA = "1.2.840.113549.1.7.1"
_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
_X509_CERTIFICATE = "1.2.840.113549.1.9.22.1"
_FRIENDLY_NAME = "1.2.840.113549.1.9.20"
_LOCAL_KEY_ID = "1.2.840.113549.1.9.21"
_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_HMAC_WITH_SHA256 = "1.2.840.113549.2.9"
_AES256_CBC = "2.16.840.1.101.3.4.1.42"
_NULL = b"\x05\x00"

# DigestInfo algorithm OIDs (DER) of the MAC, and the hash they stand for.
_MAC_HASHES: dict[bytes, Callable[[], hashes.HashAlgorithm]] = {
    der.oid("1.3.14.3.2.26"): hashes.SHA1,
    der.oid("2.16.840.1.101.3.4.2.1"): hashes.SHA256,
    der.oid("2.16.840.1.101.3.4.2.2"): hashes.SHA384,
    der.oid("2.16.840.1.101.3.4.2.3"): hashes.SHA512,
}
_MAC_OIDS = {factory().name: encoded for encoded, factory in _MAC_HASHES.items()}


class Pkcs12Error(SceauError):
    """A PKCS#12 file could not be written or read; ``code`` names the rule."""


# --- PKCS#12 key derivation (RFC 7292 appendix B) -----------------------------------------

_KEY_MATERIAL, _IV_MATERIAL, _MAC_MATERIAL = 1, 2, 3


def _bmp_password(password: bytes) -> bytes:
    """The password as a NUL-terminated BMPString, as the PKCS#12 KDF wants it."""
    return _text(password, "password").encode("utf-16-be") + b"\x00\x00"


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Pkcs12Error(f"pkcs12_{what}_encoding", f"the {what} must be UTF-8 text") from exc


def _sha1() -> hashes.HashAlgorithm:
    # SHA-1 is what the legacy layout mandates (KDF, MAC, localKeyID), not a choice of ours.
    return hashes.SHA1()  # noqa: S303 - required by the ANS/PKCS#12 legacy format


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()


def _chain_step(algorithm: hashes.HashAlgorithm) -> Callable[[bytes], bytes]:
    try:
        constructor = getattr(hashlib, algorithm.name)
    except AttributeError:  # a hash hashlib does not name the same way
        return lambda data: _digest(algorithm, data)
    return lambda data: constructor(data).digest()


def pkcs12_kdf(
    algorithm: hashes.HashAlgorithm,
    bmp_password: bytes,
    salt: bytes,
    purpose: int,
    iterations: int,
    length: int,
) -> bytes:
    """Derive ``length`` bytes of key (1), IV (2) or MAC key (3) material (RFC 7292 B.2)."""
    block = algorithm.block_size or 64
    diversifier = bytes([purpose]) * block

    def stretch(data: bytes) -> bytes:
        if not data:
            return b""
        size = block * -(-len(data) // block)
        return (data * (size // len(data) + 1))[:size]

    material = bytearray(stretch(salt) + stretch(bmp_password))
    output = b""
    # The iterated hash is a plain hash chain: hashlib's one-call digest computes the same
    # bytes ~3× faster than a ``hashes.Hash`` object per round (the client builds one
    # PKCS#12 per certificate, a fleet thousands).
    one_round = _chain_step(algorithm)
    while True:
        chunk = _digest(algorithm, diversifier + bytes(material))
        for _ in range(iterations - 1):
            chunk = one_round(chunk)
        output += chunk
        if len(output) >= length:
            return output[:length]
        increment = int.from_bytes(stretch(chunk)[:block], "big") + 1
        for start in range(0, len(material), block):
            value = int.from_bytes(material[start : start + block], "big") + increment
            material[start : start + block] = (value % (1 << (8 * block))).to_bytes(block, "big")


def _mac(
    algorithm: hashes.HashAlgorithm, password: bytes, salt: bytes, iterations: int, data: bytes
) -> bytes:
    key = pkcs12_kdf(algorithm, password, salt, _MAC_MATERIAL, iterations, algorithm.digest_size)
    signer = hmac.HMAC(key, algorithm)
    signer.update(data)
    return signer.finalize()


# --- Key encryption -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """How the key is shrouded and the whole file authenticated."""

    encrypt_key: Callable[[bytes, bytes, int], bytes]  # (PKCS#8, password, iterations) -> DER
    mac_hash: Callable[[], hashes.HashAlgorithm]
    iterations: int
    mac_salt_length: int


def _encrypt_3des(private_key_info: bytes, password: bytes, iterations: int) -> bytes:
    """EncryptedPrivateKeyInfo under pbeWithSHAAnd3-KeyTripleDES-CBC."""
    salt = os.urandom(8)
    bmp = _bmp_password(password)
    key = pkcs12_kdf(_sha1(), bmp, salt, _KEY_MATERIAL, iterations, 24)
    iv = pkcs12_kdf(_sha1(), bmp, salt, _IV_MATERIAL, iterations, 8)
    ciphertext = _cbc_encrypt(TripleDES(key), iv, private_key_info)
    parameters = der.sequence(der.octet_string(salt), der.integer(iterations))
    algorithm = der.sequence(der.oid(_PBE_SHA1_3DES), parameters)
    return der.sequence(algorithm, der.octet_string(ciphertext))


def _encrypt_aes(private_key_info: bytes, password: bytes, iterations: int) -> bytes:
    """EncryptedPrivateKeyInfo under PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC).

    PBES2 takes the password bytes as they are (no BMPString), as OpenSSL does.
    """
    salt, iv = os.urandom(16), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(password)
    ciphertext = _cbc_encrypt(algorithms.AES(key), iv, private_key_info)
    kdf = der.sequence(
        der.oid(_PBKDF2),
        der.sequence(
            der.octet_string(salt),
            der.integer(iterations),
            der.sequence(der.oid(_HMAC_WITH_SHA256), _NULL),
        ),
    )
    cipher = der.sequence(der.oid(_AES256_CBC), der.octet_string(iv))
    algorithm = der.sequence(der.oid(_PBES2), der.sequence(kdf, cipher))
    return der.sequence(algorithm, der.octet_string(ciphertext))


def _cbc_encrypt(cipher: TripleDES | algorithms.AES, iv: bytes, plaintext: bytes) -> bytes:
    padder = padding.PKCS7(cipher.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(cipher, modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


_LEGACY = _Layout(_encrypt_3des, hashes.SHA1, LEGACY_ITERATIONS, 8)
_MODERN = _Layout(_encrypt_aes, hashes.SHA256, MODERN_ITERATIONS, 16)


# --- Writing ------------------------------------------------------------------------------


def ans_legacy_pkcs12(
    key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
    *,
    friendly_name: bytes | None = None,
) -> bytes:
    """The ANS platform layout: 3DES key, SHA-1 MAC, 2048 iterations, certificates in clear."""
    return _build(_LEGACY, key, certificate, chain, password, friendly_name)


def modern_pkcs12(
    key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
    *,
    friendly_name: bytes | None = None,
) -> bytes:
    """AES-256-CBC/PBKDF2-SHA256 key, SHA-256 MAC, certificates in clear.

    Not readable by Windows Server ≤ 2016, Java before 8u301 or the macOS keychain.
    """
    return _build(_MODERN, key, certificate, chain, password, friendly_name)


def _build(
    layout: _Layout,
    key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
    friendly_name: bytes | None,
) -> bytes:
    if not password:
        raise Pkcs12Error("pkcs12_password_empty", "a non-empty password is required")
    _bmp_password(password)  # refuse a non-UTF-8 password before any work
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Pkcs12Error("pkcs12_key_type", "only RSA private keys are supported")
    if key.public_key() != certificate.public_key():
        raise Pkcs12Error(
            "pkcs12_key_mismatch", "the private key does not match the certificate's public key"
        )
    ordered = _ordered_chain(certificate, chain)

    leaf_der = certificate.public_bytes(Encoding.DER)
    attributes = [_attribute(_LOCAL_KEY_ID, der.octet_string(_digest(_sha1(), leaf_der)))]
    if friendly_name is not None:
        bmp_name = _text(friendly_name, "friendly_name").encode("utf-16-be")
        attributes.append(_attribute(_FRIENDLY_NAME, der.tlv(0x1E, bmp_name)))
    bag_attributes = der.set_of(*attributes)

    certificate_bags = [_certificate_bag(leaf_der, bag_attributes)]
    certificate_bags += [_certificate_bag(c.public_bytes(Encoding.DER), b"") for c in ordered]
    private_key_info = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    shrouded_key = layout.encrypt_key(private_key_info, password, layout.iterations)
    key_bag = der.sequence(der.oid(_SHROUDED_KEY_BAG), der.tagged(0, shrouded_key), bag_attributes)

    authenticated_safe = der.sequence(
        _data_content(der.sequence(*certificate_bags)),
        _data_content(der.sequence(key_bag)),
    )
    algorithm = layout.mac_hash()
    mac_salt = os.urandom(layout.mac_salt_length)
    digest = _mac(
        algorithm, _bmp_password(password), mac_salt, layout.iterations, authenticated_safe
    )
    mac_data = der.sequence(
        der.sequence(der.sequence(_MAC_OIDS[algorithm.name], _NULL), der.octet_string(digest)),
        der.octet_string(mac_salt),
        der.integer(layout.iterations),
    )
    return der.sequence(der.integer(3), _data_content(authenticated_safe), mac_data)


def _attribute(attribute_oid: str, value: bytes) -> bytes:
    return der.sequence(der.oid(attribute_oid), der.set_of(value))


def _certificate_bag(certificate_der: bytes, attributes: bytes) -> bytes:
    value = der.sequence(
        der.oid(_X509_CERTIFICATE), der.tagged(0, der.octet_string(certificate_der))
    )
    return der.sequence(der.oid(_CERT_BAG), der.tagged(0, value), attributes)


def _data_content(content: bytes) -> bytes:
    """ContentInfo { id-data, [0] OCTET STRING }: a safe stored in clear."""
    return der.sequence(der.oid(_ID_DATA), der.tagged(0, der.octet_string(content)))


def _ordered_chain(
    certificate: x509.Certificate, chain: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """The chain from the issuing CA up to the root, whatever order it was given in."""
    remaining = [c for c in dict.fromkeys(chain) if c != certificate]
    ordered: list[x509.Certificate] = []
    current = certificate
    while remaining and current.subject != current.issuer:
        issuer = next((c for c in remaining if c.subject == current.issuer), None)
        if issuer is None:
            break
        ordered.append(issuer)
        remaining.remove(issuer)
        current = issuer
    if remaining:
        names = ", ".join(c.subject.rfc4514_string() for c in remaining)
        raise Pkcs12Error(
            "pkcs12_chain_unrelated",
            f"the chain must be the certificate's issuers up to the root; not on the path: {names}",
        )
    return ordered


# --- Reading ------------------------------------------------------------------------------


def load_pkcs12(
    data: bytes, password: bytes
) -> tuple[rsa.RSAPrivateKey, x509.Certificate, list[x509.Certificate]]:
    """The key, its certificate and the rest of the chain, in file order."""
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(data, password or None)
    except ValueError as exc:
        if _mac_refuses(data, password):
            raise Pkcs12Error(
                "pkcs12_bad_password", "wrong password for this PKCS#12 file"
            ) from exc
        raise Pkcs12Error("pkcs12_malformed", f"not a readable PKCS#12 file: {exc}") from exc
    if key is None or certificate is None:
        raise Pkcs12Error(
            "pkcs12_malformed", "the PKCS#12 file must hold a private key and its certificate"
        )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise Pkcs12Error("pkcs12_malformed", "the PKCS#12 private key is not an RSA key")
    return key, certificate, chain


def _mac_refuses(data: bytes, password: bytes) -> bool:
    """True when the file parses and its MAC does not verify under ``password``.

    ``cryptography`` reports a wrong password and a damaged file with the same error; the
    MAC tells them apart. A file we cannot parse, or without a MAC, counts as damaged.
    """
    try:
        pfx = _children(_single(data, 0x30))
        content_type, explicit = _children(pfx[1][1])[:2]
        if der.tlv(*content_type) != der.oid(_ID_DATA) or explicit[0] != 0xA0:
            return False
        authenticated_safe = _single(explicit[1], 0x04)
        mac_data = _children(pfx[2][1])
        digest_info = _children(mac_data[0][1])
        algorithm_oid = _children(digest_info[0][1])[0]
        expected, salt = digest_info[1][1], mac_data[1][1]
        iterations = int.from_bytes(mac_data[2][1], "big") if len(mac_data) > 2 else 1
    except (ValueError, IndexError):
        return False
    factory = _MAC_HASHES.get(der.tlv(*algorithm_oid))
    if factory is None or not 1 <= iterations <= _MAX_ITERATIONS:
        return False
    # An empty password may be encoded as an empty BMPString or as no bytes at all.
    candidates = [_bmp_password(password)] + ([b""] if not password else [])
    return not any(
        constant_time.bytes_eq(_mac(factory(), bmp, salt, iterations, authenticated_safe), expected)
        for bmp in candidates
    )


def _single(data: bytes, tag: int) -> bytes:
    found, content, end = _read(data, 0)
    if found != tag or end != len(data):
        raise ValueError("unexpected DER")
    return content


def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """One definite-length DER element: (tag, content, offset after it)."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[offset : offset + length], offset + length


def _children(content: bytes) -> list[tuple[int, bytes]]:
    children: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(content):
        tag, value, offset = _read(content, offset)
        children.append((tag, value))
    return children


# --- Naming -------------------------------------------------------------------------------

_ENVIRONMENTS = {"test": "TEST", "prod": "PROD"}
_OFFER_USAGES = {
    "AUTH_CLI": "ORG-AUTH_CLI",
    "SIGN": "ORG-SIGN",
    "CONF": "ORG-CONF",
    "SERV_SSL": "SERV-SSL_SERV",
}


def pkcs12_filename(environment: str, usage: str, at: dt.datetime) -> str:
    """``sceau-p12-TEST-ORG-AUTH_CLI-20261129-103506.p12``, after the ANS download names.

    ``at`` is written as given (no time-zone conversion).
    """
    env = _ENVIRONMENTS.get(environment.lower())
    if env is None:
        raise Pkcs12Error(
            "unknown_environment", f"environment must be test or prod, not {environment!r}"
        )
    offer_usage = _OFFER_USAGES.get(usage.upper())
    if offer_usage is None:
        raise Pkcs12Error(
            "unknown_usage", f"usage must be one of {', '.join(_OFFER_USAGES)}, not {usage!r}"
        )
    return f"sceau-p12-{env}-{offer_usage}-{at:%Y%m%d-%H%M%S}.p12"


__all__ = [
    "LEGACY_ITERATIONS",
    "MODERN_ITERATIONS",
    "Pkcs12Error",
    "ans_legacy_pkcs12",
    "load_pkcs12",
    "modern_pkcs12",
    "pkcs12_filename",
    "pkcs12_kdf",
]
