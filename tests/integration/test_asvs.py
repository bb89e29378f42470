"""Portal and REST API against OWASP ASVS 5: a test per control.

Per-object authorization on every route taking an id (the routes are enumerated from the
application, so a new route with an id and no rights check fails here), CSRF on every portal
POST, session fixation, forged proxy headers, open redirects, brute force on revocation codes,
lockout of failed token / card authentications, security headers, request size limits.
Requests go in-process through httpx's ASGI transport (``PortalClient``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from portal_client import PortalClient
from registry_world import ADMIN_A, ADMIN_B, P1, build_world

from conftest import make_csr
from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.web.api.tokens import create_token
from sceau.web.app import create_app
from sceau.web.security_headers import DEFAULT_MAX_BODY_BYTES

COOKIE = "sceau_session"
CODE = "Revoc-Code-42"
# Routes with an id that are public by design (no per-object check to make):
PUBLIC_WITH_ID = {
    "/CRL/{name}.crl": "published CRLs",
    "/AC/{stem}.cer": "published CA certificates",
    "/AC TEST/{stem}.cer": "published test CA certificates",
    "/ocsp/{encoded:path}": "OCSP responder (RFC 6960 GET)",
    "/calendar/{token}.ics": "the id is itself an unguessable capability token",
    "/dev/mails/{number}": "dev mail catcher, mounted only with SCEAU_DEV_PAGES",
}
REFUSED = r"(?i)(réservé|autoris|droit|opérateur)"
# Valid-looking fields, so that the refusal comes from the rights check, not validation:
FORMS = {
    "/operateur/habilitations/{request_id}": {"decision": "approuver"},
    "/retirer/{serial}": {"code": CODE, "confirmation": CODE, "cgu": "oui"},
    "/revoquer/{serial}": {"confirmation": "oui", "motif": "keyCompromise"},
}
PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route, included routers flattened."""
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's included router
            yield from walk(route.original_router.routes, prefix + route.include_context.prefix)
            continue
        for method in sorted(getattr(route, "methods", None) or []):
            if method != "HEAD":
                yield method, prefix + route.path


@dataclass
class Env:
    app: Any
    world: Any
    services: Any
    serial_a: str
    order_a: int
    tokens: dict[str, str]

    def card(self, idnat: str) -> bytes:
        return self.world.cards[idnat].certificate.public_bytes(serialization.Encoding.PEM)

    def portal(self, idnat: str | None = None, **kwargs: Any) -> PortalClient:
        client = PortalClient(self.app, card_pem=self.card(idnat) if idnat else None, **kwargs)
        if idnat:
            assert client.login_with_card().status_code == 303
        return client

    def api(self, who: str, method: str, path: str, *, peer: str = "192.0.2.10",
            **kwargs: Any) -> Any:  # fmt: skip
        headers = dict(kwargs.pop("headers", None) or {})
        if who in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return PortalClient(self.app, peer=peer).request(method, path, headers=headers, **kwargs)


@pytest.fixture
def env(services, leaf_keys) -> Env:  # type: ignore[no-untyped-def]
    world = build_world(services, leaf_keys)
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]
    view = request_certificates(
        services,
        RequestCommand(
            structure=P1,
            service_applicatif="DMP",
            actor_email="a@b.example",
            actor=world.actor(ADMIN_A),
            bundle="DMP",
            csrs=tuple(make_csr(k) for k in keys),
        ),
    )
    tokens = {
        who: create_token(
            services, name=who, scopes=("read", "order", "revoke"), days=30, person_idnat=idnat
        )[0]
        for who, idnat in (("admin_a", ADMIN_A), ("admin_b", ADMIN_B))
    }
    tokens["bad"] = "sceau_" + "x" * 43
    return Env(create_app(services), world, services, view.products[0].serial, view.id, tokens)


def _fill(env: Env, path: str) -> str:
    values = {
        "reference": P1,
        "order_id": str(env.order_a),
        "serial": env.serial_a,
        "request_id": "1",
        "name": "certificat.pem",
    }

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"route {path}: unknown id parameter {name!r} — add a check"
        return values[name]

    return PARAM.sub(one, path)


