"""The subset of CloudWatch metric math that the template's alarms use, parsed and evaluated.

Supported: numbers, query ids, ``+ - * /``, unary minus, parentheses,
``FILL(id, number)`` (the query's value, or the number where it has none) and
``ANOMALY_DETECTION_BAND(id, width)``. Anything else is refused when the template is read, so
an alarm the local evaluator cannot evaluate faithfully never passes silently.

Semantics (per period, as CloudWatch computes metric math): an arithmetic result exists only
where every operand has a value; a division by zero gives no value.

``ANOMALY_DETECTION_BAND`` on AWS is a trained model. Locally it is approximated from the
metric's own history: the band for a period is ``mean ± width × σ`` of the metric's values in the
``TRAINING_DAYS`` before that period (periods with no data are skipped), where σ is the
population standard deviation floored at 10% of the mean (and at 1, for counts), so a perfectly
steady history still has a band of some width. With fewer than ``MIN_TRAINING_POINTS`` values
the band does not exist yet (the model is still training) and the alarm reports
INSUFFICIENT_DATA, as CloudWatch does for an untrained model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

TRAINING_DAYS = 14
MIN_TRAINING_POINTS = 6
SIGMA_FLOOR_FRACTION = 0.1
SIGMA_FLOOR_ABSOLUTE = 1.0


class ExpressionError(ValueError):
    """A metric math expression outside the supported subset, or malformed."""


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Ref:
    id: str


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


Node = Num | Ref | Neg | BinOp | Call

FUNCTIONS = {"ANOMALY_DETECTION_BAND", "FILL"}
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/(),]))")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(f"cannot read {text[pos:]!r} in metric math {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'} in metric math {self.text!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in metric math {self.text!r}")  # type: ignore[index]
        return node

    def expr(self) -> Node:
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-":
            self.take()
            node = BinOp(tok[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while (tok := self.peek()) is not None and tok[1] in "*/":
            self.take()
            node = BinOp(tok[1], node, self.factor())
        return node

    def factor(self) -> Node:
        tok = self.peek()
        if tok is not None and tok[1] == "-":
            self.take()
            return Neg(self.factor())
        return self.primary()

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return Num(float(value))
        if kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                if value not in FUNCTIONS:
                    raise ExpressionError(f"metric math function {value} is not supported locally")
                self.take("(")
                args = [self.expr()]
                while (sep := self.peek()) is not None and sep[1] == ",":
                    self.take(",")
                    args.append(self.expr())
                self.take(")")
                return Call(value, tuple(args))
            return Ref(value)
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        raise ExpressionError(f"unexpected {value!r} in metric math {self.text!r}")


def parse(text: str) -> Node:
    node = _Parser(text).parse()
    _check(node)
    return node


def _check(node: Node) -> None:
    if isinstance(node, Call):
        if node.function == "FILL" and (len(node.args) != 2 or not isinstance(node.args[0], Ref)
                                        or not isinstance(node.args[1], Num)):
            raise ExpressionError("FILL takes a query id and a number")
        if node.function == "ANOMALY_DETECTION_BAND":
            if len(node.args) not in (1, 2) or not isinstance(node.args[0], Ref):
                raise ExpressionError("ANOMALY_DETECTION_BAND takes a query id and an optional width")
            if len(node.args) == 2 and not isinstance(node.args[1], Num):
                raise ExpressionError("ANOMALY_DETECTION_BAND's width must be a number")
        for arg in node.args:
            _check(arg)
    elif isinstance(node, Neg):
        _check(node.operand)
    elif isinstance(node, BinOp):
        _check(node.left)
        _check(node.right)


def references(node: Node) -> set[str]:
    if isinstance(node, Ref):
        return {node.id}
    if isinstance(node, Neg):
        return references(node.operand)
    if isinstance(node, BinOp):
        return references(node.left) | references(node.right)
    if isinstance(node, Call):
        return set().union(*(references(a) for a in node.args))
    return set()


def is_band(node: Node) -> bool:
    return isinstance(node, Call) and node.function == "ANOMALY_DETECTION_BAND"


@dataclass(frozen=True)
class Band:
    lower: float
    upper: float


@dataclass(frozen=True)
class Untrained:
    """The anomaly model for a period has too little history."""

    points: int


Value = float | Band | Untrained | None
# (query id, end of the period) -> that query's value for the period ending there
Lookup = Callable[[str, float], "Value"]


def band_from_history(history: list[float], width: float) -> Band | Untrained:
    if len(history) < MIN_TRAINING_POINTS:
        return Untrained(len(history))
    mean = sum(history) / len(history)
    sigma = math.sqrt(sum((v - mean) ** 2 for v in history) / len(history))
    sigma = max(sigma, SIGMA_FLOOR_FRACTION * abs(mean), SIGMA_FLOOR_ABSOLUTE)
    return Band(mean - width * sigma, mean + width * sigma)


def evaluate(node: Node, end: float, period: int, lookup: Lookup) -> Value:
    """The value of ``node`` for the period ``[end - period, end)``."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Ref):
        return lookup(node.id, end)
    if isinstance(node, Neg):
        value = evaluate(node.operand, end, period, lookup)
        return -value if isinstance(value, float) else None
    if isinstance(node, BinOp):
        left = evaluate(node.left, end, period, lookup)
        right = evaluate(node.right, end, period, lookup)
        if not isinstance(left, float) or not isinstance(right, float):
            return None
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        return left / right if right != 0 else None
    if node.function == "FILL":
        value = evaluate(node.args[0], end, period, lookup)
        fill = node.args[1]
        assert isinstance(fill, Num)
        return value if isinstance(value, float) else fill.value
    # ANOMALY_DETECTION_BAND(id, width)
    ref = node.args[0]
    assert isinstance(ref, Ref)
    width_node = node.args[1] if len(node.args) > 1 else Num(2.0)
    assert isinstance(width_node, Num)
    steps = TRAINING_DAYS * 86400 // period
    history = []
    for k in range(1, steps + 1):
        value = lookup(ref.id, end - k * period)
        if isinstance(value, float):
            history.append(value)
    return band_from_history(history, width_node.value)
