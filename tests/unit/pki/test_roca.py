"""ROCA (CVE-2017-15361) fingerprint detection."""

from __future__ import annotations

import math
import random

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from roca_keys import PRIMORIAL, roca_prime, roca_private_key

from sceau.pki.roca import FINGERPRINT_PRIMES, GENERATOR, SUBGROUP_MASKS, is_roca_vulnerable

# The first bitmasks printed in the published detector (crocs-muni/roca, detect.py).
PUBLISHED_PRINTS = [6, 30, 126, 1026, 5658, 107286, 199410, 8388606, 536870910, 2147483646]


def modulus(key: rsa.RSAPrivateKey) -> int:
    return key.public_key().public_numbers().n


def test_precomputed_subgroups_match_the_published_detector() -> None:
    assert FINGERPRINT_PRIMES[0] == 3
    assert FINGERPRINT_PRIMES[-1] == 167
    assert len(FINGERPRINT_PRIMES) == 38
    assert list(SUBGROUP_MASKS[: len(PUBLISHED_PRINTS)]) == PUBLISHED_PRINTS


def test_each_subgroup_is_the_one_generated_by_65537() -> None:
    for prime, mask in zip(FINGERPRINT_PRIMES, SUBGROUP_MASKS, strict=True):
        members = {r for r in range(prime) if mask >> r & 1}
        assert members == {pow(GENERATOR, k, prime) for k in range(prime)}
        assert (prime - 1) % len(members) == 0  # Lagrange: a subgroup of Z_p*
        assert 0 not in members


def test_a_generated_rsa_key_is_not_flagged() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not is_roca_vulnerable(modulus(key))


def test_random_moduli_are_not_flagged() -> None:
    rng = random.Random(15361)
    moduli = [rng.getrandbits(2048) | (1 << 2047) | 1 for _ in range(500)]
    assert not any(is_roca_vulnerable(n) for n in moduli)


def test_a_modulus_with_a_small_factor_is_not_flagged() -> None:
    n = modulus(roca_private_key())
    assert not is_roca_vulnerable(3 * n)


def test_rsalib_shaped_2048_bit_key_is_flagged() -> None:
    key = roca_private_key(2048)
    assert key.key_size == 2048
    assert is_roca_vulnerable(modulus(key))


def test_rsalib_shaped_1024_bit_key_is_flagged() -> None:
    assert is_roca_vulnerable(modulus(roca_private_key(1024, seed=1)))


def test_rsalib_primes_have_the_documented_form() -> None:
    rng = random.Random(7)
    prime = roca_prime(512, rng)
    assert prime.bit_length() == 512
    # p ≡ 65537^a (mod M), hence modulo every prime factor of M.
    assert math.gcd(prime % PRIMORIAL, PRIMORIAL) == 1
    for small in FINGERPRINT_PRIMES:
        assert prime % small in {pow(GENERATOR, k, small) for k in range(small)}


def test_the_roca_key_is_usable_for_a_csr() -> None:
    key = roca_private_key()
    signature = key.sign(b"data", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "INSI-AUTO")]))
        .sign(key, hashes.SHA256())
    )
    assert csr.is_signature_valid
    public_key = csr.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert is_roca_vulnerable(public_key.public_numbers().n)
