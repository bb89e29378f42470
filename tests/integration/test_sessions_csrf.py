"""Portal sessions: cookie flags, rotation at login, logout, idle timeout, CSRF on POSTs,
and the proxy certificate header ignored from untrusted peers."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from portal_client import PortalClient
from registry_world import ADMIN_A, ADMIN_B, P1, P2, build_world

from sceau.auth.sessions import hash_token
from sceau.auth.settings import AuthSettings
from sceau.web.app import create_app

COOKIE = "sceau_session"


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def _app(services, **settings):
    app = create_app(services)
    if settings:  # re-install the portal's settings (trusted proxies…)
        from sceau.web.portal import Portal, SessionStore

        auth = AuthSettings(**settings)
        app.state.portal = Portal(services, auth, SessionStore(services, auth))
    return app


def _pem(world, idnat):
    return world.cards[idnat].certificate.public_bytes(serialization.Encoding.PEM)


def _set_cookie(response) -> str:
    return "; ".join(response.headers.get_list("set-cookie"))


def _session_row(services, token):
    with services.unit_of_work() as uow:
        return uow.web_sessions.by_token_hash(hash_token(token))


def _audit(services, action):
    with services.unit_of_work() as uow:
        return [e for e in uow.audit.list(limit=500) if e.action == action]


def test_cookie_is_httponly_samesite_and_secure_over_tls(services, world):
    app = _app(services)
    over_tls = PortalClient(app).get("/connexion")
    header = _set_cookie(over_tls).lower()
    assert f"{COOKIE}=" in header
    assert "httponly" in header and "samesite=lax" in header and "secure" in header
    plain = PortalClient(app, base_url="http://sceau.localhost").get("/connexion")
    assert "secure" not in _set_cookie(plain).lower()
    assert over_tls.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in over_tls.headers["content-security-policy"]


def test_login_rotates_session_and_csrf_and_shows_only_own_structures(services, world):
    client = PortalClient(_app(services), card_pem=_pem(world, ADMIN_A))
    anonymous_csrf = client.csrf("/connexion")
    before = client.cookies[COOKIE]
    response = client.post("/connexion/carte", {"csrf_token": anonymous_csrf, "suite": "/"})
    assert response.status_code == 303 and response.headers["location"] == "/"
    after = client.cookies[COOKIE]
    assert after != before
    assert _session_row(services, before) is None  # the pre-login session is gone
    row = _session_row(services, after)
    assert row.auth_method == "card" and row.card_number == world.cards[ADMIN_A].card_number
    assert row.csrf_token != anonymous_csrf
    home = client.get("/")
    assert home.status_code == 200
    assert "PHARMACIE VOLLENWEIDER" in home.text  # P1: ADMIN_A is habilitated there
    assert "PHARMACIE AUTRE" not in home.text  # P2: not theirs
    assert [e for e in _audit(services, "auth.card") if e.outcome == "success"]
    assert _audit(services, "auth.session_start")


def test_logout_clears_the_cookie_and_ends_the_session(services, world):
    client = PortalClient(_app(services), card_pem=_pem(world, ADMIN_A))
    client.login_with_card()
    token = client.cookies[COOKIE]
    csrf = client.csrf("/")
    response = client.post("/deconnexion", {"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["location"].startswith("/connexion")
    cleared = _set_cookie(response).lower()
    assert f'{COOKIE}=""' in cleared or "max-age=0" in cleared
    assert _session_row(services, token) is None
    # The old token is worthless even if replayed.
    replay = PortalClient(_app(services))
    replay.cookies.set(COOKIE, token, domain="sceau.localhost")
    assert replay.get("/").headers["location"].startswith("/connexion")
    assert _audit(services, "auth.logout")


def test_idle_timeout_uses_the_injected_clock(services, world, clock):
    client = PortalClient(_app(services), card_pem=_pem(world, ADMIN_A))
    client.login_with_card()
    clock.advance(dt.timedelta(minutes=29))
    assert client.get("/").status_code == 200  # activity refreshes the idle timer
    clock.advance(dt.timedelta(minutes=29))
    assert client.get("/").status_code == 200
    clock.advance(dt.timedelta(minutes=31))
    response = client.get("/suivre")
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?suite=" + quote("/suivre")
    assert _audit(services, "auth.session_expired")


def test_post_without_or_with_a_foreign_csrf_token_is_refused(services, world):
    app = _app(services)
    client = PortalClient(app, card_pem=_pem(world, ADMIN_A))
    client.login_with_card()
    missing = client.post(
        "/representant/retrait-delegation", {"structure": P1, "administrateur": ADMIN_A}
    )
    assert missing.status_code == 403
    assert "jeton de sécurité" in missing.text
    other = PortalClient(app, card_pem=_pem(world, ADMIN_B))
    other.login_with_card()
    foreign = client.post(
        "/representant/retrait-delegation",
        {"structure": P1, "administrateur": ADMIN_A, "csrf_token": other.csrf("/")},
    )
    assert foreign.status_code == 403
    # Login forms need it too: a forged cross-site login is refused before any card check.
    anonymous = PortalClient(app, card_pem=_pem(world, ADMIN_A))
    assert anonymous.post("/connexion/carte", {"suite": "/"}).status_code == 403
    assert len([e for e in _audit(services, "portal.csrf") if e.outcome == "refused"]) == 3
    with services.unit_of_work() as uow:  # nothing was withdrawn
        assert uow.habilitations.active_structure_ids(
            uow.persons.by_idnat(ADMIN_A).id
        ) == frozenset({world.structure_ids[P1]})


def test_forwarded_certificate_header_is_read_only_from_trusted_proxies(services, world):
    header = {"X-SSL-Client-Cert": quote(_pem(world, ADMIN_A).decode(), safe="")}
    app = _app(services, trusted_proxies="10.9.8.7")
    direct = PortalClient(app, peer="192.0.2.99")
    refused = direct.post(
        "/connexion/carte", {"suite": "/"}, csrf_from="/connexion", headers=header
    )
    assert refused.status_code == 401 and "aucune carte présentée" in refused.text
    proxied = PortalClient(app, peer="10.9.8.7")
    accepted = proxied.post(
        "/connexion/carte", {"suite": "/"}, csrf_from="/connexion", headers=header
    )
    assert accepted.status_code == 303
    assert "PHARMACIE VOLLENWEIDER" in proxied.get("/").text
    # Without any configured proxy, nobody is trusted, not even the loopback address.
    loopback = PortalClient(_app(services), peer="127.0.0.1")
    again = loopback.post(
        "/connexion/carte", {"suite": "/"}, csrf_from="/connexion", headers=header
    )
    assert again.status_code == 401


def test_anonymous_pages_redirect_to_login_and_public_revocation_form_is_open(services, world):
    client = PortalClient(_app(services))
    for path in ("/", "/demander", "/retirer", "/suivre"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/connexion?suite=")
    page = client.get("/revoquer")
    assert page.status_code == 200 and "Révoquer avec le code de révocation" in page.text
    assert P2 not in page.text
