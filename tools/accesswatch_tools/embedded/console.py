"""The console on the local endpoint: the template's ConsoleFunction, invoked with the HTTP API's event
(payload format 2.0) for each browser request, on a port of its own (``console_url``).

There is no Cognito locally. A person picks a role and a user id on ``/local-sign-in`` (a cookie remembers
them); this adapter then puts them into the event as the JWT claims API Gateway puts there on AWS after
verifying a Cognito token (``cognito:username``, ``cognito:groups``), marked ``accesswatch:local`` so every
page says it is local. Anyone who can reach the loopback port can pick any role, as anyone who can run the
CLI as this OS user can act: the local endpoint has no authentication, and the page says so.
"""

from __future__ import annotations

import base64
import html
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from accesswatch.console.principal import LOCAL_CLAIM, USER_ID
from accesswatch.console.roles import Role

IDENTITY_COOKIE = "aw_local_identity"
SIGN_IN = "/local-sign-in"
FUNCTION = "ConsoleFunction"
DEFAULT_USER = "console-user"

_STATUS_TEXT = {200: "OK", 303: "See Other", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                404: "Not Found", 409: "Conflict", 421: "Misdirected Request", 500: "Internal Server Error",
                502: "Bad Gateway"}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _identity(cookie_header: str) -> tuple[str, Role] | None:
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == IDENTITY_COOKIE:
            role, _, user = unquote(value).partition(":")
            if role in {r.value for r in Role} and USER_ID.match(user):
                return user, Role(role)
    return None


def _sign_in_page(error: str = "", user: str = DEFAULT_USER) -> bytes:
    options = "".join(f'<option value="{r.value}">{html.escape(r.value)}</option>' for r in Role)
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (local) · accesswatch</title>
<link rel="stylesheet" href="/static/console.css"></head>
<body><main id="main"><h1>Sign in to the local console</h1>
<p class="notice" role="note">This is the local endpoint: there is <strong>no Cognito</strong> here, and no
password. Pick the role to work in and your staff user id (the id your own accesses are recorded under).
On AWS your role comes from your Cognito group.</p>{problem}
<form method="post" action="{SIGN_IN}" class="action">
<label for="role">Role</label> <select id="role" name="role">{options}</select>
<label for="user_id">User id</label> <input id="user_id" name="user_id" value="{html.escape(user)}" required
 pattern="[A-Za-z0-9._@-]{{1,64}}">
