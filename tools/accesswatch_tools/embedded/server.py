"""The local endpoint: the embedded runtime kept running in a background process.

State must survive between CLI commands (a person runs the pipeline, then lists, decides and
closes cases later), and waiting case executions hold task tokens in memory. So the runtime runs
in one long-lived process that serves moto over loopback HTTP; every CLI command talks to it with
ordinary boto3 clients (``endpoint_url``), the same calls it makes against AWS.

``accesswatch local start|status|stop`` manage it; ``run`` and ``demo`` start it when needed.
State lives in memory: stopping the endpoint discards it, and so does a crash.

**One endpoint per state directory**, however many commands start one at once:

- the endpoint process holds ``endpoint.lock`` (``flock``, exclusive) for its whole life and refuses
  to serve if another process holds it; the kernel drops the lock when the process ends, however it
  ends, so a crash never leaves a stale lock, and "is the lock held" is the liveness test (a pid can
  be reused, a killed child stays a zombie);
- whoever starts one holds ``start.lock`` from the check to the moment the endpoint serves (or
  failed), so a second starter waits and then joins the first one's endpoint;
- ``endpoint.json`` (URL, pid, physical names, start time) is written once the endpoint serves and
  removed when it stops cleanly: a record whose process is gone is an endpoint that crashed; commands
  say so, and the next start brings back everything it had acknowledged (``embedded/persistence.py``:
  a checkpoint and a journal in ``saved/``);
- ``find_endpoints`` also scans the process table (Linux ``/proc``) for endpoint processes of the
  directory that hold no lock (started by an accesswatch from before the lock), so that ``local
  status`` shows and ``local stop`` ends them too.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accesswatch_tools.embedded.locks import open_lock, try_flock

if TYPE_CHECKING:
    from accesswatch_tools.embedded.runtime import Invocation

DEFAULT_STATE_DIR = Path(".accesswatch")
STARTUP_TIMEOUT_S = 120.0
EXIT_RESTORE_FAILED = 5  # the endpoint could not read its saved state
RESTORE_TIMEOUT_S = 1800.0  # an endpoint bringing back saved state (embedded/persistence.py)
ENDPOINT_MODULE = "accesswatch_tools.embedded.server"
LOCKING_FLAG = "--locked"  # in the argv of every endpoint this version starts: it takes the lock at once
LOCK_FILE = "endpoint.lock"  # held by the endpoint process for its whole life
START_LOCK_FILE = "start.lock"  # held by a starter from "is one running?" until the one it started serves
LOCK_WAIT_S = 5.0  # a new endpoint waits this long for its lock (a status probe holds it for microseconds)
EXIT_LOCKED = 3  # the endpoint's exit status when another endpoint of its directory holds the lock
SAVED_STATE = "objects, findings, cases, decisions"
_POLL_S = 0.05
# How often the endpoint's HTTP servers look for a stop request between requests (socketserver's default is
# 0.5 s: `local stop` waited that long for each of the two servers before the endpoint began to save).
SHUTDOWN_POLL_S = 0.05


class EndpointError(RuntimeError):
    """The local endpoint cannot be reached or started; the message is one line for a person."""


def state_dir_from_env() -> Path:
    return Path(os.environ.get("ACCESSWATCH_STATE_DIR", str(DEFAULT_STATE_DIR)))


def _endpoint_file(state_dir: Path) -> Path:
    return state_dir / "endpoint.json"


def _when(started_at: Any) -> str:
    try:
        return datetime.datetime.fromtimestamp(float(started_at)).astimezone().isoformat(timespec="seconds")
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"


# --- locks -------------------------------------------------------------------------------------------


def lock_holder(state_dir: Path) -> int | None:
    """The pid of the endpoint holding the directory's lifetime lock, None if no process holds it
    (0 if it is held but the holder has not written its pid yet)."""
    path = state_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if try_flock(fd, fcntl.LOCK_SH):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        for _ in range(20):  # the holder writes its pid right after taking the lock
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.01)
        return 0
    finally:
        os.close(fd)


def _take_lifetime_lock(state_dir: Path) -> int | None:
    """Take the directory's lifetime lock for this process (never released: the kernel drops it when the
    process ends, however it ends); None if another process holds it."""
    fd = open_lock(state_dir / LOCK_FILE)
    deadline = time.monotonic() + LOCK_WAIT_S
    while not try_flock(fd, fcntl.LOCK_EX):
        # Held by an endpoint (its pid is in the file): refuse at once; else by a probe: it ends in a moment.
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        holder_is_endpoint = text.isdigit() and _endpoint_process(int(text), os.path.realpath(state_dir)) is not None
        if holder_is_endpoint or time.monotonic() > deadline:
            os.close(fd)
            return None
        time.sleep(_POLL_S)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return fd


@contextlib.contextmanager
def _start_lock(state_dir: Path, timeout_s: float, *, required: bool = True) -> Iterator[bool]:
    """Serialise "is an endpoint running? if not, start one and wait until it serves" between processes.
    Yields whether the lock was taken (only False when not ``required`` and the wait timed out)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = open_lock(state_dir / START_LOCK_FILE)
    try:
        deadline = time.monotonic() + timeout_s
        taken = try_flock(fd, fcntl.LOCK_EX)
        while not taken and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            taken = try_flock(fd, fcntl.LOCK_EX)
        if not taken and required:
            raise EndpointError(f"another accesswatch command has been starting the local endpoint for over "
                                f"{timeout_s:.0f}s (state dir {state_dir}); see {state_dir / 'endpoint.log'}")
        yield taken
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- the endpoint process ----------------------------------------------------------------------------


