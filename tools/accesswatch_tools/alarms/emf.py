"""CloudWatch embedded metric format (EMF): the metric lines powertools writes to a function's log.

On AWS, CloudWatch Logs turns each EMF line into metric data; the embedded runtime has no such
service, so ``accesswatch_tools.embedded.metrics`` parses the lines with this module and puts the data.
Follows the EMF specification: ``_aws.CloudWatchMetrics`` directives name a namespace, dimension
sets (each a list of root member names) and metrics (root members holding a number or a list of
numbers, each one sample).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from accesswatch_tools.alarms.series import MetricKey


class EmfError(ValueError):
    """A log line claims to be EMF (it has ``_aws``) but does not follow the format."""


@dataclass(frozen=True)
class MetricSample:
    key: MetricKey
    timestamp: float  # epoch seconds
    value: float
    unit: str = "None"
    storage_resolution: int = 60


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EmfError(f"{where}: metric value {value!r} is not a number")
    return float(value)


def parse_emf_record(record: dict[str, Any]) -> list[MetricSample]:
    """The samples of one EMF object (the parsed JSON of one log line)."""
    meta = record.get("_aws")
    if not isinstance(meta, dict):
        raise EmfError("no _aws metadata object")
    timestamp = meta.get("Timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise EmfError("_aws.Timestamp is not a number of milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("_aws.CloudWatchMetrics is not a list")
    samples: list[MetricSample] = []
    for directive in directives:
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not namespace:
            raise EmfError("a metric directive has no Namespace")
        dimension_sets = directive.get("Dimensions", [[]]) or [[]]
        for metric in directive.get("Metrics", []):
            name = metric.get("Name")
            if name not in record:
                raise EmfError(f"metric {name!r} has no value member")
            raw = record[name]
            values = [_number(v, name) for v in raw] if isinstance(raw, list) else [_number(raw, name)]
            for dims in dimension_sets:
                missing = [d for d in dims if d not in record]
                if missing:
                    raise EmfError(f"metric {name!r}: dimension member(s) {missing} absent")
                key = MetricKey.of(namespace, name, {d: str(record[d]) for d in dims})
                samples.extend(
                    MetricSample(key, timestamp / 1000.0, v, str(metric.get("Unit", "None")),
                                 int(metric.get("StorageResolution", 60)))
                    for v in values
                )
    return samples


def emf_records(logs: str) -> Iterator[dict[str, Any]]:
    """The EMF objects among a function's log lines (other lines are ordinary logs)."""
    for line in logs.splitlines():
        line = line.strip()
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # not JSON at all: an ordinary log line that happens to mention _aws
        if isinstance(record, dict) and "_aws" in record:
            yield record


def parse_emf(logs: str) -> list[MetricSample]:
    """Every metric sample in a function's log output."""
    return [sample for record in emf_records(logs) for sample in parse_emf_record(record)]
