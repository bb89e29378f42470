"""The server-rendered expiry timeline: monthly buckets and an accessible SVG."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

from sceau.web.portal.charts import expiry_timeline_svg, monthly_expiries

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def test_buckets_cover_three_years_and_flag_the_renewal_window():
    expiries = [
        NOW + dt.timedelta(days=10),  # this month… or the next
        NOW + dt.timedelta(days=20),
        dt.datetime(2029, 11, 29, 12, 0, tzinfo=dt.UTC),  # issued today: last bucket
        NOW - dt.timedelta(days=1),  # already expired: not shown
    ]
    months = monthly_expiries(expiries, NOW)
    assert len(months) == 37
    assert (months[0].year, months[0].month) == (2026, 11)
    assert (months[-1].year, months[-1].month, months[-1].count) == (2029, 11, 1)
    assert months[0].count + months[1].count == 2
    assert months[0].urgent and months[2].urgent and not months[3].urgent
    assert sum(m.count for m in months) == 3


def test_svg_is_well_formed_labelled_and_escaped():
    months = monthly_expiries([NOW + dt.timedelta(days=40)], NOW)
    svg = str(expiry_timeline_svg(months, title="Expirations <test> & co"))
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "frise-titre frise-desc"
    namespace = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{namespace}title").text == "Expirations <test> & co"
    assert "janv. 2027: 1" in root.find(f"{namespace}desc").text
    bars = root.findall(f"{namespace}rect")
    assert len(bars) == 37 and sum("urgente" in b.get("class") for b in bars) == 3


def test_empty_timeline_says_so():
    svg = str(expiry_timeline_svg(monthly_expiries([], NOW), title="t"))
    assert "Aucun certificat n&#x27;arrive" in svg or "Aucun certificat n'arrive" in svg
