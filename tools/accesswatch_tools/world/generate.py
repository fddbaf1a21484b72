"""``generate``: build a world, write its reference snapshots, access logs and the truth."""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import Any

from accesswatch.contract import CONTRACT_RULES, EVENT_FIELDS, REFERENCE_FIELDS, ReferenceKind
from accesswatch.quarters import NZ

from .files import Format, TextSink, write_table
from .model import SynthSummary
from .oracle import Oracle, rules_of
from .world import EARLY, LATE, RULE_BITS, WORK, World, WorldBuilder

SYSTEM = "cms"
DEFAULT_SEED = 7


def event_id_prefix(seed: int) -> str:
    """What a world's event ids start with. A source system never reuses an event id (the contract), so two
    worlds of different seeds run on one system must not share any: `cms-s12-000000001` for seed 12. The
    default seed keeps the plain `cms-000000001` that the README's examples (ids derived from event ids) show."""
    return f"{SYSTEM}-" if seed == DEFAULT_SEED else f"{SYSTEM}-s{seed}-"
DEFAULT_START = date(2025, 3, 31)  # two weeks from here straddle the end of NZ daylight time (6 April)

# The log file formats, cycled over the files so that every one appears.
LOG_FORMATS: tuple[Format, ...] = (
    Format("csv"),
    Format("csv", crlf=True, bom=True, shuffle=True, extra="workstation"),
    Format("csv", gz=True, shuffle=True),
    Format("jsonl", blank="omit"),
    Format("jsonl", gz=True, shuffle=True, extra="client_app", blank="mixed"),
    Format("csv", gz=True, crlf=True, extra="terminal"),
)

# Reference snapshots: (kind, format, extra column)
REFERENCE_FORMATS: dict[ReferenceKind, tuple[Format, str | None]] = {
    ReferenceKind.STAFF: (Format("csv", shuffle=True), "cost_centre"),
    ReferenceKind.CLIENTS: (Format("csv", gz=True), "source_system"),
    ReferenceKind.RELATIONSHIPS: (Format("jsonl", shuffle=True), None),
    ReferenceKind.DECLARATIONS: (Format("csv", crlf=True, bom=True), None),
    ReferenceKind.ASSIGNMENTS: (Format("jsonl", gz=True, shuffle=True), None),
    ReferenceKind.WATCHLIST: (Format("jsonl"), "notes"),
}


def _table(weights: Mapping[Any, float], size: int = 400) -> list[Any]:
    """An expanded lookup table: table[int(random() * len(table))] draws by weight."""
    total = sum(weights.values())
    out: list[str | None] = []
    for k, v in weights.items():
        out.extend([k] * max(1, round(v / total * size)))
    return out


SCREENS_CASE = _table(
    {
        "summary": 30,
        "notes": 15,
        "payments": 12,
        "relationships": 5,
        "address": 9,
        "contact": 8,
        "date_of_birth": 3,
        "ird_number": 2,
        "documents": 4,
        "case_history": 4,
        None: 5,
    }
)
SCREENS_OTHER = _table(
    {
        "summary": 55,
        "notes": 8,
        "payments": 8,
        "search_results": 12,
        "relationships": 3,
        "address": 1.2,
        "contact": 1.2,
        "date_of_birth": 0.3,
        "ird_number": 0.3,
        None: 9,
    }
)
SCREENS_SERVICE = _table(
    {
        "summary": 30,
        "address": 25,
        "payments": 20,
        "ird_number": 8,
        "contact": 7,
        "date_of_birth": 5,
        None: 5,
    }
)
ACTIONS_PERSON = _table({"view": 70, "search": 12, "update": 12, "print": 4, "export": 2})
ACTIONS_SERVICE = _table({"view": 40, "export": 50, "update": 10})
HOURS_PERSON = _table(
    {
        h: w
        for h, w in enumerate(
            (
                0.05,
                0.03,
                0.02,
                0.02,
                0.02,
                0.05,
                0.3,
                1.5,
                7,
                10,
                10,
                9,
                7,
                9,
                10,
                9,
                7,
                3,
                1.2,
                0.8,
                0.6,
                0.4,
                0.2,
                0.1,
            )
        )
    },
    1000,
)  # type: ignore[arg-type]
HOURS_SERVICE = _table(
    {
        h: w
        for h, w in enumerate(
            (
                3,
                8,
                10,
                10,
                8,
                4,
                1,
                0.5,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                0.3,
                1,
                2,
            )
        )
    },
    1000,
)  # type: ignore[arg-type]

