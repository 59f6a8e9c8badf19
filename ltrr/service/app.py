"""The HTTP service: a served engine (hot-swapped on new versions) behind FastAPI routes, with limits."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ltrr.engine import Engine
from ltrr.errors import InvalidInputError, LtrrError, UnknownNameError
from ltrr.eventlog import EventLog, FeedbackRecord
from ltrr.service.metrics import ServiceMetrics
from ltrr.service.schemas import (
    ErrorBody,
    FeedbackBody,
    FeedbackReply,
    ItemBody,
    SearchBody,
    SearchReply,
)
from ltrr.service.store import ModelStore
from ltrr.types import Context, Engagement, Query

__all__ = ["MAX_BODY_BYTES", "Service", "create_app"]

log = logging.getLogger("ltrr.service")

#: Largest request body accepted, in bytes (a feedback batch of 1,000 events fits).
MAX_BODY_BYTES = 256 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class _Served:
    """One loaded version: swapped as a whole, so a request sees one engine and its version."""

    engine: Engine
    version: str


class Service:
    """A model store's current version, serving searches and logging feedback.

    Parameters
    ----------
    store : ModelStore
        The model folder.
    event_log : EventLog, optional
        Where requests and feedback are logged (several servers may share a folder:
        each writes its own segments). Without one nothing is logged.
    learn : bool
        Update the learners in this process from feedback (the embedded default, as
        :class:`~ltrr.engine.Engine` does). False for a worker whose learning is done by
        ``ltrr learn`` from the logs: it only logs, and follows published versions.
    reload_every : float, optional
        Seconds between checks of the store's ``CURRENT``; a new version is loaded
        beside the old one and swapped in without failing a request (default: never).
    """

    def __init__(
        self,
        store: ModelStore,
        *,
        event_log: EventLog | None = None,
        learn: bool = True,
        reload_every: float | None = None,
    ) -> None:
        if reload_every is not None and not reload_every > 0:
            raise InvalidInputError(
                f"reload_every must be a positive number of seconds, got {reload_every!r}"
            )
        self.store = store
        self.event_log = event_log
        self.learn = learn
        self.reload_every = reload_every
        self.metrics = ServiceMetrics()
        self.started = time.time()
        version = store.current()
        self._served = _Served(_warmed(store.load(version, event_log=event_log)), version)
        self.metrics.serving(store.name, version)
        self._stop = threading.Event()
        self._reloader: threading.Thread | None = None
        self.learned = 0

    @property
    def engine(self) -> Engine:
        """The engine being served."""
        return self._served.engine

    @property
    def version(self) -> str:
        """The version being served."""
        return self._served.version

    # ------------------------------------------------------------ requests
    def search(self, body: SearchBody) -> SearchReply:
        """Answer ``POST /search``.

        Parameters
        ----------
        body : SearchBody
            The validated body.

        Returns
        -------
        SearchReply
            Items, plan, propensity, timings and the version that answered.
        """
        served = self._served
        c = body.context
        context = None if c is None else Context(
            user_id=c.user_id,
            timestamp=c.timestamp,
            device=c.device,
            locale=c.locale,
            features=dict(c.features),
        )  # fmt: skip
        response = served.engine.search(Query(body.query), context, k=body.k)
        self.metrics.observe_search(response.plan, response.timings_ms)
        return SearchReply.model_construct(  # built from checked values: not validated again
            request_id=response.request_id,
            items=[ItemBody.model_construct(id=i.item_id, score=float(i.score)) for i in response.items],
            plan=response.plan,
            propensity=response.probability,
            ranker=response.ranker,
            model_version=served.version,
            timings_ms=response.timings_ms,
        )

    def feedback(self, body: FeedbackBody) -> FeedbackReply:
        """Answer ``POST /feedback``: log the events first, then learn from them.

        The events are in the event log (handed to the operating system, or fsynced
        with durability ``"fsync"``) before the answer is sent, so an acknowledged
        event survives the process being killed. Feedback for a request another
        process served is logged all the same (``known`` false), for ``ltrr learn``.

        Parameters
        ----------
        body : FeedbackBody
            The validated body.

        Returns
        -------
        FeedbackReply
            How many events were logged, and what the in-process learners did.
        """
        served = self._served
        try:
            shown = {item: pos for pos, item in enumerate(served.engine.pending(body.request_id).ranking, 1)}
            known = True
        except UnknownNameError:
            shown, known = {}, False
        now = time.time()
        if self.event_log is not None and body.events:
            self.event_log.append_feedback_many(
                FeedbackRecord(
                    request_id=body.request_id,
                    item_id=e.item,
                    kind=e.kind,
                    position=e.position if e.position is not None else shown.get(e.item),
                    timestamp=e.time if e.time is not None else now,
                )
                for e in body.events
            )
            for e in body.events:
                self.metrics.feedback_events.labels(kind=e.kind.value).inc()
        logged = len(body.events) if self.event_log is not None else 0
        ignored = [e.item for e in body.events if known and e.item not in shown]
        learned = False
        if self.learn and known:
            events = [Engagement(e.item, e.kind, shown.get(e.item, e.position or 1)) for e in body.events]
            result = served.engine.feedback(body.request_id, events, log_events=False)
            learned = result.learned
            self.learned += int(learned)
        return FeedbackReply(
            request_id=body.request_id, logged=logged, known=known, learned=learned, ignored=ignored
        )

    def health(self) -> dict[str, Any]:
        """Answer ``GET /healthz``: the model, its version and size, and uptime."""
        return {
            "status": "ok",
            "model": self.store.name,
            "version": self.version,
            "items": len(self.engine.catalog),
            "strategies": list(self.engine.strategies),
            "learn": self.learn,
            "uptime_s": round(time.time() - self.started, 3),
        }

    # ------------------------------------------------------------ versions
    def reload_if_changed(self) -> bool:
        """Load and swap in the store's current version if it is not the one served.

        A version that fails to load is logged and the old one keeps serving.

        Returns
        -------
        bool
            Whether a new version is now served.
        """
        try:
            version = self.store.current()
            if version == self.version:
                return False
            engine = _warmed(self.store.load(version, event_log=self.event_log))
        except Exception as exc:
            log.error("could not load the new model version (still serving %s): %s", self.version, exc)
            self.metrics.reloads.labels(outcome="failed").inc()
            return False
        self._served = _Served(engine, version)
        self.metrics.serving(self.store.name, version)
        self.metrics.reloads.labels(outcome="loaded").inc()
        log.info("now serving %s version %s", self.store.name, version)
        return True

    def start(self) -> None:
        """Start following the store's versions (when ``reload_every`` is set)."""
        if self.reload_every is None or self._reloader is not None:
            return
        self._stop.clear()
        every = self.reload_every

        def follow() -> None:
            while not self._stop.wait(every):
                self.reload_if_changed()

        self._reloader = threading.Thread(target=follow, name="ltrr-reload", daemon=True)
        self._reloader.start()

    def stop(self) -> None:
        """Stop following versions and flush the event log (the service stays usable)."""
        self._stop.set()
        if self._reloader is not None:
            self._reloader.join(timeout=5)
            self._reloader = None
        if self.event_log is not None and not self.event_log.closed:
            self.event_log.sync()


