"""Where a fleet certificate's CPU time goes, profiled in-process with cProfile (issue 7).

Server side: the use cases the API calls for one fleet item (``request_certificates`` for
a bundle, then RETIRER of its certificates through ``retrieve_order`` with a server-drawn
code, as the fleet client does), on SQLite, as the habilitated technical administrator.
Client side: key loading, CSR building and the atomic installation (PEM + ANS PKCS#12) of
each certificate. Key generation is left out: it is the floor ``bench_fleet.py`` measures;
HTTP handling (uvicorn, FastAPI, token check) is not in these figures either.

    python bench/profile_fleet.py [pharmacies=40] [--top=25] [--per-certificate-hash]

``--per-certificate-hash`` profiles the former path instead (RETIRER one certificate at a
time, each hashing its code with argon2id; each key PEM loaded with OpenSSL's check, twice
in the real client: once for the CSR, once for the install — counted once here).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "e2e"))
from api_server import PASSPHRASE, environment, free_port, sceau, seed

from sceau.bootstrap import Container
from sceau.client.install import install_certificate
from sceau.client.keys import generate_key, load_key_pem
from sceau.client.ordering import csrs_for, new_revocation_code
from sceau.config import Settings
from sceau.pki.profiles import Usage
from sceau.registration.use_cases.request_certificates import (
    RequestCommand,
    request_certificates,
)
from sceau.registration.use_cases.retrieve_certificate import (
    RetrieveCommand,
    retrieve_certificate,
)
from sceau.web.api.tokens import authenticate_token

PHARMACIES = int(next((a for a in sys.argv[1:] if a.isdigit()), "40"))
TOP = int(next((a.split("=")[1] for a in sys.argv[1:] if a.startswith("--top=")), "25"))
PER_CERTIFICATE = "--per-certificate-hash" in sys.argv
ITEMS = (("DMP", "DMP", [(Usage.AUTH_CLI, False), (Usage.SIGN, False)]),)
ITEMS += (("INSI", "INSI-AUTO", [(Usage.AUTH_CLI, True)]),)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        home = base / "server"
        sceau(environment(home, free_port()), "init")
        world = seed(home, PHARMACIES + 2)
        services = Container(Settings(home=home, ca_passphrase=PASSPHRASE))
        actor = authenticate_token(services, world.tokens["admin_a"]).actor
        certificates = PHARMACIES * 3
        work: list[tuple[str, bytes, object]] = []
        server, retrieval, client = cProfile.Profile(), cProfile.Profile(), cProfile.Profile()
        server_time = retrieval_time = client_time = 0.0
        for structure in world.structures[:PHARMACIES]:
            for bundle, cn, products in ITEMS:
                mine = [generate_key() for _ in products]
                pems = [k.private_bytes(*_pkcs8()) for k in mine]
                start = time.process_time()
                client.enable()
                if PER_CERTIFICATE:  # former client: each PEM loaded with OpenSSL's check
                    csrs = csrs_for(pems, products, cn)
                    mine = [load_key_pem(p) for p in pems]
                else:  # the fleet now: its own keys loaded once, unchecked
                    mine = [load_key_pem(p, own=True) for p in pems]
                    csrs = csrs_for(mine, products, cn)
                client.disable()
                client_time += time.process_time() - start
                start = time.process_time()
                server.enable()
                order = request_certificates(
                    services,
                    RequestCommand(
                        structure=structure,
                        service_applicatif=cn,
                        actor_email="flotte@logiciel.example",
                        actor=actor,
                        bundle=bundle,
                        csrs=tuple(csrs),
                    ),
                )
                server.disable()
                server_time += time.process_time() - start
                serials = [p.serial for p in order.products]
                code = new_revocation_code()
                start = time.process_time()
                retrieval.enable()
                if PER_CERTIFICATE:
                    retrieved = [
                        retrieve_certificate(
                            services,
                            RetrieveCommand(
                                serial=s,
                                revocation_code=code,
                                revocation_code_confirmation=code,
                                accept_terms=True,
                                actor=actor,
                                source="127.0.0.1",
                            ),
                        )
                        for s in serials
                    ]
                else:
                    from sceau.registration.use_cases.retrieve_certificate import (
                        RetrieveOrderCommand,
                        retrieve_order,
                    )

                    retrieved = list(
                        retrieve_order(
                            services,
                            RetrieveOrderCommand(
                                order_id=order.id,
                                revocation_code=None,
                                generate_revocation_code=True,
                                accept_terms=True,
                                actor=actor,
                                source="127.0.0.1",
                            ),
                        ).certificates
                    )
                retrieval.disable()
                retrieval_time += time.process_time() - start
                for key, files in zip(mine, retrieved, strict=True):
                    work.append((structure, files.by_extension(".pem").content, key))
        from cryptography import x509

        start = time.process_time()
        client.enable()
        for index, (structure, pem, key) in enumerate(work):
            chain = x509.load_pem_x509_certificates(pem)
            install_certificate(base / "fleet" / structure, f"s{index}", key, chain[0], chain[1:])
        client.disable()
        client_time += time.process_time() - start
        services.close()
    print(f"{certificates} certificates ({PHARMACIES} pharmacies × 3), CPU time per certificate:")
    print(f"  server, DEMANDER (request_certificates): {server_time / certificates * 1000:6.1f} ms")
    print(f"  server, RETIRER: {retrieval_time / certificates * 1000:6.1f} ms")
    print(f"  client CSR + install: {client_time / certificates * 1000:6.1f} ms")
    for name, profile in (("DEMANDER", server), ("RETIRER", retrieval), ("client", client)):
        print(f"\n--- {name}, by cumulative time (per certificate = /{certificates}) ---")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(TOP)
        print(f"\n--- {name}, by own time ---")
        pstats.Stats(profile).sort_stats("tottime").print_stats(TOP)


def _pkcs8() -> tuple[object, object, object]:
    from cryptography.hazmat.primitives import serialization

    return (
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


if __name__ == "__main__":
    main()
