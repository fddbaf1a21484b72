"""Write requirements.lock: every distribution the layer installs, at an exact version, with its wheel's hash.

Run by ``make -C layers/shared lock`` (never by ``sam build``). The wheels are resolved from requirements.txt
for the Lambda runtime (CPython 3.12, x86_64 Linux, binary wheels only), constrained to the versions of the
Python environment that runs this script, so that the layer ships exactly what the test suite ran with
(a distribution that environment lacks resolves to the newest allowed). The layer's build then installs
with ``--require-hashes --no-deps``: nothing else, and nothing altered, can reach it.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLATFORM_ARGS = ["--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
                 "--implementation", "cp", "--python-version", "3.12"]
WHEEL = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_versions() -> str:
    """``name==version`` lines of the running environment, as pip constraints."""
    frozen = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                            check=True, capture_output=True, text=True).stdout
    return "".join(line + "\n" for line in frozen.splitlines() if "==" in line and not line.startswith("-e"))


def lock_lines(wheels: list[Path]) -> list[str]:
    entries = []
    for wheel in wheels:
        match = WHEEL.match(wheel.name)
        if not match:
            raise SystemExit(f"lock_requirements: not a wheel name: {wheel.name}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        entries.append((normalise(match["name"]), match["version"], digest))
    names = [name for name, _, _ in entries]
    if len(names) != len(set(names)):
        raise SystemExit(f"lock_requirements: more than one wheel of a distribution: {sorted(names)}")
    return [f"{name}=={version} \\\n    --hash=sha256:{digest}" for name, version, digest in sorted(entries)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requirements", type=Path, default=HERE / "requirements.txt")
    parser.add_argument("--out", type=Path, default=HERE / "requirements.lock")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text(installed_versions(), encoding="utf-8")
        wheels = Path(tmp) / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                        *PLATFORM_ARGS, "-r", str(args.requirements), "-c", str(constraints), "-d", str(wheels)],
                       check=True)
        lines = lock_lines(sorted(wheels.glob("*.whl")))
    header = ("# The layer's exact dependencies for python3.12 on x86_64, with their wheels' hashes: generated from\n"
              "# requirements.txt by `make -C layers/shared lock` (lock_requirements.py); do not edit by hand.\n")
    args.out.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out.name}: {len(lines)} distributions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
