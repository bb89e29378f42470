"""Server-rendered SVG charts (no JavaScript): the expiry timeline of the home page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

SHORT_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin",
                "juil.", "août", "sept.", "oct.", "nov.", "déc.")  # fmt: skip


@dataclass(frozen=True)
class MonthCount:
    year: int
    month: int
    count: int
    urgent: bool  # within the renewal window (60 days)

    @property
    def label(self) -> str:
        return f"{SHORT_MONTHS[self.month - 1]} {self.year}"


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def monthly_expiries(
    expiries: Iterable[dt.datetime], now: dt.datetime, months: int = 37
) -> list[MonthCount]:
    """Certificates expiring per calendar month, from this month on, ``months`` months
    (37 by default: a certificate issued today, valid 3 years, falls in the last one)."""
    buckets: dict[tuple[int, int], int] = {}
    for when in expiries:
        if when >= now:
            buckets[(when.year, when.month)] = buckets.get((when.year, when.month), 0) + 1
    urgent_until = now + dt.timedelta(days=60)
    result = []
    for offset in range(months):
        year, month = _add_months(now.year, now.month, offset)
        result.append(
            MonthCount(
                year,
                month,
                buckets.get((year, month), 0),
                (year, month) <= (urgent_until.year, urgent_until.month),
            )
        )
    return result


def expiry_timeline_svg(counts: list[MonthCount], *, title: str) -> Markup:
    """A bar chart: one bar per month; the renewal window in a darker colour."""
    width, height = 760, 200
    left, right, top, bottom = 36, 8, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((c.count for c in counts), default=0)
    scale_max = max(peak, 1)
    step = plot_w / max(len(counts), 1)
    bar_w = max(step * 0.7, 2)
    parts = [
        f'<svg class="frise" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="frise-titre frise-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="frise-titre">{escape(title)}</title>',
        f'<desc id="frise-desc">{escape(_description(counts))}</desc>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'class="axe"/>',
        f'<text x="{left - 6}" y="{top + 4}" class="graduation" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" class="graduation" text-anchor="end">0</text>',
    ]
    for index, month in enumerate(counts):
        x = left + index * step + (step - bar_w) / 2
        bar_h = plot_h * month.count / scale_max
        y = top + plot_h - bar_h
        css = "barre urgente" if month.urgent else "barre"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{bar_h:.1f}" '
            f'class="{css}"><title>{escape(month.label)}: {month.count} certificat(s)</title>'
            "</rect>"
        )
        if month.count:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" class="valeur" '
                f'text-anchor="middle">{month.count}</text>'
            )
        if (month.month in (1, 7) and index >= 4) or index == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" class="graduation" '
                f'text-anchor="middle">{escape(month.label)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 — every interpolated text is escaped above


def _description(counts: list[MonthCount]) -> str:
    busy = [f"{c.label}: {c.count}" for c in counts if c.count]
    if not busy:
        return "Aucun certificat n'arrive à expiration sur la période."
    return "Expirations par mois — " + ", ".join(busy)
