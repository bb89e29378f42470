"""Login "avec e-CPS": authorization code + PKCE against an OpenID provider running in the
test (discovery, JWKS, token and userinfo endpoints, PKCE checked by the provider), mapped
to the person by idNat; wrong state, forged signature, wrong nonce and unknown persons are
refused; an e-CPS session may not order TEST certificates."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from portal_client import PortalClient
from registry_world import ADMIN_A, P1, build_world

from sceau.auth.oidc import OidcClient
from sceau.auth.settings import AuthSettings
from sceau.web.app import create_app

ISSUER = "https://psc.test.example/auth/realms/esante-wallet"
CLIENT_ID = "sceau-portail"
SECRET = "client-secret-not-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    """A small but real OIDC provider (RS256), served through an httpx transport."""

    def __init__(self, idnat: str, key=None):
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.published = self.key.public_key()
        self.idnat = idnat
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.nonce_override: str | None = None

    def authorize(self, url: str) -> tuple[str, str, str]:
        """What the provider does after the user's e-CPS approval: (code, state, redirect)."""
        query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        return code, query["state"], query["redirect_uri"]

    def _jwt(self, claims: dict) -> str:
        header = _b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = self.key.sign(
            f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{header}.{payload}.{_b64(signature)}"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(urlparse(ISSUER).path)
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
                "userinfo_endpoint": f"{ISSUER}/protocol/openid-connect/userinfo",
            })  # fmt: skip
        if path == "/protocol/openid-connect/certs":
            numbers = self.published.public_numbers()
            size = (numbers.n.bit_length() + 7) // 8
            return httpx.Response(200, json={"keys": [{
                "kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                "n": _b64(numbers.n.to_bytes(size, "big")), "e": _b64(numbers.e.to_bytes(3, "big")),
            }]})  # fmt: skip
        if path == "/protocol/openid-connect/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
            if request.headers.get("authorization") != expected:
                return httpx.Response(401, json={"error": "invalid_client"})
            asked = self.codes.pop(form.get("code", ""), None)
            if asked is None or form.get("redirect_uri") != asked["redirect_uri"]:
                return httpx.Response(400, json={"error": "invalid_grant"})
            challenge = _b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if challenge != asked["code_challenge"]:
                return httpx.Response(
                    400, json={"error": "invalid_grant", "error_description": "PKCE"}
                )
            access = secrets.token_urlsafe(16)
            self.tokens[access] = self.idnat
            now = int(time.time())
            id_token = self._jwt({
                "iss": ISSUER, "aud": CLIENT_ID, "sub": "f:550dc1c8:" + self.idnat, "iat": now,
                "exp": now + 300, "nonce": self.nonce_override or asked["nonce"],
                "acr": "eidas1",
            })  # fmt: skip
            return httpx.Response(200, json={"access_token": access, "id_token": id_token,
                                             "token_type": "Bearer"})  # fmt: skip
        if path == "/protocol/openid-connect/userinfo":
            access = request.headers.get("authorization", "").removeprefix("Bearer ")
            idnat = self.tokens.get(access)
            if idnat is None:
                return httpx.Response(401)
            return httpx.Response(200, json={
                "sub": "f:550dc1c8:" + idnat, "SubjectNameID": idnat, "preferred_username": idnat,
                "given_name": "Alice", "family_name": "MARTIN",
            })  # fmt: skip
        return httpx.Response(404)


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def _portal(services, provider):
    app = create_app(services)
    settings = AuthSettings(oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID, oidc_client_secret=SECRET)
    from sceau.web.portal import Portal, SessionStore

    portal = Portal(services, settings, SessionStore(services, settings))
    portal.oidc = OidcClient(settings, http=httpx.Client(transport=httpx.MockTransport(provider)))
    app.state.portal = portal
    return PortalClient(app)


def _start(client) -> str:
    response = client.post("/connexion/ecps", {"suite": "/suivre"}, csrf_from="/connexion")
    assert response.status_code == 303
    return response.headers["location"]


def _back(client, provider, url, *, state=None):
    code, real_state, redirect = provider.authorize(url)
    assert urlparse(redirect).path == "/connexion/ecps/retour"
    return client.get("/connexion/ecps/retour", params={"code": code, "state": state or real_state})


def test_ecps_login_maps_the_idnat_and_may_not_order_test_certificates(services, world):
    provider = Provider(ADMIN_A)
    client = _portal(services, provider)
    assert "Se connecter avec e-CPS" in html.unescape(client.get("/connexion").text)
    before = client.cookies["sceau_session"]
    url = _start(client)
    assert url.startswith(f"{ISSUER}/protocol/openid-connect/auth?")
    assert "code_challenge=" in url and "nonce=" in url and "acr_values=eidas1" in url
    response = _back(client, provider, url)
    assert response.status_code == 303 and response.headers["location"] == "/suivre"
    assert client.cookies["sceau_session"] != before  # rotated at login
    assert client.get("/suivre").status_code == 200
    assert P1 in client.get("/").text
    refused = client.get("/demander")
    assert refused.status_code == 403 and "CARTE CPS" in html.unescape(refused.text)
    # The way back is single use: replaying it does not log anyone in again.
    replay = client.get("/connexion/ecps/retour", params={"code": "x", "state": "y"})
    assert replay.status_code == 401 and "aucune demande en cours" in html.unescape(replay.text)
    with services.unit_of_work() as uow:
        assert any(
            e.action == "auth.ecps" and e.outcome == "success" for e in uow.audit.list(limit=200)
        )


def test_wrong_state_forged_signature_wrong_nonce_and_unknown_person_are_refused(services, world):
    provider = Provider(ADMIN_A)
    client = _portal(services, provider)
    wrong_state = _back(client, provider, _start(client), state="forged")
    assert wrong_state.status_code == 401 and "state" in wrong_state.text

    forger = Provider(ADMIN_A)
    forger.published = provider.published  # JWKS says one key, tokens are signed by another
    client = _portal(services, forger)
    forged = _back(client, forger, _start(client))
    assert forged.status_code == 401 and "signature du jeton" in html.unescape(forged.text)

    provider.nonce_override = "rejoue"
    client = _portal(services, provider)
    replayed = _back(client, provider, _start(client))
    assert replayed.status_code == 401 and "nonce" in replayed.text

    stranger = Provider("810099999990")
    client = _portal(services, stranger)
    unknown = _back(client, stranger, _start(client))
    assert unknown.status_code == 401 and "personne inconnue" in html.unescape(unknown.text)
    assert client.get("/").status_code == 303  # still anonymous


def test_pkce_verifier_is_checked_by_the_provider(services, world):
    provider = Provider(ADMIN_A)
    client = _portal(services, provider)
    url = _start(client)
    code, state, _ = provider.authorize(url)
    provider.codes[code]["code_challenge"] = _b64(hashlib.sha256(b"another verifier").digest())
    response = client.get("/connexion/ecps/retour", params={"code": code, "state": state})
    assert response.status_code == 401 and "échange du code refusé" in html.unescape(response.text)
