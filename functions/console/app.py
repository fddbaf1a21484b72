"""Console: the investigators' web pages (HTTP API, payload v2), on AWS behind a Cognito JWT authorizer and
locally served by the local endpoint with the same event shape (``accesswatch_tools.embedded.console``).

The handler only wires: who is asking (``principal``), CSRF and security headers (``protection``), then the
page routers (``accesswatch.console.pages``). Every page checks its own permission on the server.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.typing import LambdaContext

from accesswatch.config import ConsoleSettings
from accesswatch.console import protection
from accesswatch.console.markup import render
from accesswatch.console.pages import ROUTERS
from accesswatch.console.principal import Forbidden, NotSignedIn, Principal, principal_from_event
from accesswatch.console.roles import home
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import HTML, BadRequest, NotFound, Unavailable, field, form_of_event
from accesswatch.observability import observability

SETTINGS = ConsoleSettings.from_env()
logger, metrics, tracer = observability("console")
SOURCES = ConsoleSources(SETTINGS)
app = APIGatewayHttpResolver()
PUBLIC = ("/static/", "/auth/")  # the API's routes without the JWT authorizer (template.yaml)
for router in ROUTERS:
    app.include_router(router)


@app.get("/")
def index() -> Response:
    who: Principal = app.context["principal"]
    target = home(who.granted)
    if target is None:
        return _error(403, "Your account has no console role", "Ask an administrator to add you to one of the "
                      "groups investigator, er_adviser, privacy_officer or operator.", who)
    return Response(status_code=303, content_type=HTML, body="", headers={"Location": target})


def _error(status: int, title: str, message: str, who: Principal | None) -> Response:
    body = render("error.html", principal=who, title=title, message=message, status=status)
    return Response(status_code=status, content_type=HTML, body=body)


@app.exception_handler(Forbidden)
def _forbidden(exc: Forbidden) -> Response:
    logger.warning("forbidden", extra={"permission": exc.permission.value, "path": app.current_event.path})
    return _error(403, "Not allowed", str(exc), app.context.get("principal"))


@app.exception_handler(BadRequest)
def _bad_request(exc: BadRequest) -> Response:
    return _error(400, "Cannot do that", str(exc), app.context.get("principal"))


@app.exception_handler(NotFound)
def _not_found(exc: NotFound) -> Response:
    return _error(404, "Not found", str(exc), app.context.get("principal"))


@app.exception_handler(Unavailable)
def _unavailable(exc: Unavailable) -> Response:
    logger.warning("unavailable", extra={"why": str(exc)})
    return _error(503, "Not available now", str(exc), app.context.get("principal"))


@app.not_found
def _no_route(exc: NotFoundError) -> Response:
    return _error(404, "Not found", "There is no such page.", app.context.get("principal"))


def _secure(event: dict[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return headers.get("x-forwarded-proto", "https") != "http"


def _finish(response: dict[str, Any], *, secure: bool, set_cookie: str | None) -> dict[str, Any]:
    headers = dict(response.get("headers") or {})
    for name, value in protection.security_headers(secure=secure).items():
        headers.setdefault(name, value)
    response["headers"] = headers
    if set_cookie:
        response["cookies"] = [*(response.get("cookies") or []), set_cookie]
    return response


# Pages carry personal details: the response never goes to X-Ray, and no key of one request stays on the logger.
@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    secure = _secure(event)
    headers = {k.lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", "GET"))
    path = str(event.get("rawPath") or "/")
    if path.startswith(PUBLIC):
        # The stylesheet and script, and the sign-in pages (pages/auth.py): no principal, no data.
        app.append_context(sources=SOURCES)
        try:
            response = app.resolve(event, context)
        finally:
            app.clear_context()
        return _finish(response, secure=secure, set_cookie=None)
    try:
        who = principal_from_event(event)
    except NotSignedIn:
        body = render("error.html", principal=None, title="Sign in", status=401,
                      message="You are not signed in. Open the console's address again to sign in.")
        return _finish({"statusCode": 401, "headers": {"Content-Type": HTML}, "body": body}, secure=secure,
                       set_cookie=None)
    cookies = protection.cookies_of(headers, event.get("cookies"))
    token = cookies.get(protection.cookie_name(secure)) or ""
    set_cookie = None
    if not token:
        token = protection.new_token()
        set_cookie = protection.set_cookie(token, secure)
    request_id = str((event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", ""))
    logger.append_keys(user_id=who.user_id, path=path, method=method)
    app.append_context(principal=who, sources=SOURCES, csrf_token=token, request_id=request_id)
    try:
        if method.upper() not in ("GET", "HEAD"):
            host = headers.get("host", "")
            try:
                submitted = field(form_of_event(event), "csrf_token")
                protection.check(method=method, headers=headers, cookies=cookies, form_token=submitted,
                                 host=host, secure=secure)
            except (protection.CsrfRejected, BadRequest) as exc:
                logger.warning("csrf rejected", extra={"why": str(exc)})
                body = render("error.html", principal=who, title="Not accepted", status=403, message=str(exc))
                return _finish({"statusCode": 403, "headers": {"Content-Type": HTML}, "body": body},
                               secure=secure, set_cookie=set_cookie)
        response = app.resolve(event, context)
    finally:
        app.clear_context()
    return _finish(response, secure=secure, set_cookie=set_cookie)

