"""The portal in headless Chromium (Debian package) with a demo card, against a real
``sceau serve --tls`` process: log in, order a DMP bundle with uploaded CSRs and an INSi
certificate generated online, retrieve them, find them in SUIVRE, revoke one; another
administrator's card sees none of those structures; no card, no login. Screenshots of the
main pages go to docs/screenshots/."""

from __future__ import annotations

import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from portal_server import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, card_files, free_port, running_sceau

from conftest import make_csr
from sceau.demo import PHARMACIST, VENDOR_ADMIN, load_demo_data

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
playwright = pytest.importorskip("playwright.sync_api")

CODE = "Révoc-2026!"
PASSWORD = "Mot2passe-sûr"
SERIAL = re.compile(r"[0-9a-f]{32}")


def _card(services, tmp_path, idnat):
    folder = services.settings.home / "demo-cards"
    stem = idnat.replace("/", "-")
    password = (folder / f"{stem}.password").read_bytes().strip()
    return card_files(tmp_path, folder / f"{stem}.p12", password)


def _shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _context(browser, origin, cert_key=None):
    certificates = []
    if cert_key is not None:
        certificates = [
            {"origin": origin, "certPath": str(cert_key[0]), "keyPath": str(cert_key[1])}
        ]
    return browser.new_context(
        ignore_https_errors=True,  # our TEST root is not in the browser's store
        client_certificates=certificates,
        locale="fr-FR",
        viewport={"width": 1280, "height": 900},
    )


def _login(page, origin):
    page.goto(f"{origin}/connexion")
    page.get_by_role("button", name="Se connecter avec CARTE CPS").click()


def _retrieve(page, origin, serial, password=None):
    page.goto(f"{origin}/retirer/{serial}")
    page.locator("#code").fill(CODE)
    page.get_by_label("Confirmation du code de révocation").fill(CODE)
    page.get_by_label("Le bénéficiaire reconnaît accepter le certificat").check()
    if password:
        page.locator("#mot_de_passe").fill(password)
    page.get_by_role("button", name="Finaliser").click()
    page.wait_for_url(f"**/retirer/{serial}/telechargements")


