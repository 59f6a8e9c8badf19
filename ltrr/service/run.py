"""Running the service: a model folder served on uvicorn, as ``ltrr serve`` starts it."""

from __future__ import annotations

import gc
import logging
import os

import uvicorn

from ltrr.eventlog import Durability, EventLog
from ltrr.service.app import MAX_BODY_BYTES, Service, create_app
from ltrr.service.store import ModelStore

__all__ = ["serve"]


def serve(
    model: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_dir: str | os.PathLike[str] | None = None,
    learn: bool = True,
    reload_every: float | None = None,
    durability: Durability = "flush",
    max_body_bytes: int = MAX_BODY_BYTES,
    access_log: bool = False,
) -> None:
    """Serve a model folder over HTTP until interrupted (SIGINT or SIGTERM).

    Parameters
    ----------
    model : path-like
        The model folder (``ltrr index`` makes one).
    host, port : str, int
        Where to listen (default 127.0.0.1:8080; port 0 picks a free one).
    log_dir : path-like, optional
        The event-log folder (several servers may share it).
    learn : bool
        Learn online in this process (default), or only log and follow the versions
        ``ltrr learn`` publishes (False).
    reload_every : float, optional
        Seconds between checks for a new version (default: 5 when ``learn`` is False,
        never otherwise).
    durability : {"flush", "fsync"}
        When a logged event counts as stored (see :class:`~ltrr.eventlog.EventLog`).
    max_body_bytes : int
        Largest request body accepted.
    access_log : bool
        Log every request line (uvicorn's access log; default off).
    """
    store = ModelStore(model)
    event_log = None if log_dir is None else EventLog(log_dir, durability=durability)
    if reload_every is None and not learn:
        reload_every = 5.0
    service = Service(store, event_log=event_log, learn=learn, reload_every=reload_every)
    app = create_app(service, max_body_bytes=max_body_bytes)
    # The loaded model is hundreds of thousands of long-lived objects: freeze them out of the
    # garbage collector's generations, so that its full collections do not stall requests.
    gc.collect()
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        timeout_graceful_shutdown=10,
    )
    logging.getLogger("ltrr.service").info(
        "serving %s version %s on http://%s:%d", store.name, service.version, host, port
    )
    try:
        uvicorn.Server(config).run()
    finally:
        if event_log is not None:
            event_log.close()
