"""``sceau client inventory``: PEM, DER and PKCS#12 (password list) found and dated."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

from client_pki import key, make_ca
from cryptography.hazmat.primitives import serialization

from sceau.client import inventory
from sceau.pki.pkcs12 import ans_legacy_pkcs12
from sceau.pki.profiles import Usage


def test_scan_finds_every_format_and_sorts_by_expiry(tmp_path: Path) -> None:
    ca = make_ca()
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    soon = ca.leaf(key(4), common_name="INSI-MANU", days=10)
    later = ca.leaf(key(5), Usage.SIGN, common_name="DMP-SIGN", days=900)
    middle = ca.leaf(key(6), common_name="DMP", days=300)
    expired = ca.leaf(
        key(6), common_name="OLD", days=5, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    )
    (tree / "a" / "insi.p12").write_bytes(ans_legacy_pkcs12(key(4), soon, ca.chain, b"two"))
    (tree / "a" / "b" / "sign.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [later, *ca.chain])
    )
    (tree / "dmp.der").write_bytes(middle.public_bytes(serialization.Encoding.DER))
    (tree / "old.crt").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    (tree / "locked.p12").write_bytes(ans_legacy_pkcs12(key(6), middle, ca.chain, b"unknown"))
    (tree / "notes.pem").write_bytes(b"not a certificate")

    entries = inventory.scan(tree, [b"one", b"two"])
    by_cn = {e.subject_cn: e for e in entries if e.subject_cn}
    assert set(by_cn) == {"INSI-MANU", "DMP-SIGN", "DMP", "OLD"}  # CA certificates skipped
    assert [e.subject_cn for e in entries if e.subject_cn] == [
        "OLD",
        "INSI-MANU",
        "DMP",
        "DMP-SIGN",
    ]
    assert by_cn["OLD"].state == "expired"
    assert by_cn["INSI-MANU"].state == "expiring" and by_cn["INSI-MANU"].format == "pkcs12"
    assert by_cn["DMP-SIGN"].usage == "SIGN" and by_cn["DMP-SIGN"].idnst == "10B0152872"
    assert by_cn["DMP"].format == "der" and by_cn["DMP"].state == "valid"
    states = {Path(e.path).name: e.state for e in entries if not e.subject_cn}
    assert states == {"locked.p12": "locked", "notes.pem": "unreadable"}

    rows = list(csv.DictReader(io.StringIO(inventory.to_csv(entries))))
    assert len(rows) == len(entries) and rows[0]["subject_cn"] == "OLD"

    database = tmp_path / "inventory.sqlite"
    inventory.save(database, tree, entries)
    (tree / "old.crt").unlink()
    inventory.save(database, tree, inventory.scan(tree, [b"two"]))
    current = {r["subject_cn"] for r in inventory.load(database)}
    assert "OLD" not in current and "DMP" in current
    assert "OLD" in {r["subject_cn"] for r in inventory.load(database, include_gone=True)}
