"""The summary ``generate`` returns."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class SynthSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    out_dir: str
    seed: int
    start: date
    days: int
    staff: int
    """Rows in the staff snapshot (persons and service accounts)."""
    service_accounts: int
    clients: int
    """Rows in the clients snapshot."""
    events: int
    """Distinct accepted events (duplicate deliveries counted once)."""
    lines: int
    """Data lines written to log files (no headers), including duplicates and malformed lines."""
    malformed: int
    """Log lines that are not events and must be quarantined."""
    duplicates: int
    """Extra deliveries of an already delivered event (same event_id, same content)."""
    truth: dict[str, int]
    """Expected findings per contract rule (every rule present, possibly 0)."""
    truth_total: int
    planted: int
    """Hand-planted scenario events (positives and hard negatives) among ``events``."""
    files: list[str]
    """Every file written, relative to ``out_dir``."""