def _json(reply: SearchReply | FeedbackReply) -> Response:
    """Serialise a reply once (pydantic-core), instead of FastAPI validating it again."""
    return Response(reply.model_dump_json(), media_type="application/json")


def _warmed(engine: Engine) -> Engine:
    """Ready a loaded version to serve: retrain in the background, and call every strategy once.

    A scheduled retraining runs in its own thread (it must not stall the event loop). The
    memory index fits its neighbour index at its first search (4 s for SciFact's 123,000
    predicted queries): done here, before the version serves its first request.
    """
    if engine.retrain is not None:
        engine.retrain.background = True
    probe = Query("warm up")
    for name, strategy in engine.strategies.items():
        try:
            strategy.retrieve(probe, k=1)
        except Exception as exc:  # a strategy that cannot answer this probe is still served
            log.warning("warm-up call of strategy %r failed: %s", name, exc)
    return engine


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":  # loc is ("body", character offset)
            at = err.get("loc", ("body", "?"))[-1]
            out.append(
                {"field": "body", "message": f"not valid JSON (at character {at})", "got": ""}
            )
            continue
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        got = err.get("input")
        text = repr(got)
        out.append(
            {
                "field": ".".join(loc) or "body",
                "message": str(err.get("msg", "invalid")),
                "got": text if len(text) <= 80 else text[:77] + "...",
            }
        )
    return out


