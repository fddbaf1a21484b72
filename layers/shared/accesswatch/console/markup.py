"""Pages are Jinja2 templates (``templates/``) rendered with autoescaping on: every value from logs,
reference data, cases or the request is escaped wherever it lands (text or attribute), and nothing is
marked safe that did not come from this package. ``StrictUndefined``: a missing value is a bug, not a
blank cell."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from accesswatch.cases import MAX_NOTE_CHARS
from accesswatch.console.principal import Principal
from accesswatch.console.roles import NAVIGATION
from accesswatch.quarters import nz_time

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def _nz(value: object, seconds: bool = False) -> str:
    return nz_time(value, seconds=seconds) if value else ""


def _number(value: object, places: int = 0) -> str:
    if value is None or value == "":
        return ""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return f"{number:,.{places}f}"


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["nz"] = _nz
    env.filters["number"] = _number
    env.globals["max_note_chars"] = MAX_NOTE_CHARS  # a form's note or reason: the cap the case code enforces
    return env


def render(template: str, *, principal: Principal | None, title: str, csrf_token: str = "",
           active: str = "", **values: Any) -> str:
    """One page: ``template`` inside the layout (navigation for the principal's roles, who is signed in,
    and on the local endpoint the notice that there is no Cognito)."""
    nav = [] if principal is None else [
        {"path": path, "label": label, "active": path == active}
        for perm, path, label in NAVIGATION if principal.may(perm)]
    context: Mapping[str, Any] = {"principal": principal, "title": title, "nav": nav, "csrf_token": csrf_token,
                                  "active": active, **values}
    return environment().get_template(template).render(context)
