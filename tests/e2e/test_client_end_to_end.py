"""``sceau client`` against a running ``sceau serve`` (subprocesses only): a pharmacy's full
set (DMP AUTH_CLI + SIGN, INSI-AUTO) ordered, fetched, installed and checked, then renewed;
``check`` failing clearly on a revoked certificate, a wrong INSi CN and a foreign chain."""

from __future__ import annotations

import json
import stat
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_server import environment, free_port, running_server, sceau, seed

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "client"))
from client_pki import key, make_ca

from sceau.pki.pkcs12 import ans_legacy_pkcs12

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EMAIL = "titulaire@pharmacie.example"


def client(env: dict[str, str], *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    done = sceau(env, "client", *args, check=check)
    done.stdout = " ".join(done.stdout.split())  # rich may wrap long lines
    done.stderr = " ".join(done.stderr.split())
    return done


def test_pharmacy_full_set_then_renew_and_failures(tmp_path: Path) -> None:
    home, port = tmp_path / "server", free_port()
    server_env = environment(home, port)
    sceau(server_env, "init")
    world = seed(home, 4)
    pharmacy = world.structures[0]
    with running_server(server_env, port, tmp_path / "serve.log") as url:
        env = {
            **environment(tmp_path / "client-home", port),
            "SCEAU_SERVER": url,
            "SCEAU_TOKEN": world.tokens["admin_a"],
            "SCEAU_EMAIL": EMAIL,
        }
        anchors = tmp_path / "anchors"
        anchors.mkdir()
        for stem in ("ACR-EL-TEST", "ACI-EL-ORG-TEST"):
            (anchors / f"{stem}.cer").write_bytes(httpx.get(f"{url}/AC TEST/{stem}.cer").content)

        # Order, fetch (RETIRER) and install the full set: DMP (2 certificates) + INSI-AUTO.
        keys_dir, target = tmp_path / "keys", tmp_path / "installed"
        for bundle in ("dmp", "insi-auto"):
            order_id = client(
                env,
                "order",
                "--structure",
                pharmacy,
                "--bundle",
                bundle,
                "--keys-dir",
                str(keys_dir),
            ).stdout.split()[-1]
            client(env, "fetch", "--order", order_id, "--keys-dir", str(keys_dir))
            client(
                env,
                "install",
                "--order",
                order_id,
                "--keys-dir",
                str(keys_dir),
                "--target",
                str(target),
            )
        slots = sorted(p.name for p in target.iterdir())
        assert slots == ["dmp-auth_cli", "dmp-sign", "insi-auto"]
        for key_file in keys_dir.glob("*.key.pem"):
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        for slot in slots:
            done = client(env, "check", str(target / slot), "--ca", str(anchors), "--strict")
            assert "VERDICT: OK" in done.stdout, done.stdout
            assert "non révoqué selon OCSP" in done.stdout
        insi = client(env, "check", str(target / "insi-auto"), "--ca", str(anchors), "--json")
        findings = {f["check"]: f for f in json.loads(insi.stdout)["findings"]}
        assert findings["insi"]["level"] == "OK" and findings["pkcs12"]["level"] == "OK"

        # The server sees them retrieved.
        api = httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {world.tokens['admin_a']}"}
        )
        listed = api.get("/orders", params={"structure": pharmacy}).json()["items"]
        assert sorted(p["state"] for p in listed) == ["retrieved"] * 3

        # renew: nothing to do three years ahead; inside a (wide) window it renews, once.
        nothing = client(env, "renew", "--target", str(target))
        assert nothing.stdout.count("rien à faire") == 3
        old = {s: (target / s / "current").resolve() for s in slots}
        renewed = client(env, "renew", "--target", str(target), "--window-days", "2000")
        assert renewed.stdout.count("renouvelé") == 3, renewed.stdout
        again = client(env, "renew", "--target", str(target))
        assert again.stdout.count("rien à faire") == 3
        for slot in slots:
            assert (target / slot / "previous").resolve() == old[slot]
            assert (target / slot / "current").resolve() != old[slot]
            client(env, "check", str(target / slot), "--ca", str(anchors), "--strict")
        listed = api.get("/orders", params={"structure": pharmacy}).json()["items"]
        assert len(listed) == 6 and sum(p["renewal_of_id"] is not None for p in listed) == 3

        # Revoked: check fails and says so.
        serial = json.loads((target / "insi-auto" / "current" / "meta.json").read_text())["serial"]
        assert (
            api.post(f"/certificates/{serial}/revoke", json={"reason": "keyCompromise"}).status_code
            == 200
        )
        # The responder picks the new pre-signed answer up within seconds (a minute at most).
        deadline = time.monotonic() + 30
        while True:
            revoked = client(
                env, "check", str(target / "insi-auto"), "--ca", str(anchors), check=False
            )
            if revoked.returncode == 1 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert revoked.returncode == 1
        assert "RÉVOQUÉ" in revoked.stdout and "keyCompromise" in revoked.stdout
        assert "VERDICT: ÉCHEC" in revoked.stdout

        # Wrong INSi CN: the DMP authentication certificate used for INSi.
        wrong = client(
            env, "check", str(target / "dmp-auth_cli"), "--ca", str(anchors), "--insi", check=False
        )
        assert wrong.returncode == 1 and "DESIR_560" in wrong.stdout
        # ... and the client refuses to make such a CSR in the first place.
        refused = client(
            env,
            "csr",
            "--key",
            str(next(keys_dir.glob("*.key.pem"))),
            "--cn",
            "Insi-Auto",
            "--insi",
            "--out",
            str(tmp_path / "x.csr"),
            check=False,
        )
        assert refused.returncode != 0 and "INSI-AUTO" in refused.stderr

        # Foreign chain: a look-alike CA with the same names but other keys.
        foreign = make_ca(first_key=2, organisation="ASIP-SANTE")
        leaf = foreign.leaf(key(4))
        p12 = tmp_path / "foreign.p12"
        p12.write_bytes(ans_legacy_pkcs12(key(4), leaf, foreign.chain, b"pw"))
        alien = client(
            env,
            "check",
            str(p12),
            "--password",
            "pw",
            "--ca",
            str(anchors),
            "--revocation",
            "none",
            check=False,
        )
        assert alien.returncode == 1 and "aucune AC de confiance" in alien.stdout
        api.close()
