"""Issuance in two steps: *prepare* (build + lint a TBS) then *sign* (exactly that TBS).

Between the two, the caller records the serial and the linted TBS: nothing is ever signed
that was not recorded first (see ``docs/architecture.md``).
"""

from sceau.pki.issuance.lint import lint_certificate, pkix_findings, segur_findings
from sceau.pki.issuance.models import IssuanceRequest, IssuerContext, PreparedCertificate
from sceau.pki.issuance.prepare import new_serial, prepare_certificate
from sceau.pki.issuance.sign import sign_prepared, sign_tbs

__all__ = [
    "IssuanceRequest",
    "IssuerContext",
    "PreparedCertificate",
    "lint_certificate",
    "new_serial",
    "pkix_findings",
    "prepare_certificate",
    "segur_findings",
    "sign_prepared",
    "sign_tbs",
]
