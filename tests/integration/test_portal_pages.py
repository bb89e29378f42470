"""The portal's pages over the real use cases (no browser): the wizard with uploaded CSRs
and online generation, RETIRER, SUIVRE, RÉVOQUER with the code, the legal representative's
and the operator's home pages, and the same French messages as the use cases."""

from __future__ import annotations

import html
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from portal_client import PortalClient
from registry_world import ADMIN_A, ADMIN_B, LEGAL, P1, build_world

from conftest import make_csr
from sceau.auth.settings import AuthSettings
from sceau.registration.use_cases.cards import IssueCardCommand, issue_card
from sceau.web.app import create_app

CODE = "Révoc-2026!"
PASSWORD = "Mot2passe-sûr"


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def _client(services, world, idnat, **settings):
    app = create_app(services)
    if settings:
        from sceau.web.portal import Portal, SessionStore

        auth = AuthSettings(**settings)
        app.state.portal = Portal(services, auth, SessionStore(services, auth))
    pem = world.cards[idnat].certificate.public_bytes(serialization.Encoding.PEM)
    client = PortalClient(app, card_pem=pem)
    assert client.login_with_card().status_code == 303
    return client


def _t(response):
    return html.unescape(response.text)


def _words(response):
    """The page's text without tags, spaces collapsed (what a reader hears)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", _t(response))).replace(" ,", ",")


def _csr_file(key):
    return ("demande.csr", make_csr(key), "application/pkcs10")


def _serials(text):
    return re.findall(r'href="/retirer/([0-9a-f]{32})"', text)


def test_wizard_dmp_with_csrs_then_insi_online_retrieve_track_revoke(services, world, leaf_keys):
    admin = _client(services, world, ADMIN_A)
    step1 = admin.get("/demander")
    assert "PHARMACIE VOLLENWEIDER" in _t(step1) and "PHARMACIE AUTRE" not in _t(step1)
    # A structure one is not habilitated for is refused with the use case's words.
    refused = admin.post(
        "/demander/etape1", {"offre": "ORG", "structure": "010000016"}, csrf_from="/demander"
    )
    assert refused.status_code == 422 and "n'est pas autorisé" in _t(refused)
    assert (
        admin.post(
            "/demander/etape1", {"offre": "ORG", "structure": P1}, csrf_from="/demander"
        ).status_code
        == 303
    )
    step2 = admin.get("/demander/etape2")
    assert "Demander un nouveau produit" in _t(step2) and "Pas de résultat" in _t(step2)
    assert (
        admin.post(
            "/demander/etape2",
            {"action": "nouveau", "choix": "bundle:DMP"},
            csrf_from="/demander/etape2",
        ).status_code
        == 303
    )
    bad = admin.post(
        "/demander/etape3",
        {"service_applicatif": " LGO  Officine", "actor_email": "pas-un-mail"},
        csrf_from="/demander/etape3",
    )
    assert bad.status_code == 422
    assert "pas d'espace au début" in _t(bad) and "invalide" in _t(bad)
    ok = admin.post(
        "/demander/etape3",
        {
            "service_applicatif": "LGO Officine DMP",
            "actor_email": "alice@logiciel.example",
            "cc_email": "titulaire@pharma.example",
        },
        csrf_from="/demander/etape3",
    )
    assert ok.status_code == 303
    step4 = admin.get("/demander/etape4")
    assert "Charger la CSR" in _t(step4) and "Créer en ligne" in _t(step4)
    one_csr = admin.post(
        "/demander/etape4",
        {"source_cle": "csr", "csrf_token": admin.csrf("/demander/etape4")},
        files={"csr_0": _csr_file(leaf_keys[3])},
    )
    assert one_csr.status_code == 422 and "aucun fichier CSR" in _t(one_csr)
    done = admin.post(
        "/demander/etape4",
        {"source_cle": "csr", "csrf_token": admin.csrf("/demander/etape4")},
        files={"csr_0": _csr_file(leaf_keys[3]), "csr_1": _csr_file(leaf_keys[4])},
    )
    assert done.status_code == 303 and done.headers["location"] == "/demander/finalisation"
    final = admin.get("/demander/finalisation")
    assert "Votre demande a été prise en compte" in _t(final)
    dmp_serials = _serials(_t(final))
    assert len(dmp_serials) == 2

    # INSi, generated online: the INSi rule on submit.
    admin.post("/demander/terminer", csrf_from="/demander/finalisation")
    admin.post("/demander/etape1", {"offre": "ORG", "structure": P1}, csrf_from="/demander")
    admin.post(
        "/demander/etape2",
        {"action": "nouveau", "choix": "bundle:INSI"},
        csrf_from="/demander/etape2",
    )
    insi_page = admin.get("/demander/etape3")
    assert 'data-insi="true"' in _t(insi_page)
    wrong = admin.post(
        "/demander/etape3",
        {"service_applicatif": "insi manu", "actor_email": "alice@logiciel.example"},
        csrf_from="/demander/etape3",
    )
    assert wrong.status_code == 422 and "vouliez-vous dire INSI-MANU" in _t(wrong)
    admin.post(
        "/demander/etape3",
        {"service_applicatif": "INSI-MANU", "actor_email": "alice@logiciel.example"},
        csrf_from="/demander/etape3",
    )
    mismatch = admin.post(
        "/demander/etape4",
        {"source_cle": "en_ligne", "mot_de_passe": PASSWORD, "mot_de_passe_confirmation": "autre"},
        csrf_from="/demander/etape4",
    )
    assert mismatch.status_code == 422 and "différentes" in _t(mismatch)
    admin.post(
        "/demander/etape4",
        {"source_cle": "en_ligne", "mot_de_passe": PASSWORD, "mot_de_passe_confirmation": PASSWORD},
        csrf_from="/demander/etape4",
    )
    (insi_serial,) = _serials(admin.get("/demander/finalisation").text)

    # RETIRER: both DMP certificates and the INSi one.
    listing = admin.get("/retirer")
    assert {*dmp_serials, insi_serial} <= set(_serials(_t(listing)))
    mistyped = admin.post(
        f"/retirer/{dmp_serials[0]}",
        {
            "code": CODE,
            "code_confirmation": CODE + "x",
            "acceptation": "oui",
            "cgu_version": "CGU-SCEAU-1.0",
            "pc_version": "PC-ORG-TEST-1.0",
        },
        csrf_from=f"/retirer/{dmp_serials[0]}",
    )
    assert mistyped.status_code == 422 and "différentes" in _t(mistyped)
    for serial in dmp_serials:
        form = admin.get(f"/retirer/{serial}").text
        fields = dict(re.findall(r'name="(cgu_version|pc_version)" value="([^"]+)"', form))
        response = admin.post(
            f"/retirer/{serial}",
            {"code": CODE, "code_confirmation": CODE, "acceptation": "oui", **fields},
            csrf_from=f"/retirer/{serial}",
        )
        assert response.status_code == 303
    form = admin.get(f"/retirer/{insi_serial}").text
    assert "Mot de passe de protection de la clé privée" in form
    fields = dict(re.findall(r'name="(cgu_version|pc_version)" value="([^"]+)"', form))
    response = admin.post(
        f"/retirer/{insi_serial}",
        {
            "code": CODE,
            "code_confirmation": CODE,
            "acceptation": "oui",
            "mot_de_passe": PASSWORD,
            "format_pkcs12": "aes",
            **fields,
        },
        csrf_from=f"/retirer/{insi_serial}",
    )
    assert response.status_code == 303
    downloads = admin.get(f"/retirer/{insi_serial}/telechargements").text
    (p12_name,) = re.findall(r'/fichier/([^"]+\.p12)"', downloads)
    p12 = admin.get(f"/retirer/{insi_serial}/fichier/{p12_name}")
    assert p12.headers["content-disposition"].startswith("attachment")
    _key, cert, chain = pkcs12.load_key_and_certificates(p12.content, PASSWORD.encode())
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "INSI-MANU"
    assert format(cert.serial_number, "032x") == insi_serial and len(chain) == 2
    again = admin.get(f"/retirer/{insi_serial}/fichier/{p12_name}")  # the key leaves once
    assert again.status_code == 422 and "une fois" in _t(again)
    pem_name = re.findall(r'/fichier/([^"]+\.pem)"', downloads)[0]
    assert b"BEGIN CERTIFICATE" in admin.get(f"/retirer/{insi_serial}/fichier/{pem_name}").content

    # SUIVRE: search, filters, states.
    track = admin.get("/suivre", params={"recherche": "INSI"})
    assert insi_serial in _t(track) and dmp_serials[0] not in _t(track)
    soon = _t(admin.get("/suivre", params={"echeance": "90"}))
    assert not any(s in soon for s in [*dmp_serials, insi_serial])  # fresh: 3 years left
    retrieved = admin.get("/suivre", params={"etat": "retrieved"}).text
    assert all(s in retrieved for s in [*dmp_serials, insi_serial])

    # RÉVOQUER with the code, without logging in; a wrong code is refused.
    anonymous = PortalClient(create_app(services))
    wrong_code = anonymous.post(
        "/revoquer/code",
        {"serie": dmp_serials[1], "code": "mauvais-code-1", "motif": "keyCompromise"},
        csrf_from="/revoquer",
    )
    assert wrong_code.status_code == 403 and "code de révocation incorrect" in _t(wrong_code)
    revoked = anonymous.post(
        "/revoquer/code",
        {"serie": dmp_serials[1], "code": CODE, "motif": "keyCompromise"},
        csrf_from="/revoquer",
    )
    assert revoked.status_code == 200 and "révoqué depuis le" in _t(revoked)
    assert dmp_serials[1] in admin.get("/suivre", params={"etat": "revoked"}).text
    # RÉVOQUER logged in: confirmation box required.
    unconfirmed = admin.post(
        f"/revoquer/{dmp_serials[0]}",
        {"motif": "superseded"},
        csrf_from=f"/revoquer/{dmp_serials[0]}",
    )
    assert unconfirmed.status_code == 422 and "définitive" in _t(unconfirmed)

    # Another administrator sees none of it.
    other = _client(services, world, ADMIN_B)
    assert not {*dmp_serials, insi_serial} & set(
        re.findall(r"[0-9a-f]{32}", other.get("/suivre").text)
    )
    assert other.get(f"/retirer/{insi_serial}").status_code == 403

    # The legal representative reads plain words and sees who manages the certificates.
    world.cards[LEGAL] = issue_card(services, IssueCardCommand(LEGAL, "CPS", b"pw", leaf_keys[5]))
    legal = _client(services, world, LEGAL)
    legal_home = _words(legal.get("/"))
    assert "Votre certificat INSi est valide jusqu'au" in legal_home
    assert "géré par LOGICIEL OFFICINE SA" in legal_home
    assert "Retirer la délégation" in legal_home
    withdrawn = legal.post(
        "/representant/retrait-delegation",
        {"structure": P1, "administrateur": ADMIN_A, "motif": "changement d'éditeur"},
        csrf_from="/",
    )
    assert withdrawn.status_code == 303
    assert "Délégation retirée" in _words(legal.get("/"))
    # The withdrawal bites at once: the administrator's next request is refused.
    assert admin.get(f"/retirer/{insi_serial}").status_code == 403


def test_ecps_session_may_not_order_test_certificates(services, world):
    from sceau.auth.sessions import METHOD_ECPS

    app = create_app(services)
    portal = app.state.portal
    client = PortalClient(app)
    client.get("/connexion")
    with services.unit_of_work() as uow:
        from sceau.registration.authorization import actor_for_person

        actor = actor_for_person(uow, uow.persons.by_idnat(ADMIN_A))
    token, _ = portal.sessions.login(client.cookies["sceau_session"], actor, method=METHOD_ECPS)
    client.cookies.set("sceau_session", token, domain="sceau.localhost")
    page = client.get("/demander")
    assert page.status_code == 403
    assert "seule la connexion par « CARTE CPS » est disponible" in _t(page)


def test_operator_home_lists_decisions_contracts_ca_and_crl(services, world):
    client = _client(services, world, ADMIN_B, operator_idnats=ADMIN_B)
    home = client.get("/")
    assert "Tableau de bord de l'opérateur" in _t(home)
    assert "Contrats d'adhésion" in _t(home) and "LOGICIEL OFFICINE SA" in _t(home)
    assert "AC IGC-SANTE" in _t(home).upper()
    assert "Courriels en échec" in _t(home)


def test_renewal_through_the_wizard_lists_only_valid_certificates_and_pages_in_suivre(
    services, world, leaf_keys, monkeypatch
):
    from sceau.registration.use_cases.request_certificates import (
        RequestCommand,
        request_certificates,
    )
    from sceau.registration.use_cases.retrieve_certificate import (
        CURRENT_CGU_VERSION,
        CURRENT_PC_VERSION,
        RetrieveCommand,
        retrieve_certificate,
    )
    from sceau.registration.use_cases.revoke_product import RevokeProductCommand, revoke_product
    from sceau.web.portal import track_pages

    actor = world.actor(ADMIN_A)
    order = request_certificates(
        services,
        RequestCommand(
            structure=P1, service_applicatif="LGO DMP", actor_email="a@logiciel.example",
            actor=actor, bundle="DMP", csrs=(make_csr(leaf_keys[3]), make_csr(leaf_keys[4])),
        ),
    )  # fmt: skip
    kept, revoked = (p.serial for p in order.products)
    for serial in (kept, revoked):
        retrieve_certificate(
            services,
            RetrieveCommand(serial, CODE, CODE, True, CURRENT_CGU_VERSION, CURRENT_PC_VERSION,
                            actor=actor),
        )  # fmt: skip
    revoke_product(services, RevokeProductCommand(revoked, "keyCompromise", actor=actor))

    admin = _client(services, world, ADMIN_A)
    admin.post("/demander/etape1", {"offre": "ORG", "structure": P1}, csrf_from="/demander")
    step2 = _t(admin.get("/demander/etape2"))
    assert kept in step2 and revoked not in step2  # only valid certificates are renewable
    chosen = admin.post(
        "/demander/etape2", {"action": "renouveler", "serie": kept}, csrf_from="/demander/etape2"
    )
    assert chosen.status_code == 303
    step3 = _t(admin.get("/demander/etape3"))
    assert "renouvellement du certificat" in step3 and "readonly" in step3
    admin.post(
        "/demander/etape3", {"actor_email": "a@logiciel.example"}, csrf_from="/demander/etape3"
    )
    same_key = admin.post(
        "/demander/etape4",
        {"source_cle": "csr", "csrf_token": admin.csrf("/demander/etape4")},
        files={"csr_0": _csr_file(leaf_keys[3])},
    )
    assert same_key.status_code == 422 and "nouvelle clé" in _words(same_key)
    renewed = admin.post(
        "/demander/etape4",
        {"source_cle": "csr", "csrf_token": admin.csrf("/demander/etape4")},
        files={"csr_0": _csr_file(leaf_keys[5])},
    )
    assert renewed.status_code == 303
    (new_serial,) = _serials(_t(admin.get("/demander/finalisation")))
    assert new_serial not in (kept, revoked)

    # SUIVRE pages through the three products, newest first, two per page.
    monkeypatch.setattr(track_pages, "PAGE_SIZE", 2)
    first = _t(admin.get("/suivre"))
    assert new_serial in first and revoked in first and kept not in first
    next_url = re.search(r'href="(/suivre\?[^"]*avant=\d+)"', first).group(1)
    second = _t(admin.get(html.unescape(next_url)))
    assert kept in second and new_serial not in second
    assert "Page suivante" not in second and "Première page" in second
