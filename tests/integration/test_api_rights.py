"""A rights test per REST endpoint: operator, habilitated administrator, administrator of
another vendor, anonymous, bad / expired / revoked / under-scoped token."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from registry_world import ADMIN_A, ADMIN_B, P1, P2, build_world

from conftest import make_csr
from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.web.api.tokens import create_token, revoke_token
from sceau.web.app import create_app

CODE = "Revoc-Code-42"


class AppClient:
    """Requests to the app in-process (httpx's ASGI transport; the lifespan is not run)."""

    def __init__(self, app: Any):
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)


@dataclass
class Api:
    client: AppClient
    tokens: dict[str, str]
    serials: dict[str, list[str]]  # structure → serials ordered there
    world: object
    key_factory: Callable[[], rsa.RSAPrivateKey]

    def call(self, who: str, method: str, path: str, **kwargs: object):  # type: ignore[no-untyped-def]
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        if who != "anonymous":
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
def api(services, leaf_keys) -> Api:  # type: ignore[no-untyped-def]
    world = build_world(services, leaf_keys)
    keys = iter(rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(40))
    serials: dict[str, list[str]] = {}
    for structure, admin in ((P1, ADMIN_A), (P2, ADMIN_B)):
        view = request_certificates(
            services,
            RequestCommand(
                structure=structure,
                service_applicatif="DMP",
                actor_email="a@b.example",
                actor=world.actor(admin),
                bundle="DMP",
                csrs=(make_csr(next(keys)), make_csr(next(keys))),
            ),
        )
        serials[structure] = [p.serial for p in view.products]
    tokens = {
        "operator": create_token(
            services, name="op", scopes=("read", "order", "revoke"), days=30, operator=True
        )[0],
        "admin_a": create_token(
            services, name="a", scopes=("read", "order", "revoke"), days=30, person_idnat=ADMIN_A
        )[0],
        "admin_b": create_token(
            services, name="b", scopes=("read", "order", "revoke"), days=30, person_idnat=ADMIN_B
        )[0],
        "reader_a": create_token(
            services, name="r", scopes=("read",), days=30, person_idnat=ADMIN_A
        )[0],
        "bad": "sceau_" + "x" * 43,
    }
    revoked, view = create_token(
        services, name="rev", scopes=("read",), days=30, person_idnat=ADMIN_A
    )
    revoke_token(services, view.id)
    tokens["revoked"] = revoked
    expired, _ = create_token(services, name="exp", scopes=("read",), days=1, person_idnat=ADMIN_A)
    tokens["expired"] = expired
    services.clock.advance(dt.timedelta(days=2))
    client = AppClient(create_app(services))
    return Api(client, tokens, serials, world, lambda: next(keys))