def serve(state_dir: Path, port: int = 0) -> None:
    """Run the endpoint in this process until SIGTERM/SIGINT; exit EXIT_LOCKED if the directory has one."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    lock_fd = _take_lifetime_lock(state_dir)
    if lock_fd is None:
        print(f"accesswatch: another local endpoint (pid {lock_holder(state_dir)}) serves {state_dir}; "
              "not starting a second one", file=sys.stderr)
        sys.exit(EXIT_LOCKED)
    # Heavy imports after the lock: the moments before it, when `local status` sees the process without it,
    # stay short.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from accesswatch_tools.embedded import persistence
    from accesswatch_tools.embedded.runtime import ARTIFACTS_BUCKET, REGION, EmbeddedAws

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request: endpoint.log grew without end
    failures = state_dir / "invocation-failures.jsonl"
    failures.write_text("", encoding="utf-8")
    lock = threading.Lock()
    durable: persistence.DurableState | None = None

    def record(invocation: Invocation) -> None:
        if durable is not None:
            durable.changed()
        if invocation.errored:
            with lock, failures.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"function": invocation.function, "error_type": invocation.error_type,
                                         "request_id": invocation.request_id}) + "\n")

    with EmbeddedAws(on_invocation=record, stable_names=True) as aws:
        if stop.is_set():
            return
        # Durable state (embedded/persistence.py): what the last endpoint of this directory saved comes back
        # first, then every request that changes something is journaled before it is handled.
        durable = persistence.DurableState(state_dir, aws, skip_buckets={ARTIFACTS_BUCKET})
        from accesswatch_tools.embedded.console import ConsoleOrMoto, LocalConsole, marked

        # The console's requests share the journal with moto's (embedded/console.py): a person's action in the
        # console is replayed after a crash as a CLI command's calls are.
        console = LocalConsole(aws) if "ConsoleFunction" in aws.physical else None
        inner = ConsoleOrMoto(DomainDispatcherApplication(create_backend_app), console)
        try:
            notes = durable.restore(inner)
        except RuntimeError as exc:  # an unreadable checkpoint: one line, which the starter shows
            print(f"accesswatch: {exc}", file=sys.stderr, flush=True)
            sys.exit(EXIT_RESTORE_FAILED)
        for note in notes:
            print(f"accesswatch: {note}", file=sys.stderr, flush=True)
        server = make_server("127.0.0.1", port, durable.app(inner), True, request_handler=MotoRequestHandler)
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
                                   name="accesswatch-endpoint", daemon=True)
        serving.start()
        durable.start()
        host, bound = server.host, server.port
        # The console (the template's ConsoleFunction) on a port of its own: its pages use absolute paths.
        console_server = None
        console_url = None
        if console is not None:
            console_port = int(os.environ.get("ACCESSWATCH_CONSOLE_PORT") or 0)
            console_server = make_server("127.0.0.1", console_port, marked(durable.app(inner)), True)
            threading.Thread(target=console_server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_S},
                             name="accesswatch-console", daemon=True).start()
            console_url = f"http://{console_server.host}:{console_server.port}/"
        info = {"url": f"http://{host}:{bound}", "console_url": console_url, "pid": os.getpid(), "region": REGION,
                "physical": aws.physical, "started_at": time.time(), "state_dir": str(state_dir.resolve())}
        tmp = state_dir / f"endpoint.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
        tmp.replace(_endpoint_file(state_dir))
        try:
            stop.wait()
        finally:
            if console_server is not None:
                console_server.shutdown()
            server.shutdown()
            serving.join()
            saved = durable.close()
            print(f"accesswatch: stopping; {'state saved' if saved else 'state kept in the journal (the system was busy)'}",
                  file=sys.stderr, flush=True)
            if (_read_record(state_dir) or {}).get("pid") == os.getpid():
                _endpoint_file(state_dir).unlink(missing_ok=True)
        _exit_now()


def _exit_now() -> None:
    """End the endpoint process once a clean stop is done: no request is served any more, the last checkpoint
    is written (or the journal, fsync'd and closed, holds every change) and endpoint.json is removed. Tearing
    the runtime and the interpreter down (moto's backends, the executions' threads, every object of the heap)
    adds nothing to disk and took ~1.7 s of CPU on a small world, all of it waited for by `local stop`."""
    from accesswatch_tools.embedded.adapters.s3 import remove_spilled_bodies

    remove_spilled_bodies()  # the runtime's exit, which os._exit skips, would have removed them
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# --- finding endpoints ---------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (reaped here if it is our own exited child)."""
    if pid <= 0:
        return False
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = proc_stat(pid)
    return fields is None or (bool(fields) and fields[0] != "Z")


def proc_stat(pid: int) -> list[str] | None:
    """The fields of Linux's ``/proc/<pid>/stat`` after the command's name (its state first, user and system CPU
    ticks at 11 and 12); None where there is none to read."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _endpoint_process(pid: int, target: str) -> bool | None:
    """For an endpoint process (``python -m accesswatch_tools.embedded.server``) of the directory whose real
    path is ``target``: whether it was started with LOCKING_FLAG; None for any other process."""
    entry = Path("/proc") / str(pid)
    try:
        argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return None
    if ENDPOINT_MODULE not in argv:
        return None
    directory = str(DEFAULT_STATE_DIR)
    for i, arg in enumerate(argv):
        if arg == "--state-dir" and i + 1 < len(argv):
            directory = argv[i + 1]
        elif arg.startswith("--state-dir="):
            directory = arg.split("=", 1)[1]
    if not os.path.isabs(directory):
        try:
            directory = os.path.join(os.readlink(entry / "cwd"), directory)
        except OSError:
            return None
    return LOCKING_FLAG in argv if os.path.realpath(directory) == target else None


def _scan_processes(state_dir: Path) -> dict[int, bool] | None:
    """Endpoint processes of ``state_dir`` found in /proc: pid -> whether it was started with LOCKING_FLAG;
    None where there is no /proc to read."""
    proc = Path("/proc")
    if not (proc / "self" / "cmdline").exists():
        return None
    target = os.path.realpath(state_dir)
    found: dict[int, bool] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            locking = _endpoint_process(int(entry.name), target)
            if locking is not None:
                found[int(entry.name)] = locking
    return found


def _read_record(state_dir: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(_endpoint_file(state_dir).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) and "pid" in info else None


@dataclass(frozen=True)
class EndpointProcess:
    """One endpoint process of a state directory."""

    pid: int
    holds_lock: bool  # holds the directory's lifetime lock: the endpoint
    recorded: bool  # endpoint.json names it (it serves, or served, at ``url``)
    url: str | None = None
    started_at: float | None = None
    console_url: str | None = None
    locking: bool = False  # started by this version with LOCKING_FLAG: it takes the lock as it starts

    @property
    def state(self) -> str:
        if self.holds_lock:
            return "running" if self.recorded else "starting"
        if self.recorded:  # started by an accesswatch from before the lock; still usable
            return "running without the endpoint lock"
        # One of ours not holding the lock yet is about to take it (or to exit, if another holds it).
        return "starting" if self.locking else "orphan (no lock, not recorded)"

    @property
    def stray(self) -> bool:
        """An endpoint process no command talks to (it may hold data: the issue's second endpoint)."""
        return self.state.startswith("orphan")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pid": self.pid, "state": self.state, "url": self.url}
        if self.console_url:
            out["console_url"] = self.console_url
        if self.started_at is not None:
            out["started_at"] = _when(self.started_at)
            out["uptime_s"] = round(time.time() - self.started_at, 1)
        return out


@dataclass(frozen=True)
class Survey:
    """What a state directory holds: its endpoint processes, and the record of one that died."""

    state_dir: Path
    endpoints: list[EndpointProcess]
    lost: dict[str, Any] | None  # endpoint.json of an endpoint whose process is gone (it crashed)

    @property
    def serving(self) -> EndpointProcess | None:
        return next((e for e in self.endpoints if e.holds_lock), None)

    @property
    def usable(self) -> EndpointProcess | None:
        """The endpoint commands talk to: the lock holder, else a recorded one from before the lock."""
        return self.serving or next((e for e in self.endpoints if e.recorded), None)

    @property
    def strays(self) -> list[EndpointProcess]:
        """Endpoint processes besides the usable one that no command reaches (more than one endpoint)."""
        usable = self.usable
        return [e for e in self.endpoints if (usable is None or e.pid != usable.pid) and (e.stray or e.recorded)]


def find_endpoints(state_dir: Path) -> Survey:
    """Every endpoint process of ``state_dir`` (the lock holder, the recorded one, any other found in the
    process table) and the record of an endpoint that is gone."""
    record = _read_record(state_dir)
    holder = lock_holder(state_dir)
    scanned = _scan_processes(state_dir)
    pids = set(scanned or {})
    if holder:
        pids.add(holder)
    record_pid = int(record["pid"]) if record else None
    if record_pid and record_pid not in pids and scanned is None and _alive(record_pid):
        pids.add(record_pid)  # no process table to confirm it is ours: trust a live pid
    endpoints = []
    for pid in sorted(pids):
        if pid != holder and not _alive(pid):
            continue
        mine = pid == record_pid
        endpoints.append(EndpointProcess(pid, pid == holder, mine, record.get("url") if record and mine else None,
                                         record.get("started_at") if record and mine else None,
                                         locking=bool(scanned and scanned.get(pid)),
                                         console_url=record.get("console_url") if record and mine else None))
    alive_pids = {e.pid for e in endpoints}
    lost = record if record is not None and record_pid not in alive_pids else None
    return Survey(state_dir, endpoints, lost)


def lost_message(record: dict[str, Any], state_dir: Path) -> str:
    return (f"the previous local endpoint (pid {record.get('pid')}, started at {_when(record.get('started_at'))}) "
            f"is gone: it stopped without a clean shutdown; what it acknowledged ({SAVED_STATE}) is saved and comes "
            f"back at the next start (state dir {state_dir}; its log: {state_dir / 'endpoint.log'})")


def _stray_message(strays: list[EndpointProcess], state_dir: Path) -> str:
    pids = ", ".join(str(e.pid) for e in strays)
    return (f"{len(strays)} more endpoint process(es) of {state_dir} found (pid {pids}: started without the "
            "endpoint lock, by an older accesswatch); no command talks to them; `accesswatch local stop` stops "
            "them (what they hold in memory only is discarded)")


# --- starting, connecting, stopping ----------------------------------------------------------------


@dataclass
class Started:
    """The endpoint a start ended with: ``started`` if this call started it, else it joined a running one;
    ``notes`` say what the start found on the way (a crashed endpoint, stray processes), one line each."""

    info: dict[str, Any]
    started: bool
    notes: list[str] = field(default_factory=list)


def _spawn(state_dir: Path) -> subprocess.Popen[bytes]:
    with (state_dir / "endpoint.log").open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", ENDPOINT_MODULE, "--state-dir", str(state_dir.resolve()), LOCKING_FLAG],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )


def _last_said(state_dir: Path) -> str | None:
    """The endpoint's last one-line message in its log (``accesswatch: ...``), if any."""
    try:
        lines = (state_dir / "endpoint.log").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    said = [line.removeprefix("accesswatch: ") for line in lines if line.startswith("accesswatch: ")]
    return said[-1] if said else None


def _wait_ready(state_dir: Path, pid: int, deadline: float,
                process: subprocess.Popen[bytes] | None = None) -> dict[str, Any] | None:
    """endpoint.json of endpoint ``pid`` once it serves; None if it stopped before (or lost the race for
    the lock); EndpointError if the process we started failed or did not come up in time."""
    while time.monotonic() < deadline:
        record = _read_record(state_dir)
        if record is not None and record.get("pid") == pid:
            return record
        if process is not None:
            if process.poll() is not None:
                if process.returncode == EXIT_LOCKED:
                    return None
                said = _last_said(state_dir) if process.returncode == EXIT_RESTORE_FAILED else None
                raise EndpointError(said or f"the local endpoint exited with status {process.returncode} while "
                                    f"starting; see {state_dir / 'endpoint.log'}")
        elif lock_holder(state_dir) not in (pid, 0):
            return None
        time.sleep(_POLL_S)
    if process is not None:
        process.terminate()
    raise EndpointError(f"the local endpoint (pid {pid}) did not start within {STARTUP_TIMEOUT_S:.0f}s; "
                        f"see {state_dir / 'endpoint.log'}")


def start(state_dir: Path) -> Started:
    """Start the endpoint in the background unless the directory has one, and wait until it serves.

    Race-free: the check and the spawn happen under the start lock, so of any number of concurrent
    starts one spawns and the others wait for it and join; the endpoint's own lifetime lock keeps a
    second one from serving even if started by hand."""
    from accesswatch_tools.embedded import persistence

    state_dir.mkdir(parents=True, exist_ok=True)
    # Bringing saved state back (a checkpoint, then the journal's requests replayed) can take minutes.
    deadline = time.monotonic() + (RESTORE_TIMEOUT_S if persistence.has_saved_state(state_dir) else STARTUP_TIMEOUT_S)
    lost: list[str] = []
    with _start_lock(state_dir, STARTUP_TIMEOUT_S + 30):
        while True:
            survey = find_endpoints(state_dir)
            notes = lost + ([_stray_message(survey.strays, state_dir)] if survey.strays else [])
            usable = survey.usable
            if usable is not None and not usable.holds_lock:
                notes.append(f"joined the local endpoint pid {usable.pid}, which runs without the endpoint lock "
                             "(started by an older accesswatch); `accesswatch local stop` then start replaces it")
                return Started(_read_record(state_dir) or {}, False, notes)
            if usable is not None:
                info = _wait_ready(state_dir, usable.pid, deadline)
                if info is not None:
                    return Started(info, False, notes)
                continue  # it stopped while starting: look again
            if survey.lost is not None:
                lost.append(lost_message(survey.lost, state_dir) + "; starting it again")
                notes.insert(0, lost[-1])
                _endpoint_file(state_dir).unlink(missing_ok=True)
            process = _spawn(state_dir)
            info = _wait_ready(state_dir, process.pid, deadline, process)
            if info is not None:
                return Started(info, True, notes)
            # An endpoint started by hand took the lock between our look and our spawn: join it.


def connect(state_dir: Path, *, lost_error: Callable[[str], Exception] = EndpointError) -> Any:
    """The running endpoint as a Deployment, or EndpointError if none is running (saying so if it crashed).

    Waits for an endpoint that is still starting. A call on the returned deployment that finds the endpoint
    gone raises ``lost_error`` with one line saying what happened and what to do."""
    from accesswatch_tools.embedded.endpoint import LocalEndpoint

    survey = find_endpoints(state_dir)
    usable = survey.usable
    if usable is None:
        if survey.lost is not None:
            raise EndpointError(lost_message(survey.lost, state_dir) + "; run `accesswatch local start` "
                                "(or `accesswatch run`) to bring it back")
        raise EndpointError(f"no local endpoint is running (state dir {state_dir}); "
                            "run `accesswatch demo`, `accesswatch run` or `accesswatch local start` first")
    info = _read_record(state_dir) if usable.recorded else None
    if info is None:
        info = _wait_ready(state_dir, usable.pid, time.monotonic() + STARTUP_TIMEOUT_S)
        if info is None:
            raise EndpointError(f"the local endpoint (pid {usable.pid}) stopped while starting "
                                f"(state dir {state_dir}); see {state_dir / 'endpoint.log'}")
    pid = int(info["pid"])
    locked = usable.holds_lock

    def on_connection_error(exc: Exception) -> None:
        if _still_serving(state_dir, pid, locked):
            raise lost_error(f"the local endpoint (pid {pid}, {info['url']}) dropped the connection "
                             f"({type(exc).__name__}) but is still running; see {state_dir / 'endpoint.log'}")
        raise lost_error(f"the local endpoint (pid {pid}) stopped while the command ran; what it acknowledged "
                         f"({SAVED_STATE}) is saved (state dir {state_dir}; its log: {state_dir / 'endpoint.log'}); "
                         "run `accesswatch local start` to bring it back, then run the command again")

    return LocalEndpoint(info["url"], info["physical"], state_dir, info["region"],
                         on_connection_error=on_connection_error, console_url=info.get("console_url"))


def _still_serving(state_dir: Path, pid: int, locked: bool, grace_s: float = 3.0) -> bool:
    """Whether endpoint ``pid`` lives, allowing the kernel a moment to finish tearing a killed one down."""
    deadline = time.monotonic() + grace_s
    while True:
        alive = lock_holder(state_dir) == pid if locked else _alive(pid)
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@dataclass
class Stopped:
    """What ``stop`` ended: endpoint processes, and the record of a crashed endpoint it cleared."""

    stopped: list[EndpointProcess]
    lost: dict[str, Any] | None


def _terminate(pids: list[int], timeout_s: float) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(_POLL_S)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def stop(state_dir: Path, timeout_s: float = 30.0) -> Stopped:
    """Stop every endpoint process of ``state_dir`` (each saves its state first) and clear a crashed one's record.

    Waits for a start in progress to finish first (so that it stops what that start started), but stops
    anyway if the start does not finish in time."""
    if not state_dir.is_dir():
        return Stopped([], None)
    with _start_lock(state_dir, STARTUP_TIMEOUT_S + 30, required=False):
        survey = find_endpoints(state_dir)
        pids = [e.pid for e in survey.endpoints]
        _terminate(pids, timeout_s)
        _wait_for_the_lock(state_dir, pids, timeout_s)
        _endpoint_file(state_dir).unlink(missing_ok=True)
        return Stopped(survey.endpoints, survey.lost)


def _wait_for_the_lock(state_dir: Path, pids: list[int], timeout_s: float) -> None:
    """Until no stopped endpoint holds the directory's lifetime lock. The process's main thread shows as a zombie
    (``_alive`` False) while its other threads are still ending, and the lock goes only with the last of them."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        holder = lock_holder(state_dir)
        if holder is None or (holder != 0 and holder not in pids):
            return
        time.sleep(_POLL_S)


def reset(state_dir: Path, timeout_s: float = 30.0) -> tuple[Stopped, bool]:
    """Stop every endpoint of ``state_dir`` and delete its saved state: the next start is empty. (stopped,
    whether there was saved state)."""
    from accesswatch_tools.embedded import persistence

    stopped = stop(state_dir, timeout_s)
    with _start_lock(state_dir, STARTUP_TIMEOUT_S + 30, required=False):
        return stopped, persistence.reset(state_dir)


def status(state_dir: Path) -> Survey:
    return find_endpoints(state_dir)


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="accesswatch local endpoint (embedded AWS over loopback)")
    parser.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(LOCKING_FLAG, action="store_true",
                        help="no effect (every endpoint takes the state directory's lock); marks the process as one "
                             "that does, for `accesswatch local status`")
    args = parser.parse_args()
    serve(Path(args.state_dir), args.port)


if __name__ == "__main__":
    _main()
