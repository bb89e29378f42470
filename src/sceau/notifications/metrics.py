"""Prometheus text exposition (format 0.0.4) of certificates, outbox and job figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HORIZONS = (30, 60, 90)
OUTBOX_STATUSES = ("pending", "claimed", "sending", "sent", "failed", "unknown")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, **labels: str) -> None:
        text = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
        number = repr(float(value)) if isinstance(value, float) else str(value)
        self.lines.append(f"{name}{{{text}}} {number}" if text else f"{name} {number}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render_metrics(uow: Any, now: dt.datetime) -> str:
    out = _Exposition()
    out.family("sceau_certificates", "gauge", "Certificates by state.")
    states = uow.metrics.certificates_by_state(now)
    for state in sorted({"valid", "expired", "revoked", "prepared", "abandoned", *states}):
        out.sample("sceau_certificates", states.get(state, 0), state=state)

    out.family("sceau_certificates_expiring", "gauge", "Valid certificates expiring within N days.")
    for days, count in uow.metrics.expiring_within(now, HORIZONS).items():
        out.sample("sceau_certificates_expiring", count, within_days=str(days))

    counts = uow.outbox.counts_by_status()
    out.family("sceau_outbox_messages", "gauge", "Outbox messages by delivery status.")
    for status in sorted({*OUTBOX_STATUSES, *counts}):
        out.sample("sceau_outbox_messages", counts.get(status, 0), status=status)
    backlog = sum(counts.get(status, 0) for status in ("pending", "claimed", "sending"))
    out.family("sceau_outbox_backlog", "gauge", "Messages not yet delivered.")
    out.sample("sceau_outbox_backlog", backlog)
    out.family(
        "sceau_outbox_failures",
        "gauge",
        "Messages needing the operator: failed for good, or unknown after a crash.",
    )
    out.sample("sceau_outbox_failures", counts.get("failed", 0) + counts.get("unknown", 0))
    oldest = uow.outbox.oldest_pending()
    out.family(
        "sceau_outbox_oldest_pending_seconds", "gauge", "Age of the oldest undelivered message."
    )
    out.sample(
        "sceau_outbox_oldest_pending_seconds",
        float((now - oldest).total_seconds()) if oldest else 0.0,
    )

    jobs = [job for job in uow.job_leases.all() if not job.name.endswith(":watermark")]
    out.family("sceau_job_runs_total", "counter", "Job runs.")
    for job in jobs:
        out.sample("sceau_job_runs_total", int(job.runs), job=job.name)
    out.family("sceau_job_failures_total", "counter", "Job runs that raised.")
    for job in jobs:
        out.sample("sceau_job_failures_total", int(job.failures), job=job.name)
    out.family("sceau_job_duration_seconds_sum", "counter", "Total time spent in the job.")
    for job in jobs:
        out.sample(
            "sceau_job_duration_seconds_sum", float(job.total_duration_seconds), job=job.name
        )
    out.family("sceau_job_last_duration_seconds", "gauge", "Duration of the last run.")
    for job in jobs:
        out.sample(
            "sceau_job_last_duration_seconds", float(job.last_duration_seconds or 0.0), job=job.name
        )
    out.family("sceau_job_last_run_timestamp_seconds", "gauge", "Start of the last run.")
    for job in jobs:
        started = job.last_started_at.timestamp() if job.last_started_at else 0.0
        out.sample("sceau_job_last_run_timestamp_seconds", float(started), job=job.name)
    return out.text()
