"""What keeps the console safe whatever a page shows: security headers on every response, no caching (pages
carry personal details), and CSRF protection on every action.

CSRF: a double-submit token. Each browser gets a random token in a cookie (HttpOnly, SameSite=Strict; on AWS
``Secure`` with the ``__Host-`` prefix); every form carries the same token in a hidden field; a POST whose
field does not equal the cookie, or whose ``Origin`` / ``Sec-Fetch-Site`` says another site sent it, is
refused (403) before anything runs. On AWS the pages also carry the JWT in the Authorization header, which a
cross-site form cannot set: two independent defences.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from http.cookies import SimpleCookie
from typing import Final
from urllib.parse import urlsplit

TOKEN_BYTES: Final = 32


class CsrfRejected(Exception):
    """A state-changing request that did not prove it came from the console's own page (403)."""


def cookie_name(secure: bool) -> str:
    return "__Host-aw_csrf" if secure else "aw_csrf"


def cookies_of(headers: Mapping[str, str], cookie_list: list[str] | None = None) -> dict[str, str]:
    """The request's cookies (HTTP API payload v2 gives them as a list; a Cookie header otherwise)."""
    jar: SimpleCookie = SimpleCookie()
    for text in [*(cookie_list or []), headers.get("cookie", "")]:
        if text:
            try:
                jar.load(text)
            except Exception:  # noqa: BLE001,S112 - a malformed cookie from a browser is ignored, not a 500
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def set_cookie(token: str, secure: bool) -> str:
    attributes = "Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
    return f"{cookie_name(secure)}={token}; {attributes}"


def check(*, method: str, headers: Mapping[str, str], cookies: Mapping[str, str], form_token: str | None,
          host: str, secure: bool) -> None:
    """Raise CsrfRejected unless a state-changing request carries the cookie's token and comes from this
    site."""
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return
    fetch_site = headers.get("sec-fetch-site", "")
    if fetch_site and fetch_site not in ("same-origin", "none"):
        raise CsrfRejected(f"request from another site ({fetch_site})")
    origin = headers.get("origin", "")
    if origin and origin != "null" and urlsplit(origin).netloc != host:
        raise CsrfRejected("request from another origin")
    expected = cookies.get(cookie_name(secure), "")
    if not expected or not form_token or not hmac.compare_digest(expected, form_token):
        raise CsrfRejected("missing or wrong form token: reload the page and try again")


def security_headers(*, secure: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                                    "base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }
    if secure:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers
