"""The fleet client's RETIRER against the real API in-process: one call per order, the code
the server draws kept in the state file, a lost answer reported, an older server served one
certificate at a time."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from registry_world import ADMIN_A, P1, build_world

from sceau.client.api import ApiError, Credentials, SceauApi
from sceau.client.fleet import FleetOptions, FleetState, fleet_order, write_reports
from sceau.client.ordering import parse_items
from sceau.registration.use_cases.revoke_product import revoke_with_code
from sceau.web.api.tokens import create_token
from sceau.web.app import create_app

ITEMS = "dmp,insi-auto"


class InProcess(httpx.BaseTransport):
    """A synchronous transport to the ASGI app (the fleet's HTTP threads each run one)."""

    def __init__(self, app: Any):
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            answer = await httpx.ASGITransport(app=self.app).handle_async_request(request)
            content = await answer.aread()
            return httpx.Response(answer.status_code, headers=answer.headers, content=content)

        return asyncio.run(send())


@pytest.fixture
def api(services, leaf_keys):
    build_world(services, leaf_keys)
    token, _ = create_token(
        services, name="flotte", scopes=("read", "order", "revoke"), days=30, person_idnat=ADMIN_A
    )
    client = SceauApi("http://testserver", Credentials(token=token))
    client.http.close()
    client.http = httpx.Client(
        transport=InProcess(create_app(services)),
        base_url="http://testserver/api/v1",
        headers={"Authorization": f"Bearer {token}"},
    )
    yield client
    client.close()


class Counting:
    """Counts the HTTP calls the fleet makes, by method and path shape."""

    def __init__(self, api: SceauApi):
        self.calls: list[str] = []
        send = api._send

        def counted(method: str, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
            shape = "/".join("{n}" if part.isdigit() else part for part in path.split("/"))
            self.calls.append(f"{method} {shape}")
            return send(method, path, **kwargs)

        api._send = counted  # type: ignore[method-assign]


def run(api: SceauApi, target: Path, **options: object) -> dict[str, int]:
    state = FleetState(target / "fleet-state.sqlite")
    try:
        counts = fleet_order(
            api,
            state,
            [P1],
            parse_items(ITEMS),
            FleetOptions(target, "flotte@logiciel.example", key_processes=1, **options),  # type: ignore[arg-type]
        )
        write_reports(state, target)
        return counts
    finally:
        state.close()


def codes(target: Path) -> dict[str, str]:
    state = FleetState(target / "fleet-state.sqlite")
    try:
        return {r["word"]: r["revocation_code"] for r in state.items()}
    finally:
        state.close()


def serials(target: Path) -> dict[str, list[str]]:
    state = FleetState(target / "fleet-state.sqlite")
    try:
        return {r["word"]: json.loads(r["serials"]) for r in state.items()}
    finally:
        state.close()


def test_one_retrieval_per_order_with_a_code_drawn_by_the_server(services, api, tmp_path):
    counting = Counting(api)
    assert run(api, tmp_path) == {"done": 2}
    calls = counting.calls
    assert calls.count("POST /orders") == 2
    assert calls.count("POST /orders/{n}/retrieve") == 2
    assert calls.count("GET /terms") == 1  # asked once per run
    assert not any(c.startswith("GET /orders/") for c in calls)  # issued in the order's answer
    assert not any("/certificates/" in c for c in calls)
    drawn = codes(tmp_path)
    assert set(drawn) == {"dmp", "insi-auto"}
    assert all(len(code) == 39 and not code.startswith("Rv-") for code in drawn.values())
    report = json.loads((tmp_path / "fleet-report.json").read_text())
    assert all(o["revocation_code_known"] for o in report[0]["orders"])
    for slot in ("dmp-auth_cli", "dmp-sign", "insi-auto"):
        assert (tmp_path / P1 / slot / "current" / "certificate.p12").exists()
    # The code in the state file revokes the certificates of its order.
    dmp = serials(tmp_path)["dmp"]
    assert revoke_with_code(services, dmp[1], drawn["dmp"], source="192.0.2.1").serial == dmp[1]


def test_client_codes_are_hashed_by_the_server_once_per_order(services, api, tmp_path):
    assert run(api, tmp_path, server_codes=False) == {"done": 2}
    made_here = codes(tmp_path)
    assert all(code.startswith("Rv-") for code in made_here.values())
    with services.unit_of_work() as uow:
        hashes = {
            word: {
                uow.orders.product_by_certificate(
                    uow.certificates.by_serial(serial).id
                ).revocation_code_hash
                for serial in listed
            }
            for word, listed in serials(tmp_path).items()
        }
    assert len(hashes["dmp"]) == 1  # the two certificates of the order share one hash
    hashes = hashes["dmp"] | hashes["insi-auto"]
    assert len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes)
    insi = serials(tmp_path)["insi-auto"][0]
    assert revoke_with_code(services, insi, made_here["insi-auto"]).serial == insi


def test_a_lost_answer_leaves_the_code_unknown_and_the_run_completes(
    services, api, tmp_path, monkeypatch
):
    real = api.retrieve_order

    def lost(order_id: int, revocation_code: str | None = None) -> dict[str, object]:
        real(order_id, revocation_code)  # the server retrieves and commits…
        raise RuntimeError("processus tué")  # …and the client dies before reading it

    monkeypatch.setattr(api, "retrieve_order", lost)
    assert run(api, tmp_path) == {"ordered": 2}
    assert set(codes(tmp_path).values()) == {""}
    monkeypatch.setattr(api, "retrieve_order", real)
    assert run(api, tmp_path) == {"done": 2}  # resumed: found retrieved, downloaded
    assert set(codes(tmp_path).values()) == {""}
    report = json.loads((tmp_path / "fleet-report.json").read_text())
    assert [o["revocation_code_known"] for o in report[0]["orders"]] == [False, False]
    assert report[0]["status"] == "complete"


def test_an_older_server_is_served_one_certificate_at_a_time(services, api, tmp_path, monkeypatch):
    def missing(order_id: int, revocation_code: str | None = None) -> dict[str, object]:
        raise ApiError(404, "not_found", "Ressource introuvable")

    monkeypatch.setattr(api, "retrieve_order", missing)
    counting = Counting(api)
    assert run(api, tmp_path) == {"done": 2}
    assert counting.calls.count("POST /certificates/{n}/retrieve") == 0  # serials are hex
    assert sum(c.endswith("/retrieve") for c in counting.calls) == 3
    made_here = codes(tmp_path)
    assert all(code.startswith("Rv-") for code in made_here.values())
    dmp = serials(tmp_path)["dmp"]
    assert revoke_with_code(services, dmp[0], made_here["dmp"]).serial == dmp[0]


def test_keys_are_made_at_the_pace_orders_complete(tmp_path, monkeypatch):
    """At most ``workers × 3`` keyed orders wait for the server: key generation does not race
    ahead and leave the server alone at the end (nor leave thousands of keys without
    certificates behind an interruption)."""
    import threading
    import time

    from sceau.client import fleet
    from sceau.client.keys import generate_key_pem

    class Bundles:
        base_url = "http://testserver"

        def bundles(self) -> list[dict[str, object]]:
            return [{"name": "INSI", "products": [{"usage": "AUTH_CLI", "insi": True}]}]

    state = FleetState(tmp_path / "fleet-state.sqlite")
    waiting: list[int] = []
    lock = threading.Lock()

    def slow_server(api, state_, row, products, options) -> None:  # type: ignore[no-untyped-def]
        with lock:
            waiting.append(state.counts().get("keyed", 0))
        time.sleep(0.05)
        state_.update(row["structure"], row["word"], state="done")

    pem = generate_key_pem()

    def instant_keys(count: int, processes: int, stop: object):  # type: ignore[no-untyped-def]
        for _ in range(count):
            yield pem

    monkeypatch.setattr(fleet, "_process_item", slow_server)
    monkeypatch.setattr(fleet, "_key_stream", instant_keys)
    structures = [f"69{i:07d}" for i in range(12)]
    counts = fleet_order(
        Bundles(),  # type: ignore[arg-type]
        state,
        structures,
        parse_items("insi-auto"),
        FleetOptions(tmp_path, "flotte@logiciel.example", workers=1, key_processes=1),
    )
    state.close()
    assert counts == {"done": 12}
    assert len(waiting) == 12 and max(waiting) <= 3
