"""The revocation-status job: run by the worker loop (``sceau.worker.runner``), in ``sceau
worker`` or in the thread ``sceau serve`` starts, under a cluster lease.

It is idempotent and safe to run from several processes at once: issuance intents are taken
with ``SKIP LOCKED``, CRL numbers under the CA row lock. Run every few seconds, it makes a
revocation show in the CRLs and in OCSP within a minute.
"""

from __future__ import annotations

from typing import Any

from sceau.registration.use_cases.issue_certificate import resume_pending_issuance
from sceau.registration.use_cases.recover_orders import resume_interrupted_orders
from sceau.registration.use_cases.revocation_status import publish_revocation_status


def refresh_revocation_status(container: Any) -> list[str]:
    """Finish interrupted issuances and orders, then bring CRLs and OCSP up to date."""
    lines = [f"émission reprise: {serial}" for serial in resume_pending_issuance(container)]
    lines += resume_interrupted_orders(container)
    return lines + publish_revocation_status(container)
