"""``local start|status|stop``: the background endpoint that keeps the embedded system running."""

from __future__ import annotations

import argparse
import json
from typing import Any

from accesswatch_tools.cli.context import add_target_options, state_dir
from accesswatch_tools.embedded import server


def cmd_local(args: argparse.Namespace) -> int:
    directory = state_dir(args)
    if args.action == "start":
        info = server.start(directory)
        print(f"local endpoint {info['url']} (pid {info['pid']}), state in {directory}")
    elif args.action == "stop":
        print("stopped" if server.stop(directory) else "no local endpoint was running")
    else:
        running = server.status(directory)
        if running is None:
            print("no local endpoint is running")
            return 3
        print(json.dumps({k: running[k] for k in ("url", "pid", "uptime_s")}, indent=2))
    return 0


def register(sub: Any) -> None:
    local = sub.add_parser("local", help="manage the local endpoint (the embedded AWS runtime in the background)")
    local.add_argument("action", choices=("start", "status", "stop"))
    add_target_options(local)
    local.set_defaults(func=cmd_local)
