"""Revocation codes: argon2id for codes people choose, a salted HMAC for 160-bit drawn ones."""

from __future__ import annotations

import re

from sceau.registration.orders.revocation_codes import (
    generate_revocation_code,
    new_revocation_code,
    verify_secret,
)


def test_drawn_codes_are_160_random_bits_in_readable_groups() -> None:
    drawn = [generate_revocation_code() for _ in range(20)]
    codes = {code for code, _ in drawn}
    assert len(codes) == 20
    for code, stored in drawn:
        assert re.fullmatch(r"[A-Z2-7]{4}(-[A-Z2-7]{4}){7}", code)  # 32 base32 signs
        assert stored.startswith("$sceau-hmac-sha256$")
        assert code not in stored and code.replace("-", "") not in stored


def test_a_drawn_code_is_checked_without_case_spaces_or_dashes() -> None:
    code, stored = generate_revocation_code()
    assert verify_secret(stored, code)
    assert verify_secret(stored, " " + code.lower().replace("-", " ") + "\n")
    assert not verify_secret(stored, code[:-1])
    assert not verify_secret(stored, code[:-1] + ("A" if code[-1] != "A" else "B"))
    other, other_stored = generate_revocation_code()
    assert not verify_secret(other_stored, code) and not verify_secret(stored, other)


def test_each_hash_has_its_own_random_salt() -> None:
    salts = {generate_revocation_code()[1].split("$")[2] for _ in range(20)}
    assert len(salts) == 20 and all(len(s) == 24 for s in salts)  # 16 bytes, base64


def test_chosen_codes_stay_argon2id_and_forms_do_not_mix() -> None:
    stored = new_revocation_code("Revoc-Code-42", "Revoc-Code-42")
    assert stored.startswith("$argon2id$")
    assert verify_secret(stored, "Revoc-Code-42")
    assert not verify_secret(stored, "revoc-code-42")  # a chosen code is exact
    assert not verify_secret("$sceau-hmac-sha256$!!$x", "x")
    assert not verify_secret("$sceau-hmac-sha256$", "x")
    assert not verify_secret(None, "x") and not verify_secret("", "x")
