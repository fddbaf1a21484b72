"""Signing in on AWS (pages/auth.py, functions/console/app.py): the public /auth/ pages carry the sign-in
settings for console.js and a CSP that lets it reach the token endpoint; without Cognito (the local endpoint)
they go to the console's start; only /auth/ and /static/ pages are served without a verified identity."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from accesswatch.config import ConsoleSettings
from accesswatch.console.pages import ROUTERS, auth, static
from accesswatch.console.pages.auth import Cognito, auth_page, cognito_of, content_security_policy

ROOT = Path(__file__).resolve().parents[3]
STORAGE = {"raw_bucket": "raw", "curated_bucket": "curated", "findings_table": "findings", "cases_table": "cases",
           "ledger_table": "ledger", "idempotency_table": "idempotency", "audit_table": "audit",
           "case_state_machine_arn": "arn:aws:states:ap-southeast-2:123456789012:stateMachine:aw-case",
           "detect_function": "detect"}
COGNITO = {"cognito_domain": "accesswatch-prod-123456789012", "cognito_client_id": "4example5client6id7abcdefgh",
           "aws_region": "ap-southeast-2"}


def settings(**values: str) -> ConsoleSettings:
    return ConsoleSettings.model_validate({**STORAGE, **values})


def test_the_hosted_page_is_the_pools_domain_in_the_functions_region() -> None:
    assert cognito_of(settings(**COGNITO)) == Cognito(
        domain="https://accesswatch-prod-123456789012.auth.ap-southeast-2.amazoncognito.com",
        client_id="4example5client6id7abcdefgh")


@pytest.mark.parametrize("values", [
    {},  # the local endpoint: no Cognito
    {**COGNITO, "cognito_domain": ""},
    {**COGNITO, "cognito_client_id": ""},
    {**COGNITO, "cognito_domain": "${ConsoleUserPoolDomain}"},  # an unresolved reference
    {**COGNITO, "cognito_domain": "evil.example.com/x"},
    {**COGNITO, "cognito_client_id": 'x" onload="alert(1)'},
    {**COGNITO, "aws_region": "not a region"},
])
def test_no_cognito_unless_every_setting_is_what_the_template_gives(values: dict[str, str]) -> None:
    assert cognito_of(settings(**values)) is None


def test_the_csp_adds_only_the_token_endpoints_origin_to_connect_src() -> None:
    cognito = cognito_of(settings(**COGNITO))
    assert cognito is not None
    policy = content_security_policy(cognito)
    assert f"connect-src 'self' {cognito.domain};" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy


@pytest.mark.parametrize("mode", sorted(auth.PAGES))
def test_an_auth_page_carries_its_settings_in_body_attributes_and_no_inline_script(mode: str) -> None:
    cognito = Cognito(domain="https://d.auth.ap-southeast-2.amazoncognito.com", client_id="abc123")
    response = auth_page(mode, cognito)
    body = str(response.body)
    assert response.status_code == 200
    assert re.search(rf'<body data-auth="{mode}" data-cognito-domain="{re.escape(cognito.domain)}" '
                     r'data-client-id="abc123">', body)
    assert re.findall(r"<script[^>]*>", body) == ['<script src="/static/console.js" defer>']
    assert 'id="auth-status"' in body and "<noscript>" in body
    assert response.headers["Content-Security-Policy"] == content_security_policy(cognito)
    assert ('id="sign-in-again" href="/auth/console"' in body) == (mode == "signed-out")


def test_attribute_values_are_escaped() -> None:
    body = str(auth_page("console", Cognito(domain='https://d"><script>x</script>', client_id="a&b")).body)
    assert "<script>x</script>" not in body
    assert 'data-cognito-domain="https://d&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in body
    assert 'data-client-id="a&amp;b"' in body


def test_only_the_sign_in_and_static_pages_live_under_the_public_prefixes() -> None:
    """The handler serves /auth/ and /static/ without a principal: no page of another module may be there."""
    for router in ROUTERS:
        for route in router._routes:
            path = route[0]
            if path.startswith(("/auth/", "/static/")):
                assert router in (auth.router, static.router), path
    assert {route[0] for route in auth.router._routes} == {
        "/auth/sign-in", "/auth/callback", "/auth/console", "/auth/sign-out", "/auth/signed-out"}
    assert all(route[1] == ("GET",) for route in auth.router._routes)


# ------------------------------------------------------------------ through the handler


@pytest.fixture
def console_app(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """functions/console/app.py, loaded with a deployed stack's environment (nothing here calls AWS)."""
    for name, value in {**STORAGE, **COGNITO, "POWERTOOLS_TRACE_DISABLED": "1",
                        "POWERTOOLS_METRICS_NAMESPACE": "AccessWatch", "AWS_DEFAULT_REGION": "ap-southeast-2"}.items():
        monkeypatch.setenv(name.upper(), value)
    spec = importlib.util.spec_from_file_location("console_app_under_test", ROOT / "functions" / "console" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


class _Context:
    function_name = "console"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:ap-southeast-2:123456789012:function:console"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 29000


def _invoke(app: ModuleType, path: str, claims: dict[str, str] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"http": {"method": "GET", "path": path}, "requestId": "req-1", "stage": "$default"}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims}}
    event = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
             "headers": {"host": "api.example", "x-forwarded-proto": "https"}, "requestContext": context,
             "isBase64Encoded": False}
    return json.loads(json.dumps(app.handler(event, _Context())))


def test_the_sign_in_pages_and_static_files_need_no_identity_and_nothing_else_is_served_without(
        console_app: ModuleType) -> None:
    page = _invoke(console_app, "/auth/console")
    assert page["statusCode"] == 200 and 'data-auth="console"' in page["body"]
    assert "connect-src 'self' https://accesswatch-prod-123456789012.auth.ap-southeast-2.amazoncognito.com" in (
        page["headers"]["Content-Security-Policy"])
    assert page["headers"]["Cache-Control"] == "no-store" and page["headers"]["Strict-Transport-Security"]
    assert not page.get("cookies")  # no CSRF cookie: these pages have no form
    script = _invoke(console_app, "/static/console.js")
    assert script["statusCode"] == 200 and "Authorization" in script["body"]
    for path in ("/", "/queue", "/auth", "/authx/queue", "/static"):
        refused = _invoke(console_app, path)
        assert refused["statusCode"] == 401, path
    assert _invoke(console_app, "/auth/nothing-here")["statusCode"] == 404
