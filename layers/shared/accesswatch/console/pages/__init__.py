"""The console's pages, one powertools ``Router`` per page family; ``functions/console/app.py`` includes them
all. Each handler checks its permission first (``web.allowed``)."""

from __future__ import annotations

from accesswatch.console.pages import (
    auth,
    case,
    digest,
    exceptions,
    footprint,
    operations,
    precision,
    queue,
    reports,
    static,
)

ROUTERS = (static.router, auth.router, queue.router, case.router, digest.router, exceptions.router, precision.router,
           footprint.router, reports.router, operations.router)
