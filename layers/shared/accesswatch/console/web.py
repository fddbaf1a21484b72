"""What every page handler uses: who is asking, the data sources, rendering a page inside the layout, the
submitted form, the audit record of a read and the access events of the clients a page shows.

Pages are powertools ``Router``s (``pages/*.py``), included by ``functions/console/app.py``; the handler puts
``principal``, ``sources``, ``csrf_token`` and ``request_id`` into the resolver's context before routing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.console.access_events import access_events, write_access_events
from accesswatch.console.markup import render
from accesswatch.console.principal import Principal
from accesswatch.console.roles import Permission
from accesswatch.console.sources import ConsoleSources

HTML = "text/html; charset=utf-8"
MAX_FORM_BYTES = 64 * 1024


class BadRequest(Exception):
    """A request the console cannot act on (400), with a one-line reason for the person."""


class NotFound(Exception):
    """No such case, client or page (404)."""


class Unavailable(Exception):
    """What a page needs could not be read from AWS now (503), with the error code only."""


def principal(router: Router) -> Principal:
    who = router.context["principal"]
    assert isinstance(who, Principal)  # noqa: S101 - the handler always sets it
    return who


def allowed(router: Router, permission: Permission) -> Principal:
    """The principal, if their roles grant ``permission`` (Forbidden, a 403, otherwise)."""
    who = principal(router)
    who.require(permission)
    return who


def sources(router: Router) -> ConsoleSources:
    found = router.context["sources"]
    assert isinstance(found, ConsoleSources)  # noqa: S101 - the handler always sets it
    return found


def page(router: Router, template: str, *, title: str, active: str = "", status: int = 200,
         **values: Any) -> Response:
    body = render(template, principal=principal(router), title=title, active=active,
                  csrf_token=router.context.get("csrf_token", ""), **values)
    return Response(status_code=status, content_type=HTML, body=body)


def redirect(location: str) -> Response:
    if not location.startswith("/") or location.startswith("//"):
        raise BadRequest("redirects stay on this site")
    return Response(status_code=303, content_type=HTML, body="", headers={"Location": location})


def download(body: str | bytes, *, filename: str, content_type: str) -> Response:
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._-") or "download"
    return Response(status_code=200, content_type=content_type, body=body,
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})


def form(router: Router) -> dict[str, list[str]]:
    """The submitted form (application/x-www-form-urlencoded), every field as a list of values."""
    return form_of_event(router.current_event.raw_event)


def form_of_event(event: Mapping[str, Any]) -> dict[str, list[str]]:
    raw = event.get("body") or ""
    data = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode()
    if len(data) > MAX_FORM_BYTES:
        raise BadRequest("the form is too large")
    return parse_qs(data.decode("utf-8", "replace"), keep_blank_values=True)


def field(values: Mapping[str, list[str]], name: str, default: str = "") -> str:
    return (values.get(name) or [default])[0].strip()


def query(router: Router, name: str, default: str = "") -> str:
    params = router.current_event.get("queryStringParameters") or {}
    return str(params.get(name, default) or default).strip()


def audit(router: Router, action: str, *, subject: Mapping[str, Any], result: Mapping[str, Any],
          reason: str = "") -> None:
    """Write the audit record of a read before it is shown (the caller then renders); an exception stops
    the page, as the CLI refuses to show what it could not record."""
    from accesswatch.audit import Actor, new_record

    who = principal(router)
    actor = Actor(name=who.actor_name, source="console_local" if who.local else "cognito")
    record = new_record(actor=actor, action=action, subject=subject, result=result, reason=reason,
                        source="console", target="console")
    sources(router).audit.add(record)


def viewed_clients(router: Router, client_ids: Iterable[str], *, page_name: str) -> None:
    """Record that this request shows ``client_ids``: access events of the system ``accesswatch``."""
    src = sources(router)
    request_id = str(router.context.get("request_id") or "")
    events = access_events(principal(router), client_ids, page=page_name, request_id=request_id)
    write_access_events(src.client("s3"), src.settings.raw_bucket, src.settings.console_system, events,
                        request_id=f"{request_id}|{page_name}")