BAD_TIMESTAMPS = (
    "2025-02-30T10:00:00Z",
    "not a date",
    "31/03/2025 09:15",
    "2025-04-01T24:30:00+13:00",
    "",
    "2025-13-01T08:00:00Z",
    "yesterday 10am",
)
UNKNOWN_ACTIONS = ("delete", "browse", "approve", "merge")
MALFORMED_KINDS = ("missing_field", "bad_timestamp", "naive_timestamp", "unknown_action")


class _Day:
    __slots__ = ("date", "ordinal", "t0", "t1", "off0", "off1", "switch")

    def __init__(self, d: date) -> None:
        self.date = d
        self.ordinal = d.toordinal()
        n = d + timedelta(days=1)
        self.t0 = int(datetime(d.year, d.month, d.day, tzinfo=NZ).timestamp())
        self.t1 = int(datetime(n.year, n.month, n.day, tzinfo=NZ).timestamp())
        self.off0 = _offset(self.t0)
        self.off1 = _offset(self.t1 - 1)
        self.switch = self.t1
        if self.off0 != self.off1:
            t = self.t0
            while _offset(t) == self.off0:
                t += 900
            self.switch = t

    def instant(self, tod: int) -> int:
        """UTC epoch seconds of local wall time ``tod`` seconds after midnight on this NZ day."""
        if self.off0 == self.off1:
            ts = self.t0 + tod
        else:
            h, rem = divmod(tod, 3600)
            m, s = divmod(rem, 60)
            d = self.date
            ts = int(datetime(d.year, d.month, d.day, min(h, 23), m, s, tzinfo=NZ).timestamp())
        return min(max(ts, self.t0), self.t1 - 1)

    def offset(self, ts: int) -> int:
        return self.off0 if ts < self.switch else self.off1


def _offset(ts: int) -> int:
    off = datetime.fromtimestamp(ts, NZ).utcoffset()
    assert off is not None
    return int(off.total_seconds())


_DATE_CACHE: dict[int, str] = {}
_JSON_TEXT: dict[str, str] = {}


def _iso_date(epoch_day: int) -> str:
    s = _DATE_CACHE.get(epoch_day)
    if s is None:
        s = _DATE_CACHE[epoch_day] = date.fromordinal(719163 + epoch_day).isoformat()
    return s


def _stamp(ts: int, off: int, frac: str, suffix: str) -> str:
    days, sod = divmod(ts + off, 86400)
    h, rem = divmod(sod, 3600)
    m, s = divmod(rem, 60)
    return f"{_iso_date(days)}T{h:02d}:{m:02d}:{s:02d}{frac}{suffix}"


