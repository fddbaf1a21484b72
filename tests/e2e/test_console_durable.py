"""A person's action in the console survives a crash of the local endpoint like a CLI command's: the console's
requests share the endpoint's journal (embedded/console.py ConsoleOrMoto), so a decision the console accepted
(its 303 seen) is there after `kill -9` and `local start`, and the workflow goes on from it."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.endpoint import cli_runner

pytestmark = pytest.mark.e2e

WAIT_S = 180.0  # an upper bound for a loaded CI machine, not a measured time


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener() -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())


def _send(opener: urllib.request.OpenerDirector, url: str, data: dict[str, str] | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(urllib.request.Request(url, data=body), timeout=300) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_decision_made_in_the_console_survives_kill_9(tmp_path: Path) -> None:
    from accesswatch_tools.world import generate

    world = tmp_path / "world"
    generate(world, staff=20, clients=600, days=2, seed=5)
    with cli_runner(tmp_path) as run:
        run("run", "--reference", str(world / "reference"), "--logs", str(world / "logs"), "--out", str(tmp_path / "out"))
        status = json.loads(run("local", "status", "--json").stdout)
        console = status["console_url"].rstrip("/")
        listed = [json.loads(line) for line in run("cases", "list", "--json").stdout.splitlines() if line]
        case_id = sorted(c["case_id"] for c in listed if c["status"] == "investigating")[0]

        opener = _opener()
        assert _send(opener, f"{console}/local-sign-in", {"role": "investigator", "user_id": "u-durable"})[0] == 303
        code, html = _send(opener, f"{console}/cases/{case_id}")
        assert code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        rules = re.findall(r'name="(verdict_[A-Z_]+)"', html)
        form = {"csrf_token": token.group(1), "decision": "founded", "er_type": "inappropriate_access",
                "note": "decided in the console", **dict.fromkeys(rules, "founded")}
        code, _ = _send(opener, f"{console}/cases/{case_id}/decide", form)
        assert code == 303, "the console accepted the decision"

        pid = json.loads((tmp_path / "state" / "endpoint.json").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)  # at once: the workflow may not have recorded it yet
        run("local", "start")
        deadline = time.monotonic() + WAIT_S
        while True:
            shown = json.loads(run("cases", "show", case_id, "--json", "--all").stdout)
            if shown["status"] == "awaiting_outcome":
                break
            assert time.monotonic() < deadline, f"{case_id} is {shown['status']} after the restart"
            time.sleep(0.5)
        decided = [h for h in shown["history"] if h.get("decision") == "founded"]
        assert decided and decided[0]["actor"] == "console/u-durable (local)"