def _error(status: int, error: str, message: str, fields: list[dict[str, str]] | None = None) -> JSONResponse:
    body = ErrorBody(error=error, message=message, fields=fields or [])
    return JSONResponse(body.model_dump(), status_code=status)


class _BodyLimit:
    """ASGI middleware: refuse a POST that is not JSON (415), or over ``limit`` bytes (413).

    The size is checked on the declared length and again while the body streams in, so
    an oversized body is refused before it is read whole.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if scope.get("method") == "POST":
            ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if ctype != b"application/json":
                shown = ctype.decode("latin-1")[:60] or "none"
                response = _error(
                    415,
                    "unsupported_media_type",
                    f"the body must be JSON with Content-Type: application/json (got {shown})",
                )
                await response(scope, receive, send)
                return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit, scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.limit, scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class _Count:
    """ASGI middleware: count every answer by endpoint and status, and time it."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        path = scope.get("path", "")
        endpoint = path if path in _ENDPOINTS else "other"
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            status = 500
            raise
        finally:
            m = self.metrics
            m.requests.labels(endpoint=endpoint, status=str(status)).inc()
            m.latency.labels(endpoint=endpoint).observe(time.perf_counter() - t0)
            if status >= 400:
                m.errors.labels(endpoint=endpoint, kind=str(status)).inc()


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = _error(413, "body_too_large", f"request body is larger than {limit} bytes")
    await response(scope, receive, send)


def create_app(service: Service, *, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """Build the ASGI application over a :class:`Service`.

    Parameters
    ----------
    service : Service
        What answers.
    max_body_bytes : int
        Largest request body accepted (default :data:`MAX_BODY_BYTES`).

    Returns
    -------
    fastapi.FastAPI
        The application (OpenAPI docs at ``/docs``, schema at ``/openapi.json``).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="ltrr",
        summary="Learning to rank and retrieve: search, and learn from feedback.",
        version=service.store.name,
        lifespan=lifespan,
    )
    metrics = service.metrics
    app.add_middleware(_BodyLimit, limit=max_body_bytes)
    app.add_middleware(_Count, metrics=metrics)  # added last: outside the body checks, counts 413s

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        text = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return _error(422, "invalid_request", text, fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        # e.g. a body that is not UTF-8 or nests too deeply for the JSON parser (400)
        if exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        name = _HTTP_ERRORS.get(exc.status_code, "invalid_request" if exc.status_code < 500 else "internal")
        response = _error(exc.status_code, name, str(exc.detail))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(LtrrError)
    async def refused(_: Request, exc: LtrrError) -> JSONResponse:
        return _error(400, "invalid_request", str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s", ref, request.url.path, exc_info=exc)
        return _error(500, "internal", f"internal error (reference {ref} in the server log)")

    # The routes run the engine on the event loop's thread, not in a thread pool: a search
    # is CPU work under the GIL, and handing each one to a pool thread only added switching
    # (SciFact, lexical, 16 clients: 100 searches/s in the pool; see the README's figures).
    @app.post("/search", response_model=SearchReply, responses={422: {"model": ErrorBody}})
    async def search(body: SearchBody) -> Response:
        """Search: retrieve with the plan the selector draws, rank, log the decision."""
        return _json(service.search(body))

    @app.post("/feedback", response_model=FeedbackReply, responses={422: {"model": ErrorBody}})
    async def feedback(body: FeedbackBody) -> Response:
        """Feedback: log a batch of engagements with one response, then learn from it."""
        return _json(service.feedback(body))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness and what is served."""
        return service.health()

    @app.get("/metrics", response_class=Response)
    async def prometheus() -> Response:
        """Counters and latency histograms in Prometheus text format."""
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


_HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed"}

_ENDPOINTS = frozenset({"/search", "/feedback", "/healthz", "/metrics", "/docs", "/openapi.json"})