def _offset_text(off: int) -> str:
    sign = "+" if off >= 0 else "-"
    h, m = divmod(abs(off) // 60, 60)
    return f"{sign}{h:02d}:{m:02d}"


# --------------------------------------------------------------------------------------------
class _LogWriter:
    """One access-log file. Records are 9-tuples:
    (event_id, occurred_at, user_id, client_id, action, screen, site, session_id, extra)."""

    def __init__(self, path: Path, fmt: Format, rng: random.Random) -> None:
        self.fmt = fmt
        self.rng = rng
        self.sink = TextSink(path, fmt.gz)
        self.lines = 0
        self.quarantined = 0
        order = list(range(len(EVENT_FIELDS)))
        if fmt.shuffle:
            while order == list(range(len(EVENT_FIELDS))):
                rng.shuffle(order)
        if fmt.extra:
            order.insert(rng.randrange(len(order) + 1), 8)
        self.order = order
        self.names = [*EVENT_FIELDS, fmt.extra or ""]
        t = self.sink.text
        if fmt.bom:
            t.write("\ufeff")
        if fmt.kind == "csv":
            self.csv = csv.writer(t, lineterminator="\r\n" if fmt.crlf else "\n")
            self.csv.writerow([self.names[i] for i in order])
        else:
            self.keys = [f'"{self.names[i]}": ' for i in range(9)]

    def write(self, rec: tuple[str | None, ...]) -> None:
        self.lines += 1
        if self.fmt.kind == "csv":
            self.csv.writerow([rec[i] for i in self.order])
            return
        blank = self.fmt.blank
        if blank == "mixed":
            blank = ("omit", "null", "empty")[self.lines % 3]
        parts = []
        keys = self.keys
        for i in self.order:
            v = rec[i]
            if v is None:
                if blank == "omit":
                    continue
                parts.append(keys[i] + ("null" if blank == "null" else '""'))
            elif i == 6:
                q = _JSON_TEXT.get(v)
                if q is None:
                    q = _JSON_TEXT[v] = json.dumps(v, ensure_ascii=False)
                parts.append(keys[i] + q)
            else:
                parts.append(f'{keys[i]}"{v}"')
        self.sink.text.write("{" + ", ".join(parts) + "}\n")

    def write_malformed(self, kind: str, rec: tuple[str | None, ...]) -> None:
        """A line that is not an event: written, counted, and expected to be quarantined."""
        rng = self.rng
        r = list(rec)
        if kind == "missing_field":
            r[rng.choice((0, 1, 2, 3, 4))] = None
        elif kind == "bad_timestamp":
            r[1] = rng.choice(BAD_TIMESTAMPS)
            if r[1] == "":
                r[1] = "not a date"
        elif kind == "naive_timestamp":
            r[1] = (r[1] or "2025-04-01T09:00:00Z")[:19]
        elif kind == "unknown_action":
            r[4] = rng.choice(UNKNOWN_ACTIONS)
        elif kind == "invalid_json":
            self.lines += 1
            self.quarantined += 1
            self.sink.text.write(f'{{"event_id": "{r[0]}", "occurred_at": "{r[1]}", "user_id": \n')
            return
        if self.fmt.kind == "jsonl" and kind == "missing_field":
            # a missing field in JSON Lines: the key is absent (or null)
            pass
        self.write(tuple(r))
        self.quarantined += 1

    def close(self) -> dict[str, int]:
        self.sink.close()
        return {"lines_read": self.lines, "quarantined": self.quarantined}


# --------------------------------------------------------------------------------------------
def _write_reference(world: World, ref_dir: Path, rng: random.Random) -> list[Path]:
    w = world
    cid = w.client_ids
    iso = date.isoformat
    tables: dict[ReferenceKind, list[list[Any]]] = {
        ReferenceKind.STAFF: [
            [row[f] for f in REFERENCE_FIELDS[ReferenceKind.STAFF]] + [row["cost_centre"]]
            for row in w.staff_rows
        ],
        ReferenceKind.CLIENTS: sorted(
            (
                [
                    cid[c],
                    w.c_family[c],
                    w.c_given[c],
                    iso(dob) if (dob := w.c_dob[c]) else "",
                    w.c_address[c],
                    w.c_flags[c],
                    rng.choice(("CMS", "CMS", "CMS", "legacy-swift", "web-intake")),
                ]
                for c in range(w.n_clients)
            ),
            key=lambda r: r[0] or "",
        ),
        ReferenceKind.RELATIONSHIPS: [[cid[a], cid[b], kind] for a, b, kind in w.relationships],
        ReferenceKind.DECLARATIONS: [
            [w.s_user[s], cid[c], nature, iso(at)] for s, c, nature, at in w.declarations
        ],
        ReferenceKind.ASSIGNMENTS: [
            [w.s_user[s], cid[c], reason, iso(frm), iso(to) if to else ""]
            for s, c, reason, frm, to in w.assignments
        ],
        ReferenceKind.WATCHLIST: [
            [
                cid[c],
                reason,
                iso(added),
                iso(removed) if removed else "",
                rng.choice(("", "", "press", "referred by comms team")),
            ]
            for c, reason, added, removed in w.watchlist
        ],
    }
    written = []
    for kind, rows in tables.items():
        fmt, extra = REFERENCE_FORMATS[kind]
        columns = list(REFERENCE_FIELDS[kind]) + ([extra] if extra else [])
        if fmt.shuffle:
            perm = list(range(len(columns)))
            rng.shuffle(perm)
            columns = [columns[i] for i in perm]
            rows = [[r[i] for i in perm] for r in rows]
        path = ref_dir / f"{kind.value}{fmt.suffix}"
        write_table(path, fmt, columns, rows, blank_choice=[rng.random() < 0.5 for _ in rows])
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------
def generate(
    out_dir: Path,
    *,
    staff: int = 300,
    clients: int = 20000,
    days: int = 14,
    seed: int = DEFAULT_SEED,
    events_per_user_day: int = 25,
    start: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SynthSummary:
    """Generate a synthetic world under ``out_dir``; see the package docstring for the layout."""
    out_dir = Path(out_dir)
    start = start or DEFAULT_START
    builder = WorldBuilder(
        staff=staff, clients=clients, days=days, start=start, rng=random.Random(f"world:{seed}")
    )
    world = builder.build()
    oracle = Oracle(world)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = _write_reference(world, out_dir / "reference", random.Random(f"reference:{seed}"))

    rng = random.Random(f"traffic:{seed}")
    rr = random.Random(f"render:{seed}")
    day_info = [_Day(world.day(k)) for k in range(days)]

    # ---- traffic plan: events per (user, day), weighted; the total is about staff * days * rate
    plan: list[list[tuple[int, int]]] = [[] for _ in range(days)]
    weights: list[tuple[int, int, float]] = []
    for k, di in enumerate(day_info):
        weekend = di.date.weekday() >= 5
        for s in range(len(world.s_user)):
            if not (world.s_first_day[s] <= k <= world.s_last_day[s]):
                continue
            wt = world.s_weight[s]
            if weekend:
                wt *= 0.5 if world.s_service[s] else 0.08
            if wt > 0:
                weights.append((k, s, wt))
    budget = staff * days * events_per_user_day
    total_w = sum(x[2] for x in weights) or 1.0
    for k, s, wt in weights:
        n = int(budget * wt / total_w + rng.random())
        if n:
            plan[k].append((s, n))
    planted_by_day: list[list[int]] = [[] for _ in range(days)]
    for i, p in enumerate(world.planted):
        planted_by_day[p.day].append(i)
    total_events = sum(n for day in plan for _, n in day) + len(world.planted)

    # ---- files: at least one of each format; big days split so a file stays below ~400k lines
    shards_per_day = max(math.ceil(len(LOG_FORMATS) / days), math.ceil(total_events / days / 400_000))
    fmt_order = list(range(len(LOG_FORMATS)))
    rng.shuffle(fmt_order)

    cid = world.client_ids
    uid = world.s_user
    site = world.s_site
    n_clients = world.n_clients
    # records with a planted role (staff's own records, their families, public figures...) are
    # mostly left to the planted scenarios: random traffic re-draws them 85% of the time
    special = bytearray(n_clients)
    for c in builder.reserved:
        special[c] = 1
    rules = [r for r, _ in RULE_BITS]
    bit_rules: dict[int, list[str]] = {}
    truth_counts = dict.fromkeys(CONTRACT_RULES, 0)
    meta_files: dict[str, dict[str, int]] = {}
    planted_ids: dict[int, str] = {}
    planted_truth: dict[int, list[str]] = {}
    log_dir = out_dir / "logs"
    truth_path = out_dir / "truth.jsonl"
    truth_f = open(truth_path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
    next_id = 0
    id_prefix = event_id_prefix(seed)
    done = 0
    n_events = n_lines = n_bad = n_dups = 0
    file_no = 0
    carry: list[tuple[str | None, ...]] = []
    rnd = rng.random
    n_files_total = days * shards_per_day
    del rules

    for k, di in enumerate(day_info):
        evs: list[tuple[int, int, int, str, str | None, int]] = []
        simple = di.off0 == di.off1
        t0 = di.t0
        for s, n in plan[k]:
            svc = world.s_service[s]
            cl = world.s_caseload[s]
            ncl = len(cl)
            case_p = 0.0 if not ncl else (0.75 if ncl > 10 else 0.2)
            hours = HOURS_SERVICE if svc else HOURS_PERSON
            nh = len(hours)
            acts = ACTIONS_SERVICE if svc else ACTIONS_PERSON
            na = len(acts)
            for _ in range(n):
                tod = hours[int(rnd() * nh)] * 3600 + int(rnd() * 3600)  # type: ignore[operator]
                ts = t0 + tod if simple else di.instant(tod)
                if svc:
                    c = int(rnd() * n_clients)
                    scr = SCREENS_SERVICE[int(rnd() * len(SCREENS_SERVICE))]
                elif rnd() < case_p:
                    c = cl[int(rnd() * ncl)]
                    scr = SCREENS_CASE[int(rnd() * len(SCREENS_CASE))]
                else:
                    c = int(rnd() * n_clients)
                    if special[c] and rnd() < 0.85:
                        c = int(rnd() * n_clients)
                    scr = SCREENS_OTHER[int(rnd() * len(SCREENS_OTHER))]
                evs.append((ts, s, c, acts[int(rnd() * na)], scr, -1))  # type: ignore[arg-type]
        for i in planted_by_day[k]:
            p = world.planted[i]
            if p.tod == WORK:
                tod = rng.randint(8 * 3600, 17 * 3600)
            elif p.tod == LATE:
                tod = 23 * 3600 + 30 * 60 + rng.randrange(25 * 60)
            elif p.tod == EARLY:
                tod = 20 * 60 + rng.randrange(25 * 60)
            else:
                tod = p.tod
            evs.append((di.instant(tod), p.user, p.client, p.action, p.screen, i))
        evs.sort(key=itemgetter(0))

        n_ev = len(evs)
        bounds = [n_ev * j // shards_per_day for j in range(shards_per_day + 1)]
        for j in range(shards_per_day):
            chunk = evs[bounds[j] : bounds[j + 1]]
            fmt = LOG_FORMATS[fmt_order[file_no % len(LOG_FORMATS)]]
            name = f"{SYSTEM}_{file_no:04d}_{di.date:%Y%m%d}{fmt.suffix}"
            last_file = file_no == n_files_total - 1
            file_no += 1
            lw = _LogWriter(log_dir / name, fmt, rr)
            for carried in carry:
                lw.write(carried)
            n_dups += len(carry)
            carry = []
            kinds = list(MALFORMED_KINDS)
            if fmt.kind == "jsonl":
                kinds.append("invalid_json")
            rr.shuffle(kinds)
            kinds = kinds[: rr.randint(2, len(kinds))]
            bad_at = dict(
                zip(rr.sample(range(len(chunk) + 1), min(len(kinds), len(chunk) + 1)), kinds, strict=False)
            )
            dup_at = set(rr.sample(range(len(chunk)), min(len(chunk), max(1, len(chunk) // 4000))))
            pending: list[tuple[int, tuple[str | None, ...]]] = []
            rec: tuple[str | None, ...] = (
                "cms-000000000",
                "2025-04-01T09:00:00Z",
                uid[0],
                cid[0],
                "view",
                None,
                None,
                None,
                None,
            )
            for idx, (ts, s, c, action, scr, pi) in enumerate(chunk):
                if idx in bad_at:
                    next_id += 1
                    lw.write_malformed(bad_at[idx], (f"{id_prefix}{next_id:09d}", *rec[1:]))
                next_id += 1
                eid = f"{id_prefix}{next_id:09d}"
                # -- render
                r = rr.random()
                if r < 0.4:
                    off, suffix = 0, "Z"
                elif r < 0.95:
                    off = di.off0 if ts < di.switch else di.off1
                    suffix = "+13:00" if off == 46800 else ("+12:00" if off == 43200 else _offset_text(off))
                else:
                    off, suffix = 0, "+00:00"
                r = rr.random()
                frac = (
                    ""
                    if r < 0.8
                    else (f".{rr.randrange(1000):03d}" if r < 0.95 else f".{rr.randrange(1000000):06d}")
                )
                stamp = _stamp(ts, off, frac, suffix)
                act: str = action
                shown: str | None = scr
                r = rr.random()
                if r < 0.003:
                    act = act.upper() if r < 0.0015 else act.capitalize()
                elif r < 0.005 and shown:
                    shown = shown.capitalize()
                rec = (
                    eid,
                    stamp,
                    uid[s],
                    cid[c],
                    act,
                    shown,
                    site[s] if rr.random() > 0.04 else None,
                    f"sess-{(s * 7919 + k * 104729) % 1000003:07d}" if rr.random() > 0.05 else None,
                    f"WS-{s % 997:03d}" if fmt.kind == "csv" else "cms-web/4.2",
                )
                lw.write(rec)
                # -- judge
                bits = oracle.judge(s, c, di.ordinal, scr)
                if bits:
                    names = bit_rules.get(bits)
                    if names is None:
                        names = bit_rules[bits] = rules_of(bits)
                    for rule in names:
                        truth_counts[rule] += 1
                        truth_f.write(
                            f'{{"system": "{SYSTEM}", "event_id": "{eid}", "rule": "{rule}", '
                            f'"user_id": "{uid[s]}", "client_id": "{cid[c]}"}}\n'
                        )
                if pi >= 0:
                    planted_ids[pi] = eid
                    planted_truth[pi] = rules_of(bits)
                n_events += 1
                # -- duplicate deliveries
                if idx in dup_at:
                    if last_file or rr.random() < 0.5:
                        pending.append((idx + rr.randint(0, 40), rec))
                    else:
                        carry.append(rec)
                if pending and pending[0][0] <= idx:
                    still = []
                    for at, prec in pending:
                        if at <= idx:
                            lw.write(prec)
                            n_dups += 1
                        else:
                            still.append((at, prec))
                    pending = still
            if len(chunk) in bad_at:
                next_id += 1
                lw.write_malformed(bad_at[len(chunk)], (f"{id_prefix}{next_id:09d}", *rec[1:]))
            for _, prec in pending:
                lw.write(prec)
                n_dups += 1
            meta = lw.close()
            meta_files[name] = meta
            n_lines += meta["lines_read"]
            n_bad += meta["quarantined"]
            files.append(log_dir / name)
            done += len(chunk)
            if progress is not None:
                progress(done, total_events)
    truth_f.close()
    files.append(truth_path)

    planted_path = out_dir / "planted.jsonl"
    with open(planted_path, "w", encoding="utf-8", newline="\n") as f:
        for i, p in enumerate(world.planted):
            f.write(
                json.dumps(
                    {
                        "event_id": planted_ids[i],
                        "scenario": p.scenario,
                        "user_id": uid[p.user],
                        "client_id": cid[p.client],
                        "expected": sorted(p.expected),
                        "truth": sorted(planted_truth[i]),
                    }
                )
                + "\n"
            )
    files.append(planted_path)

    meta_path = out_dir / "truth-meta.json"
    meta_doc = {
        "system": SYSTEM,
        "files": meta_files,
        "events": n_events,
        "rules": truth_counts,
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "lines": n_lines,
        "quarantined": n_bad,
        "duplicates": n_dups,
    }
    meta_path.write_text(json.dumps(meta_doc, indent=2) + "\n", encoding="utf-8")
    files.append(meta_path)

    return SynthSummary(
        out_dir=str(out_dir),
        seed=seed,
        start=start,
        days=days,
        staff=len(world.s_user),
        service_accounts=sum(world.s_service),
        clients=world.n_clients,
        events=n_events,
        lines=n_lines,
        malformed=n_bad,
        duplicates=n_dups,
        truth=truth_counts,
        truth_total=sum(truth_counts.values()),
        planted=len(world.planted),
        files=[str(p.relative_to(out_dir)) for p in files],
    )
