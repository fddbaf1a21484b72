"""``cases evidence CASE_ID --out DIR`` and ``cases verify-evidence CASE_ID [--dir DIR]``: a case's evidence
pack, written with a SHA-256 manifest (locally and to the evidence bucket under Object Lock, its hash
recorded in the case history), and checked later. Both are audited reads (``evidence_pack``, ``evidence_verify``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from accesswatch_tools.cli.commands.footprint import _date
from accesswatch_tools.cli.context import (
    CliError,
    add_reason_option,
    add_target_options,
    audited,
    authenticated,
    deployment,
    state_dir,
)
from accesswatch_tools.operate.deployment import OperationError


def cmd_evidence(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.evidence import build_pack, check_retention, store_pack, write_local

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"--out {out}: not an empty directory (a pack is written to a new one)")
    if args.date_from and args.date_to and args.date_to < args.date_from:
        raise CliError(f"--to {args.date_to} is before --from {args.date_from}")
    if args.retain_days is not None and args.retain_days < 1:
        raise CliError("--retain-days must be at least 1")
    engine = args.engine
    if engine == "auto":
        engine = "athena" if args.stack else "partitions"
    cache = None if args.no_cache or args.stack else state_dir(args) / "partition-cache"
    dep = deployment(args)
    actor = authenticated(dep)
    try:
        if args.retain_days is not None:
            check_retention(dep)
        pack = build_pack(dep, args.case_id, actor=actor.name, start=args.date_from, end=args.date_to,
                          engine=engine, cache_dir=cache)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    # Recorded before anything is written: no audit record, no pack.
    audited(dep, args, "evidence_pack",
            subject={"case_id": pack.case_id, "user_id": pack.user_id, "from": pack.start, "to": pack.end,
                     "pack_id": pack.pack_id},
            result={"findings": pack.findings, "accesses": pack.accesses, "files": len(pack.files) + 1},
            actor=actor)
    try:
        write_local(pack, out)
        location = store_pack(dep, pack, actor=actor.name, retain_days=args.retain_days)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    print(f"manifest SHA-256: {pack.manifest_sha256}")
    print(f"accesswatch: case {pack.case_id}: evidence pack {pack.pack_id} ({len(pack.files) + 1} files: "
          f"{pack.findings} finding(s), {pack.accesses} access(es) by user {pack.user_id} from {pack.start} to "
          f"{pack.end}) written to {out} and {location}; its manifest hash is recorded in the case history",
          file=sys.stderr)
    for note in pack.notes:
        print(f"accesswatch: note: {note}", file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from accesswatch_tools.operate.evidence import verify_pack

    local = Path(args.dir) if args.dir else None
    dep = deployment(args)
    try:
        result = verify_pack(dep, args.case_id, pack_id=args.pack, local=local)
    except OperationError as exc:
        raise CliError(str(exc)) from None
    audited(dep, args, "evidence_verify",
            subject={"case_id": result.case_id, "pack_id": result.pack_id, "checked": list(result.checked)},
            result={"problems": len(result.problems), "verified": "yes" if result.ok else "no"})
    where = " and ".join(f"the {c} copy" + (f" ({local})" if c == "local" else f" ({result.location})")
                         for c in result.checked)
    if result.ok:
        print(f"verified: case {result.case_id} evidence pack {result.pack_id}: {where} match the manifest, whose "
              f"SHA-256 {result.recorded_sha256} is the one recorded in the case history")
        return 0
    print(f"NOT verified: case {result.case_id} evidence pack {result.pack_id} ({len(result.problems)} "
          f"problem(s)):")
    for problem in result.problems:
        print(f"  {problem.text()}")
    return 1


def register(actions: Any) -> None:
    """Add ``evidence`` and ``verify-evidence`` to the ``cases`` sub-commands."""
    evidence = actions.add_parser(
        "evidence", help="write a case's evidence pack (with a SHA-256 manifest) to a directory and the evidence "
                         "bucket (Object Lock), its manifest hash recorded in the case history",
        description="Write what an Employment Relations process needs: case.json (the case, its score and "
                    "history), findings.jsonl (its findings with explanations and evidence), "
                    "access-history.jsonl and access-history-summary.json (every access by the staff member in the "
                    "case's window, with the team comparison), reference.json (the reference snapshot ids "
                    "judged against) and manifest.json (the size and SHA-256 of every file). The pack is also "
                    "written to the evidence bucket under evidence/CASE_ID/PACK_ID/, each object under Object "
                    "Lock (governance) for the bucket's default retention (EvidenceRetentionDays) or "
                    "--retain-days, and the manifest's SHA-256 "
                    "is recorded in the case's append-only history and printed. Ids only: no names, addresses "
                    "or dates of birth. An audited read (evidence_pack).")
    evidence.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    evidence.add_argument("--out", required=True, help="a new (or empty) directory to write the pack to")
    evidence.add_argument("--from", dest="date_from", type=_date, default=None,
                          help="first NZ date of the access history (default: the NZ date of the case's first "
                               "finding)")
    evidence.add_argument("--to", dest="date_to", type=_date, default=None,
                          help="last NZ date of the access history (default: that of the case's last finding)")
    evidence.add_argument("--retain-days", type=int, default=None,
                          help="Object Lock (governance) retention of the stored objects, in days from now (default: "
                               "the evidence bucket's, EvidenceRetentionDays)")
    evidence.add_argument("--engine", choices=("auto", "partitions", "athena"), default="auto",
                          help="how the access history is read (default: athena with --stack, else partitions)")
    evidence.add_argument("--no-cache", action="store_true", help="do not keep downloaded partitions locally")
    add_reason_option(evidence)
    add_target_options(evidence)
    evidence.set_defaults(func=cmd_evidence)

    verify = actions.add_parser(
        "verify-evidence", help="re-hash a case's stored evidence pack (and a local copy) against its manifest and "
                                "the hash in the case history: exit 0 verified, 1 naming each altered file",
        description="Re-hash the evidence pack stored in the evidence bucket (the case's latest, the one --pack "
                    "names, or the one the --dir copy's manifest names) against its manifest.json, and the "
                    "manifest against the SHA-256 recorded in the case history; with --dir, the local copy too. "
                    "Exit 0 and 'verified', or exit 1 naming each altered, missing or added file. An audited "
                    "read (evidence_verify).")
    verify.add_argument("case_id", help="the case, e.g. CASE-9AA220D512253ADD")
    verify.add_argument("--dir", default=None, help="also check this local copy of the pack")
    verify.add_argument("--pack", default=None, metavar="PACK_ID",
                        help="the pack to check, e.g. 20261130T081500Z-1a2b3c4d (default: the --dir copy's, else "
                             "the case's latest)")
    add_reason_option(verify)
    add_target_options(verify)
    verify.set_defaults(func=cmd_verify)
