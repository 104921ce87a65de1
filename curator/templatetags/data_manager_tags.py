"""HTML of the data manager's filter fields and table cells, built in Python.

A page has ~20 selects with ~250 options and 50 rows of up to 15 cells; Django's widget
templates (one include per option) and an elif chain per cell cost more than all the page's
queries together on a 1M-record project. Everything goes through format_html, so user text is
escaped exactly as in a template.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def filter_field(field: BoundField) -> SafeString:
    """A labelled select (for a choice field) or input, holding the field's current value."""
    value = field.value()
    current = "" if value in (None, "") else str(value)
    choices = getattr(field.field, "choices", None)
    if choices is not None:
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((str(v), mark_safe(" selected") if str(v) == current else "", name)
             for v, name in choices),
        )  # fmt: skip
        control = format_html('<select name="{}" id="{}">{}</select>', field.html_name,
                              field.auto_id, options)  # fmt: skip
    else:
        kind = "number" if field.field.__class__.__name__ in ("IntegerField", "FloatField") else (
            "text")  # fmt: skip
        step = mark_safe(' step="any"') if kind == "number" else ""
        control = format_html('<input type="{}" name="{}" id="{}" value="{}"{}>', kind,
                              field.html_name, field.auto_id, current, step)  # fmt: skip
    return format_html("<label>{} {}</label>", field.label, control)


def _chips(*chips: tuple[bool, str, str]) -> SafeString:
    return format_html_join(
        "", '<span class="chip{}">{}</span>', ((" warn" if warn else "", text)
                                               for show, text, warn in chips if show)  # type: ignore[misc]
    )  # fmt: skip


@register.simple_tag
def record_cells(row: Any, shown: list[str]) -> SafeString:
    """The cells of one data manager row, in the order of the shown columns."""
    record = row.record
    cells = []
    for col in shown:
        if col == "text":
            text = row.text if len(row.text) <= 240 else row.text[:239] + "…"
            cells.append(format_html('<td class="text">{}</td>', text))
        elif col == "label":
            cells.append(format_html('<td class="label">{}</td>', row.label))
        elif col == "label_source":
            cells.append(format_html("<td>{}</td>", row.label_source))
        elif col == "annotators":
            reserved = getattr(row, "reserved", [])
            note = format_html('<br><span class="muted">reserved: {}</span>',
                               ", ".join(reserved)) if reserved else ""  # fmt: skip
            cells.append(format_html("<td>{}{}</td>", ", ".join(row.annotators), note))
        elif col in ("split", "origin"):
            cells.append(format_html("<td>{}</td>", getattr(record, col)))
        elif col == "state":
            chips = _chips(
                (record.held, "held", True), (bool(record.review), record.review, False),
                (bool(record.route), record.route, False),
                (record.filtered_by_id is not None, "filtered", False),
            )  # fmt: skip
            cells.append(format_html("<td>{}</td>", chips))
        elif col == "flags":
            chips = _chips((row.noise, "label error?", True), (row.flagged, "flagged", True))
            cells.append(format_html("<td>{}</td>", chips))
        else:  # a score
            value = row.scores.get(col)
            shown_value = "\N{EN DASH}" if value is None else f"{value:.3f}"
            cells.append(format_html('<td class="num">{}</td>', shown_value))
    return mark_safe("".join(cells))  # noqa: S308 - each cell went through format_html
