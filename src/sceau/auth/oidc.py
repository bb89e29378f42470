"""Login "avec e-CPS": OpenID Connect authorization-code flow with PKCE (S256).

The provider (Pro Santé Connect in production, any OIDC provider in tests) is found by
discovery from ``SCEAU_OIDC_ISSUER``. The flow: :meth:`OidcClient.start` makes ``state``,
``nonce`` and the PKCE verifier (kept in the server-side session) and the authorization URL;
:meth:`OidcClient.finish` checks ``state``, exchanges the code with the verifier, verifies the
ID token (signature with the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``), reads the
userinfo and returns the claims. Mapping the claims (``SubjectNameID`` / ``preferred_username``
= idNat) to a person is the registry's ``actor_from_oidc_claims``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sceau.auth.settings import AuthSettings
from sceau.pki.errors import ErrorKind, SceauError

CLOCK_SKEW = dt.timedelta(minutes=2)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}


class OidcError(SceauError):
    def __init__(self, code: str, message: str):
        super().__init__(code, f"connexion e-CPS refusée: {message}", ErrorKind.UNAUTHENTICATED)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None


@dataclass(frozen=True)
class PendingLogin:
    """What the session keeps between the redirect to the provider and the way back."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PendingLogin:
        return cls(
            str(data["state"]),
            str(data["nonce"]),
            str(data["code_verifier"]),
            str(data["redirect_uri"]),
        )


def _public_key(jwk: dict[str, Any]) -> Any:
    if jwk.get("kty") == "RSA":
        n = int.from_bytes(b64url_decode(jwk["n"]), "big")
        e = int.from_bytes(b64url_decode(jwk["e"]), "big")
        return rsa.RSAPublicNumbers(e, n).public_key()
    if jwk.get("kty") == "EC":
        curves: dict[str, ec.EllipticCurve] = {
            "P-256": ec.SECP256R1(),
            "P-384": ec.SECP384R1(),
            "P-521": ec.SECP521R1(),
        }
        curve = curves.get(str(jwk.get("crv")))
        if curve is None:
            raise OidcError("oidc_jwk", f"courbe {jwk.get('crv')!r} non gérée")
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    raise OidcError("oidc_jwk", f"type de clé {jwk.get('kty')!r} non géré")


