"""What a release discloses, and withholding small counts so that none can be worked out again.

Every number a release shows is an *edge* of one flow network, and every relation a reader knows
between those numbers ("the Total column is the sum of the row", "Table Two and Table Three have the
same totals", "the medium column is the sum of the medium rules") is flow conservation at a node.
Tables that share numbers share edges, so the whole release is checked at once.

Knowledge of a reader (the attacker the audit plays):

- a *published* edge is known exactly;
- a *withheld* edge is known to be at least 1 (zeros are always published, so a withheld count is
  never zero) and nothing more: primary and secondary withholdings carry the same marker;
- a *hidden* edge (an internal sum no table shows) is known to be at least 0.

Because the constraint matrix of a flow network is totally unimodular, the values a withheld edge
can take given all of that form an interval of integers. A withheld count is *recoverable* when that
interval is a single value; ``recoverable`` decides it exactly with two circulation feasibility
tests (can it be one more? one less?), each a max-flow.

Suppression (``suppress``): primary, every shown count of natural persons with ``0 < value < threshold``
(section 9(2)(a) protects natural persons: a count of automated accounts only, ``persons=False``, is
never withheld for being small, only to protect another count); then,
for each withheld count in turn, while it is recoverable, withhold the published counts on the
cheapest cycle through it (a cycle avoiding counts of automated accounts when there is one) (withheld and hidden counts cost nothing, a published count its value,
zeros cannot be used), or, when every such cycle is already withheld but runs through counts at
their lowest, the smallest published count in one of its equations; each count so withheld is
checked the same way. Withholding never reaches beyond the tables linked with the count.
Withholding more never makes recovery easier, and with every non-zero count withheld none is
recoverable, so this ends.
"""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    PUBLISHED = "published"
    WITHHELD = "withheld"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Edge:
    id: str
    tail: str
    head: str
    value: int
    shown: bool = True  # shown in some table (published or withheld); False: an internal sum
    persons: bool = True  # counts natural persons (or their acts); False: automated accounts only


