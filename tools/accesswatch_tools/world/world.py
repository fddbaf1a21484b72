"""The synthetic world: people, dwellings, staff, reference data and planted scenarios.

Ground truth lives in integer structures (who owns which client record, which dwelling each
record really is at, which relationship rows exist); strings are only renderings of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from .pools import (
    CLIENT_FLAGS,
    COMMON_FAMILY_NAMES,
    FAMILY_NAMES,
    GIVEN_NAMES,
    PLACES,
    SAU_TEAM,
    SERVICE_ACCOUNTS,
    SITES,
    STREETS,
    TEAMS,
    WATCHLIST_REASONS,
)
from .text import Dwelling, fold_key, name_variant, render_address

# rule bits
SELF, RELATIVE, HOUSEHOLD, COLLEAGUE, DECLARED, PUBLIC, SENSITIVE = (1, 2, 4, 8, 16, 32, 64)
RULE_BITS = (
    ("SELF_RECORD", SELF),
    ("RELATIVE_RECORD", RELATIVE),
    ("HOUSEHOLD_RECORD", HOUSEHOLD),
    ("COLLEAGUE_RECORD", COLLEAGUE),
    ("DECLARED_ASSOCIATE", DECLARED),
    ("PUBLIC_FIGURE", PUBLIC),
    ("SENSITIVE_LOOKUP", SENSITIVE),
)
RULE_OF_BIT = dict((b, r) for r, b in RULE_BITS)

# time-of-day markers for planted events (seconds after local midnight, or these specials)
LATE = -1  # 23:30-23:55 NZ: the UTC date is the same NZ date minus nothing, but 10-11 h earlier
EARLY = -2  # 00:20-00:45 NZ: the UTC date is the previous day
WORK = -3  # a random working-hours time

Person = tuple[str, str, "date | None"]  # canonical family, given names, dob

FAR_FUTURE = date(9999, 12, 31).toordinal()


@dataclass(slots=True)
class Planted:
    user: int
    client: int
    day: int
    tod: int
    screen: str
    action: str
    scenario: str
    expected: frozenset[str]


@dataclass
class World:
    start: date
    days: int
    # clients (index = client number)
    client_ids: list[str] = field(default_factory=list)
    c_family: list[str] = field(default_factory=list)
    c_given: list[str] = field(default_factory=list)
    c_dob: list[date | None] = field(default_factory=list)
    c_dwelling: list[int] = field(default_factory=list)  # -1: no address
    c_address: list[str] = field(default_factory=list)
    c_flags: list[str] = field(default_factory=list)
    dwellings: list[Dwelling] = field(default_factory=list)
    # staff (index = staff number)
    staff_rows: list[dict[str, str]] = field(default_factory=list)
    s_user: list[str] = field(default_factory=list)
    s_service: list[bool] = field(default_factory=list)
    s_sau: list[bool] = field(default_factory=list)
    s_dwelling: list[int] = field(default_factory=list)
    s_own: list[int] = field(default_factory=list)  # -1: no own client record
    s_site: list[str] = field(default_factory=list)
    s_first_day: list[int] = field(default_factory=list)  # first/last day index with traffic
    s_last_day: list[int] = field(default_factory=list)
    s_weight: list[float] = field(default_factory=list)  # traffic weight on a working day
    s_caseload: list[list[int]] = field(default_factory=list)
    # reference relations
    relationships: list[tuple[int, int, str]] = field(default_factory=list)
    declarations: list[tuple[int, int, str, date]] = field(default_factory=list)
    assignments: list[tuple[int, int, str, date, date | None]] = field(default_factory=list)
    watchlist: list[tuple[int, str, date, date | None]] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)

    @property
    def n_clients(self) -> int:
        return len(self.client_ids)

    def day(self, k: int) -> date:
        return self.start + timedelta(days=k)


class WorldBuilder:
    def __init__(self, *, staff: int, clients: int, days: int, start: date, rng: random.Random):
        if staff < 12:
            raise ValueError("need at least 12 staff rows")
        if clients < 200:
            raise ValueError("need at least 200 clients")
        if days < 1:
            raise ValueError("need at least 1 day")
        self.rng = rng
        self.n_staff = staff
        self.target_clients = clients
        self.w = World(start=start, days=days)
        self.used_people: set[tuple[str, str, date | None]] = set()
        self.used_dwellings: set[tuple[object, ...]] = set()
        self.reserved: set[int] = set()  # clients with a planted role: kept out of random reference rows
        self.background: list[int] = []  # plain clients available for planting
        self._bg_cursor = 0

    # ---------------------------------------------------------------- primitives
    def rand_date(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=self.rng.randrange((hi - lo).days + 1))

    def new_person(
        self,
        family: str | None = None,
        given: str | None = None,
        dob: date | None = None,
        years: tuple[int, int] = (1940, 2004),
        *,
        blank_dob: bool = False,
    ) -> Person:
        for attempt in range(200):
            fam = family if family is not None else self._family()
            giv = given if (given is not None and attempt < 100) else self._given()
            if blank_dob:
                d = None
            elif dob is not None and attempt < 50:
                d = dob + timedelta(days=attempt * 366) if attempt else dob
            else:
                d = self.rand_date(date(years[0], 1, 1), date(years[1], 12, 28))
            key = (fold_key(fam), fold_key(giv), d)
            if d is None or key not in self.used_people:
                if d is not None:
                    self.used_people.add(key)
                return (fam, giv, d)
            if attempt > 150:
                years = (years[0] - 5, years[1])
        raise RuntimeError("could not find a distinct person")  # pragma: no cover

    def _family(self) -> str:
        rng = self.rng
        if rng.random() < 0.25:
            return rng.choice(COMMON_FAMILY_NAMES)
        return rng.choice(FAMILY_NAMES)

    def _given(self) -> str:
        rng = self.rng
        r = rng.random()
        n = 1 if r < 0.55 else (2 if r < 0.95 else 3)
        names: list[str] = []
        while len(names) < n:
            g = rng.choice(GIVEN_NAMES)
            if g not in names:
                names.append(g)
        return " ".join(names)

    def new_dwelling(self, unit: int | None | bool = False, like: Dwelling | None = None) -> int:
        """unit=False: random; None: no unit; int: that unit. ``like`` copies the street address."""
        rng = self.rng
        for _ in range(500):
            if like is not None:
                d = like._replace(unit=unit if isinstance(unit, int) and unit is not True else like.unit)
            else:
                street, stype = rng.choice(STREETS)
                suburb, city = rng.choice(PLACES)
                u: int | None
                if unit is False:
                    u = rng.randint(1, 12) if rng.random() < 0.18 else None
                elif unit is True:
                    u = rng.randint(1, 12)
                else:
                    u = unit  # type: ignore[assignment]
                d = Dwelling(u, rng.randint(1, 420), street, stype, suburb, city)
            k = d.key()
            if k not in self.used_dwellings:
                self.used_dwellings.add(k)
                self.w.dwellings.append(d)
                return len(self.w.dwellings) - 1
            if like is not None and isinstance(unit, int):
                unit += 1
        raise RuntimeError("could not find a distinct dwelling")  # pragma: no cover

    def add_client(self, person: Person, dwelling: int, *, strength: float = 0.35, flags: str = "") -> int:
        w = self.w
        fam, giv, dob = person
        w.c_family.append(name_variant(fam, self.rng, strength=strength))
        w.c_given.append(name_variant(giv, self.rng, strength=strength))
        w.c_dob.append(dob)
        w.c_dwelling.append(dwelling)
        w.c_address.append(render_address(w.dwellings[dwelling], self.rng) if dwelling >= 0 else "")
        w.c_flags.append(flags)
        return len(w.c_family) - 1

    def relate(self, a: int, b: int, kind: str) -> None:
        inverse = {
            "parent": "child",
            "child": "parent",
            "grandparent": "grandchild",
            "grandchild": "grandparent",
        }
        if self.rng.random() < 0.5:
            self.w.relationships.append((a, b, kind))
        else:
            self.w.relationships.append((b, a, inverse.get(kind, kind)))

    def take_background(self) -> int:
        """A plain background client nobody has a planted role with, reserved from now on."""
        while True:
            c = self.background[self._bg_cursor % len(self.background)]
            self._bg_cursor += 7919
            if c not in self.reserved:
                self.reserved.add(c)
                return c

    def _flags(self) -> str:
        rng = self.rng
        if rng.random() < 0.85:
            return ""
        return ";".join(sorted(rng.sample(CLIENT_FLAGS, rng.randint(1, 2))))

    # ---------------------------------------------------------------- background population
    def build_background(self, n: int) -> None:
        rng = self.rng
        start = 0
        while start < n:
            blank = rng.random() < 0.02
            dw = -1 if blank else self.new_dwelling()
            r = rng.random()
            members: list[int] = []
            if r < 0.12:  # a flat of unrelated people
                for _ in range(rng.randint(2, 4)):
                    members.append(
                        self.add_client(self.new_person(years=(1960, 2004)), dw, flags=self._flags())
                    )
                if rng.random() < 0.3:
                    self.relate(members[0], members[1], "household")
            else:
                fam = self._family()
                size = rng.choices((1, 2, 3, 4, 5), weights=(30, 28, 20, 14, 8))[0]
                a1 = self.add_client(self.new_person(fam, years=(1940, 1998)), dw, flags=self._flags())
                members.append(a1)
                if size >= 2:
                    pfam = fam if rng.random() < 0.5 else self._family()
                    a2 = self.add_client(self.new_person(pfam, years=(1940, 1998)), dw, flags=self._flags())
                    members.append(a2)
                    if rng.random() < 0.6:
                        self.relate(a1, a2, "partner")
                for _ in range(max(0, size - 2)):
                    ch = self.add_client(self.new_person(fam, years=(1995, 2024)), dw, flags=self._flags())
                    members.append(ch)
                    if rng.random() < 0.55:
                        self.relate(ch, a1, "parent")
                    if len(members) > 3 and rng.random() < 0.3:
                        self.relate(ch, members[-2], "sibling")
                if len(self.background) > 20 and rng.random() < 0.08:
                    other = self.background[rng.randrange(len(self.background))]
                    if other not in self.reserved:
                        self.relate(a1, other, rng.choice(("sibling", "other_whanau", "grandparent")))
            self.background.extend(members)
            start += len(members)
        rng.shuffle(self.background)

    # ---------------------------------------------------------------- staff
    def build_staff(self) -> None:
        rng, w = self.rng, self.w
        n_service = min(max(2, round(self.n_staff * 0.015)), self.n_staff // 6)
        n_persons = self.n_staff - n_service
        n_sau = max(2, round(self.n_staff * 0.03))
        ids = rng.sample(range(100000, 999999), n_persons)
        period_end = w.day(w.days - 1)
        leaders: dict[str, str] = {}
        roles: tuple[str, ...]
        for i in range(n_persons):
            uid = f"u{ids[i]}"
            if i < n_sau:
                team, roles, _ = SAU_TEAM, ("SAU Advisor",), False
            else:
                team, roles, _ = TEAMS[rng.randrange(len(TEAMS))]
            role = rng.choice(roles)
            if team not in leaders:
                leaders[team] = uid
                role = "Team Leader"
                manager = ""
            else:
                manager = leaders[team]
            site = rng.choice(SITES)
            r = rng.random()
            first, last, weight = 0, w.days - 1, 1.0
            end = ""
            start_d = self.rand_date(date(1995, 1, 1), w.start - timedelta(days=30))
            if i < n_sau or r < 0.85:
                status = "active"
                if rng.random() < 0.02 and w.days > 2:
                    first = rng.randrange(1, w.days)
                    start_d = w.day(first)
            elif r < 0.92:
                status = "leave"
                weight = 0.03
            else:
                status = "terminated"
                end_d = self.rand_date(w.start - timedelta(days=300), period_end)
                end = end_d.isoformat()
                last = (end_d - w.start).days
                weight = 1.0 if last >= 0 else 0.0
                if start_d >= end_d:
                    start_d = end_d - timedelta(days=200)
            blank_dob = rng.random() < 0.02
            person = self.new_person(years=(1958, 2005), blank_dob=blank_dob)
            blank_addr = rng.random() < 0.03
            dw = -1 if blank_addr else self.new_dwelling()
            w.s_user.append(uid)
            w.s_service.append(False)
            w.s_sau.append(team == SAU_TEAM)
            w.s_dwelling.append(dw)
            w.s_own.append(-1)
            w.s_site.append(site)
            w.s_first_day.append(first)
            w.s_last_day.append(last)
            w.s_weight.append(weight)
            w.s_caseload.append([])
            w.staff_rows.append(
                {
                    "user_id": uid,
                    "family_name": name_variant(person[0], rng, strength=0.15),
                    "given_names": name_variant(person[1], rng, strength=0.15),
                    "date_of_birth": person[2].isoformat() if person[2] else "",
                    "address": render_address(w.dwellings[dw], rng) if dw >= 0 else "",
                    "role": role,
                    "team": team,
                    "site": site,
                    "manager_user_id": manager,
                    "client_id": "",
                    "status": status,
                    "start_date": start_d.isoformat(),
                    "end_date": end,
                    "account_type": "person",
                    "cost_centre": f"CC{rng.randint(100, 999)}",
                }
            )
            self._people.append(person)
        for j in range(n_service):
            uid = SERVICE_ACCOUNTS[j] if j < len(SERVICE_ACCOUNTS) else f"svc-batch-{j:02d}"
            w.s_user.append(uid)
            w.s_service.append(True)
            w.s_sau.append(False)
            w.s_dwelling.append(-1)
            w.s_own.append(-1)
            w.s_site.append("Wellington, Level 3")
            w.s_first_day.append(0)
            w.s_last_day.append(w.days - 1)
            w.s_weight.append(3.0)
            w.s_caseload.append([])
            w.staff_rows.append(
                {
                    "user_id": uid,
                    "family_name": "",
                    "given_names": "",
                    "date_of_birth": "",
                    "address": "",
                    "role": "Batch Account",
                    "team": "Integration Services",
                    "site": "Wellington, Level 3",
                    "manager_user_id": "",
                    "client_id": "",
                    "status": "active",
                    "start_date": "2019-07-01",
                    "end_date": "",
                    "account_type": "service",
                    "cost_centre": "CC000",
                }
            )
            self._people.append(("", "", None))

    def give_own_record(self, s: int, kind: str, *, renamed: bool = False) -> int:
        """kind 'linked' (staff.client_id set) or 'name' (same name and DOB, not linked)."""
        w, rng = self.w, self.rng
        fam, giv, dob = self._people[s]
        dw = w.s_dwelling[s]
        if rng.random() < 0.15 or dw < 0:
            home = self.new_dwelling() if rng.random() < 0.9 else -1  # record still has an old address
        else:
            home = dw
        if renamed:
            person = self.new_person(family=self._family(), given=giv, dob=dob)
            c = self.add_client(person, home, strength=0.5)
        else:
            c = self.add_client((fam, giv, dob), home, strength=0.95)
            if kind == "name":  # make sure the two typings differ visibly most of the time
                for _ in range(4):
                    row = w.staff_rows[s]
                    if (w.c_family[c], w.c_given[c]) != (row["family_name"], row["given_names"]):
                        break
                    w.c_family[c] = name_variant(fam, rng, strength=1.0)
                    w.c_given[c] = name_variant(giv, rng, strength=1.0)
        w.s_own[s] = c
        if kind == "linked":
            w.staff_rows[s]["client_id"] = "\0" + str(c)  # resolved to the client id later
        self.reserved.add(c)
        return c

    def build_staff_lives(self) -> None:
        """Own records, families, flatmates and relatives for ordinary staff (not the planted subjects)."""
        w, rng = self.w, self.rng
        for s in range(len(w.s_user)):
            if w.s_service[s] or w.s_own[s] >= 0 or s in self.subjects:
                continue
            r = rng.random()
            has_dob = self._people[s][2] is not None
            if r < 0.45 or (r < 0.65 and not has_dob):
                self.give_own_record(s, "linked", renamed=rng.random() < 0.05)
            elif r < 0.65:
                self.give_own_record(s, "name")
            self._family_of(s, rng.random() < 0.35, rng.random() < 0.08, rng.random() < 0.25)

    def _family_of(self, s: int, household: bool, flatmate: bool, elsewhere: bool) -> dict[str, int]:
        w, rng = self.w, self.rng
        own, dw = w.s_own[s], w.s_dwelling[s]
        fam = self._people[s][0]
        out: dict[str, int] = {}
        if household and dw >= 0:
            p = self.add_client(self.new_person(years=(1955, 2004)), dw)
            out["household_relative"] = p
            self.reserved.add(p)
            if own >= 0:
                self.relate(own, p, rng.choice(("partner", "household", "child", "parent")))
            if rng.random() < 0.5:
                ch = self.add_client(self.new_person(fam, years=(2005, 2023)), dw)
                self.reserved.add(ch)
                if own >= 0 and rng.random() < 0.7:
                    self.relate(own, ch, "child")
        if flatmate and dw >= 0:
            f = self.add_client(self.new_person(years=(1970, 2004)), dw)
            self.reserved.add(f)
            out["flatmate"] = f
        if elsewhere and own >= 0:
            r1 = self.add_client(
                self.new_person(fam if rng.random() < 0.6 else None, years=(1940, 2004)), self.new_dwelling()
            )
            self.reserved.add(r1)
            self.relate(own, r1, rng.choice(("parent", "sibling", "grandparent", "other_whanau", "partner")))
            out["relative"] = r1
            q = self.add_client(self.new_person(years=(1940, 2020)), self.new_dwelling())
            self.reserved.add(q)
            self.relate(r1, q, rng.choice(("partner", "child", "sibling")))
            out["two_hop"] = q
        return out

    # ---------------------------------------------------------------- the whole world
    def build(self) -> World:
        w = self.w
        self._people: list[Person] = []
        # leave room for staff records, their families and decoys
        n_persons_est = self.n_staff
        reserve = int(n_persons_est * 2.2) + 80
        self.build_background(max(100, self.target_clients - reserve))
        self.build_staff()
        persons = [s for s in range(len(w.s_user)) if not w.s_service[s]]
        active_plain = [
            s
            for s in persons
            if not w.s_sau[s]
            and w.staff_rows[s]["status"] == "active"
            and w.s_first_day[s] == 0
            and w.s_dwelling[s] >= 0
            and self._people[s][2] is not None
        ]
        n_subj = max(3, min(24, len(persons) // 20))
        self.subjects = active_plain[:n_subj]
        plain_users = active_plain[n_subj:]
        self._plant_subjects()
        self.build_staff_lives()
        self._plant_global(plain_users)
        self._fill_clients()
        self._caseloads()
        self._background_reference()
        self._assign_ids()
        return w

    def _plant(
        self,
        u: int,
        c: int,
        day: int,
        tod: int,
        screen: str,
        scenario: str,
        *rules: str,
        action: str = "view",
    ) -> None:
        self.w.planted.append(Planted(u, c, day, tod, screen, action, scenario, frozenset(rules)))

    def _any_day(self) -> int:
        return self.rng.randrange(self.w.days)

    def _assign(self, u: int, c: int, frm: date, to: date | None, reason: str | None = None) -> None:
        self.w.assignments.append(
            (u, c, reason or self.rng.choice(("caseload", "appointment", "task", "referral")), frm, to)
        )

    def _plant_subjects(self) -> None:
        w, rng = self.w, self.rng
        day = self._any_day
        for i, s in enumerate(self.subjects):
            if i % 5 == 4:
                own = self.give_own_record(s, "linked", renamed=True)
                self._plant(s, own, day(), WORK, "summary", "self_renamed_linked", "SELF_RECORD")
            else:
                own = self.give_own_record(s, "linked" if i % 2 == 0 else "name")
                self._plant(
                    s,
                    own,
                    day(),
                    WORK,
                    "summary",
                    f"self_{'linked' if i % 2 == 0 else 'name'}",
                    "SELF_RECORD",
                )
            if i % 3 == 0:
                self._assign(s, own, w.start - timedelta(days=30), None)
                self._plant(s, own, day(), WORK, "date_of_birth", "self_assigned_sensitive", "SELF_RECORD")
            else:
                self._plant(
                    s,
                    own,
                    day(),
                    WORK,
                    "ird_number",
                    "self_sensitive",
                    "SELF_RECORD",
                    "SENSITIVE_LOOKUP",
                    action="print",
                )
            fam = self._family_of(s, True, True, True)
            # the housemate relative: force a relationship row (own record exists)
            self._plant(
                s,
                fam["household_relative"],
                day(),
                WORK,
                "notes",
                "relative_household",
                "RELATIVE_RECORD",
                "HOUSEHOLD_RECORD",
            )
            self._plant(s, fam["flatmate"], day(), WORK, "summary", "flatmate", "HOUSEHOLD_RECORD")
            self._plant(s, fam["relative"], day(), WORK, "payments", "relative_elsewhere", "RELATIVE_RECORD")
            self._plant(
                s,
                fam["relative"],
                day(),
                WORK,
                "address",
                "relative_sensitive",
                "RELATIVE_RECORD",
                "SENSITIVE_LOOKUP",
            )
            self._plant(s, fam["two_hop"], day(), WORK, "summary", "neg_two_hop_relative")
            # a decoy sharing the surname: different given names, or same given names and a different DOB
            sfam, sgiv, sdob = self._people[s]
            assert sdob is not None
            if i % 2 == 0:
                decoy = self.new_person(sfam, dob=sdob)
                decoy = (decoy[0], decoy[1], decoy[2])
            else:
                decoy = self.new_person(sfam, sgiv, dob=sdob + timedelta(days=rng.choice((1, -1, 365))))
            dc = self.add_client(decoy, self.new_dwelling(), strength=0.5)
            self.reserved.add(dc)
            self._plant(s, dc, day(), WORK, "summary", "neg_common_surname")
            # same building, another unit; same number on a street of another type
            dw = w.dwellings[w.s_dwelling[s]]
            if dw.unit is not None:
                other = self.new_dwelling(unit=dw.unit + 1, like=dw)
            else:
                other = self.new_dwelling(unit=rng.randint(1, 6), like=dw)
            oc = self.add_client(self.new_person(), other)
            self.reserved.add(oc)
            self._plant(s, oc, day(), WORK, "summary", "neg_other_unit_same_number")
            # declared friend
            d = self.take_background()
            w.declarations.append(
                (
                    s,
                    d,
                    rng.choice(("friend", "club", "acquaintance", "social_media")),
                    self.rand_date(w.start - timedelta(days=900), w.start),
                )
            )
            self._plant(s, d, day(), WORK, "summary", "declared_friend", "DECLARED_ASSOCIATE")
        # units: make sure several subjects actually live in a flat
        # (their dwelling was drawn randomly; planted above used whatever it was)

    def _plant_global(self, plain: list[int]) -> None:
        w, rng = self.w, self.rng
        day = self._any_day
        start, days = w.start, w.days
        persons = [s for s in range(len(w.s_user)) if not w.s_service[s]]
        owners = [s for s in persons if w.s_own[s] >= 0]
        pool = list(plain)
        rng.shuffle(pool)
        cursor = [0]

        def user(*exclude: int) -> int:
            while True:
                u = pool[cursor[0] % len(pool)]
                cursor[0] += 1
                if u not in exclude:
                    return u

        # --- a staff couple: colleague + relative + household in one access
        cand = [s for s in pool if w.s_own[s] < 0 and w.s_dwelling[s] >= 0 and self._people[s][2] is not None]
        if len(cand) >= 2:
            a, b = cand[0], cand[1]
            w.s_dwelling[b] = w.s_dwelling[a]
            w.staff_rows[b]["address"] = render_address(w.dwellings[w.s_dwelling[a]], rng)
            oa = self.give_own_record(a, "linked")
            ob = self.give_own_record(b, "name")
            w.c_dwelling[oa] = w.c_dwelling[ob] = w.s_dwelling[a]
            w.c_address[oa] = render_address(w.dwellings[w.s_dwelling[a]], rng)
            w.c_address[ob] = render_address(w.dwellings[w.s_dwelling[a]], rng)
            self.relate(oa, ob, "partner")
            self._plant(
                a,
                ob,
                day(),
                WORK,
                "summary",
                "staff_couple",
                "COLLEAGUE_RECORD",
                "RELATIVE_RECORD",
                "HOUSEHOLD_RECORD",
            )
            self._plant(
                b,
                oa,
                day(),
                LATE,
                "contact",
                "staff_couple_sensitive",
                "COLLEAGUE_RECORD",
                "RELATIVE_RECORD",
                "HOUSEHOLD_RECORD",
                "SENSITIVE_LOOKUP",
            )
            owners += [a, b]
            pool.remove(a)
            pool.remove(b)
            couple = {a, b}
        else:
            couple = set()
        if len(pool) < 8:  # a small world: let the subjects and the other staff act too
            pool += [s for s in persons if not w.s_sau[s] and s not in couple and s not in pool]
        if len(pool) < 3:
            pool += [s for s in persons if s not in couple and s not in pool]
        # --- household without any own record
        cand = [s for s in pool if w.s_own[s] < 0 and w.s_dwelling[s] >= 0]
        for s in cand[:2]:
            f = self.add_client(self.new_person(), w.s_dwelling[s])
            self.reserved.add(f)
            self._plant(s, f, day(), WORK, "summary", "household_no_own_record", "HOUSEHOLD_RECORD")
        # --- colleagues
        terminated = [s for s in owners if w.staff_rows[s]["status"] == "terminated"]
        linked = [s for s in owners if w.staff_rows[s]["client_id"]]
        named = [s for s in owners if not w.staff_rows[s]["client_id"]]
        for group, label in ((linked, "linked"), (named, "name"), (terminated, "terminated")):
            for v in group[:3]:
                u = user(v)
                self._plant(u, w.s_own[v], day(), WORK, "summary", f"colleague_{label}", "COLLEAGUE_RECORD")
        if linked:
            v = linked[-1]
            u = user(v)
            if u != v:
                self._assign(u, w.s_own[v], start - timedelta(days=5), None, "task")
                self._plant(u, w.s_own[v], day(), WORK, "address", "colleague_assigned", "COLLEAGUE_RECORD")
        # --- Staff Assistance Unit: legitimate work on colleagues' records
        sau = [s for s in persons if w.s_sau[s]]
        for k, a in enumerate(sau[:6]):
            vs = [v for v in owners if v != a]
            for j in range(3):
                v = vs[(k * 3 + j) % len(vs)]
                c = w.s_own[v]
                self._assign(a, c, start - timedelta(days=rng.randint(1, 60)), None, "task")
                self._plant(a, c, day(), WORK, ("summary", "notes", "address")[j], "neg_sau_colleague")
            v = vs[(k * 3 + 5) % len(vs)]
            if w.s_own[v] >= 0 and not any(x[0] == a and x[1] == w.s_own[v] for x in w.assignments):
                self._plant(a, w.s_own[v], day(), WORK, "summary", "neg_sau_colleague_unassigned")
                self._plant(
                    a,
                    w.s_own[v],
                    day(),
                    WORK,
                    "contact",
                    "sau_colleague_sensitive_unassigned",
                    "SENSITIVE_LOOKUP",
                )
        # --- declarations
        u, c = user(), self.take_background()
        w.declarations.append((u, c, "business", start - timedelta(days=400)))
        self._assign(u, c, start - timedelta(days=20), None, "caseload")
        self._plant(u, c, day(), WORK, "address", "declared_assigned", "DECLARED_ASSOCIATE")
        u2 = user(u)
        if u2 != u:
            self._plant(u2, c, day(), WORK, "summary", "neg_declared_by_someone_else")
        u, c = user(), self.take_background()
        w.declarations.append((u, c, "family", w.day(days - 1) + timedelta(days=20)))
        self._plant(u, c, day(), WORK, "notes", "declared_after_access", "DECLARED_ASSOCIATE")
        # --- blank addresses never make a household
        blank_staff = [s for s in persons if w.s_dwelling[s] < 0 and w.s_own[s] < 0]
        blank_clients = [c for c in self.background if w.c_dwelling[c] < 0 and c not in self.reserved]
        for s in blank_staff[:2]:
            for c in blank_clients[:2]:
                self.reserved.add(c)
                self._plant(s, c, day(), WORK, "summary", "neg_blank_address")

        # --- public figures
        def wl(c: int, added: date, removed: date | None) -> None:
            w.watchlist.append(
                (c, rng.choice(("member_of_parliament", "media", "celebrity")), added, removed)
            )
            if "media_interest" not in w.c_flags[c]:
                w.c_flags[c] = ";".join(x for x in (w.c_flags[c], "media_interest") if x)

        for _ in range(3):
            c = self.take_background()
            wl(c, start - timedelta(days=rng.randint(30, 2000)), None)
            u = user()
            self._assign(
                u, c, start - timedelta(days=100), w.day(days - 1) + timedelta(days=100), "appointment"
            )
            self._plant(u, c, day(), WORK, "address", "neg_public_figure_assigned")
            self._plant(user(u), c, day(), WORK, "summary", "public_figure", "PUBLIC_FIGURE")
            self._plant(
                user(u),
                c,
                day(),
                LATE,
                "contact",
                "public_figure_sensitive",
                "PUBLIC_FIGURE",
                "SENSITIVE_LOOKUP",
            )
            self._plant(len(w.s_user) - 1, c, day(), WORK, "ird_number", "neg_service_public_figure")
        c = self.take_background()
        wl(c, start - timedelta(days=900), start - timedelta(days=rng.randint(1, 200)))
        self._plant(user(), c, day(), WORK, "summary", "neg_public_figure_removed_before")
        if days >= 2:
            kb = max(1, days // 2)
            c = self.take_background()
            wl(c, w.day(kb), None)
            self._plant(user(), c, kb, EARLY, "summary", "public_figure_added_nz_midnight", "PUBLIC_FIGURE")
            self._plant(user(), c, kb - 1, LATE, "summary", "neg_public_figure_before_added")
            c = self.take_background()
            wl(c, start - timedelta(days=700), w.day(kb))
            self._plant(user(), c, kb - 1, LATE, "summary", "public_figure_last_evening", "PUBLIC_FIGURE")
            self._plant(user(), c, kb, EARLY, "summary", "neg_public_figure_removed_nz_midnight")
            # removed and re-added
            c = self.take_background()
            wl(c, start - timedelta(days=700), start - timedelta(days=300))
            wl(c, w.day(kb), None)
            self._plant(user(), c, kb - 1, WORK, "summary", "neg_public_figure_between_entries")
            self._plant(user(), c, kb, WORK, "print", "public_figure_readded", "PUBLIC_FIGURE")
        # --- sensitive screens
        for scr in ("address", "contact", "date_of_birth", "ird_number"):
            c = self.take_background()
            self._plant(user(), c, day(), WORK, scr, "sensitive_unassigned", "SENSITIVE_LOOKUP")
        for scr in ("address", "ird_number"):
            u, c = user(), self.take_background()
            self._assign(u, c, start - timedelta(days=300), None, "caseload")
            self._plant(u, c, day(), WORK, scr, "neg_sensitive_assigned")
        if days >= 2:
            kb = max(1, days // 2)
            u, c = user(), self.take_background()
            self._assign(u, c, start - timedelta(days=300), w.day(kb - 1), "caseload")
            self._plant(u, c, kb - 1, LATE, "address", "neg_sensitive_last_evening_of_window")
            self._plant(u, c, kb, EARLY, "address", "sensitive_after_window_nz_midnight", "SENSITIVE_LOOKUP")
            u, c = user(), self.take_background()
            self._assign(u, c, w.day(kb), None, "referral")
            self._plant(u, c, kb, EARLY, "contact", "neg_sensitive_first_morning_of_window")
            self._plant(
                u, c, kb - 1, LATE, "contact", "sensitive_before_window_nz_evening", "SENSITIVE_LOOKUP"
            )
        if days >= 3:
            kb = min(max(1, days // 2), days - 2)
            u, c = user(), self.take_background()
            self._assign(u, c, start - timedelta(days=200), w.day(kb - 1), "caseload")
            self._assign(u, c, w.day(kb + 1), None, "caseload")
            self._plant(u, c, kb, WORK, "date_of_birth", "sensitive_in_assignment_gap", "SENSITIVE_LOOKUP")
            self._plant(u, c, kb + 1, WORK, "date_of_birth", "neg_sensitive_after_gap")
        # --- a sweep: one person opens the sensitive screens of many unassigned clients in one day. Each
        #     access is a SENSITIVE_LOOKUP (accumulate tier); together they cross the risk threshold.
        sweeper, sweep_day = user(), day()
        for k in range(24):
            scr = ("address", "date_of_birth", "ird_number", "contact")[k % 4]
            self._plant(sweeper, self.take_background(), sweep_day, WORK, scr, "sensitive_sweep", "SENSITIVE_LOOKUP")
        # --- service accounts do anything and never raise a finding
        services = [s for s in range(len(w.s_user)) if w.s_service[s]]
        for k, svc in enumerate(services):
            v = owners[k % len(owners)]
            self._plant(
                svc, w.s_own[v], day(), WORK, "address", "neg_service_colleague_record", action="export"
            )
            self._plant(
                svc,
                self.take_background(),
                day(),
                WORK,
                "ird_number",
                "neg_service_sensitive",
                action="export",
            )

    def _fill_clients(self) -> None:
        """Top up plain clients so that the snapshot has about the requested number of rows."""
        missing = self.target_clients - len(self.w.c_family)
        if missing > 0:
            before = len(self.background)
            self.build_background(missing)
            del before
            # build_background may overshoot by a household; trim is not worth it

    def _caseloads(self) -> None:
        w, rng = self.w, self.rng
        candidates = [c for c in self.background if c not in self.reserved]
        persons = [s for s in range(len(w.s_user)) if not w.s_service[s]]
        k = max(5, min(60, 2 * len(candidates) // max(1, len(persons))))
        caseload_teams = {t for t, _, has in TEAMS if has}
        start, end = w.start, w.day(w.days - 1)
        for s in persons:
            team = w.staff_rows[s]["team"]
            if team == SAU_TEAM:
                continue
            n = k if team in caseload_teams else max(2, k // 8)
            chosen = rng.sample(candidates, min(n, len(candidates)))
            w.s_caseload[s] = chosen
            for c in chosen:
                r = rng.random()
                frm = start - timedelta(days=rng.randint(1, 900))
                to: date | None
                if r < 0.6:
                    to = None
                elif r < 0.8:
                    to = end + timedelta(days=rng.randint(10, 400))
                elif r < 0.9:
                    to = start + timedelta(days=rng.randrange(w.days))
                else:
                    frm, to = start + timedelta(days=rng.randrange(w.days)), None
                if rng.random() < 0.05:
                    self._assign(s, c, frm - timedelta(days=400), frm - timedelta(days=200))
                self._assign(s, c, frm, to, "caseload" if team in caseload_teams else None)

    def _background_reference(self) -> None:
        w, rng = self.w, self.rng
        candidates = [c for c in self.background if c not in self.reserved]
        persons = [s for s in range(len(w.s_user)) if not w.s_service[s]]
        start = w.start
        for s in persons:
            if rng.random() < 0.12:
                for c in rng.sample(candidates, rng.randint(1, 2)):
                    w.declarations.append(
                        (
                            s,
                            c,
                            rng.choice(
                                ("friend", "acquaintance", "business", "club", "social_media", "family")
                            ),
                            self.rand_date(start - timedelta(days=1500), start + timedelta(days=30)),
                        )
                    )
        n_watch = max(6, len(candidates) // 800)
        for c in rng.sample(candidates, n_watch):
            r = rng.random()
            added = start - timedelta(days=rng.randint(10, 3000))
            removed: date | None = None
            if r < 0.25:
                removed = added + timedelta(days=rng.randint(1, max(2, (start - added).days - 1)))
            elif r < 0.4:
                added = start + timedelta(days=rng.randrange(w.days))
            elif r < 0.55:
                removed = start + timedelta(days=rng.randrange(w.days))
            w.watchlist.append((c, rng.choice(WATCHLIST_REASONS), added, removed))
        rng.shuffle(w.relationships)
        rng.shuffle(w.assignments)
        rng.shuffle(w.declarations)

    def _assign_ids(self) -> None:
        w, rng = self.w, self.rng
        n = len(w.c_family)
        # nine digits, always at least one leading zero: 000123456 .. 099999999
        nums = rng.sample(range(10_000, 99_999_999), n)
        w.client_ids = [f"{x:09d}" for x in nums]
        for row in w.staff_rows:
            v = row["client_id"]
            if v.startswith("\0"):
                row["client_id"] = w.client_ids[int(v[1:])]