def verify_jws(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """The payload of a compact JWS signed with RS*/PS*/ES* by a key of ``jwks``."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        payload = json.loads(b64url_decode(payload_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, json.JSONDecodeError):
        raise OidcError("oidc_token_malformed", "jeton d'identité illisible") from None
    algorithm = str(header.get("alg", ""))
    family, bits = algorithm[:2], algorithm[2:]
    if family not in {"RS", "PS", "ES"} or bits not in _HASHES:
        raise OidcError("oidc_token_alg", f"algorithme {algorithm!r} refusé")
    keys = [
        k for k in jwks.get("keys", []) if not header.get("kid") or k.get("kid") == header["kid"]
    ]
    if not keys:
        raise OidcError("oidc_token_key", "clé de signature du jeton inconnue du fournisseur")
    signed = f"{header_b64}.{payload_b64}".encode("ascii")
    digest = _HASHES[bits]()
    for jwk in keys:
        key = _public_key(jwk)
        try:
            if family == "RS" and isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, signed, padding.PKCS1v15(), digest)
            elif family == "PS" and isinstance(key, rsa.RSAPublicKey):
                pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
                key.verify(signature, signed, pss, digest)
            elif family == "ES" and isinstance(key, ec.EllipticCurvePublicKey):
                half = len(signature) // 2
                der = encode_dss_signature(
                    int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
                )
                key.verify(der, signed, ec.ECDSA(digest))
            else:
                continue
        except InvalidSignature:
            continue
        if not isinstance(payload, dict):
            raise OidcError("oidc_token_malformed", "jeton d'identité illisible")
        return payload
    raise OidcError("oidc_token_signature", "signature du jeton d'identité invalide")


def check_id_token(
    claims: dict[str, Any], *, issuer: str, client_id: str, nonce: str, now: dt.datetime
) -> None:
    if claims.get("iss") != issuer:
        raise OidcError("oidc_issuer", f"émetteur {claims.get('iss')!r} inattendu")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise OidcError("oidc_audience", "jeton destiné à un autre client")
    timestamp = now.timestamp()
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires < timestamp - CLOCK_SKEW.total_seconds():
        raise OidcError("oidc_expired", "jeton d'identité expiré")
    issued = claims.get("iat")
    if isinstance(issued, int | float) and issued > timestamp + CLOCK_SKEW.total_seconds():
        raise OidcError("oidc_not_yet_valid", "jeton d'identité émis dans le futur")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OidcError("oidc_nonce", "nonce différent de celui de la demande (rejeu ?)")


class OidcClient:
    """A confidential OIDC client for one provider; ``http`` is injectable for tests."""

    def __init__(self, settings: AuthSettings, *, http: httpx.Client | None = None):
        if not settings.oidc_enabled:
            raise SceauError(
                "oidc_disabled",
                "connexion e-CPS non configurée (SCEAU_OIDC_ISSUER, SCEAU_OIDC_CLIENT_ID)",
                ErrorKind.CONFLICT,
            )
        assert settings.oidc_issuer is not None and settings.oidc_client_id is not None
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self.client_secret = settings.read_oidc_secret()
        self.scopes = settings.oidc_scopes
        self.acr_values = settings.oidc_acr_values
        self.http = http or httpx.Client(timeout=10.0)
        self._metadata: ProviderMetadata | None = None
        self._jwks: dict[str, Any] | None = None

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcError("oidc_provider", f"fournisseur injoignable ({error})") from None
        if not isinstance(data, dict):
            raise OidcError("oidc_provider", "réponse du fournisseur illisible")
        return data

    def metadata(self) -> ProviderMetadata:
        if self._metadata is None:
            data = self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if str(data.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError("oidc_discovery", "l'émetteur annoncé diffère de celui configuré")
            try:
                self._metadata = ProviderMetadata(
                    issuer=str(data["issuer"]),
                    authorization_endpoint=str(data["authorization_endpoint"]),
                    token_endpoint=str(data["token_endpoint"]),
                    jwks_uri=str(data["jwks_uri"]),
                    userinfo_endpoint=data.get("userinfo_endpoint"),
                    end_session_endpoint=data.get("end_session_endpoint"),
                )
            except KeyError as missing:
                raise OidcError("oidc_discovery", f"métadonnée {missing} absente") from None
        return self._metadata

    def jwks(self) -> dict[str, Any]:
        if self._jwks is None:
            self._jwks = self._get_json(self.metadata().jwks_uri)
        return self._jwks

    def start(self, redirect_uri: str) -> tuple[str, PendingLogin]:
        """The provider URL to send the browser to, and what to keep in the session."""
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
        )
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": pkce_challenge(pending.code_verifier),
            "code_challenge_method": "S256",
        }
        if self.acr_values:
            query["acr_values"] = self.acr_values
        return f"{self.metadata().authorization_endpoint}?{urlencode(query)}", pending

    def finish(
        self, pending: PendingLogin, *, code: str | None, state: str | None, now: dt.datetime
    ) -> dict[str, Any]:
        """Validated claims (ID token, completed by userinfo) of the returning browser."""
        if not state or not hmac.compare_digest(state, pending.state):
            raise OidcError("oidc_state", "paramètre state différent (requête forgée ?)")
        if not code:
            raise OidcError("oidc_no_code", "le fournisseur n'a pas rendu de code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": pending.redirect_uri,
            "code_verifier": pending.code_verifier,
            "client_id": self.client_id,
        }
        try:
            if self.client_secret:  # client_secret_basic
                response = self.http.post(
                    self.metadata().token_endpoint,
                    data=form,
                    auth=(self.client_id, self.client_secret),
                )
            else:
                response = self.http.post(self.metadata().token_endpoint, data=form)
            response.raise_for_status()
            tokens = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcError("oidc_token_endpoint", f"échange du code refusé ({error})") from None
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("oidc_no_id_token", "pas de jeton d'identité dans la réponse")
        claims = verify_jws(id_token, self.jwks())
        check_id_token(
            claims,
            issuer=self.metadata().issuer,
            client_id=self.client_id,
            nonce=pending.nonce,
            now=now,
        )
        userinfo_url = self.metadata().userinfo_endpoint
        access_token = tokens.get("access_token")
        if userinfo_url and isinstance(access_token, str):
            claims = {**claims, **self._userinfo(userinfo_url, access_token, claims)}
        return claims

    def _userinfo(self, url: str, access_token: str, id_claims: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.http.get(url, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise OidcError("oidc_userinfo", f"userinfo refusé ({error})") from None
        if response.headers.get("content-type", "").startswith("application/jwt"):
            info = verify_jws(response.text.strip(), self.jwks())
        else:
            info = response.json()
        if not isinstance(info, dict) or info.get("sub") != id_claims.get("sub"):
            raise OidcError("oidc_userinfo", "userinfo d'un autre sujet que le jeton d'identité")
        return info
