"""Rule precision, as ``accesswatch cases precision`` computes it: per rule, founded / decided from the
investigators' per-rule verdicts, the decision counts, the weight in force (the detect function's scoring
settings scaled by precision, as detection reads them) and the rules flagged for demotion to staging (under
10 % precision once they have enough decisions). Rule counts only: no person is named."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from botocore.exceptions import ClientError

from accesswatch.cases.precision import RulePrecision, weights_in_force
from accesswatch.cases.scoring import DEMOTION_PRECISION, FALLBACK_WEIGHT, ScoringSettings
from accesswatch.console.roles import Permission
from accesswatch.console.sources import ConsoleSources
from accesswatch.console.web import Unavailable, allowed, page, sources

router = Router()


def detect_scoring(src: ConsoleSources) -> ScoringSettings:
    """The scoring settings the deployed detect function runs with (its environment, ``DETECT_FUNCTION``)."""
    from accesswatch.dal.functions import Functions

    return ScoringSettings.from_env(Functions(src.client("lambda")).environment(src.settings.detect_function))


def precision_rows(rows: Iterable[RulePrecision], settings: ScoringSettings,
                   stats: Mapping[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """One row per rule: the counts, precision (None until decided), configured weight, weight in force and
    the demotion flag (``weights_in_force``, as the CLI)."""
    rows = list(rows)
    weights = weights_in_force(rows, settings, stats)
    configured = settings.rule_weights
    return [{**r.as_dict(), "configured_weight": configured.get(r.rule, FALLBACK_WEIGHT),
             "weight": weights[r.rule]["weight"], "flagged": weights[r.rule]["flagged"]} for r in rows]


@router.get("/precision")
def precision() -> Response:
    allowed(router, Permission.PRECISION)
    src = sources(router)
    service = src.case_service
    try:
        settings = detect_scoring(src)
    except ClientError as exc:  # the weights come from the detect function's configuration
        code = exc.response.get("Error", {}).get("Code", "error")
        raise Unavailable(f"the detect function's scoring settings could not be read ({code})") from None
    rows = precision_rows(service.precision(), settings, service.rule_counts())
    return page(router, "precision.html", title="Rule precision", active="/precision", rows=rows,
                min_decisions=settings.case_precision_min_decisions, demotion=DEMOTION_PRECISION,
                flagged=[r["rule"] for r in rows if r["flagged"]])
