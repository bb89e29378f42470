"""Keys the client made itself are loaded without OpenSSL's RSA check; others are checked."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sceau.client.keys import generate_key_pem, load_key_pem
from sceau.pki.errors import SceauError


def test_own_key_loads_to_the_same_key() -> None:
    pem = generate_key_pem()
    checked, own = load_key_pem(pem), load_key_pem(pem, own=True)
    assert checked.private_numbers() == own.private_numbers()


def test_own_still_refuses_what_is_not_an_rsa_key() -> None:
    with pytest.raises(SceauError) as caught:
        load_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", own=True)
    assert caught.value.code == "key_unreadable"
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(SceauError) as caught:
        load_key_pem(ec_pem, own=True)
    assert caught.value.code == "key_type"