def _problem(response, status: int, code: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"].endswith(body["code"])
    if code:
        assert body["code"] == code, body


UNAUTHENTICATED = ("anonymous", "bad", "revoked", "expired")


def _unauthenticated_refused(api: Api, method: str, path: str, **kwargs: object) -> None:
    for who in UNAUTHENTICATED:
        _problem(api.call(who, method, path, **kwargs), 401)


def test_me(api: Api) -> None:
    _unauthenticated_refused(api, "GET", "/api/v1/me")
    assert api.call("operator", "GET", "/api/v1/me").json()["kind"] == "operator"
    body = api.call("admin_a", "GET", "/api/v1/me").json()
    assert body["kind"] == "administrator" and body["scopes"] == ["order", "read", "revoke"]
    assert api.call("reader_a", "GET", "/api/v1/me").json()["scopes"] == ["read"]


def test_expired_and_revoked_tokens_say_why(api: Api) -> None:
    _problem(api.call("expired", "GET", "/api/v1/me"), 401, "token_expired")
    _problem(api.call("revoked", "GET", "/api/v1/me"), 401, "token_revoked")
    _problem(api.call("bad", "GET", "/api/v1/me"), 401, "token_invalid")
    response = api.call("anonymous", "GET", "/api/v1/me")
    _problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_structures_filtered_by_rights(api: Api) -> None:
    _unauthenticated_refused(api, "GET", "/api/v1/structures")

    def idnsts(who):
        return {s["finess_et"] for s in api.call(who, "GET", "/api/v1/structures").json()["items"]}

    assert idnsts("operator") == {P1, P2}
    assert idnsts("admin_a") == {P1}
    assert idnsts("admin_b") == {P2}


def test_structure_by_reference(api: Api) -> None:
    _unauthenticated_refused(api, "GET", f"/api/v1/structures/{P1}")
    assert api.call("operator", "GET", f"/api/v1/structures/{P2}").status_code == 200
    assert api.call("admin_a", "GET", f"/api/v1/structures/{P1}").status_code == 200
    _problem(api.call("admin_a", "GET", f"/api/v1/structures/{P2}"), 403, "forbidden")


def test_habilitations(api: Api) -> None:
    _unauthenticated_refused(api, "GET", "/api/v1/habilitations")

    def seen(who):
        return {h["structure_idnst"] for h in api.call(who, "GET", "/api/v1/habilitations").json()}

    assert len(seen("operator")) == 2
    assert seen("admin_a") == {"1" + P1}
    assert seen("admin_b") == {"1" + P2}
    _problem(api.call("admin_a", "GET", f"/api/v1/habilitations?structure={P2}"), 403)


def test_bundles_terms_dashboard(api: Api) -> None:
    for path in ("/api/v1/bundles", "/api/v1/terms", "/api/v1/dashboard"):
        _unauthenticated_refused(api, "GET", path)
        assert api.call("admin_a", "GET", path).status_code == 200
    assert api.call("operator", "GET", "/api/v1/dashboard").json()["total"] == 4
    assert api.call("admin_a", "GET", "/api/v1/dashboard").json()["total"] == 2
    _problem(api.call("admin_a", "GET", f"/api/v1/dashboard?structure={P2}"), 403)


def _order_body(api: Api, structure: str) -> dict[str, object]:
    pem = make_csr(api.key_factory()).decode()
    return {
        "structure": structure,
        "service_applicatif": "INSI-AUTO",
        "actor_email": "a@b.example",
        "bundle": "INSI",
        "csrs": [pem],
    }


def test_create_order(api: Api) -> None:
    _unauthenticated_refused(api, "POST", "/api/v1/orders", json=_order_body(api, P1))
    _problem(api.call("admin_b", "POST", "/api/v1/orders", json=_order_body(api, P1)), 403)
    _problem(
        api.call("reader_a", "POST", "/api/v1/orders", json=_order_body(api, P1)),
        403,
        "token_scope_missing",
    )
    created = api.call("admin_a", "POST", "/api/v1/orders", json=_order_body(api, P1))
    assert created.status_code == 201, created.text
    assert created.json()["products"][0]["state"] == "issued"
    assert (
        api.call("operator", "POST", "/api/v1/orders", json=_order_body(api, P2)).status_code == 201
    )


def test_idempotency_key_never_orders_twice(api: Api) -> None:
    body = _order_body(api, P1)
    headers = {"Idempotency-Key": "fleet-run-1/010002301/insi"}
    first = api.call("admin_a", "POST", "/api/v1/orders", json=body, headers=headers)
    again = api.call("admin_a", "POST", "/api/v1/orders", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    other = dict(body, service_applicatif="INSI-MANU")
    _problem(
        api.call("admin_a", "POST", "/api/v1/orders", json=other, headers=headers),
        422,
        "idempotency_key_reused",
    )
    listed = api.call("admin_a", "GET", "/api/v1/orders?q=INSI").json()["items"]
    assert len(listed) == 1


def test_list_and_get_orders(api: Api) -> None:
    _unauthenticated_refused(api, "GET", "/api/v1/orders")
    items = api.call("admin_a", "GET", "/api/v1/orders").json()["items"]
    assert {i["structure_idnst"] for i in items} == {"1" + P1}
    page = api.call("operator", "GET", "/api/v1/orders?limit=3").json()
    assert len(page["items"]) == 3 and page["next_before_id"]
    rest = api.call(
        "operator", "GET", f"/api/v1/orders?limit=3&before_id={page['next_before_id']}"
    ).json()
    assert len(rest["items"]) == 1 and rest["next_before_id"] is None
    order_a = items[0]["order_id"]
    _unauthenticated_refused(api, "GET", f"/api/v1/orders/{order_a}")
    assert api.call("admin_a", "GET", f"/api/v1/orders/{order_a}").status_code == 200
    assert api.call("operator", "GET", f"/api/v1/orders/{order_a}").status_code == 200
    _problem(api.call("admin_b", "GET", f"/api/v1/orders/{order_a}"), 403)
    _problem(api.call("admin_b", "GET", "/api/v1/orders/999999"), 403)  # existence hidden
    _problem(api.call("operator", "GET", "/api/v1/orders/999999"), 404, "order_not_found")
    assert api.call("admin_a", "GET", "/api/v1/orders?state=issued").json()["items"]
    _problem(api.call("admin_a", "GET", "/api/v1/orders?state=bogus"), 422, "request_invalid")


def test_certificate_read_and_download(api: Api) -> None:
    serial = api.serials[P1][0]
    for path in (f"/api/v1/certificates/{serial}", f"/api/v1/certificates/{serial}/download"):
        _unauthenticated_refused(api, "GET", path)
        assert api.call("admin_a", "GET", path).status_code == 200
        assert api.call("operator", "GET", path).status_code == 200
        _problem(api.call("admin_b", "GET", path), 403)
    for fmt, media in (
        ("pem", "application/x-pem-file"),
        ("der", "application/pkix-cert"),
        ("p7b", "application/x-pkcs7-certificates"),
    ):
        response = api.call(
            "reader_a", "GET", f"/api/v1/certificates/{serial}/download?format={fmt}"
        )
        assert response.status_code == 200 and response.headers["content-type"].startswith(media)
    _problem(
        api.call("admin_a", "GET", f"/api/v1/certificates/{serial}/download?format=p12"),
        409,
        "pkcs12_unavailable",
    )


def _retrieve_body() -> dict[str, object]:
    return {
        "revocation_code": CODE,
        "revocation_code_confirmation": CODE,
        "accept_terms": True,
        "cgu_version": "CGU-SCEAU-1.0",
        "pc_version": "PC-ORG-TEST-1.0",
    }


def test_retrieve(api: Api) -> None:
    serial = api.serials[P1][0]
    path = f"/api/v1/certificates/{serial}/retrieve"
    _unauthenticated_refused(api, "POST", path, json=_retrieve_body())
    _problem(api.call("admin_b", "POST", path, json=_retrieve_body()), 403)
    _problem(api.call("reader_a", "POST", path, json=_retrieve_body()), 403, "token_scope_missing")
    _problem(
        api.call("admin_a", "POST", path, json=dict(_retrieve_body(), accept_terms=False)),
        422,
        "terms_not_accepted",
    )
    done = api.call("admin_a", "POST", path, json=_retrieve_body())
    assert done.status_code == 200, done.text
    assert done.json()["product"]["state"] == "retrieved"
    pem = next(f for f in done.json()["files"] if f["name"].endswith(".pem"))
    assert base64.b64decode(pem["content_base64"]).startswith(b"-----BEGIN CERTIFICATE-----")
    _problem(api.call("admin_a", "POST", path, json=_retrieve_body()), 409, "invalid_transition")
    assert (
        api.call(
            "operator",
            "POST",
            f"/api/v1/certificates/{api.serials[P2][0]}/retrieve",
            json=_retrieve_body(),
        ).status_code
        == 200
    )


def test_retrieve_order(api: Api) -> None:
    """RETIRER a whole order: same rights as one certificate; a drawn code comes back once."""
    order_id = api.call("admin_a", "GET", f"/api/v1/certificates/{api.serials[P1][0]}").json()[
        "order_id"
    ]
    path = f"/api/v1/orders/{order_id}/retrieve"
    body = {**_retrieve_body(), "generate_revocation_code": True}
    del body["revocation_code"], body["revocation_code_confirmation"]
    _unauthenticated_refused(api, "POST", path, json=body)
    _problem(api.call("admin_b", "POST", path, json=body), 403)
    _problem(api.call("reader_a", "POST", path, json=body), 403, "token_scope_missing")
    _problem(
        api.call("admin_a", "POST", path, json={**body, **_retrieve_body()}),
        422,
        "revocation_code_choice",
    )
    _problem(api.call("admin_a", "POST", "/api/v1/orders/999999/retrieve", json=body), 403)
    done = api.call("admin_a", "POST", path, json=body)
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["order_id"] == order_id and len(answer["revocation_code"]) == 39
    assert sorted(c["serial"] for c in answer["certificates"]) == sorted(api.serials[P1])
    assert {c["product"]["state"] for c in answer["certificates"]} == {"retrieved"}
    _problem(api.call("admin_a", "POST", path, json=body), 409, "invalid_transition")
    other = api.call("operator", "GET", f"/api/v1/certificates/{api.serials[P2][0]}").json()
    chosen = api.call(
        "operator", "POST", f"/api/v1/orders/{other['order_id']}/retrieve", json=_retrieve_body()
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["revocation_code"] is None  # chosen: never echoed


def test_renew(api: Api) -> None:
    serial = api.serials[P1][1]
    body = lambda: {"actor_email": "a@b.example", "csr": make_csr(api.key_factory()).decode()}  # noqa: E731
    path = f"/api/v1/certificates/{serial}/renew"
    _unauthenticated_refused(api, "POST", path, json=body())
    _problem(api.call("admin_b", "POST", path, json=body()), 403)
    _problem(api.call("reader_a", "POST", path, json=body()), 403, "token_scope_missing")
    renewed = api.call("admin_a", "POST", path, json=body())
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["kind"] == "renewal"
    _problem(api.call("admin_a", "POST", path, json=body()), 409, "renewal_exists")
    assert (
        api.call(
            "operator", "POST", f"/api/v1/certificates/{api.serials[P2][1]}/renew", json=body()
        ).status_code
        == 201
    )


def test_revoke(api: Api) -> None:
    serial = api.serials[P1][0]
    path = f"/api/v1/certificates/{serial}/revoke"
    _unauthenticated_refused(api, "POST", path, json={"reason": "keyCompromise"})
    _problem(api.call("admin_b", "POST", path, json={"reason": "keyCompromise"}), 403)
    _problem(api.call("reader_a", "POST", path, json={}), 403, "token_scope_missing")
    _problem(api.call("admin_a", "POST", path, json={"reason": "bogus"}), 422, "revocation_reason")
    done = api.call("admin_a", "POST", path, json={"reason": "keyCompromise"})
    assert done.status_code == 200, done.text
    assert done.json()["reason"] == "keyCompromise"
    _problem(api.call("admin_a", "POST", path, json={}), 409, "already_revoked")
    assert api.call("admin_a", "GET", f"/api/v1/certificates/{serial}").json()["state"] == "revoked"
    assert (
        api.call(
            "operator", "POST", f"/api/v1/certificates/{api.serials[P2][0]}/revoke", json={}
        ).status_code
        == 200
    )


def test_rate_limit_per_token(api: Api) -> None:
    from sceau.web.api.ratelimit import TokenBucketLimiter

    api.client.app.state.api_limiter = TokenBucketLimiter(rate=0.001, burst=3)
    for _ in range(3):
        assert api.call("admin_a", "GET", "/api/v1/me").status_code == 200
    limited = api.call("admin_a", "GET", "/api/v1/me")
    _problem(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert api.call("admin_b", "GET", "/api/v1/me").status_code == 200  # another bucket


def test_openapi_document(api: Api) -> None:
    document = api.client.get("/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/orders" in document["paths"] and "Problem" in document["components"]["schemas"]


def test_revocation_answers_revoked_even_when_publication_fails(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revocation is committed before CRL/OCSP are republished: a failed publication is
    left to the worker, never turned into a 5xx that a client would retry into a 409."""
    from sceau.registration.use_cases import revocation_status

    def broken(*_: object, **__: object) -> list[str]:
        raise RuntimeError("database went away during publication")

    monkeypatch.setattr(revocation_status, "publish_revocation_status", broken)
    serial = api.serials[P1][0]
    done = api.call(
        "admin_a", "POST", f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"}
    )
    assert done.status_code == 200, done.text
    assert api.call("admin_a", "GET", f"/api/v1/certificates/{serial}").json()["state"] == "revoked"
