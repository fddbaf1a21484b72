"""The console's guards, pure: who is asking (claims only from the authorizer), roles, CSRF, headers."""

from __future__ import annotations

import pytest

from accesswatch.console import protection
from accesswatch.console.principal import LOCAL_CLAIM, Forbidden, NotSignedIn, principal_from_event
from accesswatch.console.roles import GRANTS, NAVIGATION, Permission, Role, home, parse_roles, permissions


def _event(claims: dict[str, str] | None, headers: dict[str, str] | None = None) -> dict[str, object]:
    context: dict[str, object] = {"http": {"method": "GET"}}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims}}
    return {"requestContext": context, "headers": headers or {}}


def test_principal_comes_from_the_authorizer_claims_only() -> None:
    who = principal_from_event(_event({"cognito:username": "u100", "cognito:groups": "[investigator operator]"}))
    assert who.user_id == "u100"
    assert who.roles == {Role.INVESTIGATOR, Role.OPERATOR}
    assert not who.local
    # A header or a query parameter naming a user is not an identity.
    with pytest.raises(NotSignedIn):
        principal_from_event(_event(None, {"x-user": "u100", "cognito:username": "u100"}))


@pytest.mark.parametrize("user", ["", "a b", "<script>", "x" * 65, "u1\nu2"])
def test_malformed_user_ids_are_not_signed_in(user: str) -> None:
    with pytest.raises(NotSignedIn):
        principal_from_event(_event({"cognito:username": user, "cognito:groups": "[investigator]"}))


def test_groups_in_every_form_and_unknown_groups_grant_nothing() -> None:
    assert parse_roles(["er_adviser", "admins"]) == {Role.ER_ADVISER}
    assert parse_roles("[privacy_officer]") == {Role.PRIVACY_OFFICER}
    assert parse_roles("investigator,operator") == {Role.INVESTIGATOR, Role.OPERATOR}
    assert parse_roles(None) == frozenset()
    who = principal_from_event(_event({"cognito:username": "u1", "cognito:groups": "[admins]"}))
    assert who.granted == frozenset()
    assert home(who.granted) is None
    with pytest.raises(Forbidden):
        who.require(Permission.QUEUE)


def test_local_claim_marks_a_local_sign_in() -> None:
    who = principal_from_event(_event({"cognito:username": "u1", "cognito:groups": "[operator]", LOCAL_CLAIM: "true"}))
    assert who.local
    assert who.actor_name == "console/u1 (local)"


def test_each_role_has_its_own_part() -> None:
    # Deciding is the investigator's, outcomes the ER adviser's, footprints the privacy officer's, alarms the
    # operator's: no role holds another's action.
    holders = {perm: {role for role, granted in GRANTS.items() if perm in granted} for perm in Permission}
    assert holders[Permission.CASE_DECIDE] == {Role.INVESTIGATOR}
    assert holders[Permission.CASE_OUTCOME] == {Role.ER_ADVISER}
    assert holders[Permission.FOOTPRINT] == {Role.PRIVACY_OFFICER}
    assert holders[Permission.OPERATIONS] == {Role.OPERATOR}
    assert all(home(permissions(frozenset({role}))) for role in Role)
    assert {perm for perm, _, _ in NAVIGATION} <= set(Permission)


def test_csrf_needs_the_cookie_token_in_the_form_and_this_site() -> None:
    token = protection.new_token()
    cookies = {protection.cookie_name(False): token}
    ok = {"method": "POST", "cookies": cookies, "host": "127.0.0.1:8000", "secure": False}
    protection.check(headers={}, form_token=token, **ok)  # type: ignore[arg-type]
    protection.check(headers={"origin": "http://127.0.0.1:8000", "sec-fetch-site": "same-origin"},
                     form_token=token, **ok)  # type: ignore[arg-type]
    for headers, form_token in [({}, None), ({}, ""), ({}, token + "x"), ({}, protection.new_token()),
                                ({"origin": "https://evil.example"}, token),
                                ({"sec-fetch-site": "cross-site"}, token)]:
        with pytest.raises(protection.CsrfRejected):
            protection.check(headers=headers, form_token=form_token, **ok)  # type: ignore[arg-type]
    with pytest.raises(protection.CsrfRejected):  # no cookie at all
        protection.check(method="POST", headers={}, cookies={}, form_token=token, host="h", secure=False)
    protection.check(method="GET", headers={}, cookies={}, form_token=None, host="h", secure=False)


def test_cookie_and_headers() -> None:
    assert protection.cookie_name(True).startswith("__Host-")
    cookie = protection.set_cookie("abc", True)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie and "Path=/" in cookie
    headers = protection.security_headers(secure=True)
    assert headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" in headers
    assert "Strict-Transport-Security" not in protection.security_headers(secure=False)


def test_malformed_cookies_are_ignored() -> None:
    assert protection.cookies_of({"cookie": 'a="unterminated; b=2'}, ["aw_csrf=tok"]).get("aw_csrf") == "tok"
