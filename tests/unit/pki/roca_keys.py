"""RSA keys with a ROCA-shaped modulus (Infineon RSALib prime structure), for tests.

Each prime is ``k·M + (65537^a mod M)`` with ``M`` the product of the first 39 primes
(2…167), the structure RSALib uses for 512-bit-class primes; that is enough for the
fingerprint, which only looks at primes up to 167. Deterministic for a given seed.
"""

from __future__ import annotations

import functools
import math
import random

from cryptography.hazmat.primitives.asymmetric import rsa

PUBLIC_EXPONENT = 65537


def _primes_below(limit: int) -> list[int]:
    sieve = bytearray([1]) * limit
    sieve[:2] = b"\x00\x00"
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, limit, n)))
    return [n for n in range(limit) if sieve[n]]


SMALL_PRIMES = _primes_below(20_000)
SIEVE_PRODUCT = math.prod(SMALL_PRIMES)  # one gcd rules out every small factor
PRIMORIAL = math.prod(SMALL_PRIMES[:39])  # 2·3·5·…·167
assert SMALL_PRIMES[38] == 167


def is_probable_prime(n: int, rng: random.Random, rounds: int = 24) -> bool:
    """Miller–Rabin with random bases, after ruling out factors below 20,000."""
    if n <= SMALL_PRIMES[-1]:
        return n in SMALL_PRIMES
    if math.gcd(n, SIEVE_PRODUCT) != 1:
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def roca_prime(bits: int, rng: random.Random, max_attempts: int = 20_000) -> int:
    """A prime of exactly ``bits`` bits, at least √2·2^(bits-1), of the RSALib form."""
    low = math.isqrt(1 << (2 * bits - 1)) + 1
    high = 1 << bits
    for _ in range(max_attempts):
        residue = pow(PUBLIC_EXPONENT, rng.randrange(1, PRIMORIAL), PRIMORIAL)
        k = rng.randrange(-(-(low - residue) // PRIMORIAL), (high - residue) // PRIMORIAL)
        candidate = k * PRIMORIAL + residue
        if (candidate - 1) % PUBLIC_EXPONENT and is_probable_prime(candidate, rng):
            return candidate
    raise RuntimeError(f"no {bits}-bit RSALib-shaped prime after {max_attempts} attempts")


def roca_private_key(key_size: int = 2048, seed: int = 2017) -> rsa.RSAPrivateKey:
    """An RSA private key whose modulus carries the ROCA fingerprint (cached per process)."""
    return _roca_private_key(key_size, seed)


@functools.cache
def _roca_private_key(key_size: int, seed: int) -> rsa.RSAPrivateKey:
    rng = random.Random(seed)
    p = roca_prime(key_size // 2, rng)
    q = roca_prime(key_size // 2, rng)
    while q == p:
        q = roca_prime(key_size // 2, rng)
    d = pow(PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q),
    )
    key = numbers.private_key()
    assert key.key_size == key_size
    return key