@dataclass
class Disclosure:
    """The release's numbers as one network, and which of them are withheld."""

    edges: dict[str, Edge] = field(default_factory=dict)
    withheld: set[str] = field(default_factory=set)
    primary: set[str] = field(default_factory=set)

    def add(self, edge_id: str, tail: str, head: str, value: int, *, shown: bool = True,
            persons: bool = True) -> str:
        if value < 0:
            raise ValueError(f"count {edge_id} is negative")
        existing = self.edges.get(edge_id)
        if existing is not None:
            if (existing.tail, existing.head, existing.value) != (tail, head, value):
                raise ValueError(f"edge {edge_id} declared twice differently")
            if shown and not existing.shown:
                self.edges[edge_id] = Edge(edge_id, tail, head, value, True, existing.persons)
            return edge_id
        self.edges[edge_id] = Edge(edge_id, tail, head, value, shown, persons)
        return edge_id

    def show(self, edge_id: str) -> None:
        edge = self.edges[edge_id]
        self.edges[edge_id] = Edge(edge.id, edge.tail, edge.head, edge.value, True, edge.persons)

    def state(self, edge_id: str) -> State:
        edge = self.edges[edge_id]
        if not edge.shown:
            return State.HIDDEN
        return State.WITHHELD if edge_id in self.withheld else State.PUBLISHED

    def value(self, edge_id: str) -> int:
        return self.edges[edge_id].value

    def check_balanced(self) -> None:
        """Every node conserves flow: the declared tables add up (a programming error otherwise)."""
        balance: dict[str, int] = defaultdict(int)
        for e in self.edges.values():
            balance[e.tail] -= e.value
            balance[e.head] += e.value
        bad = sorted(n for n, b in balance.items() if b)
        if bad:
            raise ValueError(f"tables do not add up at {', '.join(bad[:5])}")

    # ------------------------------------------------------------------ audit
    def bounds(self, withheld: Iterable[str] | None = None) -> dict[str, tuple[int, int | None]]:
        """What a reader knows of every edge: (lowest, highest or None for unbounded)."""
        held = self.withheld if withheld is None else set(withheld)
        out: dict[str, tuple[int, int | None]] = {}
        for e in self.edges.values():
            if not e.shown:
                out[e.id] = (0, None)
            elif e.id in held:
                out[e.id] = (1, None)
            else:
                out[e.id] = (e.value, e.value)
        return out

    def recoverable(self, edge_id: str, withheld: Iterable[str] | None = None) -> bool:
        """Could a reader work out this edge's exact value from what is published?"""
        known = self.bounds(withheld)
        value = self.edges[edge_id].value
        low, high = known[edge_id]
        if low == high:
            return True
        if circulation_feasible(self.edges.values(), {**known, edge_id: (value + 1, None)}):
            return False
        if value - 1 >= low and circulation_feasible(self.edges.values(), {**known, edge_id: (low, value - 1)}):
            return False
        return True

    def exposed(self, withheld: Iterable[str] | None = None) -> list[str]:
        """Withheld edges a reader could recover (empty when the release is safe)."""
        held = sorted(self.withheld if withheld is None else set(withheld))
        return [e for e in held if self.recoverable(e, held)]


    # ------------------------------------------------------------------ secondary suppression helpers
    def _adjacency(self) -> dict[str, list[tuple[Edge, str]]]:
        adjacency: dict[str, list[tuple[Edge, str]]] = defaultdict(list)
        for e in self.edges.values():
            adjacency[e.tail].append((e, e.head))
            adjacency[e.head].append((e, e.tail))
        return adjacency

    def component(self, edge_id: str) -> set[str]:
        """Ids of the edges connected to this one (the tables it is linked with)."""
        adjacency = self._adjacency()
        start = self.edges[edge_id]
        seen_nodes = {start.tail}
        queue = deque([start.tail])
        found: set[str] = set()
        while queue:
            node = queue.popleft()
            for e, other in adjacency[node]:
                found.add(e.id)
                if other not in seen_nodes:
                    seen_nodes.add(other)
                    queue.append(other)
        return found

    def protecting_path(self, edge_id: str, withheld: Iterable[str], avoid: Iterable[str] = ()) -> list[str]:
        """Published edges to withhold so that a cycle runs through ``edge_id``, cheapest first.

        A path between the edge's ends, not using it, in either direction along each edge: withheld
        and hidden edges cost nothing, a published count costs its value, a published zero cannot be
        used, nor can an edge in ``avoid``. Returns the published edges on the cheapest path ([] if there is none).
        """
        held = set(withheld)
        barred = set(avoid)
        target = self.edges[edge_id]
        adjacency = self._adjacency()
        best: dict[str, tuple[int, int]] = {target.tail: (0, 0)}
        back: dict[str, tuple[str, Edge]] = {}
        heap: list[tuple[int, int, str]] = [(0, 0, target.tail)]
        while heap:
            cost, hops, node = heapq.heappop(heap)
            if (cost, hops) != best.get(node):
                continue
            if node == target.head:
                break
            for e, other in adjacency[node]:
                if e.id == edge_id or (e.id in barred and e.id not in held):
                    continue
                if not e.shown or e.id in held:
                    step = 0
                elif e.value > 0:
                    step = e.value
                else:
                    continue
                candidate = (cost + step, hops + 1)
                if other not in best or candidate < best[other]:
                    best[other] = candidate
                    back[other] = (node, e)
                    heapq.heappush(heap, (candidate[0], candidate[1], other))
        if target.head not in back:
            return []
        path: list[str] = []
        node = target.head
        while node != target.tail:
            previous, e = back[node]
            if e.shown and e.id not in held:
                path.append(e.id)
            node = previous
        return path