def _api_body(env: Env, path: str) -> dict[str, Any]:
    """A valid body per API POST with an id, so the refusal is the rights check's."""
    if path.endswith("/retrieve"):
        terms = env.api("admin_a", "GET", "/api/v1/terms")
        assert terms.status_code == 200, terms.text
        return {**terms.json(), "revocation_code": CODE, "revocation_code_confirmation": CODE,
                "accept_terms": True}  # fmt: skip
    if path.endswith("/revoke"):
        return {"reason": "keyCompromise"}
    if path.endswith("/renew"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return {"actor_email": "b@b.example", "csr": make_csr(key).decode()}
    return {}


def test_every_route_with_an_id_refuses_another_administrator(env: Env) -> None:
    """IDOR sweep: admin B (habilitated on P2 only) on admin A's structure, order and
    certificate, through every API and portal route taking an id."""
    b_portal = env.portal(ADMIN_B)
    a_portal = env.portal(ADMIN_A)
    checked = []
    for method, path in walk(env.app.routes):
        if "{" not in path or path in PUBLIC_WITH_ID:
            continue
        url = _fill(env, path)
        if path.startswith("/api/"):
            body = _api_body(env, path) if method == "POST" else None
            answer = env.api("admin_b", method, url, json=body)
            assert answer.status_code in (403, 404), (method, path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
            if method == "GET":  # control: the owner reaches it (so the ids above are real)
                assert env.api("admin_a", method, url).status_code == 200, (method, path)
        else:
            data = (
                {"csrf_token": b_portal.csrf("/"), **FORMS.get(path, {})}
                if method == "POST"
                else None
            )
            answer = b_portal.request(method, url, data=data)
            if answer.status_code == 303:  # post/redirect/get: the refusal is the flash shown
                shown = b_portal.get(answer.headers["location"])
                flash = re.findall(r'class="message erreur"[^>]*>([^<]*)<', shown.text)
                assert flash and re.search(REFUSED, flash[0]), (method, path, flash)
            else:
                assert answer.status_code in (403, 404), (method, path, answer.status_code)
            assert "VOLLENWEIDER" not in answer.text  # nothing of A's structure leaks
            if method == "GET" and "fichier" not in path and "operateur" not in path:
                assert a_portal.get(url).status_code == 200, (method, path)
        checked.append((method, path))
    assert len(checked) >= 12, checked  # the sweep did find the routes


def test_every_api_route_needs_credentials_and_every_private_page_a_login(env: Env) -> None:
    anonymous = env.portal()
    for method, path in walk(env.app.routes):
        url = _fill(env, path) if "{" in path and path not in PUBLIC_WITH_ID else path
        if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
            answer = env.api("anonymous", method, url, json={} if method == "POST" else None)
            assert answer.status_code == 401, (method, path)
        elif method == "GET" and path.split("/")[1] in ("demander", "retirer", "suivre"):
            answer = anonymous.get(url)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/connexion?suite=")


def test_every_portal_post_refuses_a_missing_or_foreign_csrf_token(env: Env) -> None:
    a_portal = env.portal(ADMIN_A)
    foreign = env.portal(ADMIN_B).csrf("/")
    posts = [path for method, path in walk(env.app.routes)
             if method == "POST" and not path.startswith(("/api/", "/ocsp"))]  # fmt: skip
    assert len(posts) >= 10, posts
    for path in posts:
        url = _fill(env, path)
        assert a_portal.post(url, {}).status_code == 403, path
        assert a_portal.post(url, {"csrf_token": foreign}).status_code == 403, path
        assert "jeton de sécurité" in a_portal.last.text  # type: ignore[union-attr]


def test_session_fixation_a_planted_session_id_is_replaced_at_login(env: Env) -> None:
    victim = PortalClient(env.app, card_pem=env.card(ADMIN_A))
    victim.cookies.set(COOKIE, "attacker-chosen-session-id", domain="sceau.localhost")
    victim.get("/connexion")
    planted = victim.cookies[COOKIE]
    assert victim.login_with_card().status_code == 303
    assert victim.cookies[COOKIE] != planted
    attacker = PortalClient(env.app)
    attacker.cookies.set(COOKIE, planted, domain="sceau.localhost")
    assert attacker.get("/").status_code == 303  # the pre-login id grants nothing


def test_forged_proxy_headers_from_an_untrusted_address_are_ignored(env: Env) -> None:
    forged = {
        "X-SSL-Client-Cert": quote(env.card(ADMIN_A).decode(), safe=""),
        "X-Real-IP": "10.0.0.1",
        "X-Forwarded-For": "10.0.0.1",
    }
    portal = PortalClient(env.app, peer="192.0.2.66")
    answer = portal.post("/connexion/carte", {"suite": "/"}, csrf_from="/connexion",
                         headers=forged)  # fmt: skip
    assert answer.status_code == 401 and "aucune carte présentée" in answer.text
    api = env.api("anonymous", "GET", "/api/v1/me", headers=forged, peer="192.0.2.66")
    assert api.status_code == 401
    # The lockout counts the real peer, not the forged X-Real-IP: rotating it does not help.
    for n in range(10):
        spoof = {"X-Real-IP": f"10.1.0.{n}"}
        env.api("bad", "GET", "/api/v1/me", headers=spoof, peer="192.0.2.67")
    assert env.api("admin_a", "GET", "/api/v1/me", peer="192.0.2.67").status_code == 429


EVIL = ("https://evil.example/", "//evil.example/", "/\\evil.example", "http:evil.example",
        "javascript:alert(1)", " //evil.example", "/%2F%2Fevil.example")  # fmt: skip


def _local(location: str) -> bool:
    """A path on this site: not another host (``//host``, ``/\\host``, a scheme)."""
    return location.startswith("/") and not location.startswith("//") and "\\" not in location


def test_no_open_redirect_through_suite_or_next_parameters(env: Env) -> None:
    for target in EVIL:
        client = PortalClient(env.app, card_pem=env.card(ADMIN_A))
        answer = client.post("/connexion/carte", {"suite": target}, csrf_from="/connexion")
        assert answer.status_code == 303 and _local(answer.headers["location"]), target
        logged = client.get("/connexion", params={"suite": target})
        assert _local(logged.headers["location"]), target
    client = env.portal(ADMIN_A)
    for method, path in walk(env.app.routes):
        if method != "GET" or path.startswith("/api/") or "{" in path:
            continue
        for target in EVIL:
            answer = client.get(path, params={"suite": target, "next": target})
            assert _local(answer.headers.get("location", "/")), (path, answer.headers)


def test_revocation_code_brute_force_is_locked_out(env: Env) -> None:
    terms = env.api("admin_a", "GET", "/api/v1/terms").json()
    retrieve = {
        **terms,
        "revocation_code": CODE,
        "revocation_code_confirmation": CODE,
        "accept_terms": True,
        "pkcs12_password": None,
    }
    done = env.api("admin_a", "POST", f"/api/v1/certificates/{env.serial_a}/retrieve",
                   json=retrieve)  # fmt: skip
    assert done.status_code == 200, done.text
    guesser = PortalClient(env.app, peer="198.51.100.7")
    for n in range(5):
        wrong = guesser.post("/revoquer/code", {"serie": env.serial_a, "code": f"Guess-{n}-00"},
                             csrf_from="/revoquer")  # fmt: skip
        assert wrong.status_code in (403, 422) and "trop d" not in wrong.text
    locked = guesser.post("/revoquer/code", {"serie": env.serial_a, "code": CODE},
                          csrf_from="/revoquer")  # fmt: skip
    assert locked.status_code in (403, 422) and "trop d&#39;essais" in locked.text
    state = env.api("admin_a", "GET", f"/api/v1/certificates/{env.serial_a}").json()["state"]
    assert state != "revoked"


def test_failed_token_and_card_logins_lock_the_source_out(env: Env) -> None:
    for _ in range(10):
        assert env.api("bad", "GET", "/api/v1/me", peer="192.0.2.80").status_code == 401
    locked = env.api("admin_a", "GET", "/api/v1/me", peer="192.0.2.80")
    assert locked.status_code == 429 and locked.json()["code"] == "too_many_failed_logins"
    assert int(locked.headers["retry-after"]) > 0
    assert env.api("admin_a", "GET", "/api/v1/me", peer="192.0.2.81").status_code == 200
    # Card login: ten refused attempts (no card) from one address, then even a valid card waits.
    nobody = PortalClient(env.app, peer="192.0.2.90")
    for _ in range(10):
        refused = nobody.post("/connexion/carte", {"suite": "/"}, csrf_from="/connexion")
        assert refused.status_code == 401
    card = PortalClient(env.app, card_pem=env.card(ADMIN_A), peer="192.0.2.90")
    assert card.login_with_card().status_code == 429
    assert "accès suspendu" in card.last.text  # type: ignore[union-attr]
    assert env.portal(ADMIN_A, peer="192.0.2.91").get("/").status_code == 200


def _assert_headers(response: Any, *, tls: bool) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] in ("same-origin", "no-referrer", "strict-origin")
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src" in headers["content-security-policy"]
    assert ("strict-transport-security" in headers) is tls
    if tls:
        assert "max-age=" in headers["strict-transport-security"]


def test_security_headers_on_portal_api_and_public_responses(env: Env) -> None:
    for base, tls in (("https://sceau.localhost", True), ("http://sceau.localhost", False)):
        client = PortalClient(env.app, base_url=base)
        for path in ("/connexion", "/revoquer", "/healthz", "/api/v1/me", "/nowhere"):
            _assert_headers(client.get(path), tls=tls)
        authorised = client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {env.tokens['admin_a']}"}
        )
        assert authorised.status_code == 200
        _assert_headers(authorised, tls=tls)