<button type="submit" id="sign-in">Sign in</button>
</form></main></body></html>""".encode()


def _loopback_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_NAMES


class LocalConsole:
    """A WSGI application: the local sign-in page, then every request as an invocation of ConsoleFunction."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.function = aws.resource_name(FUNCTION)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "/") or "/"
        if not _loopback_host(environ.get("HTTP_HOST", "")):
            # A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) must not reach the console.
            start_response("421 Misdirected Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"the local console answers on 127.0.0.1 or localhost only"]
        cookie_header = environ.get("HTTP_COOKIE", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        if path == SIGN_IN:
            return self._sign_in(environ, method, body, start_response)
        identity = _identity(cookie_header)
        if identity is None and not path.startswith("/static/"):
            start_response("303 See Other", [("Location", SIGN_IN), ("Cache-Control", "no-store")])
            return [b""]
        return self._invoke(environ, method, path, body, identity, start_response)

    def _sign_in(self, environ: dict[str, Any], method: str, body: bytes, start_response: Any) -> list[bytes]:
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"),
                   ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff")]
        if method != "POST":
            start_response("200 OK", headers)
            return [_sign_in_page()]
        if environ.get("HTTP_SEC_FETCH_SITE", "same-origin") not in ("same-origin", "none") or (
                environ.get("HTTP_ORIGIN") and not _loopback_host(environ["HTTP_ORIGIN"].split("://", 1)[-1])):
            start_response("403 Forbidden", headers)
            return [_sign_in_page("Sign in from this page itself.")]
        form = parse_qs(body.decode("utf-8", "replace"))
        role = (form.get("role") or [""])[0]
        user = (form.get("user_id") or [""])[0].strip()
        if role not in {r.value for r in Role} or not USER_ID.match(user):
            start_response("400 Bad Request", headers)
            return [_sign_in_page("Pick a role, and a user id of letters, digits and . _ @ - only.", user)]
        value = quote(f"{role}:{user}", safe="")
        start_response("303 See Other", [("Location", "/"), ("Cache-Control", "no-store"),
                                         ("Set-Cookie", f"{IDENTITY_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict")])
        return [b""]

    def event(self, environ: dict[str, Any], method: str, path: str, body: bytes,
              identity: tuple[str, Role] | None) -> dict[str, Any]:
        """The HTTP API's payload 2.0 event for this request (as API Gateway builds it)."""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
        headers["x-forwarded-proto"] = "http"
        raw_query = environ.get("QUERY_STRING", "")
        params = {k: ",".join(v) for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        request_id = uuid.uuid4().hex
        event: dict[str, Any] = {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": raw_query,
            "cookies": cookies, "headers": headers, "queryStringParameters": params or None,
            "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                                        "userAgent": headers.get("user-agent", "")},
                               "requestId": request_id, "routeKey": "$default", "stage": "$default",
                               "domainName": headers.get("host", "")},
            "body": base64.b64encode(body).decode() if body else None, "isBase64Encoded": bool(body),
        }
        if identity is not None:
            user, role = identity
            event["requestContext"]["authorizer"] = {"jwt": {"claims": {
                "cognito:username": user, "cognito:groups": f"[{role.value}]", LOCAL_CLAIM: "true"}, "scopes": None}}
        return event

    def _invoke(self, environ: dict[str, Any], method: str, path: str, body: bytes,
                identity: tuple[str, Role] | None, start_response: Any) -> list[bytes]:
        event = self.event(environ, method, path, body, identity)
        answer = self.aws.client("lambda").invoke(FunctionName=self.function, Payload=json.dumps(event).encode())
        payload = answer["Payload"].read()
        if answer.get("FunctionError"):
            start_response("502 Bad Gateway", [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])
            return [b"The console function failed; see the endpoint's log (accesswatch local status)."]
        response = json.loads(payload)
        status = int(response.get("statusCode", 200))
        out_headers = [(k, str(v)) for k, v in (response.get("headers") or {}).items()]
        out_headers += [("Set-Cookie", c) for c in response.get("cookies") or []]
        content = response.get("body") or ""
        data = base64.b64decode(content) if response.get("isBase64Encoded") else str(content).encode()
        start_response(f"{status} {_STATUS_TEXT.get(status, 'Status')}", out_headers)
        return [data]


CONSOLE_MARK = "HTTP_X_ACCESSWATCH_CONSOLE"  # set on every request that came in on the console's port


class ConsoleOrMoto:
    """The endpoint's one application behind the journal: a request that came in on the console's port (marked
    by ``marked``) goes to the console, any other to moto. Journaled console actions (a decision, an outcome, a
    note: POSTs) are thus replayed to the console after a crash, as moto's requests are to moto, so an action a
    person saw accepted survives a kill -9 like an action made with the CLI."""

    def __init__(self, moto_app: Any, console: LocalConsole | None) -> None:
        self.moto_app = moto_app
        self.console = console

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get(CONSOLE_MARK) and self.console is not None:
            return self.console(environ, start_response)
        return self.moto_app(environ, start_response)


def marked(app: Any) -> Any:
    """The console port's application: marks each request (a header, so a journaled request keeps the mark)."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        # "static": the stylesheet and script, the only console requests that change nothing (not journaled).
        environ[CONSOLE_MARK] = "static" if str(environ.get("PATH_INFO", "")).startswith("/static/") else "1"
        return app(environ, start_response)

    return application