def test_order_retrieve_track_revoke_in_chromium(services, tmp_path, leaf_keys):
    summary = load_demo_data(services, structures=30)
    assert any("habilitations" in line for line in summary)
    alice = _card(services, tmp_path, VENDOR_ADMIN)
    claire = _card(services, tmp_path, PHARMACIST)
    csr_paths = []
    for index, key in enumerate(leaf_keys[:2]):
        path = tmp_path / f"dmp-{index}.csr"
        path.write_bytes(make_csr(key, "ignored by the CA"))
        csr_paths.append(path)
    with services.unit_of_work() as uow:
        alice_id = uow.persons.by_idnat(VENDOR_ADMIN).id
        claire_id = uow.persons.by_idnat(PHARMACIST).id
        alice_structures = {
            uow.structures.by_id(i).idnst for i in uow.habilitations.active_structure_ids(alice_id)
        }
        claire_structures = {
            uow.structures.by_id(i).idnst for i in uow.habilitations.active_structure_ids(claire_id)
        }
    assert alice_structures and claire_structures and not alice_structures & claire_structures
    target = sorted(alice_structures)[0]

    port = free_port()
    origin = f"https://127.0.0.1:{port}"
    with (
        running_sceau(services, "--tls", port=port, scheme="https", log=tmp_path / "serve.log"),
        playwright.sync_playwright() as driver,
    ):
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        # No card: the login is refused with the reason.
        anonymous = _context(browser, origin).new_page()
        _login(anonymous, origin)
        assert "aucune carte présentée" in anonymous.content()
        anonymous.goto(f"{origin}/connexion")
        _shot(anonymous, "01-connexion")

        context = _context(browser, origin, alice)
        page = context.new_page()
        _login(page, origin)
        page.wait_for_url(f"{origin}/")
        assert "Page d'accueil de la gestion des produits" in page.content()
        assert target in page.content()

        # DEMANDER the DMP bundle with two uploaded CSRs.
        page.get_by_role("link", name="DEMANDER", exact=True).click()
        page.get_by_role("searchbox", name="Rechercher une structure").fill(target)
        page.get_by_role("button", name="Rechercher").click()
        page.get_by_label(re.compile(target)).check()
        _shot(page, "02-demander-etape1")
        page.get_by_role("button", name="Suivant").click()
        page.get_by_label("DMP: AUTH_CLI + SIGN").check()
        _shot(page, "03-demander-etape2")
        page.get_by_role("button", name="Demander un nouveau produit").click()
        page.get_by_label("Service applicatif").fill("LGO Officine DMP")
        page.get_by_label("Email de l'acteur").fill("alice.martin@logiciel-officine.example")
        page.get_by_label("L'email d'une personne à informer").fill("titulaire@pharmacie.example")
        page.get_by_role("button", name="Suivant").click()
        page.get_by_label("CSR pour AUTH_CLI").set_input_files(str(csr_paths[0]))
        page.get_by_label("CSR pour SIGN").set_input_files(str(csr_paths[1]))
        _shot(page, "05-demander-etape4-csr")
        page.get_by_role("button", name="Valider la demande").click()
        page.wait_for_url("**/demander/finalisation")
        assert "Votre demande a été prise en compte" in page.content()
        dmp_serials = sorted(set(SERIAL.findall(page.locator("table").inner_text())))
        assert len(dmp_serials) == 2
        _shot(page, "06-demander-finalisation")
        page.get_by_role("button", name="Terminer").click()

        # DEMANDER INSi, key generated online; the INSi rule is checked as one types.
        page.goto(f"{origin}/demander?structure={target}")
        page.get_by_role("button", name="Suivant").click()
        page.get_by_label("INSi: AUTH_CLI INSI-AUTO ou INSI-MANU").check()
        page.get_by_role("button", name="Demander un nouveau produit").click()
        field = page.get_by_label("Service applicatif")
        field.press_sequentially("insi manu")
        check = page.locator("#controle-service")
        assert "vouliez-vous dire INSI-MANU" in check.inner_text()
        assert field.get_attribute("aria-invalid") == "true"
        page.get_by_label("Email de l'acteur").fill("alice.martin@logiciel-officine.example")
        _shot(page, "04-demander-etape3-insi")
        page.get_by_role("button", name="Suivant").click()  # and on submit, by the server
        assert "vouliez-vous dire INSI-MANU" in page.content()
        field = page.get_by_label("Service applicatif")
        field.fill("")
        field.press_sequentially("INSI-MANU")
        assert "Nom INSi conforme" in page.locator("#controle-service").inner_text()
        page.get_by_role("button", name="Suivant").click()
        page.get_by_label("Créer en ligne").check()
        page.locator("#mot_de_passe").fill(PASSWORD)
        page.get_by_label("Confirmation du mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Valider la demande").click()
        page.wait_for_url("**/demander/finalisation")
        (insi_serial,) = set(SERIAL.findall(page.locator("table").inner_text()))

        # RETIRER all three; download the INSi PKCS#12 and open it with the password.
        page.goto(f"{origin}/retirer")
        listing = page.content()
        assert all(s in listing for s in [*dmp_serials, insi_serial])
        _shot(page, "07-retirer-liste")
        for serial in dmp_serials:
            _retrieve(page, origin, serial)
        page.goto(f"{origin}/retirer/{insi_serial}")
        _shot(page, "08-retirer-formulaire")
        _retrieve(page, origin, insi_serial, PASSWORD)
        _shot(page, "09-retirer-telechargements")
        with page.expect_download() as download_info:
            page.get_by_role("link", name=re.compile(r"\.p12$")).click()
        p12 = download_info.value.path().read_bytes()
        key, cert, _chain = pkcs12.load_key_and_certificates(p12, PASSWORD.encode())
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "INSI-MANU"
        assert format(cert.serial_number, "032x") == insi_serial and key is not None

        # SUIVRE finds them, retrieved.
        page.goto(f"{origin}/suivre")
        page.get_by_role("searchbox").fill(target)
        page.get_by_label("État").select_option("retrieved")
        page.get_by_role("button", name="Rechercher").click()
        found = page.locator("table").inner_text()
        assert all(s in found for s in [*dmp_serials, insi_serial])
        _shot(page, "10-suivre")

        # RÉVOQUER the DMP SIGN certificate.
        sign_serial = next(
            s for s in dmp_serials if "SIGN" in page.locator("tr", has_text=s).inner_text()
        )
        page.goto(f"{origin}/revoquer/{sign_serial}")
        page.get_by_label("Motif de révocation").select_option("superseded")
        page.get_by_label("Je comprends que la révocation est définitive").check()
        _shot(page, "11-revoquer")
        page.get_by_role("button", name="Révoquer définitivement").click()
        assert "Certificat révoqué" in page.content()
        page.goto(f"{origin}/suivre?etat=revoked")
        assert sign_serial in page.content()
        page.goto(f"{origin}/")
        _shot(page, "12-accueil-administrateur")
        context.close()

        # Another administrator (the pharmacist) sees none of those structures.
        other = _context(browser, origin, claire).new_page()
        _login(other, origin)
        other.wait_for_url(f"{origin}/")
        home = other.content()
        assert not any(idnst in home for idnst in alice_structures)
        assert "valide" in home  # the plain-words block of the structure she represents
        _shot(other, "13-accueil-pharmacien-representant")
        other.goto(f"{origin}/suivre")
        assert not set(SERIAL.findall(other.content())) & {*dmp_serials, insi_serial}
        other.goto(f"{origin}/demander")
        assert not any(idnst in other.content() for idnst in alice_structures)
        assert other.goto(f"{origin}/retirer/{insi_serial}").status == 403
        browser.close()
