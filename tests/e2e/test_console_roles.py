"""Every route of the console, for every role: a role without the route's permission is refused on the server
(403) whatever it sends, and a refused action changes nothing. The routes are read from the console's routers,
so a route added without an entry below fails this test until its permission is declared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.console import ConsoleBrowser, world_runtime

from accesswatch.console.pages import ROUTERS
from accesswatch.console.roles import GRANTS, Permission, Role

pytestmark = pytest.mark.e2e

PUBLIC = None  # no principal needed (sign-in flow, the stylesheet and script)
REQUIRED: dict[tuple[str, str], Permission | None] = {
    ("GET", "/static/<name>"): PUBLIC,
    ("GET", "/auth/sign-in"): PUBLIC,
    ("GET", "/auth/callback"): PUBLIC,
    ("GET", "/auth/console"): PUBLIC,
    ("GET", "/auth/sign-out"): PUBLIC,
    ("GET", "/auth/signed-out"): PUBLIC,
    ("GET", "/queue"): Permission.QUEUE,
    ("GET", "/cases/<case_id>"): Permission.CASE_VIEW,
    ("POST", "/cases/<case_id>/decide"): Permission.CASE_DECIDE,
    ("POST", "/cases/<case_id>/outcome"): Permission.CASE_OUTCOME,
    ("POST", "/cases/<case_id>/note"): Permission.CASE_NOTE,
    ("GET", "/cases/<case_id>/clients/<client_id>"): Permission.CLIENT_DETAILS,
    ("GET", "/digest"): Permission.DIGEST,
    ("GET", "/exceptions"): Permission.EXCEPTIONS,
    ("POST", "/exceptions"): Permission.EXCEPTIONS_MANAGE,
    ("POST", "/exceptions/<exception_id>/revoke"): Permission.EXCEPTIONS_MANAGE,
    ("GET", "/precision"): Permission.PRECISION,
    ("GET", "/footprint"): Permission.FOOTPRINT,
    ("GET", "/footprint.csv"): Permission.FOOTPRINT,
    ("GET", "/footprint-client-safe.csv"): Permission.FOOTPRINT,
    ("GET", "/footprint-client-safe.html"): Permission.FOOTPRINT,
    ("GET", "/reports"): Permission.REPORTS,
    ("GET", "/reports/<period>/<name>"): Permission.REPORTS,
    ("GET", "/reports/<period>/charts/<name>"): Permission.REPORTS,
    ("GET", "/operations"): Permission.OPERATIONS,
}


def registered_routes() -> set[tuple[str, str]]:
    return {(method, rule) for router in ROUTERS for rule, methods, *_ in router._routes for method in methods}


@pytest.fixture(scope="module")
def world(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with world_runtime(small_world, tmp_path_factory.mktemp("console-roles-out")) as aws:
        yield aws


def concrete(rule: str, world: Any) -> str:
    from accesswatch_tools.operate.cases import case_service

    case = sorted(case_service(world).find(), key=lambda c: c["case_id"])[0]
    values = {"case_id": case["case_id"], "client_id": sorted(case["client_ids"])[0], "exception_id": "EXC-none",
              "period": "2025-01-01_2025-03-31", "name": "console.css"}
    path = rule
    for key, value in values.items():
        path = path.replace(f"<{key}>", value)
    return path


def cases_table(world: Any) -> list[dict[str, Any]]:
    table = world.resource("dynamodb").Table(world.resource_name("CasesTable"))
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda i: (str(i["pk"]), str(i["sk"])))
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_every_route_declares_its_permission() -> None:
    assert registered_routes() == set(REQUIRED)


def test_refused_actions_change_nothing(world: Any) -> None:
    before = cases_table(world)
    refused = 0
    for (method, rule), permission in REQUIRED.items():
        if method != "POST":
            continue
        for role in Role:
            if permission in GRANTS[role]:
                continue
            browser = ConsoleBrowser(world, role.value, f"u-{role.value}")
            form = {"decision": "founded", "er_type": "misconduct", "outcome": "dismissal", "note": "x",
                    "user_id": "u1", "rule": "SENSITIVE_LOOKUP", "expires_on": "2099-01-01", "reason": "x"}
            response = browser.post(concrete(rule, world), form)
            assert response.status_code == 403, f"{role.value} {method} {rule}: {response.status_code}"
            assert "Not allowed" in response.get_data(as_text=True), f"{role.value} {method} {rule}: not the role"
            refused += 1
    assert refused >= 10
    assert cases_table(world) == before


def test_every_page_is_refused_to_the_roles_without_its_permission(world: Any) -> None:
    for role in Role:
        browser = ConsoleBrowser(world, role.value, f"u-{role.value}")
        for (method, rule), permission in REQUIRED.items():
            if method != "GET" or rule.startswith("/auth/"):
                continue
            response = browser.get(concrete(rule, world))
            if permission is PUBLIC or permission in GRANTS[role]:
                assert response.status_code != 403, f"{role.value} GET {rule}: refused"
                assert response.status_code < 500, f"{role.value} GET {rule}: {response.status_code}"
            else:
                assert response.status_code == 403, f"{role.value} GET {rule}: {response.status_code}"
                assert "Not allowed" in response.get_data(as_text=True)