def suppress(disclosure: Disclosure, threshold: int) -> Disclosure:
    """Primary then secondary suppression, in place; returns the disclosure for chaining."""
    disclosure.check_balanced()
    shown = [e for e in disclosure.edges.values() if e.shown]
    # s9(2)(a) protects natural persons: a small count of automated accounts is not withheld for itself.
    disclosure.primary = {e.id for e in shown if e.persons and 0 < e.value < threshold}
    withheld = set(disclosure.primary)
    by_node: dict[str, list[Edge]] = defaultdict(list)
    for e in shown:
        by_node[e.tail].append(e)
        by_node[e.head].append(e)
    # Withholding more never exposes a count, so a count found safe stays safe: one pass over a
    # work list (each secondary withholding joins it) settles the release.
    # Counts of automated accounts are published whenever another count can protect a withheld one:
    # they are withheld only as a last resort.
    automated = {e.id for e in shown if not e.persons}
    pending = sorted(withheld)
    while pending:
        target = disclosure.edges[pending.pop(0)]
        while disclosure.recoverable(target.id, withheld):
            # Cheapest way round: a cycle through the target over withheld and hidden counts,
            # withholding the published ones it needs (a value moved round a cycle keeps every sum).
            added = [e for e in disclosure.protecting_path(target.id, withheld, automated) if e not in withheld]
            if not added:
                added = [e for e in disclosure.protecting_path(target.id, withheld) if e not in withheld]
            if not added:
                # The cycles left run through counts already at their lowest: widen one equation.
                candidates = [e for e in shown if e.id not in withheld and e.value > 0]
                candidates = [e for e in candidates if e.id not in automated] or candidates
                near = sorted((e for e in by_node[target.tail] + by_node[target.head] if e in candidates),
                              key=lambda e: (e.value, e.id))
                pool = near or sorted((e for e in candidates if e.id in disclosure.component(target.id)),
                                      key=lambda e: (e.value, e.id))
                if not pool:  # cannot happen: with every non-zero count withheld none is recoverable
                    raise RuntimeError(f"no count left to withhold to protect {target.id}")
                added = [pool[0].id]
            withheld.update(added)
            pending.extend(added)
    disclosure.withheld = withheld
    leaks = disclosure.exposed()
    if leaks:  # never publish a release the audit can break (a programming error if it happens)
        raise RuntimeError(f"{len(leaks)} withheld count(s) still recoverable, e.g. {leaks[0]}")
    return disclosure


# ---------------------------------------------------------------------- max-flow
def circulation_feasible(edges: Iterable[Edge], bounds: dict[str, tuple[int, int | None]]) -> bool:
    """Is there a circulation with every edge's flow inside its bounds (None = unbounded)?

    The textbook reduction: send each edge's lower bound, then ask a max-flow from a super
    source to a super sink to repair the imbalance within the remaining capacities.
    """
    edge_list = list(edges)
    excess: dict[str, int] = defaultdict(int)
    arcs: list[tuple[str, str, int | None]] = []
    for e in edge_list:
        low, high = bounds[e.id]
        if high is not None and high < low:
            return False
        arcs.append((e.tail, e.head, None if high is None else high - low))
        excess[e.head] += low
        excess[e.tail] -= low
    need = sum(x for x in excess.values() if x > 0)
    if need == 0:
        return True
    # No path carries more than the total imbalance: that much is as good as unbounded.
    graph = _FlowGraph()
    for tail, head, capacity in arcs:
        graph.add(tail, head, need if capacity is None else min(capacity, need))
    for node, x in excess.items():
        if x > 0:
            graph.add("\0source", node, x)
        elif x < 0:
            graph.add(node, "\0sink", -x)
    return graph.max_flow("\0source", "\0sink") == need


class _FlowGraph:
    """Dinic's algorithm on a small integer graph."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.adj: list[list[int]] = []
        self.to: list[int] = []
        self.cap: list[int] = []

    def _node(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.adj)
            self.adj.append([])
        return self.index[name]

    def add(self, tail: str, head: str, capacity: int) -> None:
        u, v = self._node(tail), self._node(head)
        self.adj[u].append(len(self.to))
        self.to.append(v)
        self.cap.append(capacity)
        self.adj[v].append(len(self.to))
        self.to.append(u)
        self.cap.append(0)

    def max_flow(self, source: str, sink: str) -> int:
        if source not in self.index or sink not in self.index:
            return 0
        s, t = self.index[source], self.index[sink]
        total = 0
        while True:
            level = [-1] * len(self.adj)
            level[s] = 0
            queue = deque([s])
            while queue:
                u = queue.popleft()
                for a in self.adj[u]:
                    if self.cap[a] > 0 and level[self.to[a]] < 0:
                        level[self.to[a]] = level[u] + 1
                        queue.append(self.to[a])
            if level[t] < 0:
                return total
            pointer = [0] * len(self.adj)
            while pushed := self._push(s, t, 1 << 62, level, pointer):
                total += pushed

    def _push(self, u: int, t: int, limit: int, level: list[int], pointer: list[int]) -> int:
        if u == t:
            return limit
        while pointer[u] < len(self.adj[u]):
            a = self.adj[u][pointer[u]]
            v = self.to[a]
            if self.cap[a] > 0 and level[v] == level[u] + 1:
                pushed = self._push(v, t, min(limit, self.cap[a]), level, pointer)
                if pushed:
                    self.cap[a] -= pushed
                    self.cap[a ^ 1] += pushed
                    return pushed
            pointer[u] += 1
        return 0
