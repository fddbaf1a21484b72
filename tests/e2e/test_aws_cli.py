"""The real AWS CLI against the local endpoint (issue 14, item 3): the README's commands, run by a shell. A log
file copied into the raw bucket with `aws s3 cp` is ingested and detected by the system on its own (no
accesswatch command uploads anything), and its findings are read back with `aws dynamodb scan`.

The AWS CLI (the PyPI package) caps docutils, rsa and PyYAML, so it has its own virtual environment,
.venv/tools/awscli, made by `make test` (scripts/tool-venv); $ACCESSWATCH_AWS_CLI names another `aws`.
Without one the test is skipped, except under `make test` (ACCESSWATCH_REQUIRE_AWS_CLI=1), where it fails."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.endpoint import CLI

from accesswatch.contract import CONTRACT_RULES
from accesswatch_tools.embedded.template import PROJECT_ROOT

pytestmark = pytest.mark.e2e

LOG_FILES = "cms_0001_*"  # the world's second file, whatever its format (the README's glob)
LOG_KEY_PREFIX = "access-logs/cms/cms_0001_"
DEADLINE_S = 180


def aws_cli() -> Path:
    named = os.environ.get("ACCESSWATCH_AWS_CLI")
    bundled = PROJECT_ROOT / ".venv" / "tools" / "awscli" / "bin" / "aws"
    found = Path(named) if named else bundled if bundled.is_file() else None
    if found is None and shutil.which("aws"):
        found = Path(str(shutil.which("aws")))
    if found is None or not os.access(found, os.X_OK):
        message = ("no AWS CLI: `BIN=.venv/bin scripts/tool-venv awscli awscli==1.46.3` makes "
                   ".venv/tools/awscli (make test does), or set ACCESSWATCH_AWS_CLI")
        if os.environ.get("ACCESSWATCH_REQUIRE_AWS_CLI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def shell(script: str, *, state: Path, aws: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``script`` in a POSIX shell that has `accesswatch` and `aws` on PATH, and no AWS configuration of
    the person running the tests (their profile, keys or endpoint must not be used)."""
    bin_dir = cwd / "bin"
    bin_dir.mkdir(exist_ok=True)
    launcher = bin_dir / "accesswatch"
    launcher.write_text("#!/bin/sh\nexec " + " ".join(CLI) + ' "$@"\n', encoding="utf-8")
    launcher.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{aws.parent}{os.pathsep}{env.get('PATH', '')}",
               ACCESSWATCH_STATE_DIR=str(state), AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return subprocess.run(["sh", "-ec", script], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=DEADLINE_S + 120, check=False)


def test_a_file_copied_with_the_aws_cli_is_ingested_and_detected_on_its_own(
        small_world: Path, state: Path, tmp_path: Path) -> None:
    aws = aws_cli()
    started = subprocess.run([*CLI, "local", "start", "--state-dir", str(state)], text=True, capture_output=True,
                             timeout=300, check=False)
    assert started.returncode == 0, started.stderr
    world = small_world
    (log_file,) = (world / "logs").glob(LOG_FILES)
    # The README's commands (Quickstart, "The real AWS tools"), then a wait for the ledger to say what the
    # system did with the file: the upload itself returns once the object is stored, as on AWS.
    script = f"""
eval "$(accesswatch local env)"
aws s3 cp --only-show-errors --recursive "{world / 'reference'}" "s3://$ACCESSWATCH_RAW_BUCKET/reference/"
aws s3 cp --only-show-errors "{world / 'logs'}/"{LOG_FILES} "s3://$ACCESSWATCH_RAW_BUCKET/access-logs/cms/"
ledger_status() {{
  aws dynamodb scan --table-name "$ACCESSWATCH_LEDGER_TABLE" --filter-expression "begins_with(#k, :k)" \\
    --expression-attribute-names '{{"#k": "key"}}' \\
    --expression-attribute-values '{{":k": {{"S": "{LOG_KEY_PREFIX}"}}}}' --query 'Items[0].status.S' --output text
}}
i=0
until [ "$(ledger_status)" = detected ]; do
  i=$((i + 1)); [ "$i" -le {DEADLINE_S} ] || {{ echo "ledger: $(ledger_status) after {DEADLINE_S} s" >&2; exit 1; }}
  sleep 1
done
echo "status: $(ledger_status)"
aws dynamodb scan --table-name "$ACCESSWATCH_FINDINGS_TABLE" --query 'Items[].[event_id.S, rule.S]' --output json
"""
    result = shell(script, state=state, aws=aws, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    status_line, findings_json = result.stdout.split("\n", 1)
    assert status_line == "status: detected"
    found = {(event_id, rule) for event_id, rule in json.loads(findings_json)}

    assert log_file.suffix == ".csv", log_file
    with log_file.open(encoding="utf-8", newline="") as handle:
        event_ids = {row["event_id"] for row in csv.DictReader(handle)}
    shown = subprocess.run([*CLI, "local", "env", "--json", "--state-dir", str(state)], text=True,
                           capture_output=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    variables = json.loads(shown.stdout)
    assert variables["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert variables["AWS_REGION"] == "ap-southeast-2"
    assert {"ACCESSWATCH_RAW_BUCKET", "ACCESSWATCH_FINDINGS_TABLE", "ACCESSWATCH_LEDGER_TABLE",
            "ACCESSWATCH_CASE_STATE_MACHINE_ARN", "ACCESSWATCH_INTEGRITY_TOPIC_ARN"} <= set(variables)

    # The local endpoint's names are stable (the same in every state directory), so the checked-in
    # `sam local invoke --env-vars` sample is exactly what `accesswatch sam-env` writes for them.
    written = subprocess.run([*CLI, "sam-env", "--state-dir", str(state)], text=True, capture_output=True,
                             timeout=120, check=False)
    assert written.returncode == 0, written.stderr
    assert written.stdout == (PROJECT_ROOT / "events" / "env-vars.local.json").read_text(encoding="utf-8"), (
        "events/env-vars.local.json is stale: accesswatch local start && "
        "accesswatch sam-env --out events/env-vars.local.json")

    truth = {(t["event_id"], t["rule"]) for t in map(json.loads, (world / "truth.jsonl").read_text().splitlines())
             if t["event_id"] in event_ids}
    assert truth, "the file holds no planted violation: the test would prove nothing"
    assert {event_id for event_id, _ in found} <= event_ids  # only this file was uploaded
    # Every live rule's finding is the truth's, no more and no fewer (staging rules record findings too).
    assert {f for f in found if f[1] in CONTRACT_RULES} == truth
