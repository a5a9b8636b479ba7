"""The Dramatiq worker process: broker set-up and actors.

Start it with `dramatiq workers:setup` (dramatiq calls `setup()`, which builds the app and the
broker from OUTREACH_* settings and declares the actors). Nothing happens at import time.
"""

from __future__ import annotations

from dramatiq import Broker

from workers.broker import build_worker_broker


def setup() -> Broker:
    import logging

    from outreach import create_app

    # dramatiq logs at INFO; Alembic's plugin registry is chatty at that level and says nothing useful.
    logging.getLogger("alembic").setLevel(logging.WARNING)

    return build_worker_broker(create_app())
