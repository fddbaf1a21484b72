"""Detection benchmark: index build/load for 500k clients and 10k staff, then events/s over a
1M-row partition (~1% findings), for the seven contract rules and for the whole catalog.

    .venv/bin/python benchmarks/detect_bench.py [--clients 500000] [--staff 10000] [--events 1000000]

All data is generated in-script (fictional, seeded). Prints a Markdown report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import time

import polars as pl

from accesswatch.contract import EVENT_SCHEMA, REFERENCE_FIELDS, ReferenceKind
from accesswatch.detection import detect
from accesswatch.quarters import NZ_TZ_NAME
from accesswatch.reference import ReferenceIndex, build_index, cross_validate, validate_snapshot
from accesswatch.rules import CATALOG, LIVE_RULES

K = ReferenceKind
STREET_TYPES = [
    "Street",
    "St",
    "Road",
    "Rd",
    "Avenue",
    "Ave",
    "Place",
    "Crescent",
    "Drive",
    "Terrace",
    "Lane",
]
SCREENS = [
    "summary",
    "payments",
    "notes",
    "relationships",
    "address",
    "contact",
    "date_of_birth",
    "ird_number",
]
SCREEN_WEIGHTS = [40, 20, 15, 10, 5, 4, 3, 3]  # 15 % sensitive


def _strings(prefix: str, n: int, width: int) -> pl.Series:
    return pl.Series([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=pl.String)


def make_reference(n_clients: int, n_staff: int, rng: random.Random) -> dict[ReferenceKind, pl.DataFrame]:
    syll = ["ka", "ra", "ta", "mi", "ho", "ne", "wa", "ri", "to", "pe", "ng", "lu", "sa", "de", "mo"]
    surnames = sorted({"".join(rng.choices(syll, k=3)).title() for _ in range(6000)})
    givens = sorted({"".join(rng.choices(syll, k=2)).title() for _ in range(400)})
    streets = sorted({"".join(rng.choices(syll, k=2)).title() for _ in range(3000)})
    base = dt.date(1940, 1, 1)

    def address() -> str:
        a = f"{rng.randint(1, 300)} {rng.choice(streets)} {rng.choice(STREET_TYPES)}"
        return f"{rng.randint(1, 12)}/{a}" if rng.random() < 0.2 else a

    clients = pl.DataFrame(
        {
            "client_id": _strings("", n_clients, 7),
            "family_name": [rng.choice(surnames) for _ in range(n_clients)],
            "given_names": [rng.choice(givens) for _ in range(n_clients)],
            "date_of_birth": [
                (base + dt.timedelta(days=rng.randint(0, 25000))).isoformat() for _ in range(n_clients)
            ],
            "address": [address() for _ in range(n_clients)],
            "flags": [""] * n_clients,
        }
    )
    crow = clients.rows()
    staff_rows = []
    for i in range(n_staff):
        service = i < 50
        linked = crow[rng.randrange(n_clients)] if rng.random() < 0.3 else None
        twin = crow[rng.randrange(n_clients)] if rng.random() < 0.1 else None
        housemate = crow[rng.randrange(n_clients)] if rng.random() < 0.05 else None
        fam, giv, dob = (
            (twin[1], twin[2].upper(), twin[3]) if twin else (rng.choice(surnames), rng.choice(givens), None)
        )
        addr = housemate[4].replace("Street", "St").upper() if housemate else address()
        staff_rows.append(
            {
                "user_id": f"{'svc' if service else 'u'}{i:05d}",
                "family_name": None if service else fam,
                "given_names": None if service else giv,
                "date_of_birth": None
                if service
                else (dob or (base + dt.timedelta(days=rng.randint(0, 25000))).isoformat()),
                "address": None if service else addr,
                "role": "case manager",
                "team": "Staff Assistance Unit" if rng.random() < 0.01 else f"Team {rng.randint(1, 200)}",
                "site": "WLG",
                "manager_user_id": None,
                "client_id": linked[0] if linked and not service else "",
                "status": rng.choices(["active", "leave", "terminated"], [95, 3, 2])[0],
                "start_date": "2010-01-01",
                "end_date": "",
                "account_type": "service" if service else "person",
            }
        )
    staff = pl.DataFrame(staff_rows, schema=dict.fromkeys(REFERENCE_FIELDS[K.STAFF], pl.String))
    n_rel = int(n_clients * 0.6)
    rels = pl.DataFrame(
        {
            "client_id": [crow[rng.randrange(n_clients)][0] for _ in range(n_rel)],
            "related_client_id": [crow[rng.randrange(n_clients)][0] for _ in range(n_rel)],
            "relationship": rng.choices(
                sorted(["partner", "parent", "child", "sibling", "household"]), k=n_rel
            ),
        }
    )
    persons = [r["user_id"] for r in staff_rows if r["account_type"] == "person"]
    decl = pl.DataFrame(
        {
            "user_id": rng.choices(persons, k=5000),
            "client_id": [crow[rng.randrange(n_clients)][0] for _ in range(5000)],
            "nature": rng.choices(["family", "friend", "business"], k=5000),
            "declared_at": ["2024-05-01"] * 5000,
        }
    )
    per_user = 30
    assign = pl.DataFrame(
        {
            "user_id": [u for u in persons for _ in range(per_user)],
            "client_id": [crow[rng.randrange(n_clients)][0] for _ in range(len(persons) * per_user)],
            "reason": ["caseload"] * (len(persons) * per_user),
            "valid_from": ["2025-01-01"] * (len(persons) * per_user),
            "valid_to": rng.choices(["2025-12-31", ""], k=len(persons) * per_user),
        }
    )
    watch = pl.DataFrame(
        {
            "client_id": [crow[rng.randrange(n_clients)][0] for _ in range(500)],
            "reason": ["public figure"] * 500,
            "added_at": ["2024-01-01"] * 500,
            "removed_at": [""] * 500,
        }
    )
    return {
        K.STAFF: staff,
        K.CLIENTS: clients,
        K.RELATIONSHIPS: rels,
        K.DECLARATIONS: decl,
        K.ASSIGNMENTS: assign,
        K.WATCHLIST: watch,
    }


def make_events(ref: dict[ReferenceKind, pl.DataFrame], n: int, rng: random.Random) -> pl.DataFrame:
    assign = ref[K.ASSIGNMENTS]
    staff_ids = ref[K.STAFF]["user_id"].to_list()
    a_users, a_clients = assign["user_id"].to_list(), assign["client_id"].to_list()
    client_ids = ref[K.CLIENTS]["client_id"].to_list()
    users, clients = [], []
    for _ in range(n):
        if rng.random() < 0.97:
            j = rng.randrange(len(a_users))
            users.append(a_users[j])
            clients.append(a_clients[j])
        else:
            users.append(rng.choice(staff_ids))
            clients.append(rng.choice(client_ids))
    start = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    secs = [rng.randrange(0, 31 * 86400) for _ in range(n)]
    df = pl.DataFrame(
        {
            "system": ["cms"] * n,
            "event_id": [f"e{i:08d}" for i in range(n)],
            "occurred_at_utc": [start + dt.timedelta(seconds=s) for s in secs],
            "user_id": users,
            "client_id": clients,
            "action": ["view"] * n,
            "screen": rng.choices(SCREENS, SCREEN_WEIGHTS, k=n),
        }
    ).with_columns(pl.col("occurred_at_utc").cast(pl.Datetime("us", "UTC")))
    return (
        df.with_columns(
            pl.col("occurred_at_utc").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("occurred_at"),
            pl.col("occurred_at_utc").dt.convert_time_zone(NZ_TZ_NAME).dt.date().alias("nz_date"),
            pl.lit(None, dtype=pl.String).alias("site"),
            pl.lit(None, dtype=pl.String).alias("session_id"),
            pl.lit("bench").alias("source_key"),
            pl.int_range(2, n + 2, dtype=pl.Int64).alias("line"),
            pl.lit("{}").alias("extra"),
        )
        .select(EVENT_SCHEMA.names())
        .cast(dict(EVENT_SCHEMA))
    )


def _timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=500_000)
    ap.add_argument("--staff", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(20250331)

    t0 = time.perf_counter()
    ref = make_reference(args.clients, args.staff, rng)
    events = make_events(ref, args.events, rng)
    gen_s = time.perf_counter() - t0

    t_val, _ = _timed(lambda: ([validate_snapshot(k, v) for k, v in ref.items()], cross_validate(ref)))
    t_build, index = _timed(lambda: build_index(ref, "bench", rules=CATALOG))
    blob = index.to_bytes()
    t_load, loaded = _timed(lambda: ReferenceIndex.from_bytes(blob), repeat=args.repeat)

    detect(events.head(1000), loaded)  # warm-up
    t_live, live = _timed(lambda: detect(events, loaded, LIVE_RULES), repeat=args.repeat)
    t_all, allf = _timed(lambda: detect(events, loaded, CATALOG), repeat=args.repeat)
    per_rule = {r.id: _timed(lambda r=r: r.evaluate(events, loaded), repeat=args.repeat)[0] for r in CATALOG}

    print(f"# Detection benchmark ({dt.date.today().isoformat()})\n")
    print(
        f"- machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, polars {pl.__version__}"
    )
    print(
        f"- reference: {args.clients:,} clients, {args.staff:,} staff, "
        + ", ".join(f"{k.value} {v.height:,}" for k, v in ref.items() if k not in (K.STAFF, K.CLIENTS))
    )
    print(f"- events: {events.height:,} in one partition (generated in {gen_s:.1f} s)")
    print(f"- index counts: {index.counts}\n")
    print("| step | time | rate |\n|---|---|---|")
    print(f"| validate 6 snapshots + cross-validate | {t_val:.2f} s | |")
    print(f"| build_index | {t_build:.2f} s | |")
    print(f"| index to_bytes size | {len(blob) / 1e6:.1f} MB | |")
    print(f"| ReferenceIndex.from_bytes (best of {args.repeat}) | {t_load:.3f} s | |")
    print(
        f"| detect, 7 contract rules | {t_live:.3f} s | {events.height / t_live:,.0f} events/s, {live.height:,} findings "
        f"({100 * live.height / events.height:.2f} %) |"
    )
    print(
        f"| detect, whole catalog ({len(CATALOG)} rules) | {t_all:.3f} s | {events.height / t_all:,.0f} events/s, "
        f"{allf.height:,} findings |"
    )
    for rid, t in per_rule.items():
        print(f"| rule {rid}.evaluate alone | {t:.3f} s | {events.height / t:,.0f} events/s |")
    print("\nFindings by rule (whole catalog):\n")
    counts = allf.group_by("rule").len().sort("rule")
    for rule, n in counts.iter_rows():
        print(f"- {rule}: {n:,}")


if __name__ == "__main__":
    main()
