"""detect() against a deliberately naive, row-by-row reading of the contract, on random small worlds."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pytest
from support.rule_samples import snapshot_frames

from accesswatch.contract import SENSITIVE_SCREENS, ReferenceKind
from accesswatch.detection import detect
from accesswatch.normalise import normalise_address, normalise_name
from accesswatch.reference import build_index
from accesswatch.rules import CATALOG, LIVE_RULES, events_frame

K = ReferenceKind
FAMS = ["Hēmi", "HEMI", "hemi ", "O'Brien", "OBrien", "Smith-Jones", "smith jones", "Ngata"]
GIVS = ["Ana", "ANA", "Āna", "Mere Rose", "mere-rose", "Tom"]
DOBS = ["1980-01-02", "1981-02-03", "", None]
ADDRS = [
    "2/12 Rata St",
    "Flat 2, 12 Rata Street",
    "3/12 Rata St",
    "12 Rata Street",
    "12 rata st.",
    "",
    None,
    "7 Kōwhai Rd",
    "7 KOWHAI ROAD",
    "Unit 2 12 Rata Rd",
]
TEAMS = ["Payments", "Staff Assistance Unit", "SAU", "income support", None]
DAYS = ["2025-03-30", "2025-03-31", "2025-04-01", "2025-04-02"]


def _parse_day(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


def _world(rng: random.Random) -> dict[ReferenceKind, tuple[dict[str, str | None], ...]]:
    clients = tuple(
        {
            "client_id": f"{i:04d}",
            "family_name": rng.choice(FAMS),
            "given_names": rng.choice(GIVS),
            "date_of_birth": rng.choice(DOBS),
            "address": rng.choice(ADDRS),
            "flags": None,
        }
        for i in range(30)
    )
    staff = tuple(
        {
            "user_id": f"u{i}",
            "family_name": rng.choice(FAMS),
            "given_names": rng.choice(GIVS),
            "date_of_birth": rng.choice(DOBS),
            "address": rng.choice(ADDRS),
            "team": rng.choice(TEAMS),
            "client_id": rng.choice([None, "", f"{rng.randrange(35):04d}"]),
            "status": rng.choice(["active", "leave", "terminated"]),
            "account_type": rng.choice(["person"] * 5 + ["service", " SERVICE", None]),
        }
        for i in range(8)
    )
    cid = lambda: f"{rng.randrange(32):04d}"  # noqa: E731 - a few dangling ids on purpose
    rels = tuple(
        {
            "client_id": cid(),
            "related_client_id": cid(),
            "relationship": rng.choice(
                ["parent", "child", "sibling", "household", "other_whanau", "Partner"]
            ),
        }
        for _ in range(12)
    )
    decl = tuple(
        {
            "user_id": f"u{rng.randrange(10)}",
            "client_id": cid(),
            "nature": "friend",
            "declared_at": "2025-01-01",
        }
        for _ in range(6)
    )
    assign = tuple(
        {
            "user_id": f"u{rng.randrange(10)}",
            "client_id": cid(),
            "reason": "task",
            "valid_from": rng.choice(DAYS + ["", None]),
            "valid_to": rng.choice(DAYS + ["", None]),
        }
        for _ in range(40)
    )
    watch = tuple(
        {
            "client_id": cid(),
            "reason": "x",
            "added_at": rng.choice(DAYS + ["2025-03-31T12:00:00+13:00", ""]),
            "removed_at": rng.choice(DAYS + ["2025-04-01T06:00:00+13:00", "", None]),
        }
        for _ in range(6)
    )
    return {
        K.STAFF: staff,
        K.CLIENTS: clients,
        K.RELATIONSHIPS: rels,
        K.DECLARATIONS: decl,
        K.ASSIGNMENTS: assign,
        K.WATCHLIST: watch,
    }


def _oracle(world, events: pl.DataFrame) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    staff: dict[str, dict] = {}
    for s in world[K.STAFF]:
        staff.setdefault(s["user_id"], s)
    clients: dict[str, dict] = {}
    for c in world[K.CLIENTS]:
        clients.setdefault(c["client_id"], c)

    def is_service(s: dict | None) -> bool:
        return bool(s) and (s.get("account_type") or "").strip().lower() == "service"

    def own(u: str) -> set[str]:
        s = staff.get(u)
        if not s or is_service(s):
            return set()
        out = {s["client_id"].strip()} if (s.get("client_id") or "").strip() else set()
        f, g, d = normalise_name(s["family_name"]), normalise_name(s["given_names"]), s.get("date_of_birth")
        if f and g and d:
            out |= {
                c["client_id"]
                for c in clients.values()
                if normalise_name(c["family_name"]) == f
                and normalise_name(c["given_names"]) == g
                and c.get("date_of_birth") == d
            }
        return out

    def covered(u: str, c: str, d: dt.date) -> bool:
        for a in world[K.ASSIGNMENTS]:
            if a["user_id"] == u and a["client_id"] == c:
                lo, hi = _parse_day(a["valid_from"]), _parse_day(a["valid_to"])
                if (lo is None or lo <= d) and (hi is None or d <= hi):
                    return True
        return False

    def listed(c: str, d: dt.date, t: dt.datetime) -> bool:
        for w in world[K.WATCHLIST]:
            if w["client_id"] != c:
                continue
            add, rem = w["added_at"], w["removed_at"]
            ok_add = (not add) or (
                dt.datetime.fromisoformat(add) <= t if "T" in add else _parse_day(add) <= d
            )
            ok_rem = (not rem) or (t < dt.datetime.fromisoformat(rem) if "T" in rem else d < _parse_day(rem))
            if ok_add and ok_rem:
                return True
        return False

    out = set()
    for e in events.iter_rows(named=True):
        u, c, d, t, eid = e["user_id"], e["client_id"], e["nz_date"], e["occurred_at_utc"], e["event_id"]
        s = staff.get(u)
        if is_service(s):
            continue
        mine = own(u)
        if c in mine:
            out.add((eid, "SELF_RECORD"))
        rel = {r["related_client_id"] for r in world[K.RELATIONSHIPS] if r["client_id"] in mine} | {
            r["client_id"] for r in world[K.RELATIONSHIPS] if r["related_client_id"] in mine
        }
        if c in rel:
            out.add((eid, "RELATIVE_RECORD"))
        sa = normalise_address(s["address"]) if s else ""
        if sa and c in clients and c not in mine and normalise_address(clients[c]["address"]) == sa:
            out.add((eid, "HOUSEHOLD_RECORD"))
        sau = bool(s) and normalise_name(s.get("team")) in {"staffassistanceunit", "sau"}
        if not sau and any(c in own(o) for o in staff if o != u):
            out.add((eid, "COLLEAGUE_RECORD"))
        if any(x["user_id"] == u and x["client_id"] == c for x in world[K.DECLARATIONS]):
            out.add((eid, "DECLARED_ASSOCIATE"))
        if listed(c, d, t) and not covered(u, c, d):
            out.add((eid, "PUBLIC_FIGURE"))
        if e["screen"] in SENSITIVE_SCREENS and not covered(u, c, d):
            out.add((eid, "SENSITIVE_LOOKUP"))
    return out


@pytest.mark.parametrize("seed", range(25))
def test_detect_matches_naive_oracle(seed: int) -> None:
    rng = random.Random(seed)
    world = _world(rng)
    index = build_index(snapshot_frames(world), f"oracle-{seed}", rules=CATALOG)
    times = [
        "2025-03-31T23:30:00+13:00",
        "2025-03-31T11:30:00Z",
        "2025-04-01T05:59:00+13:00",
        "2025-03-31T12:00:00+13:00",
        "2025-04-01T12:00:00+13:00",
        "2025-03-30T10:00:00+13:00",
    ]
    rows = [
        {
            "event_id": f"e{i}",
            "user_id": f"u{rng.randrange(10)}",
            "client_id": f"{rng.randrange(32):04d}",
            "occurred_at": rng.choice(times),
            "screen": rng.choice(["summary", "address", "ird_number", None]),
        }
        for i in range(400)
    ]
    rows += rows[:20]  # duplicate deliveries
    events = events_frame(rows)
    got = detect(events, index, LIVE_RULES)
    assert set(zip(got["event_id"], got["rule"], strict=True)) == _oracle(world, events)
    assert got["finding_id"].n_unique() == got.height
