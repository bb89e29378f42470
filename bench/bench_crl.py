"""CRL of 100,000 revoked entries: sceau's builder next to `openssl ca -gencrl` on the same entries.

Both sign with the same RSA-4096 CA key; sizes are printed too.
"""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.clock import SystemClock
from sceau.pki.crl import RevokedEntry, build_crl
from sceau.pki.hierarchy import CaNaming, create_root_certificate
from sceau.pki.signing.file import FileSigningKey

ENTRIES = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
REASONS = [
    None,
    x509.ReasonFlags.key_compromise,
    x509.ReasonFlags.superseded,
    x509.ReasonFlags.cessation_of_operation,
    x509.ReasonFlags.affiliation_changed,
]
OPENSSL_REASONS = {
    None: "",
    x509.ReasonFlags.key_compromise: ",keyCompromise",
    x509.ReasonFlags.superseded: ",superseded",
    x509.ReasonFlags.cessation_of_operation: ",cessationOfOperation",
    x509.ReasonFlags.affiliation_changed: ",affiliationChanged",
}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="sceau-crl-bench-"))
    private = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    key = FileSigningKey(private, "memory")
    now = SystemClock().now()
    ca = create_root_certificate(
        key, CaNaming("test").name("AC RACINE IGC-SANTE ELEMENTAIRE"), now, "http://x/PC"
    )
    base = now - dt.timedelta(days=400)
    entries = [
        RevokedEntry(
            secrets.randbits(127) | (1 << 120), base + dt.timedelta(seconds=300 * i), REASONS[i % 5]
        )
        for i in range(ENTRIES)
    ]

    start = time.perf_counter()
    crl = build_crl(
        ca, key, entries, number=2, this_update=now, next_update=now + dt.timedelta(days=3)
    )
    ours = time.perf_counter() - start
    ours_size = len(crl.public_bytes(serialization.Encoding.DER))

    # The same entries for openssl ca.
    (work / "ca.key").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (work / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    expiry = (now + dt.timedelta(days=1000)).strftime("%y%m%d%H%M%SZ")
    with open(work / "index.txt", "w") as index:
        for e in entries:
            index.write(
                f"R\t{expiry}\t{e.revoked_at:%y%m%d%H%M%SZ}{OPENSSL_REASONS[e.reason]}\t{e.serial:032X}\tunknown\t/CN=x\n"
            )
    (work / "crlnumber").write_text("02\n")
    (work / "openssl.cnf").write_text(
        f"[ca]\ndefault_ca=CA\n[CA]\ndir={work}\ndatabase=$dir/index.txt\ncrlnumber=$dir/crlnumber\n"
        "certificate=$dir/ca.pem\nprivate_key=$dir/ca.key\ndefault_md=sha256\ndefault_crl_days=3\n"
        "crl_extensions=crl_ext\n[crl_ext]\nauthorityKeyIdentifier=keyid:always\n"
    )
    start = time.perf_counter()
    subprocess.run(
        [
            "openssl",
            "ca",
            "-gencrl",
            "-config",
            str(work / "openssl.cnf"),
            "-out",
            str(work / "openssl.crl"),
            "-batch",
        ],
        check=True,
        capture_output=True,
    )
    theirs = time.perf_counter() - start
    theirs_der = subprocess.run(
        ["openssl", "crl", "-in", str(work / "openssl.crl"), "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout

    print(f"CRL with {ENTRIES:,} entries, RSA-4096 CA key")
    print(
        f"  sceau build_crl:      {ours:6.2f} s  {ours_size / 1e6:6.2f} MB DER  ({len(crl):,} entries)"
    )
    print(f"  openssl ca -gencrl:   {theirs:6.2f} s  {len(theirs_der) / 1e6:6.2f} MB DER")
    print(f"  ratio sceau/openssl:  {ours / theirs:6.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
