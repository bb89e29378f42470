"""The few DER encodings we assemble by hand: a signed structure around a TBS.

Signing is done on the exact TBS bytes that were linted and recorded, by any key backend
(file key or PKCS#11 token), so the outer SEQUENCE is assembled here rather than by
``cryptography``'s builders, which only accept their own key objects.
"""

from __future__ import annotations

# AlgorithmIdentifier { sha256WithRSAEncryption, NULL }
SHA256_WITH_RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d01010b0500")


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def sequence(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def bit_string(data: bytes) -> bytes:
    return tlv(0x03, b"\x00" + data)


def octet_string(data: bytes) -> bytes:
    return tlv(0x04, data)


def signed_structure(tbs: bytes, signature: bytes, algorithm: bytes = SHA256_WITH_RSA_ALGORITHM) -> bytes:
    """``SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }`` (certificate, CRL)."""
    return sequence(tbs, algorithm, bit_string(signature))
