"""A typed HTTP client of the ltrr service (``ltrr serve``): search, feedback and health, with retries."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from ltrr.engagement import EngagementKind
from ltrr.errors import InvalidInputError, LtrrError

__all__ = [
    "Client",
    "FeedbackAck",
    "FeedbackEvent",
    "ResultItem",
    "SearchResult",
    "ServiceError",
    "ServiceUnavailableError",
]

_KINDS = tuple(k.value for k in EngagementKind)
_EVENT_KEYS = frozenset({"item", "kind", "position", "time"})


class ServiceError(InvalidInputError):
    """The service refused a request (a 4xx answer): the request must change, retrying will not help.

    Parameters
    ----------
    status : int
        The HTTP status (400 refused input, 413 body too large, 422 invalid body, ...).
    error : str
        The server's error code (``"invalid_request"``, ``"body_too_large"``, ...).
    message : str
        The server's message.
    fields : sequence of mapping, optional
        The fields at fault, each ``{"field", "message", "got"}`` as the server names them.

    Attributes
    ----------
    status : int
    error : str
    server_message : str
    fields : tuple of dict
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        fields: Sequence[Mapping[str, str]] = (),
    ) -> None:
        self.status = status
        self.error = error
        self.server_message = message
        self.fields: tuple[dict[str, str], ...] = tuple(dict(f) for f in fields)
        super().__init__(f"the service refused the request ({status} {error}): {message}")


