"""The service's Prometheus metrics, in a registry of its own (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["STAGE_BUCKETS", "ServiceMetrics"]

#: Latency histogram buckets, in seconds (0.25 ms to 2.5 s).
STAGE_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5,
)  # fmt: skip


class ServiceMetrics:
    """Counters and histograms of one service process, rendered in Prometheus text format.

    Attributes
    ----------
    registry : prometheus_client.CollectorRegistry
        This service's own registry (two services in one process do not share counts).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ltrr_http_requests", "HTTP requests by endpoint and status code.",
            ["endpoint", "status"], registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "ltrr_errors", "Requests that failed, by endpoint and error kind.",
            ["endpoint", "kind"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "ltrr_http_request_seconds", "Time to answer an HTTP request, by endpoint.",
            ["endpoint"], buckets=STAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.stages = Histogram(
            "ltrr_search_stage_seconds", "Time of each stage of a search (Engine.search timings).",
            ["stage"], buckets=STAGE_BUCKETS, registry=r,
        )  # fmt: skip
        self.plans = Counter(
            "ltrr_plan_chosen", "Searches by the retrieval plan the selector drew.",
            ["plan"], registry=r,
        )  # fmt: skip
        self.feedback_events = Counter(
            "ltrr_feedback_events", "Feedback events logged, by engagement kind.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.model = Gauge(
            "ltrr_model_version_info", "1 for the model version being served.",
            ["model", "version"], registry=r,
        )  # fmt: skip
        self.reloads = Counter(
            "ltrr_model_reloads", "Model versions loaded after the first, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip

    def serving(self, model: str, version: str) -> None:
        """Mark ``version`` as the one served (the previous one drops to 0).

        Parameters
        ----------
        model : str
            The model's name.
        version : str
            The version now served.
        """
        self.model.clear()
        self.model.labels(model=model, version=version).set(1)

    def observe_search(self, plan: str, timings_ms: dict[str, float]) -> None:
        """Count a search's plan and record its stage timings.

        Parameters
        ----------
        plan : str
            The plan's id.
        timings_ms : dict of str to float
            Milliseconds per stage, as :attr:`SearchResponse.timings_ms`.
        """
        self.plans.labels(plan=plan).inc()
        for stage, ms in timings_ms.items():
            self.stages.labels(stage=stage).observe(ms / 1e3)

    def render(self) -> bytes:
        """Return every metric in Prometheus text exposition format.

        Returns
        -------
        bytes
            The ``/metrics`` body.
        """
        return bytes(generate_latest(self.registry))
