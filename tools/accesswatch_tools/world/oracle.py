"""The truth oracle: judges an access from the generator's ground truth, never from strings.

Semantics (data contract v1, "Rules"):

- SELF_RECORD: the client is the user's own record (the generator knows which record is whose;
  it is linked by ``staff.client_id`` or carries the same name and date of birth).
- RELATIVE_RECORD: a relationships row (either direction, any type) joins the client and the
  user's own record.
- HOUSEHOLD_RECORD: the client record's true dwelling is the user's true dwelling (staff.address)
  and the client is not the user's own record. A blank address is no dwelling.
- COLLEAGUE_RECORD: the client is the own record of another staff row (any status) and the
  user's team is not the Staff Assistance Unit.
- DECLARED_ASSOCIATE: a declarations row for (user, client), whatever its declared_at.
- PUBLIC_FIGURE: a watchlist row with added_at <= NZ date < removed_at (blank: open) and no
  covering assignment.
- SENSITIVE_LOOKUP: the screen is address/contact/date_of_birth/ird_number and no covering
  assignment.
- covering assignment: same (user, client), valid_from <= NZ date <= valid_to (blank: open).
- service accounts never raise a finding.
"""

from __future__ import annotations

from collections import defaultdict

from accesswatch.contract import SENSITIVE_SCREENS

from .world import (
    COLLEAGUE,
    DECLARED,
    FAR_FUTURE,
    HOUSEHOLD,
    PUBLIC,
    RELATIVE,
    RULE_BITS,
    SELF,
    SENSITIVE,
    World,
)


class Oracle:
    def __init__(self, world: World) -> None:
        w = world
        n_staff = len(w.s_user)
        adjacency: dict[int, set[int]] = defaultdict(set)
        for a, b, _ in w.relationships:
            adjacency[a].add(b)
            adjacency[b].add(a)
        at_dwelling: dict[int, list[int]] = defaultdict(list)
        for c, dw in enumerate(w.c_dwelling):
            if dw >= 0:
                at_dwelling[dw].append(c)
        self.static: list[dict[int, int]] = [{} for _ in range(n_staff)]
        self.owner: dict[int, list[int]] = defaultdict(list)
        for s in range(n_staff):
            if w.s_service[s]:
                continue
            m = self.static[s]
            own = w.s_own[s]
            if own >= 0:
                self.owner[own].append(s)
                m[own] = m.get(own, 0) | SELF
                for r in adjacency.get(own, ()):
                    m[r] = m.get(r, 0) | RELATIVE
            dw = w.s_dwelling[s]
            if dw >= 0:
                for c in at_dwelling.get(dw, ()):
                    if c != own:
                        m[c] = m.get(c, 0) | HOUSEHOLD
        for s, c, _, _ in w.declarations:
            m = self.static[s]
            m[c] = m.get(c, 0) | DECLARED
        self.owner = dict(self.owner)
        self.assign: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for s, c, _, frm, to in w.assignments:
            self.assign[(s, c)].append((frm.toordinal(), to.toordinal() if to else FAR_FUTURE))
        self.assign = dict(self.assign)
        self.watch: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for c, _, added, removed in w.watchlist:
            self.watch[c].append((added.toordinal(), removed.toordinal() if removed else FAR_FUTURE))
        self.watch = dict(self.watch)
        self.service = list(w.s_service)
        self.sau = list(w.s_sau)

    def judge(self, u: int, c: int, nz_ordinal: int, screen: str | None) -> int:
        """Rule bits for user ``u`` opening client ``c`` on the NZ date ``nz_ordinal``."""
        if self.service[u]:
            return 0
        bits = self.static[u].get(c, 0)
        owners = self.owner.get(c)
        if owners is not None and not self.sau[u]:
            for o in owners:
                if o != u:
                    bits |= COLLEAGUE
                    break
        sensitive = screen in SENSITIVE_SCREENS
        windows = self.watch.get(c)
        listed = False
        if windows is not None:
            for added, removed in windows:
                if added <= nz_ordinal < removed:
                    listed = True
                    break
        if sensitive or listed:
            covered = False
            cover = self.assign.get((u, c))
            if cover is not None:
                for frm, to in cover:
                    if frm <= nz_ordinal <= to:
                        covered = True
                        break
            if not covered:
                if listed:
                    bits |= PUBLIC
                if sensitive:
                    bits |= SENSITIVE
        return bits


def rules_of(bits: int) -> list[str]:
    return [rule for rule, bit in RULE_BITS if bits & bit]
