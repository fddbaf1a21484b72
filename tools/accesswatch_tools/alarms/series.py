"""Metric data as CloudWatch holds it: a metric is (namespace, name, exact dimension set); its data
are per-minute aggregates (sum, sample count, minimum, maximum), from which every statistic an
alarm may use (Sum, SampleCount, Average, Minimum, Maximum) over any whole-minute period follows.

Times are epoch seconds (UTC). Pure: no AWS access here.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MINUTE = 60
STATISTICS = ("Sum", "SampleCount", "Average", "Minimum", "Maximum")


def floor_minute(t: float) -> float:
    return float(math.floor(t / MINUTE) * MINUTE)


@dataclass(frozen=True, order=True)
class MetricKey:
    """One CloudWatch metric: dimensions must match exactly (CloudWatch never matches a subset)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Mapping[str, str] | None = None) -> MetricKey:
        return cls(namespace, name, tuple(sorted((str(k), str(v)) for k, v in (dimensions or {}).items())))

    def dimension_list(self) -> list[dict[str, str]]:
        """The dimensions as the CloudWatch API spells them."""
        return [{"Name": k, "Value": v} for k, v in self.dimensions]

    def __str__(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}/{self.name}" + (f"[{dims}]" if dims else "")


@dataclass(frozen=True)
class Aggregate:
    """What CloudWatch keeps of the samples of one metric in one minute (or of one raw sample)."""

    timestamp: float
    sum: float
    count: float
    minimum: float
    maximum: float

    @classmethod
    def of(cls, timestamp: float, value: float, count: float = 1.0) -> Aggregate:
        value, count = float(value), float(count)
        return cls(float(timestamp), value * count, count, value, value)

    def merge(self, other: Aggregate) -> Aggregate:
        return Aggregate(min(self.timestamp, other.timestamp), self.sum + other.sum, self.count + other.count,
                         min(self.minimum, other.minimum), max(self.maximum, other.maximum))


class Series:
    """The per-minute aggregates of one metric, answering a statistic over ``[start, end)``."""

    def __init__(self, aggregates: Iterable[Aggregate] = ()) -> None:
        by_minute: dict[float, Aggregate] = {}
        for agg in aggregates:
            minute = floor_minute(agg.timestamp)
            agg = Aggregate(minute, agg.sum, agg.count, agg.minimum, agg.maximum)
            by_minute[minute] = by_minute[minute].merge(agg) if minute in by_minute else agg
        self._aggs = [by_minute[m] for m in sorted(by_minute)]
        self._times = [a.timestamp for a in self._aggs]
        self._sums = [0.0]
        self._counts = [0.0]
        for agg in self._aggs:
            self._sums.append(self._sums[-1] + agg.sum)
            self._counts.append(self._counts[-1] + agg.count)

    def __len__(self) -> int:
        return len(self._aggs)

    @property
    def minutes(self) -> list[float]:
        return list(self._times)

    def statistic(self, statistic: str, start: float, end: float) -> float | None:
        """The statistic over the samples with ``start <= timestamp < end``; None when there are none."""
        lo = bisect.bisect_left(self._times, start)
        hi = bisect.bisect_left(self._times, end)
        if hi <= lo:
            return None
        count = self._counts[hi] - self._counts[lo]
        if statistic == "Sum":
            return float(self._sums[hi] - self._sums[lo])
        if statistic == "SampleCount":
            return float(count)
        if statistic == "Average":
            return (self._sums[hi] - self._sums[lo]) / count if count else None
        if statistic == "Minimum":
            return float(min(a.minimum for a in self._aggs[lo:hi]))
        if statistic == "Maximum":
            return float(max(a.maximum for a in self._aggs[lo:hi]))
        raise ValueError(f"unsupported statistic {statistic!r} (supported: {', '.join(STATISTICS)})")


MetricData = Mapping[MetricKey, Series]


def metric_data(samples: Iterable[tuple[MetricKey, Aggregate]]) -> dict[MetricKey, Series]:
    """Group (key, aggregate) pairs into one Series per metric."""
    grouped: dict[MetricKey, list[Aggregate]] = {}
    for key, agg in samples:
        grouped.setdefault(key, []).append(agg)
    return {key: Series(aggs) for key, aggs in grouped.items()}
