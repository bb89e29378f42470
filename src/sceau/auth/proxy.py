"""Card login behind a reverse proxy (nginx ``ssl_verify_client``).

nginx verifies the card during the TLS handshake and forwards the certificate in a header
(``proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;``: URL-encoded PEM). Anyone
can send that header, so it is read **only** when the TCP peer is one of the configured proxy
addresses (``SCEAU_TRUSTED_PROXIES``); from anywhere else it is ignored. Whatever arrives, the
certificate is verified again by sceau (chain, clientAuth, validity, revocation, registry).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import unquote

from sceau.auth.settings import AuthSettings, IpNetwork

MAX_HEADER_LENGTH = 16 * 1024


def peer_is_trusted(peer: str | None, networks: tuple[IpNetwork, ...]) -> bool:
    if not peer or not networks:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def decode_forwarded_certificate(value: str) -> bytes | None:
    """The PEM of ``$ssl_client_escaped_cert`` (URL-encoded) or of the legacy
    ``$ssl_client_cert`` (lines joined with a tab); None when empty."""
    text = unquote(value).strip()
    if not text:
        return None
    if "\n" not in text and "\t" in text:
        text = text.replace("\t", "\n")
    return text.encode("ascii", errors="replace")


def forwarded_certificate(
    peer: str | None, headers: Mapping[str, str], settings: AuthSettings
) -> bytes | None:
    """The certificate a trusted proxy forwarded, or None (untrusted peer, no header)."""
    if not peer_is_trusted(peer, settings.proxy_networks):
        return None
    value = headers.get(settings.client_cert_header.lower()) or headers.get(
        settings.client_cert_header
    )
    if not value or len(value) > MAX_HEADER_LENGTH:
        return None
    return decode_forwarded_certificate(value)


def client_address(
    peer: str | None, headers: Mapping[str, str], settings: AuthSettings
) -> str | None:
    """The browser's address for the audit trail: X-Real-IP from a trusted proxy, else the peer."""
    if peer_is_trusted(peer, settings.proxy_networks):
        forwarded = headers.get("x-real-ip")
        if forwarded:
            return forwarded.strip()[:64]
    return peer
