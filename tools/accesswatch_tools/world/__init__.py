"""Synthetic world generator: reference snapshots, access logs and the expected findings.

``generate(out_dir, ...)`` writes::

    out_dir/reference/staff.csv            (shuffled columns, extra column cost_centre)
    out_dir/reference/clients.csv.gz       (extra column source_system)
    out_dir/reference/relationships.jsonl  (shuffled keys)
    out_dir/reference/declarations.csv     (CRLF, UTF-8 BOM)
    out_dir/reference/assignments.jsonl.gz (shuffled keys, blank valid_to as null or "")
    out_dir/reference/watchlist.jsonl      (extra key notes)
    out_dir/logs/cms_NNNN_YYYYMMDD.<csv|csv.gz|jsonl|jsonl.gz>   access logs of system "cms"
    out_dir/truth.jsonl       one {"system","event_id","rule","user_id","client_id"} per expected finding
    out_dir/truth-meta.json   per log file lines_read / quarantined, distinct events, rule counts, seed
    out_dir/planted.jsonl     the hand-planted scenarios (positives and hard negatives), ids only

The truth is computed by :mod:`accesswatch_tools.world.oracle` from the generator's ground truth
(who owns which record, who really lives where, which relationship rows exist), over every
event written, planted or background. Everything is deterministic for a given seed.
"""

from .generate import DEFAULT_START, SYSTEM, generate
from .model import SynthSummary

__all__ = ["DEFAULT_START", "SYSTEM", "SynthSummary", "generate"]
