"""The console's own stylesheet and script, served by the function (a few KB; no separate asset bucket to
secure). Only the files in ``static/`` by exact name: no path from the request reaches the filesystem."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from accesswatch.console.markup import STATIC

router = Router()
TYPES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
FILES = {name: (STATIC / name).read_text(encoding="utf-8") for name in TYPES}


@router.get("/static/<name>")
def static_file(name: str) -> Response:
    if name not in FILES:
        return Response(status_code=404, content_type="text/plain; charset=utf-8", body="not found")
    return Response(status_code=200, content_type=TYPES[name], body=FILES[name],
                    headers={"Cache-Control": "public, max-age=300"})
