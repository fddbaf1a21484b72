"""Signing in on AWS: the pages a person opens before they hold a token, served without the JWT authorizer
(the API's ``GET /auth/{proxy+}`` route) and without a principal (``functions/console/app.py``).

API Gateway's JWT authorizer reads the token from the ``Authorization`` header only, never from a cookie, so
the browser holds the Cognito id token and sends it with every request: ``static/console.js`` does the
authorization-code flow with PKCE against the hosted sign-in page (the verifier and the token kept in
``sessionStorage``, gone with the tab), then loads every page and submits every form with ``fetch`` and
``Authorization: Bearer``, inside the console page ``/auth/console`` (the address the stack's ``ConsoleUrl``
output gives; a page's own address after ``#``, so a reload or a bookmark opens it again).

These pages show no data, read no store and change nothing: each is the same small page whose ``<body>``
carries the sign-in settings in ``data-`` attributes (no inline script: the CSP allows scripts from 'self'
only), and whose CSP also lets the script reach the hosted page's token endpoint. On the local endpoint
there is no Cognito (no ``COGNITO_DOMAIN``): every ``/auth/`` address goes to the console's start, where the
local endpoint's own sign-in page picks the role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.config import ConsoleSettings
from accesswatch.console import protection
from accesswatch.console.markup import render
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import HTML, redirect

router = Router()
CONSOLE_PAGE = "/auth/console"
_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,128}$")

# mode -> (title, what the page says while its script works, or for good when it has nothing to do)
PAGES: dict[str, tuple[str, str]] = {
    "sign-in": ("Signing in", "Taking you to the sign-in page..."),
    "callback": ("Signing in", "Finishing signing in..."),
    "console": ("accesswatch console", "Loading..."),
    "sign-out": ("Signing out", "Signing you out..."),
    "signed-out": ("Signed out", "You are signed out of the console."),
}


@dataclass(frozen=True)
class Cognito:
    """Where the browser signs in: the hosted page's address and the app client."""

    domain: str  # https://<prefix>.auth.<region>.amazoncognito.com
    client_id: str


def cognito_of(settings: ConsoleSettings) -> Cognito | None:
    """The sign-in settings, or None when there is no Cognito (the local endpoint, where the template's
    Cognito resources do not exist) or a setting is not what the template gives."""
    prefix, region, client = settings.cognito_domain, settings.aws_region, settings.cognito_client_id
    if not (_PREFIX.match(prefix) and _REGION.match(region) and _CLIENT_ID.match(client)):
        return None
    return Cognito(domain=f"https://{prefix}.auth.{region}.amazoncognito.com", client_id=client)


def content_security_policy(cognito: Cognito) -> str:
    """The console's policy, with the hosted page's token endpoint added to what scripts may connect to."""
    policy = protection.security_headers(secure=True)["Content-Security-Policy"]
    return policy.replace("connect-src 'self'", f"connect-src 'self' {cognito.domain}")


def auth_page(mode: str, cognito: Cognito) -> Response:
    title, message = PAGES[mode]
    body = render("auth.html", principal=None, title=title, mode=mode, message=message,
                  cognito_domain=cognito.domain, client_id=cognito.client_id, console_page=CONSOLE_PAGE)
    return Response(status_code=200, content_type=HTML, body=body,
                    headers={"Content-Security-Policy": content_security_policy(cognito)})


def _page(mode: str) -> Response:
    src = router.context["sources"]
    assert isinstance(src, ConsoleSources)  # noqa: S101 - the handler always sets it
    cognito = cognito_of(src.settings)
    if cognito is None:
        return redirect("/")
    return auth_page(mode, cognito)


@router.get("/auth/sign-in")
def sign_in() -> Response:
    return _page("sign-in")


@router.get("/auth/callback")
def callback() -> Response:
    return _page("callback")


@router.get(CONSOLE_PAGE)
def console() -> Response:
    return _page("console")


@router.get("/auth/sign-out")
def sign_out() -> Response:
    return _page("sign-out")


@router.get("/auth/signed-out")
def signed_out() -> Response:
    return _page("signed-out")
