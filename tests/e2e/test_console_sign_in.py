"""Signing in on AWS, in headless Chromium, against stand-ins for Cognito's hosted page and for API Gateway's
JWT authorizer (there is neither in this environment: docs/console.md, "Not tried against a real Cognito").

- The Cognito stand-in answers on HTTPS at the name console.js builds
  (``https://<prefix>.auth.<region>.amazoncognito.com``, mapped to a loopback port with a throw-away
  certificate): ``/oauth2/authorize`` sends the browser back with a code, ``/oauth2/token`` gives an id token
  only for the code *and the PKCE verifier whose SHA-256 was the challenge*, ``/logout`` returns to the
  sign-out address. Its tokens carry the claims Cognito's id tokens carry, signed with a key of its own.
- The API Gateway stand-in serves ``GET /auth/...`` and ``GET /static/...`` without a token and everything
  else only with ``Authorization: Bearer`` and a token it verifies (signature, issuer, audience, expiry),
  putting the claims into the HTTP API's event as the JWT authorizer does; otherwise 401, as API Gateway.
  It invokes ConsoleFunction on an embedded runtime (the small world run through it) with the
  ``COGNITO_DOMAIN`` and ``COGNITO_CLIENT_ID`` the template gives it on AWS.

So the script (static/console.js) and the /auth/ pages run as they would behind the real services: the
code flow with PKCE, the token in sessionStorage, every page and form through fetch with the token, a
reload, and signing out."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from support.browser import CHROMEDRIVER, CHROMIUM, FLAGS, WAIT_S, require_browser, wait_for, wait_until
from support.console import world_runtime
from werkzeug.serving import make_server

from accesswatch_tools.embedded.console import LocalConsole

pytestmark = pytest.mark.e2e

REGION = "ap-southeast-2"
PREFIX = "accesswatch-test-123456789012"
HOSTED = f"{PREFIX}.auth.{REGION}.amazoncognito.com"
CLIENT_ID = "4standin5client6id7abcdefgh"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_StandIn01"
USER = "inv-cognito"
SIGNING_KEY = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def id_token(claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(claims).encode())
    return head + "." + _b64(hmac.new(SIGNING_KEY, head.encode(), hashlib.sha256).digest())


def verified_claims(authorization: str) -> dict[str, Any] | None:
    """What API Gateway's JWT authorizer checks: signature, issuer, audience, expiry."""
    if not authorization.startswith("Bearer "):
        return None
    token = authorization[len("Bearer "):]
    try:
        head, payload, signature = token.split(".")
        expected = hmac.new(SIGNING_KEY, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            return None
        claims = json.loads(_unb64(payload))
    except ValueError:
        return None
    if claims.get("iss") != ISSUER or claims.get("aud") != CLIENT_ID or claims.get("exp", 0) < time.time():
        return None
    return dict(claims)


# ------------------------------------------------------------------ Cognito's hosted page, standing in


class HostedPage:
    """What the browser asked for and was given, for the test to check."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, str]] = {}
        self.tokens_issued = 0
        self.refused: list[str] = []
        self.signed_out = 0


def hosted_handler(page: HostedPage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/oauth2/authorize":
                if (query.get("client_id"), query.get("response_type"), query.get("code_challenge_method"),
                        query.get("scope")) != (CLIENT_ID, "code", "S256", "openid"):
                    page.refused.append(f"authorize {query}")
                    self._send(400, b"bad request")
                    return
                # The person signs in here (password, authenticator code); the stand-in lets them straight in.
                code = secrets.token_urlsafe(16)
                page.codes[code] = {"challenge": query["code_challenge"], "redirect_uri": query["redirect_uri"]}
                back = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                self._send(302, headers={"Location": back})
            elif url.path == "/logout":
                page.signed_out += 1
                self._send(302, headers={"Location": query["logout_uri"]})
            else:
                self._send(404)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            origin = self.headers.get("Origin", "")
            cors = {"Access-Control-Allow-Origin": origin, "Content-Type": "application/json"}
            issued = page.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if (urlsplit(self.path).path != "/oauth2/token" or form.get("grant_type") != "authorization_code"
                    or form.get("client_id") != CLIENT_ID or issued is None
                    or form.get("redirect_uri") != issued["redirect_uri"]
                    or _b64(hashlib.sha256(verifier.encode()).digest()) != issued["challenge"]):
                page.refused.append(f"token {sorted(form)}")
                self._send(400, b'{"error":"invalid_grant"}', cors)
                return
            now = int(time.time())
            claims = {"sub": "00000000-0000-4000-8000-000000000001", "aud": CLIENT_ID, "iss": ISSUER,
                      "token_use": "id", "auth_time": now, "iat": now, "exp": now + 3600,
                      "cognito:username": USER, "cognito:groups": ["investigator"]}
            page.tokens_issued += 1
            body = json.dumps({"id_token": id_token(claims), "access_token": "unused", "refresh_token": "unused",
                               "expires_in": 3600, "token_type": "Bearer"}).encode()
            self._send(200, body, cors)

    return Handler


def _certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cognito stand-in")])  # the name: SAN below
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOSTED)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# ------------------------------------------------------------------ API Gateway's JWT authorizer, standing in


class AuthorizingApi(LocalConsole):
    """The HTTP API in front of ConsoleFunction: public GET /auth/ and /static/, a verified token elsewhere."""

    def __init__(self, aws: Any) -> None:
        super().__init__(aws)
        self.claims: dict[str, Any] | None = None
        self.refused = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "/") or "/"
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        public = method == "GET" and path.startswith(("/auth/", "/static/"))
        self.claims = None if public else verified_claims(environ.get("HTTP_AUTHORIZATION", ""))
        if not public and self.claims is None:
            self.refused += 1
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"message":"Unauthorized"}']
        return self._invoke(environ, method, path, body, None, start_response)

    def event(self, environ: dict[str, Any], method: str, path: str, body: bytes,
              identity: Any) -> dict[str, Any]:
        event = super().event(environ, method, path, body, None)
        if self.claims is not None:  # as the HTTP API passes them: every claim a string, groups as "[a b]"
            claims = {k: (f"[{' '.join(v)}]" if isinstance(v, list) else str(v)) for k, v in self.claims.items()}
            event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
        return event


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with world_runtime(small_world, tmp_path_factory.mktemp("console-sign-in-out")) as aws:
        function = aws.resource_name("ConsoleFunction")
        lambda_client = aws.client("lambda")
        variables = lambda_client.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        # What the template gives the function on AWS (before its first invocation: settings load at cold start).
        lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": {
            **{k: str(v) for k, v in variables.items()}, "COGNITO_DOMAIN": PREFIX, "COGNITO_CLIENT_ID": CLIENT_ID}})
        yield aws


@pytest.fixture(scope="module")
def hosted() -> Iterator[tuple[HostedPage, int]]:
    page = HostedPage()
    with tempfile.TemporaryDirectory(prefix="accesswatch-hosted-") as directory:
        cert, key = _certificate(Path(directory))
        server = ThreadingHTTPServer(("127.0.0.1", 0), hosted_handler(page))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield page, server.server_address[1]
        finally:
            server.shutdown()


@pytest.fixture(scope="module")
def api(world: Any) -> Iterator[tuple[AuthorizingApi, str]]:
    app = AuthorizingApi(world)
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browser(hosted: tuple[HostedPage, int]) -> Iterator[Any]:
    """Chromium that resolves the hosted page's name to the stand-in and accepts its certificate."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    _, port = hosted
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--host-resolver-rules=MAP {HOSTED} 127.0.0.1:{port}", "--ignore-certificate-errors"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="accesswatch-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(WAIT_S)
        try:
            yield driver
        finally:
            driver.quit()


def heading(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, "main h1").text)