def test_request_bodies_above_one_mebibyte_are_refused_with_413(env: Env) -> None:
    big = b"x" * (DEFAULT_MAX_BODY_BYTES + 1)
    api = env.api("admin_a", "POST", "/api/v1/orders", content=big,
                  headers={"Content-Type": "application/json"})  # fmt: skip
    assert api.status_code == 413
    assert api.json()["code"] == "request_too_large" and "1048576" in api.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as read
        for _ in range(20):
            yield b"y" * 65536

    streamed = env.api("admin_a", "POST", "/api/v1/orders", content=chunks(),
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert streamed.status_code == 413 and streamed.json()["code"] == "request_too_large"
    portal = env.portal(ADMIN_A)
    form = portal.post("/demander/etape1", {"csrf_token": portal.csrf("/"), "pad": "z" * 2**20})
    assert form.status_code == 413 and "trop volumineuse" in form.text
    _assert_headers(form, tls=True)
    small = env.api("admin_a", "POST", "/api/v1/orders", json={"structure": P1})
    assert small.status_code == 422  # under the limit the request reaches validation


def test_api_by_card_certificate(env: Env) -> None:
    """The API's second authentication: a CPx card as TLS client certificate. The card
    stands for its holder with every scope, sees only the holder's structures, and a
    replaced (revoked) card is refused."""
    from sceau.registration.use_cases.cards import renew_card

    def by_card(idnat: str, method: str, path: str, pem: bytes | None = None) -> Any:
        client = PortalClient(env.app, card_pem=pem or env.card(idnat), peer="192.0.2.90")
        return client.request(method, path)

    me = by_card(ADMIN_A, "GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["method"] == "card" and me.json()["scopes"] == ["order", "read", "revoke"]
    assert me.json()["habilitated_structure_ids"] == [env.world.structure_ids[P1]]
    listed = by_card(ADMIN_A, "GET", "/api/v1/structures").json()["items"]
    assert [s["id"] for s in listed] == [env.world.structure_ids[P1]]
    assert by_card(ADMIN_A, "GET", f"/api/v1/orders/{env.order_a}").status_code == 200
    foreign = by_card(ADMIN_B, "GET", f"/api/v1/orders/{env.order_a}")
    assert foreign.status_code in (403, 404) and "problem+json" in foreign.headers["content-type"]

    old = env.card(ADMIN_A)
    renew_card(env.services, env.world.cards[ADMIN_A].card_number)
    refused = by_card(ADMIN_A, "GET", "/api/v1/me", pem=old)
    assert refused.status_code == 401, refused.text
