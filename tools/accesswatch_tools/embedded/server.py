"""The local endpoint: the embedded runtime kept running in a background process.

State must survive between CLI commands (a person runs the pipeline, then lists, decides and
closes cases later), and waiting case executions hold task tokens in memory. So the runtime runs
in one long-lived process that serves moto over loopback HTTP; every CLI command talks to it with
ordinary boto3 clients (``endpoint_url``), the same calls it makes against AWS.

``accesswatch local start|status|stop`` manage it; ``run`` and ``demo`` start it when needed.
State lives in memory: stopping the endpoint discards it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from accesswatch_tools.embedded.runtime import REGION, EmbeddedAws, Invocation

DEFAULT_STATE_DIR = Path(".accesswatch")
STARTUP_TIMEOUT_S = 120.0


class EndpointError(RuntimeError):
    pass


def state_dir_from_env() -> Path:
    return Path(os.environ.get("ACCESSWATCH_STATE_DIR", str(DEFAULT_STATE_DIR)))


def _endpoint_file(state_dir: Path) -> Path:
    return state_dir / "endpoint.json"


def serve(state_dir: Path, port: int = 0) -> None:
    """Run the endpoint in this process until SIGTERM/SIGINT."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    state_dir.mkdir(parents=True, exist_ok=True)
    failures = state_dir / "invocation-failures.jsonl"
    failures.write_text("", encoding="utf-8")
    lock = threading.Lock()

    def record(invocation: Invocation) -> None:
        if invocation.errored:
            with lock, failures.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"function": invocation.function, "error_type": invocation.error_type,
                                         "request_id": invocation.request_id}) + "\n")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with EmbeddedAws(on_invocation=record) as aws:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound = server.get_host_and_port()
        info = {"url": f"http://{host}:{bound}", "pid": os.getpid(), "region": REGION,
                "physical": aws.physical, "started_at": time.time()}
        tmp = _endpoint_file(state_dir).with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
        tmp.replace(_endpoint_file(state_dir))
        try:
            stop.wait()
        finally:
            server.stop()
            _endpoint_file(state_dir).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_endpoint(state_dir: Path) -> dict[str, Any] | None:
    path = _endpoint_file(state_dir)
    if not path.exists():
        return None
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if not _alive(int(info["pid"])):
        path.unlink(missing_ok=True)
        return None
    return info


def connect(state_dir: Path) -> Any:
    """The running endpoint as a Deployment, or EndpointError if none is running."""
    from accesswatch_tools.embedded.endpoint import LocalEndpoint

    info = read_endpoint(state_dir)
    if info is None:
        raise EndpointError(f"no local endpoint is running (state dir {state_dir}); "
                            "run `accesswatch demo`, `accesswatch run` or `accesswatch local start` first")
    return LocalEndpoint(info["url"], info["physical"], state_dir, info["region"])


def start(state_dir: Path) -> dict[str, Any]:
    """Start the endpoint in the background (if it is not running) and wait until it serves."""
    info = read_endpoint(state_dir)
    if info is not None:
        return info
    state_dir.mkdir(parents=True, exist_ok=True)
    log = (state_dir / "endpoint.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "accesswatch_tools.embedded.server", "--state-dir", str(state_dir)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EndpointError(f"local endpoint exited with {process.returncode}; see {state_dir / 'endpoint.log'}")
        info = read_endpoint(state_dir)
        if info is not None:
            return info
        time.sleep(0.1)
    process.terminate()
    raise EndpointError(f"local endpoint did not start within {STARTUP_TIMEOUT_S:.0f}s")


def stop(state_dir: Path, timeout_s: float = 30.0) -> bool:
    info = read_endpoint(state_dir)
    if info is None:
        return False
    os.kill(int(info["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(int(info["pid"])):
        time.sleep(0.1)
    if _alive(int(info["pid"])):
        os.kill(int(info["pid"]), signal.SIGKILL)
    _endpoint_file(state_dir).unlink(missing_ok=True)
    return True


def status(state_dir: Path) -> dict[str, Any] | None:
    info = read_endpoint(state_dir)
    return None if info is None else {**info, "uptime_s": round(time.time() - info["started_at"], 1)}


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="accesswatch local endpoint (embedded AWS over loopback)")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve(Path(args.state_dir), args.port)


if __name__ == "__main__":
    _main()