# ------------------------------------------------------------------ the test


def test_sign_in_with_pkce_then_every_page_and_form_carries_the_token(
        world: Any, hosted: tuple[HostedPage, int], api: tuple[AuthorizingApi, str], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    page, _ = hosted
    app, base = api

    # Without a token the API refuses a page, as API Gateway does: only /auth/ and /static/ are open.
    browser.get(base + "/queue")
    assert "Unauthorized" in browser.page_source and app.refused >= 1  # (and the browser's /favicon.ico)

    # ConsoleUrl: no token in the tab, so to the hosted page (PKCE) and back, then the role's first page.
    browser.get(base + "/auth/console")
    wait_until(browser, lambda d: d.current_url == base + "/auth/console#/queue" and heading(d) == "Queue",
               "the queue after signing in")
    assert page.tokens_issued == 1 and not page.refused
    assert wait_for(browser, "#signed-in-user").text == USER
    assert "Local endpoint" not in browser.page_source  # a Cognito identity, not the local picker
    stored = browser.execute_script("return [sessionStorage.getItem('accesswatch.idToken'), "
                                    "sessionStorage.getItem('accesswatch.pkceVerifier')]")
    assert verified_claims("Bearer " + stored[0]) is not None and stored[1] is None  # verifier used once

    # A link: the case page through fetch with the token; its address stays the console page's.
    link = browser.find_element(By.CSS_SELECTOR, "table a[data-path^='/cases/']")
    case_id = link.text
    assert link.get_attribute("href").endswith(f"/auth/console#/cases/{case_id}")
    link.click()
    wait_until(browser, lambda d: heading(d).endswith(case_id) or case_id in heading(d), "the case page")
    assert browser.current_url == f"{base}/auth/console#/cases/{case_id}"

    # A reload opens the same page again (the token is in sessionStorage, the page after "#").
    browser.refresh()
    wait_until(browser, lambda d: d.find_elements(By.ID, "note-form"), "the case page after a reload")
    assert page.tokens_issued == 1

    # A form: the note goes as a POST with the token and the CSRF field, then back to the case (303).
    note = f"checked through the stand-in authorizer {secrets.token_hex(4)}"
    browser.find_element(By.ID, "note").send_keys(note)
    browser.find_element(By.ID, "note-submit").click()
    wait_until(browser, lambda d: note in d.find_element(By.ID, "history").text, "the note in the history")
    assert browser.current_url.startswith(f"{base}/auth/console#/cases/{case_id}?")  # where the 303 went
    from accesswatch_tools.operate.cases import case_service

    history = case_service(world).show(case_id)["history"]
    assert [(h["state"], h["actor"]) for h in history if h.get("note") == note] == [("note", f"console/{USER}")]

    # Signing out forgets the token and signs out of the hosted page.
    browser.find_element(By.ID, "sign-out").click()
    wait_until(browser, lambda d: d.current_url == base + "/auth/signed-out", "the signed-out page")
    assert page.signed_out == 1
    assert browser.execute_script("return sessionStorage.getItem('accesswatch.idToken')") is None
    assert wait_for(browser, "#sign-in-again").get_attribute("href") == base + "/auth/console"
