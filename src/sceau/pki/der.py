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


def signed_structure(
    tbs: bytes, signature: bytes, algorithm: bytes = SHA256_WITH_RSA_ALGORITHM
) -> bytes:
    """``SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }`` (certificate, CRL)."""
    return sequence(tbs, algorithm, bit_string(signature))


def integer(value: int) -> bytes:
    """A DER INTEGER (two's complement, minimal length)."""
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def oid(dotted: str) -> bytes:
    """A DER OBJECT IDENTIFIER from its dotted form, e.g. ``"1.2.840.113549.1.7.1"``."""
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def tagged(number: int, content: bytes) -> bytes:
    """``[number] EXPLICIT``: a constructed context-specific tag around one encoding."""
    return tlv(0xA0 | number, content)


def set_of(*parts: bytes) -> bytes:
    """A DER SET OF: elements sorted by their encoding (X.690 §11.6)."""
    return tlv(0x31, b"".join(sorted(parts)))
