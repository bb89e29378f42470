"""Settings of the portal's authentication (``SCEAU_*`` variables, like ``sceau.config``).

Kept beside the main settings so that login, sessions and proxies are configured in one
place; every value has a safe default (no trusted proxy, e-CPS off, 30-minute idle timeout).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCEAU_", extra="ignore")

    # Sessions
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    session_cookie: str = "sceau_session"

    # Behind a reverse proxy: comma-separated addresses/networks whose certificate header is
    # trusted (e.g. "127.0.0.1,10.0.0.0/8"). Empty: the header is never read.
    trusted_proxies: str = ""
    client_cert_header: str = "X-SSL-Client-Cert"

    # Persons (idNat) who act as the CA operator when they log in.
    operator_idnats: str = ""

    # e-CPS through an OpenID Connect provider (Pro Santé Connect in production).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_client_secret_file: Path | None = None
    oidc_scopes: str = "openid scope_all"
    oidc_redirect_url: str | None = None  # default: <portal>/connexion/ecps/retour
    oidc_acr_values: str | None = "eidas1"

    # `sceau serve --tls`: the server certificate's host name (SERV SSL needs a FQDN;
    # every browser resolves *.localhost to the loopback address).
    tls_hostname: str = "sceau.localhost"

    @property
    def proxy_networks(self) -> tuple[IpNetwork, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def operators(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.operator_idnats.split(",") if part.strip())

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def read_oidc_secret(self) -> str | None:
        if self.oidc_client_secret is not None:
            return self.oidc_client_secret.get_secret_value()
        if self.oidc_client_secret_file is not None:
            return self.oidc_client_secret_file.read_text().strip()
        return None


def parse_networks(spec: str) -> tuple[IpNetwork, ...]:
    """``"127.0.0.1, 10.0.0.0/8"`` → networks; a bad entry is an error, not a silent skip."""
    networks: list[IpNetwork] = []
    for part in spec.replace(";", ",").split(","):
        text = part.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as error:
            raise ValueError(f"SCEAU_TRUSTED_PROXIES: {text!r} n'est pas une adresse IP") from error
    return tuple(networks)
