"""Ordering by use: one request for a service's whole set of certificates (domain §3–§6, §14).

* DMP: an AUTH_CLI (mutual TLS) and a SIGN (VIHF signature);
* INSi: one AUTH_CLI whose CN is exactly ``INSI-AUTO`` or ``INSI-MANU``;
* Pro Santé Connect: one AUTH_CLI (mTLS at the token endpoint);
* MSSanté BAL applicative: one AUTH_CLI (the software authenticates to its operator);
* MSSanté opérateur: one SERV SSL, only for structures registered as MSSanté operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sceau.pki.errors import ErrorKind, PolicyError, SceauError
from sceau.pki.profiles import Offer, Usage


class Bundle(StrEnum):
    DMP = "DMP"
    INSI = "INSI"
    PSC = "PSC"
    MSSANTE_BAL = "MSSANTE_BAL"
    MSSANTE_OPERATOR = "MSSANTE_OPERATEUR"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, value: str) -> Bundle:
        key = value.strip().upper().replace("-", "_").replace(" ", "_").replace("É", "E")
        found = _ALIASES.get(key)
        if found is None:
            raise PolicyError(
                "unknown_bundle",
                f"usage métier {value!r} inconnu; choisir parmi: "
                + ", ".join(f"{b.value} ({b.label})" for b in cls),
            )
        return found


_LABELS = {
    Bundle.DMP: "DMP: AUTH_CLI + SIGN",
    Bundle.INSI: "INSi: AUTH_CLI INSI-AUTO ou INSI-MANU",
    Bundle.PSC: "Pro Santé Connect: AUTH_CLI",
    Bundle.MSSANTE_BAL: "MSSanté BAL applicative: AUTH_CLI",
    Bundle.MSSANTE_OPERATOR: "MSSanté opérateur: SERV SSL",
}
_ALIASES = {
    "DMP": Bundle.DMP,
    "INSI": Bundle.INSI,
    "PSC": Bundle.PSC,
    "PRO_SANTE_CONNECT": Bundle.PSC,
    "MSSANTE_BAL": Bundle.MSSANTE_BAL,
    "MSSANTE_BAL_APPLICATIVE": Bundle.MSSANTE_BAL,
    "BAL": Bundle.MSSANTE_BAL,
    "MSSANTE_OPERATEUR": Bundle.MSSANTE_OPERATOR,
    "MSSANTE_OPERATOR": Bundle.MSSANTE_OPERATOR,
}


@dataclass(frozen=True)
class ProductSpec:
    """One certificate of a request."""

    usage: Usage
    insi: bool = False


BUNDLES: dict[Bundle, tuple[ProductSpec, ...]] = {
    Bundle.DMP: (ProductSpec(Usage.AUTH_CLI), ProductSpec(Usage.SIGN)),
    Bundle.INSI: (ProductSpec(Usage.AUTH_CLI, insi=True),),
    Bundle.PSC: (ProductSpec(Usage.AUTH_CLI),),
    Bundle.MSSANTE_BAL: (ProductSpec(Usage.AUTH_CLI),),
    Bundle.MSSANTE_OPERATOR: (ProductSpec(Usage.SERV_SSL),),
}


def offer_of(bundle: Bundle) -> Offer:
    return Offer.SERV if bundle is Bundle.MSSANTE_OPERATOR else Offer.ORG


def products_for(
    *, offer: Offer, bundle: Bundle | None, usage: Usage | None, insi: bool = False
) -> tuple[ProductSpec, ...]:
    """The certificates one request creates: a bundle's set, or the one usage asked for."""
    if (bundle is None) == (usage is None):
        raise PolicyError(
            "usage_or_bundle",
            "choisir soit un usage (AUTH_CLI, SIGN, CONF, SERV_SSL), "
            "soit un usage métier (DMP, INSI, PSC, MSSANTE_BAL, MSSANTE_OPERATEUR)",
        )
    if bundle is not None:
        if offer_of(bundle) is not offer:
            raise PolicyError(
                "bundle_offer",
                f"l'usage métier {bundle.value} relève de l'offre {offer_of(bundle).value}, "
                f"pas {offer.value}",
            )
        return BUNDLES[bundle]
    assert usage is not None
    if usage.offer is not offer:
        raise PolicyError(
            "usage_offer",
            f"l'usage {usage.value} relève de l'offre {usage.offer.value}, pas {offer.value}",
        )
    if insi and usage is not Usage.AUTH_CLI:
        raise PolicyError("insi_usage", "un certificat INSi est un certificat ORG AUTH_CLI")
    return (ProductSpec(usage, insi=insi),)


def check_eligibility(structure: Any, specs: tuple[ProductSpec, ...]) -> None:
    """SERV SSL certificates are for MSSanté operators only (domain §6)."""
    if any(spec.usage is Usage.SERV_SSL for spec in specs) and not structure.mssante_operator:
        raise SceauError(
            "not_mssante_operator",
            f"la structure {structure.idnst} n'est pas enregistrée comme opérateur MSSanté: "
            "les certificats serveur SERV SSL sont réservés aux opérateurs MSSanté",
            ErrorKind.FORBIDDEN,
        )
