"""ltrr as a service: a model store of published versions, the HTTP app, its metrics, the learner.

* :class:`~ltrr.service.store.ModelStore` -- a model folder: the catalog and numbered,
  immutable engine versions, with ``CURRENT`` naming the one to serve.
* :func:`~ltrr.service.app.create_app` -- the ASGI (FastAPI) application that ``ltrr serve``
  runs on uvicorn: ``POST /search``, ``POST /feedback``, ``GET /healthz``, ``GET /metrics``.
* :class:`~ltrr.service.learner.Learner` -- ``ltrr learn``: joins feedback to requests
  from every server's log segments, updates the learners, publishes new versions.
"""
