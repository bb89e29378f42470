"""French départements (and overseas collectivities): codes, official names, ST values.

The ST attribute of ORG certificates is ``<official name> (<code>)``, e.g. ``Rhône (69)``,
``Côte-d'Or (21)``, ``Guadeloupe (971)`` (domain reference §2.2). Names keep accents and hyphens
and use the ASCII apostrophe, as in the observed certificates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sceau.registration.identifiers import IdentifierError


@dataclass(frozen=True)
class Department:
    """A département or overseas collectivity with its chef-lieu (prefecture)."""

    code: str
    name: str
    chef_lieu: str
    overseas: bool = False
    collectivity: bool = False  # overseas collectivity rather than a département

    @property
    def state_value(self) -> str:
        return f"{self.name} ({self.code})"


_MAINLAND: tuple[tuple[str, str, str], ...] = (
    ("01", "Ain", "Bourg-en-Bresse"),
    ("02", "Aisne", "Laon"),
    ("03", "Allier", "Moulins"),
    ("04", "Alpes-de-Haute-Provence", "Digne-les-Bains"),
    ("05", "Hautes-Alpes", "Gap"),
    ("06", "Alpes-Maritimes", "Nice"),
    ("07", "Ardèche", "Privas"),
    ("08", "Ardennes", "Charleville-Mézières"),
    ("09", "Ariège", "Foix"),
    ("10", "Aube", "Troyes"),
    ("11", "Aude", "Carcassonne"),
    ("12", "Aveyron", "Rodez"),
    ("13", "Bouches-du-Rhône", "Marseille"),
    ("14", "Calvados", "Caen"),
    ("15", "Cantal", "Aurillac"),
    ("16", "Charente", "Angoulême"),
    ("17", "Charente-Maritime", "La Rochelle"),
    ("18", "Cher", "Bourges"),
    ("19", "Corrèze", "Tulle"),
    ("2A", "Corse-du-Sud", "Ajaccio"),
    ("2B", "Haute-Corse", "Bastia"),
    ("21", "Côte-d'Or", "Dijon"),
    ("22", "Côtes-d'Armor", "Saint-Brieuc"),
    ("23", "Creuse", "Guéret"),
    ("24", "Dordogne", "Périgueux"),
    ("25", "Doubs", "Besançon"),
    ("26", "Drôme", "Valence"),
    ("27", "Eure", "Évreux"),
    ("28", "Eure-et-Loir", "Chartres"),
    ("29", "Finistère", "Quimper"),
    ("30", "Gard", "Nîmes"),
    ("31", "Haute-Garonne", "Toulouse"),
    ("32", "Gers", "Auch"),
    ("33", "Gironde", "Bordeaux"),
    ("34", "Hérault", "Montpellier"),
    ("35", "Ille-et-Vilaine", "Rennes"),
    ("36", "Indre", "Châteauroux"),
    ("37", "Indre-et-Loire", "Tours"),
    ("38", "Isère", "Grenoble"),
    ("39", "Jura", "Lons-le-Saunier"),
    ("40", "Landes", "Mont-de-Marsan"),
    ("41", "Loir-et-Cher", "Blois"),
    ("42", "Loire", "Saint-Étienne"),
    ("43", "Haute-Loire", "Le Puy-en-Velay"),
    ("44", "Loire-Atlantique", "Nantes"),
    ("45", "Loiret", "Orléans"),
    ("46", "Lot", "Cahors"),
    ("47", "Lot-et-Garonne", "Agen"),
    ("48", "Lozère", "Mende"),
    ("49", "Maine-et-Loire", "Angers"),
    ("50", "Manche", "Saint-Lô"),
    ("51", "Marne", "Châlons-en-Champagne"),
    ("52", "Haute-Marne", "Chaumont"),
    ("53", "Mayenne", "Laval"),
    ("54", "Meurthe-et-Moselle", "Nancy"),
    ("55", "Meuse", "Bar-le-Duc"),
    ("56", "Morbihan", "Vannes"),
    ("57", "Moselle", "Metz"),
    ("58", "Nièvre", "Nevers"),
    ("59", "Nord", "Lille"),
    ("60", "Oise", "Beauvais"),
    ("61", "Orne", "Alençon"),
    ("62", "Pas-de-Calais", "Arras"),
    ("63", "Puy-de-Dôme", "Clermont-Ferrand"),
    ("64", "Pyrénées-Atlantiques", "Pau"),
    ("65", "Hautes-Pyrénées", "Tarbes"),
    ("66", "Pyrénées-Orientales", "Perpignan"),
    ("67", "Bas-Rhin", "Strasbourg"),
    ("68", "Haut-Rhin", "Colmar"),
    ("69", "Rhône", "Lyon"),
    ("70", "Haute-Saône", "Vesoul"),
    ("71", "Saône-et-Loire", "Mâcon"),
    ("72", "Sarthe", "Le Mans"),
    ("73", "Savoie", "Chambéry"),
    ("74", "Haute-Savoie", "Annecy"),
    ("75", "Paris", "Paris"),
    ("76", "Seine-Maritime", "Rouen"),
    ("77", "Seine-et-Marne", "Melun"),
    ("78", "Yvelines", "Versailles"),
    ("79", "Deux-Sèvres", "Niort"),
    ("80", "Somme", "Amiens"),
    ("81", "Tarn", "Albi"),
    ("82", "Tarn-et-Garonne", "Montauban"),
    ("83", "Var", "Toulon"),
    ("84", "Vaucluse", "Avignon"),
    ("85", "Vendée", "La Roche-sur-Yon"),
    ("86", "Vienne", "Poitiers"),
    ("87", "Haute-Vienne", "Limoges"),
    ("88", "Vosges", "Épinal"),
    ("89", "Yonne", "Auxerre"),
    ("90", "Territoire de Belfort", "Belfort"),
    ("91", "Essonne", "Évry-Courcouronnes"),
    ("92", "Hauts-de-Seine", "Nanterre"),
    ("93", "Seine-Saint-Denis", "Bobigny"),
    ("94", "Val-de-Marne", "Créteil"),
    ("95", "Val-d'Oise", "Cergy"),
)

_OVERSEAS_DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("971", "Guadeloupe", "Basse-Terre"),
    ("972", "Martinique", "Fort-de-France"),
    ("973", "Guyane", "Cayenne"),
    ("974", "La Réunion", "Saint-Denis"),
    ("976", "Mayotte", "Mamoudzou"),
)

_OVERSEAS_COLLECTIVITIES: tuple[tuple[str, str, str], ...] = (
    ("975", "Saint-Pierre-et-Miquelon", "Saint-Pierre"),
    ("977", "Saint-Barthélemy", "Gustavia"),
    ("978", "Saint-Martin", "Marigot"),
    ("986", "Wallis-et-Futuna", "Mata-Utu"),
    ("987", "Polynésie française", "Papeete"),
    ("988", "Nouvelle-Calédonie", "Nouméa"),
)

DEPARTMENTS: Mapping[str, Department] = MappingProxyType(
    {
        **{code: Department(code, name, seat) for code, name, seat in _MAINLAND},
        **{
            code: Department(code, name, seat, overseas=True)
            for code, name, seat in _OVERSEAS_DEPARTMENTS
        },
        **{
            code: Department(code, name, seat, overseas=True, collectivity=True)
            for code, name, seat in _OVERSEAS_COLLECTIVITIES
        },
    }
)
"""Every known code → :class:`Department` (101 départements + 6 overseas collectivities)."""

ETALAB_OVERSEAS_CODES: Mapping[str, str] = MappingProxyType(
    {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9E": "975", "9F": "976"}
)
"""FINESS etalab ``departement`` codes of overseas territories. 9A→971 is verified;
9B/9C/9D/9F follow the same order (domain §8.1, [M]); 9E→975 is an assumption."""

# Postcodes of the two overseas collectivities that share the Guadeloupe prefix 971.
_POSTCODE_OVERRIDES: Mapping[str, str] = MappingProxyType({"97133": "977", "97150": "978"})


def get_department(code: str) -> Department:
    """The département for an INSEE code (``69``, ``2A``, ``971``); lower case is accepted."""
    key = code.strip().upper()
    department = DEPARTMENTS.get(key)
    if department is None:
        raise IdentifierError("department", "unknown", f"code de département {key[:10]!r} inconnu")
    return department


def department_label(code: str) -> str:
    """Official name, e.g. ``Rhône`` for ``69``."""
    return get_department(code).name


def state_value(code: str) -> str:
    """The ST value of an ORG certificate subject, e.g. ``Rhône (69)``, ``Guadeloupe (971)``."""
    return get_department(code).state_value


def department_from_etalab(code: str) -> str:
    """INSEE département code for an etalab FINESS ``departement`` field (``9A`` → ``971``)."""
    key = code.strip().upper()
    return get_department(ETALAB_OVERSEAS_CODES.get(key, key)).code


def department_from_postcode(postcode: str) -> str:
    """Département code for a French postcode.

    ``97xxx``/``98xxx`` → the first three digits (97133 Saint-Barthélemy → 977, 97150
    Saint-Martin → 978); ``20xxx`` → ``2A`` below 20200, else ``2B`` (the usual split, which a
    few border communes do not follow); otherwise the first two digits.
    """
    text = postcode.strip()
    if len(text) != 5 or not all("0" <= char <= "9" for char in text):
        raise IdentifierError(
            "postcode", "format", f"code postal {text[:20]!r}: 5 chiffres attendus"
        )
    if text in _POSTCODE_OVERRIDES:
        code = _POSTCODE_OVERRIDES[text]
    elif text.startswith(("97", "98")):
        code = text[:3]
    elif text.startswith("20"):
        code = "2A" if int(text) < 20200 else "2B"
    else:
        code = text[:2]
    if code not in DEPARTMENTS:
        raise IdentifierError(
            "postcode", "department", f"code postal {text}: aucun département connu ({code})"
        )
    return code