class ServiceUnavailableError(LtrrError):
    """The service did not answer usefully: unreachable, timed out, a 5xx, or a malformed reply.

    Parameters
    ----------
    message : str
        What failed, and after how many attempts.
    status : int, optional
        The HTTP status of the last answer (None when there was none).

    Attributes
    ----------
    status : int or None
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ResultItem:
    """One returned item.

    Parameters
    ----------
    id : str
        The item id.
    score : float
        The ranker's score (higher is better).
    """

    id: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What ``POST /search`` answered.

    Parameters
    ----------
    request_id : str
        The id to send feedback for.
    items : tuple of ResultItem
        The ranking, best first.
    plan : str
        The retrieval plan the selector drew.
    propensity : float
        The probability with which that plan was drawn.
    ranker : str
        The ranker that ordered the items.
    model_version : str
        The model version that answered.
    timings_ms : mapping of str to float
        Server-side milliseconds by stage.
    """

    request_id: str
    items: tuple[ResultItem, ...]
    plan: str
    propensity: float
    ranker: str
    model_version: str
    timings_ms: Mapping[str, float]

    @property
    def ids(self) -> tuple[str, ...]:
        """The returned item ids, best first."""
        return tuple(i.id for i in self.items)


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One engagement with a shown item, to send with :meth:`Client.feedback`.

    Parameters
    ----------
    item : str
        The item engaged with.
    kind : str or EngagementKind
        One of impression, click, play, purchase, skip, reformulation (stored as the
        plain string).
    position : int, optional
        1-based position as shown (default: the server's record of the ranking).
    time : float, optional
        Unix time in seconds (default: when the server receives it).

    Raises
    ------
    InvalidInputError
        If ``kind`` is not one of the engagement kinds.
    """

    item: str
    kind: str
    position: int | None = None
    time: float | None = None

    def __post_init__(self) -> None:
        try:
            kind = EngagementKind(self.kind).value
        except ValueError:
            raise InvalidInputError(
                f"feedback kind must be one of {', '.join(_KINDS)}, got {self.kind!r}"
            ) from None
        object.__setattr__(self, "kind", kind)

    def to_json(self) -> dict[str, Any]:
        """Return the event as the ``POST /feedback`` body holds it (unset fields left out)."""
        out: dict[str, Any] = {"item": self.item, "kind": self.kind}
        if self.position is not None:
            out["position"] = self.position
        if self.time is not None:
            out["time"] = self.time
        return out


@dataclass(frozen=True, slots=True)
class FeedbackAck:
    """What ``POST /feedback`` answered once the events were logged.

    Parameters
    ----------
    request_id : str
        The request the events were for.
    logged : int
        Events written to the server's event log.
    known : bool
        Whether the answering process served the request.
    learned : bool
        Whether its in-process learners were updated.
    ignored : tuple of str
        Items named that the response did not show.
    """

    request_id: str
    logged: int
    known: bool
    learned: bool
    ignored: tuple[str, ...]


class Client:
    """A client of one ltrr service, over one keep-alive ``httpx.Client``.

    Retries: a request is sent again, after ``backoff * 2**attempt`` seconds, at most
    ``retries`` times, and only when

    * the connection failed (``httpx.ConnectError``: nothing was sent),
    * the server dropped the connection without an answer (``httpx.RemoteProtocolError``),
      or a read failed (``httpx.ReadError``) once this client has had an answer, i.e.
      on what may be a reused keep-alive connection the server closed while it was idle,
    * the server answered 503 (overloaded or starting).

    A 4xx is never retried (:class:`ServiceError`); another 5xx, a timeout, or any other
    transport failure is not retried either (:class:`ServiceUnavailableError`), so that a
    slow server is not sent more load and a call takes at most about ``timeout`` per attempt.

    A retried search may be served twice (the first answer lost): the server then logs
    two requests, of which only the returned ``request_id`` gets feedback. A retried
    feedback is delivered **at least once**: when the first attempt was logged but its
    answer lost, the server logs the events again (it does not deduplicate), so readers
    of the event log should tolerate duplicate feedback rows.

    Parameters
    ----------
    base_url : str
        The service's address, e.g. ``"http://127.0.0.1:8080"``.
    timeout : float
        Seconds to connect, and to wait for each read, per attempt (default 5).
    retries : int
        Most extra attempts after the first (default 2; 0 disables retries).
    backoff : float
        Seconds before the first retry, doubled for each next one (default 0.05).
    transport : httpx.BaseTransport, optional
        A transport to use instead of the network (``httpx.MockTransport`` in tests).

    Raises
    ------
    InvalidInputError
        If ``base_url`` is not an http(s) address, or a number is out of range.

    Examples
    --------
    >>> with Client("http://127.0.0.1:8080") as client:  # doctest: +SKIP
    ...     result = client.search("apple pie", context={"user_id": "u1"}, k=5)
    ...     client.feedback(result.request_id, [FeedbackEvent(result.ids[0], "click")])
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.05,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise InvalidInputError(f"base_url is not a URL: {base_url!r} ({exc})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidInputError(
                f"base_url must be an http:// or https:// address with a host, got {base_url!r}"
            )
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise InvalidInputError(
                f"timeout must be a positive number of seconds, got {timeout!r}"
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInputError(f"retries must be an integer >= 0, got {retries!r}")
        if not (isinstance(backoff, (int, float)) and backoff >= 0):
            raise InvalidInputError(f"backoff must be a number of seconds >= 0, got {backoff!r}")
        self.base_url = str(url).rstrip("/")
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        self._answered = False
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.timeout),
            transport=transport,
            headers={"accept": "application/json"},
        )

    # ------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the connections (the client is unusable afterwards)."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, timeout={self.timeout}, retries={self.retries})"

    # ------------------------------------------------------------ endpoints
    def search(
        self, query: str, *, context: Mapping[str, Any] | None = None, k: int = 10
    ) -> SearchResult:
        """Search (``POST /search``).

        Parameters
        ----------
        query : str
            The query text.
        context : mapping, optional
            Any of ``user_id``, ``timestamp``, ``device``, ``locale`` and ``features``
            (a mapping of name to number).
        k : int
            How many items to return (1 to 100; default 10).

        Returns
        -------
        SearchResult
            The ranking, the plan and its propensity, and the version that answered.

        Raises
        ------
        ServiceError
            If the server refused the request (e.g. 422 naming the field at fault).
        ServiceUnavailableError
            If it did not answer (after the retries), timed out, or failed.
        """
        body: dict[str, Any] = {"query": query, "k": k}
        if context is not None:
            body["context"] = dict(context)
        data = self._call("POST", "/search", body)
        try:
            items = tuple(
                ResultItem(id=str(i["id"]), score=float(i["score"])) for i in data["items"]
            )
            return SearchResult(
                request_id=str(data["request_id"]),
                items=items,
                plan=str(data["plan"]),
                propensity=float(data["propensity"]),
                ranker=str(data["ranker"]),
                model_version=str(data["model_version"]),
                timings_ms={str(s): float(ms) for s, ms in data["timings_ms"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _malformed("/search", data, exc) from None

    def feedback(
        self, request_id: str, events: Sequence[FeedbackEvent | Mapping[str, Any]]
    ) -> FeedbackAck:
        """Report engagements with one search's items (``POST /feedback``).

        The server logs the events before it answers, so an acknowledged batch is stored.
        Delivery is at least once: a retried batch whose first answer was lost is logged
        twice (see :class:`Client`).

        Parameters
        ----------
        request_id : str
            The :attr:`SearchResult.request_id` the events are for.
        events : sequence of FeedbackEvent or mapping
            The engagements; a mapping has the keys of :class:`FeedbackEvent`. An empty
            sequence reports that nothing was engaged with.

        Returns
        -------
        FeedbackAck
            How many events were logged, and whether the server learned from them.

        Raises
        ------
        InvalidInputError
            If an event has an unknown key or kind (checked before anything is sent).
        ServiceError
            If the server refused the request.
        ServiceUnavailableError
            If it did not answer (after the retries), timed out, or failed.
        """
        body = {"request_id": request_id, "events": [_event(e).to_json() for e in events]}
        data = self._call("POST", "/feedback", body)
        try:
            return FeedbackAck(
                request_id=str(data["request_id"]),
                logged=int(data["logged"]),
                known=bool(data["known"]),
                learned=bool(data["learned"]),
                ignored=tuple(str(i) for i in data["ignored"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _malformed("/feedback", data, exc) from None

    def health(self) -> dict[str, Any]:
        """Ask what the server serves (``GET /healthz``).

        Returns
        -------
        dict
            ``status``, ``model``, ``version``, ``items``, ``strategies``, ``learn``
            and ``uptime_s``.

        Raises
        ------
        ServiceUnavailableError
            If the server did not answer (after the retries), timed out, or failed.
        """
        return self._call("GET", "/healthz", None)

    # ------------------------------------------------------------ transport
    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """Send one request with the retry policy; return the decoded JSON object of a 2xx."""
        attempt = 0
        while True:
            what = f"{method} {self.base_url}{path}"
            try:
                response = self._http.request(method, path, json=body)
            except httpx.TimeoutException as exc:
                raise ServiceUnavailableError(
                    f"{what}: no answer within {self.timeout:g} s ({type(exc).__name__})"
                ) from exc
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                retryable = not isinstance(exc, httpx.ReadError) or self._answered
                if not retryable or attempt >= self.retries:
                    raise ServiceUnavailableError(
                        f"{what}: {type(exc).__name__}: {exc or 'connection failed'}"
                        f" ({_attempts(attempt)})"
                    ) from exc
            except httpx.TransportError as exc:
                raise ServiceUnavailableError(f"{what}: {type(exc).__name__}: {exc}") from exc
            else:
                self._answered = True
                status = response.status_code
                if 200 <= status < 300:
                    return _json_object(what, response)
                if 400 <= status < 500:
                    raise _refused(response)
                if status != 503 or attempt >= self.retries:
                    error, message, _ = _error_parts(response)
                    raise ServiceUnavailableError(
                        f"{what}: the service failed ({status} {error}): {message}"
                        f" ({_attempts(attempt)})",
                        status=status,
                    )
            time.sleep(self.backoff * 2**attempt)
            attempt += 1


def _attempts(attempt: int) -> str:
    return "1 attempt" if attempt == 0 else f"{attempt + 1} attempts"


def _event(event: FeedbackEvent | Mapping[str, Any]) -> FeedbackEvent:
    if isinstance(event, FeedbackEvent):
        return event
    if not isinstance(event, Mapping):
        raise InvalidInputError(
            f"a feedback event must be a FeedbackEvent or a mapping, got {type(event).__name__}"
        )
    unknown = sorted(str(key) for key in event if key not in _EVENT_KEYS)
    if unknown:
        raise InvalidInputError(
            f"unknown feedback event key(s) {', '.join(unknown)}; expected item, kind, position, time"
        )
    missing = [key for key in ("item", "kind") if key not in event]
    if missing:
        raise InvalidInputError(
            f"a feedback event needs {' and '.join(missing)}, got {dict(event)!r}"
        )
    return FeedbackEvent(**event)


def _json_object(what: str, response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServiceUnavailableError(
            f"{what}: the answer is not a JSON object: {response.text[:200]!r}",
            status=response.status_code,
        )
    return data


def _error_parts(response: httpx.Response) -> tuple[str, str, list[dict[str, str]]]:
    """Read the server's ``{error, message, fields}``, or what can be said of another body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = response.text.strip()[:200] or response.reason_phrase
        return f"http_{response.status_code}", text, []
    error = str(data.get("error") or f"http_{response.status_code}")
    message = str(data.get("message") or data.get("detail") or response.reason_phrase)
    raw = data.get("fields")
    fields = (
        [{str(k): str(v) for k, v in f.items()} for f in raw if isinstance(f, dict)]
        if isinstance(raw, list)
        else []
    )
    return error, message, fields


def _refused(response: httpx.Response) -> ServiceError:
    error, message, fields = _error_parts(response)
    return ServiceError(response.status_code, error, message, fields)


def _malformed(path: str, data: dict[str, Any], exc: Exception) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        f"{path}: the answer does not have the documented fields ({type(exc).__name__}: {exc});"
        f" got keys {sorted(data)}",
        status=200,
    )
