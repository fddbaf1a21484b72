"""Logger, Metrics and Tracer for a function, configured the same way everywhere.

Logs are structured JSON with correlation ids and never carry personal information: handlers log
ids and counts only, and the event itself is never logged.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "AccessWatch"


def observability(service: str) -> tuple[Logger, Metrics, Tracer]:
    logger = Logger(service=service, log_uncaught_exceptions=True)
    metrics = Metrics(namespace=NAMESPACE, service=service)
    tracer = Tracer(service=service)
    return logger, metrics, tracer
