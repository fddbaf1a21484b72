"""What each function loads at a cold start, and how long and how much memory that takes.

Each handler module is imported in a fresh interpreter, as Lambda does: only the function's code
directory and the layer's package (``layers/shared``) on the path, the environment the template gives the
function (placeholder values for references), no AWS calls. The child reports the modules it loaded, the
import time and its peak RSS. ``accesswatch bench --cold-start`` prints the figures; the tests use the
module lists (no timing in tests) to prove that no tool, moto or yaml reaches a function and that the
lightweight functions load no polars.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accesswatch_tools.embedded.template import PROJECT_ROOT, function_specs, load_template

LAYER_DIR = PROJECT_ROOT / "layers" / "shared"
FORBIDDEN = ("accesswatch_tools", "moto", "yaml", "samtranslator", "werkzeug")

_CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
import {module} as handler_module
elapsed = time.perf_counter() - started
getattr(handler_module, {attribute!r})
print(json.dumps({{"seconds": elapsed, "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "modules": sorted(m.split(".")[0] for m in list(sys.modules))}}))
"""


@dataclass(frozen=True)
class ColdStart:
    function: str
    seconds: float
    peak_rss_mib: float
    top_level_modules: tuple[str, ...]

    def loads(self, name: str) -> bool:
        return name in self.top_level_modules


def function_environment(template: dict[str, Any], logical_id: str) -> dict[str, str]:
    """The variables the template gives the function: literals as written, parameter references as the
    parameter's default, other references as a placeholder naming them."""
    params = template.get("Parameters", {})
    merged: dict[str, Any] = {
        **template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
        **template["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    env = {}
    for name, value in merged.items():
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in params:
            env[name] = str(params[value["Ref"]].get("Default", ""))
        elif isinstance(value, dict):
            env[name] = f"placeholder-{name.lower().replace('_', '-')}"
        else:
            env[name] = str(value)
    return env


def measure(logical_id: str, template: dict[str, Any] | None = None, python: str = sys.executable,
            layer: Path | None = None) -> ColdStart:
    """Import the function's handler in a fresh interpreter. With ``layer`` (a built layer's ``python/``
    directory) the child sees nothing but the standard library, the layer and the code, as on Lambda;
    without it, the layer's package from the source tree and this interpreter's site-packages."""
    template = template or load_template()
    spec = function_specs(template)[logical_id]
    module, attribute = spec.handler.rsplit(".", 1)
    env = {
        "PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "ap-southeast-2", "AWS_REGION": "ap-southeast-2",
        "AWS_ACCESS_KEY_ID": "cold-start", "AWS_SECRET_ACCESS_KEY": "cold-start",  # noqa: S105 - never used
        "POWERTOOLS_TRACE_DISABLED": "1", "PYTHONNOUSERSITE": "1",
        "PYTHONPATH": os.pathsep.join([str(spec.code_dir), str(layer or LAYER_DIR)]),
        **function_environment(template, logical_id),
    }
    flags = ["-S"] if layer else ["-s"]
    done = subprocess.run([python, *flags, "-c", _CHILD.format(module=module, attribute=attribute)],
                          env=env, cwd=spec.code_dir, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{logical_id}: importing {spec.handler} failed: {done.stderr.strip()[-800:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return ColdStart(logical_id, float(report["seconds"]), int(report["peak_rss_kib"]) / 1024,
                     tuple(sorted(set(report["modules"]))))


def measure_all(python: str = sys.executable, layer: Path | None = None) -> list[ColdStart]:
    template = load_template()
    return [measure(name, template, python, layer) for name in sorted(function_specs(template))]


_SMOKE = r"""
import datetime, io, json, polars as pl
frame = pl.DataFrame({"user": ["a", "b", "a"] * 1000, "client": list(range(3000)),
                      "at": [datetime.datetime(2025, 1, 1)] * 3000})
counts = frame.lazy().group_by("user").agg(pl.len(), pl.col("client").sum()).sort("user").collect().rows()
buffer = io.BytesIO()
frame.write_parquet(buffer)
buffer.seek(0)
joined = frame.join(pl.read_parquet(buffer).unique("user"), on="user", how="inner").height
csv = pl.read_csv(io.BytesIO(b"user,client\na,1\nb,2\n")).height
print(json.dumps({"counts": counts, "joined": joined, "csv": csv}))
"""
_SMOKE_EXPECTED = {"counts": [["a", 2000, 2999000], ["b", 1000, 1499500]], "joined": 3000, "csv": 2}


def build_layer(out: Path, python: str = sys.executable) -> Path:
    """Build the layer exactly as ``sam build`` does: ``make build-SharedLayer`` from layers/shared/Makefile
    (wheels for the Lambda runtime, the runtime package, stripped shared objects). Returns ``python/``."""
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    subprocess.run(["make", "--no-print-directory", "-C", str(LAYER_DIR), "build-SharedLayer",
                    f"ARTIFACTS_DIR={out.resolve()}", f"PYTHON={python}"], check=True, timeout=1200)
    return out / "python"


def smoke(layer: Path, python: str) -> None:
    """Run polars' reading, grouping, joining and Parquet writing from the built (stripped) layer alone."""
    done = subprocess.run([python, "-S", "-c", _SMOKE], env={"PYTHONPATH": str(layer), "PATH": os.environ.get("PATH", "")},
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or json.loads(done.stdout.strip().splitlines()[-1]) != _SMOKE_EXPECTED:
        raise RuntimeError(f"the built layer's polars does not work: {done.stderr.strip()[-800:] or done.stdout[-400:]}")


def layer_size(layer: Path) -> dict[str, Any]:
    """The built layer, unzipped, by top-level package (what counts against Lambda's 250 MiB)."""
    sizes: dict[str, int] = {}
    for entry in layer.iterdir():
        files = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
        name = entry.name.split("-")[0].split(".")[0].lower()
        sizes[name] = sizes.get(name, 0) + sum(p.stat().st_size for p in files)
    total = sum(sizes.values())
    return {"total_mib": round(total / 2**20, 1), "limit_mib": 250, "share_of_limit": f"{total / 2**20 / 250:.0%}",
            "by_package_mib": {k: round(v / 2**20, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:12]}}


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="accesswatch bench --cold-start")
    parser.add_argument("--python", default=sys.executable, help="interpreter to import with (Lambda: 3.12)")
    parser.add_argument("--layer", metavar="DIR", help="build the layer into DIR (as sam build does: "
                                                      "layers/shared/Makefile), measure its size, run polars from it, "
                                                      "and import the handlers from it alone")
    args = parser.parse_args(argv)
    layer = None
    if args.layer:
        layer = build_layer(Path(args.layer))
        smoke(layer, args.python)
        print(json.dumps({"layer": layer_size(layer), "polars_smoke": "passed"}, indent=2))
    rows = measure_all(args.python, layer)
    print(f"cold-start imports with {args.python} ({subprocess.run([args.python, '--version'], capture_output=True, text=True, check=False).stdout.strip()})")
    print(f"{'FUNCTION':<26} {'IMPORT (s)':>10} {'PEAK RSS (MiB)':>15}  POLARS  FORBIDDEN")
    for row in rows:
        bad = [m for m in FORBIDDEN if row.loads(m)]
        print(f"{row.function:<26} {row.seconds:>10.2f} {row.peak_rss_mib:>15.0f}  {'yes' if row.loads('polars') else 'no':<6}  "
              f"{', '.join(bad) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
