"""Function configuration: pydantic models read from the environment once, failing loudly."""

from __future__ import annotations

import os
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(RuntimeError):
    """A function's environment lacks or garbles a setting the template should have given it."""


class _FromEnv(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{cls.__name__} from the environment: {problems}") from None


class StorageSettings(_FromEnv):
    """Where the system keeps its data (every function gets these from the template's Globals)."""

    raw_bucket: str
    curated_bucket: str
    findings_table: str
    cases_table: str
    ledger_table: str
    idempotency_table: str


class QuarantineSettings(_FromEnv):
    """``QUARANTINE_RAW_TEXT`` (default off): also keep the raw text of quarantined lines, under the curated
    bucket's ``quarantine-raw/`` prefix (docs/privacy.md, "Minimisation"). Off, a quarantine record holds the
    file, line number, reason and field names only."""

    quarantine_raw_text: bool = False


def _split_systems(value: object) -> object:
    """``KNOWN_SYSTEMS``: comma-separated system names, lower case."""
    if isinstance(value, str):
        return tuple(s.strip().lower() for s in value.split(",") if s.strip())
    return value


class IngestSettings(StorageSettings, QuarantineSettings):
    known_systems: tuple[str, ...]
    partition_rows: int = Field(gt=0)
    max_decompressed_mib: int = Field(gt=0)
    detection_state_machine_arn: str

    _split = field_validator("known_systems", mode="before")(_split_systems)

    @property
    def max_decompressed_bytes(self) -> int:
        return self.max_decompressed_mib * 1024 * 1024


class ReferenceSettings(StorageSettings, QuarantineSettings):
    max_decompressed_mib: int = Field(gt=0)
    detection_state_machine_arn: str

    @property
    def max_decompressed_bytes(self) -> int:
        return self.max_decompressed_mib * 1024 * 1024


class DetectSettings(StorageSettings):
    case_state_machine_arn: str


class CaseQueueSettings(StorageSettings):
    case_state_machine_arn: str


class ReportSettings(StorageSettings):
    small_count_threshold: int = Field(default=5, ge=0)


class DigestSettings(StorageSettings):
    digest_topic_arn: str


class ConsoleSettings(StorageSettings):
    """The console function (``functions/console``): where it reads and acts, and whose access it records.

    ``console_system`` names the access-log system its own page views are written as (under
    ``access-logs/<console_system>/`` in the raw bucket, so the monitor monitors its own users)."""

    audit_table: str
    case_state_machine_arn: str
    detect_function: str
    console_system: str = "accesswatch"
    # The footprint's coverage lists these systems even without logs (as the CLI does from the ingest
    # function's KNOWN_SYSTEMS); the reports page withholds counts below the report function's threshold.
    known_systems: tuple[str, ...] = ()
    small_count_threshold: int = Field(default=5, ge=0)
    # Footprints by Athena (the stack's workgroup and Glue table of curated events); absent locally (moto has no
    # Athena), where the console reads the curated partitions.
    athena_workgroup: str = ""
    events_database: str = ""
    events_table: str = ""
    # Sign-in on AWS (pages/auth.py): the Cognito hosted page's domain prefix and the app client; empty on the
    # local endpoint, which has no Cognito. AWS_REGION is Lambda's own variable.
    cognito_domain: str = ""
    cognito_client_id: str = ""
    aws_region: str = ""
    # The operations page lists the alarms whose names start with this (the template's "<prefix>-<stage>-").
    alarm_name_prefix: str = ""

    _split = field_validator("known_systems", mode="before")(_split_systems)
