"""Property tests (issue 19): hostile input to every public entry point raises only ltrr's errors.

Each entry point gets text, numbers and structures a caller should never send
(:mod:`tests.ltrr.hostile`). The property everywhere: the only exceptions that
escape are :class:`~ltrr.errors.LtrrError` subclasses; a search either raises one
or is served *and logged* (a request record with its id is in the event log).
The runs are small (the suite's time budget); ``benchmarks/reliability.py`` runs
10,000 inputs per entry point.
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ltrr.data import load_beir, load_cm100k, load_trec_queries
from ltrr.engine import Engine
from ltrr.errors import CorruptModelError, LogFormatError, LtrrError
from ltrr.eventlog import EventLog, read_log
from ltrr.ingest import read_catalog
from ltrr.types import Context, Engagement, EngagementKind, Interaction, Query
from strategies import (
    EmbeddingStrategy,
    LexicalStrategy,
    MemoryStrategy,
    XRTreeStrategy,
    load_strategy,
)
from tests.conftest import make_small_catalog
from tests.ltrr.hostile import (
    NASTY,
    dumps,
    hostile_bytes,
    hostile_number,
    hostile_structure,
    hostile_text,
    hostile_value,
)

PROPS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(PROPS, max_examples=15)


def _tmpdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ltrr-props-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    yield from _tmpdir()


@pytest.fixture(scope="module")
def catalog():
    return make_small_catalog()


@pytest.fixture(scope="module")
def logged_engine(catalog, workdir):
    """One engine (lexical + memory) logging to one event log, for every search and feedback."""
    log = EventLog(workdir / "log")
    strategies = {
        "lexical": LexicalStrategy().fit(catalog),
        "memory": MemoryStrategy().fit(catalog),
    }
    engine = Engine(catalog, strategies, event_log=log, seed=0)
    yield engine
    log.close()


def _logged_ids(log: EventLog) -> set[str]:
    return set(log.read_requests()["request_id"])


# ------------------------------------------------------------------ contexts, queries, events

def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good values three times in four, so that many calls get past the first check."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: good if ok else bad)


contexts = st.one_of(
    st.none(),
    st.builds(
        lambda user, ts, device, locale, features: (user, ts, device, locale, features),
        _mostly(st.one_of(st.none(), st.just("u1"), st.text(max_size=8)), st.one_of(hostile_text, hostile_number)),
        _mostly(st.one_of(st.none(), st.floats(0, 2e9)), st.one_of(hostile_number, hostile_text)),
        _mostly(st.one_of(st.none(), st.just("mobile")), st.one_of(hostile_text, hostile_number)),
        _mostly(st.one_of(st.none(), st.just("en-US")), hostile_text),
        _mostly(
            st.dictionaries(st.sampled_from(["f", "hour"]), st.floats(-1e6, 1e6), max_size=2),
            st.one_of(
                st.dictionaries(st.one_of(hostile_text, hostile_number), hostile_number, max_size=4),
                hostile_value,
            ),
        ),
    ),
)


def _context(spec: Any) -> Context | None:
    if spec is None:
        return None
    user, ts, device, locale, features = spec
    return Context(user_id=user, timestamp=ts, device=device, locale=locale, features=features)


queries = _mostly(
    st.one_of(
        st.sampled_from(["apple", "red car", "bike with a motor", "Pomme rouge"]),
        st.text(max_size=30),
        st.builds(lambda t: Query(t), st.just("apple")),
    ),
    st.one_of(hostile_text, hostile_value),
)
budgets = _mostly(st.integers(1, 200), st.one_of(st.integers(-3, 0), hostile_number, hostile_value))


def _search(engine: Engine, query: Any, context: Any, k: Any) -> Any:
    """Search; return the response, or None when the input was refused with an ltrr error."""
    try:
        ctx = _context(context)
        return engine.search(query, ctx, k=k)
    except LtrrError:
        return None


@PROPS
@given(query=queries, context=contexts, k=budgets)
def test_search_is_refused_or_served_and_logged(logged_engine, query, context, k):
    response = _search(logged_engine, query, context, k)
    event("served" if response is not None else "refused")
    if response is not None:
        assert response.request_id in _logged_ids(logged_engine.event_log)
        assert len(response.items) <= k


engagements = st.builds(
    lambda item, kind, pos: (item, kind, pos),
    st.one_of(st.sampled_from(["d1", "d2", "d3"]), hostile_text, hostile_value),
    st.one_of(st.sampled_from([k.value for k in EngagementKind]), hostile_text, hostile_value),
    st.one_of(st.integers(1, 10), hostile_number, hostile_value),
)


def _engagement(spec: Any) -> Any:
    item, kind, pos = spec
    try:
        return Engagement(item, kind, pos)
    except LtrrError:
        return spec  # a bad record goes in as it is: feedback must refuse it
    except RecursionError:  # see test_records_refuse_deep_or_huge_values_with_ltrr_errors
        return spec


@PROPS
@given(
    request_id=st.one_of(st.none(), hostile_text, hostile_value),
    events=st.one_of(st.lists(engagements, max_size=4).map(lambda xs: ("specs", xs)), hostile_value),
    use_real_id=st.booleans(),
)
def test_feedback_refuses_bad_calls_without_using_up_the_request(
    logged_engine, request_id, events, use_real_id
):
    served = logged_engine.search("apple pie", k=3)
    rid = served.request_id if use_real_id else request_id
    specs = type(events) is tuple and len(events) == 2 and events[0] == "specs"
    batch = [_engagement(e) for e in events[1]] if specs else events
    try:
        result = logged_engine.feedback(rid, batch)
    except LtrrError:
        result = None
    if result is None or not use_real_id:
        # the request has not learned yet: a valid feedback now updates the learners
        good = logged_engine.feedback(served.request_id, [Engagement(served.items[0].item_id, "click", 1)])
        assert good.learned, "a refused feedback call used up the request's learning"


# ------------------------------------------------------------------ strategies


@pytest.fixture(scope="module")
def strategies_under_test(catalog, workdir):
    fitted = {
        "lexical": LexicalStrategy().fit(catalog),
        "memory": MemoryStrategy().fit(catalog),
        "xrtree": XRTreeStrategy(branching=2, max_leaf_size=2, beam_size=4).fit(
            catalog, [("sweet dessert", "d1"), ("fast car", "d3")]
        ),
    }
    return fitted


@pytest.fixture(scope="module")
def embedding(catalog, workdir):
    return EmbeddingStrategy(index="exact", cache_dir=str(workdir / "emb")).fit(catalog)


@PROPS
@given(
    name=st.sampled_from(["lexical", "memory", "xrtree"]),
    query=queries,
    context=contexts,
    k=budgets,
)
def test_strategy_retrieve_raises_only_ltrr_errors(strategies_under_test, name, query, context, k):
    strategy = strategies_under_test[name]
    try:
        result = strategy.retrieve(query, _context(context), k=k)
    except LtrrError:
        return
    assert len(result) <= k
    assert all(i in strategy.item_ids_ for i in result.item_ids)


@FEW
@given(query=st.one_of(hostile_text, hostile_value), k=budgets)
def test_embedding_retrieve_raises_only_ltrr_errors(embedding, query, k):
    try:
        result = embedding.retrieve(query, k=k)
    except LtrrError:
        return
    assert len(result) <= k


interactions = st.builds(
    lambda q, item, kind, user, ts, pos: (q, item, kind, user, ts, pos),
    st.one_of(st.just("apple"), hostile_text, hostile_value),
    st.one_of(st.sampled_from(["d1", "d4", "nope"]), hostile_text, hostile_value),
    st.one_of(st.sampled_from([k.value for k in EngagementKind]), hostile_value),
    st.one_of(st.none(), st.just("u1"), hostile_text, hostile_number),
    st.one_of(st.none(), st.just(1.7e9), hostile_number, hostile_text),
    st.one_of(st.none(), st.integers(1, 10), hostile_number, hostile_text),
)


def _interaction(spec: Any) -> Any:
    try:
        return Interaction(*spec)
    except LtrrError:
        return spec
    except (RecursionError, OverflowError):  # see test_records_refuse_deep_or_huge_values_with_ltrr_errors
        return spec


def _deep(n: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    "build",
    [
        lambda: Engagement(_deep(5000), "click", 1),
        lambda: Engagement("d1", _deep(5000), 1),
        lambda: Engagement("d1", "click", _deep(5000)),
        lambda: Interaction("apple", "d1", _deep(5000)),
        lambda: Interaction(_deep(5000), "d1"),
        lambda: Interaction("apple", "d1", timestamp=10**400),
    ],
    ids=["item", "kind", "position", "i-kind", "i-query", "i-huge-ts"],
)
def test_records_refuse_deep_or_huge_values_with_ltrr_errors(build):
    with pytest.raises(LtrrError):
        build()


@PROPS
@given(
    name=st.sampled_from(["lexical", "memory", "xrtree"]),
    batch=st.one_of(st.lists(interactions, max_size=4).map(lambda xs: ("specs", xs)), hostile_value),
)
def test_strategy_update_raises_only_ltrr_errors(strategies_under_test, name, batch):
    strategy = strategies_under_test[name]
    specs = type(batch) is tuple and len(batch) == 2 and batch[0] == "specs"
    records = [_interaction(i) for i in batch[1]] if specs else batch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            strategy.update(records)
        except LtrrError:
            pass
    strategy.retrieve("apple", k=3)  # still answers afterwards


@pytest.mark.parametrize("batch", [None, ["x"], [("apple", "d1")]])
def test_xrtree_update_refuses_non_interactions(strategies_under_test, batch):
    with pytest.raises(LtrrError):
        strategies_under_test["xrtree"].update(batch)


def test_interaction_refuses_a_non_integer_position():
    with pytest.raises(LtrrError):
        Interaction("apple", "d1", "click", position="1")  # type: ignore[arg-type]


@FEW
@given(batch=st.lists(interactions, max_size=3))
def test_embedding_update_raises_only_ltrr_errors(embedding, batch):
    try:
        embedding.update([_interaction(i) for i in batch])
    except LtrrError:
        pass


# ------------------------------------------------------------------ loaders


def _rows_text(rows: list[Any]) -> bytes:
    return b"\n".join(dumps(row) for row in rows) + b"\n"


catalog_rows = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"id": st.one_of(st.text(max_size=5), hostile_value)},
            optional={
                "title": hostile_value,
                "body": hostile_text,
                "cat": hostile_value,
                "pop": hostile_number,
            },
        ),
        hostile_value,
    ),
    max_size=5,
)


@PROPS
@given(
    content=st.one_of(hostile_bytes, st.builds(_rows_text, catalog_rows)),
    fmt=st.sampled_from(["jsonl", "csv", "parquet"]),
    on_error=st.sampled_from(["fail", "skip"]),
)
def test_read_catalog_raises_only_ltrr_errors(workdir, content, fmt, on_error):
    path = workdir / f"catalog.{fmt}"
    path.write_bytes(content)
    try:
        result = read_catalog(
            path,
            category_field="cat" if fmt != "parquet" else None,
            popularity_field=None,
            on_error=on_error,
        )
    except LtrrError:
        return
    assert len(result.catalog) >= 1


def _beir(folder: Path, corpus: bytes, queries: bytes, qrels: bytes) -> None:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_bytes(corpus)
    (folder / "queries.jsonl").write_bytes(queries)
    (folder / "qrels" / "test.tsv").write_bytes(qrels)


def _tsv(rows: list[list[Any]]) -> bytes:
    return "".join("\t".join(str(c) for c in row) + "\n" for row in rows).encode(
        "utf-8", "surrogatepass"
    )


qrels_rows = st.lists(
    st.lists(st.one_of(st.just("1"), hostile_text, hostile_number), min_size=0, max_size=4),
    max_size=4,
)
beir_docs = st.lists(
    st.fixed_dictionaries(
        {"_id": st.one_of(st.just("1"), hostile_value)},
        optional={"title": hostile_value, "text": hostile_value, "metadata": hostile_value},
    ),
    max_size=3,
)


@PROPS
@given(
    corpus=st.one_of(hostile_bytes, st.builds(_rows_text, beir_docs)),
    queries=st.one_of(hostile_bytes, st.builds(_rows_text, beir_docs)),
    qrels=st.one_of(hostile_bytes, st.builds(_tsv, qrels_rows)),
)
def test_load_beir_raises_only_ltrr_errors(workdir, corpus, queries, qrels):
    folder = workdir / "beir"
    _beir(folder, corpus, queries, qrels)
    try:
        load_beir(folder)
    except LtrrError:
        pass


@PROPS
@given(
    items=st.one_of(
        hostile_bytes,
        st.builds(
            lambda rows: b"Item\tTitle\tArtist\n" + _tsv(rows),
            st.lists(st.lists(st.one_of(st.just("t1"), hostile_text), max_size=4), max_size=3),
        ),
    ),
    ratings=st.one_of(
        hostile_bytes,
        st.builds(
            _tsv,
            st.lists(
                st.lists(st.one_of(st.just("t1"), st.just("2"), hostile_number, hostile_text), max_size=5),
                max_size=3,
            ),
        ),
    ),
    trec=hostile_bytes,
)
def test_music_and_trec_loaders_raise_only_ltrr_errors(workdir, items, ratings, trec):
    folder = workdir / "cm100k"
    folder.mkdir(exist_ok=True)
    (folder / "items.txt").write_bytes(items)
    (folder / "ratings.txt").write_bytes(ratings)
    try:
        load_cm100k(folder)
    except LtrrError:
        pass
    (folder / "topics.txt").write_bytes(trec)
    try:
        load_trec_queries(folder / "topics.txt")
    except LtrrError:
        pass


# ------------------------------------------------------------------ event log


@pytest.fixture(scope="module")
def valid_lines(logged_engine):
    """One real request line and one real feedback line, as the engine logs them."""
    served = logged_engine.search("red apple", Context(user_id="u1", features={"f": 1.0}), k=3)
    logged_engine.feedback(served.request_id, [Engagement(served.items[0].item_id, "click", 1)])
    log = logged_engine.event_log
    req = log.read_requests().iloc[-1].to_dict()
    fb = log.read_feedback().iloc[-1].to_dict()
    fb["position"] = int(fb["position"])
    return {"request": {"v": 1, "type": "request", **req}, "feedback": {"v": 1, "type": "feedback", **fb}}


def _mutate(obj: dict[str, Any], path: list[str], value: Any, drop: bool) -> dict[str, Any]:
    out = json.loads(json.dumps(obj))  # a deep copy
    node = out
    for key in path[:-1]:
        nxt = node.get(key) if isinstance(node, dict) else None
        if not isinstance(nxt, dict):
            break
        node = nxt
    else:
        if drop:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return out


FIELD_PATHS = [
    ["request_id"], ["timestamp"], ["query"], ["context"], ["context", "user_id"],
    ["context", "timestamp"], ["context", "features"], ["context", "device"], ["action"],
    ["propensity"], ["action_probs"], ["pool"], ["ranking"], ["policy"], ["extra"], ["v"],
    ["type"], ["item_id"], ["kind"], ["position"],
]  # fmt: skip


@PROPS
@given(
    kind=st.sampled_from(["request", "feedback"]),
    path=st.sampled_from(FIELD_PATHS),
    value=hostile_value,
    drop=st.booleans(),
    raw=st.one_of(st.none(), hostile_bytes),
    torn=st.booleans(),
)
def test_event_log_reading_reports_every_bad_line(valid_lines, kind, path, value, drop, raw, torn):
    for folder in _tmpdir():
        good = (json.dumps(valid_lines[kind]) + "\n").encode()
        if raw is None:
            bad = dumps(_mutate(valid_lines[kind], path, value, drop)) + b"\n"
        else:
            bad = raw
        if torn:
            bad = bad.rstrip(b"\n")
        prefix = "requests" if kind == "request" else "feedback"
        (folder / f"{prefix}-000001.jsonl").write_bytes(good + bad)
        log = EventLog(folder)
        problems = log.check()
        loose = read_log(folder, kind=kind, strict=False)  # never raises on a bad line
        assert len(loose.problems) == len([p for p in problems if prefix in p.path])
        reader = log.read_requests if kind == "request" else log.read_feedback
        if problems:
            with pytest.raises(LogFormatError):
                reader()
            log.close()
            report = EventLog(folder).repair()
            assert len(report.moved) == len(problems)
            frame = EventLog(folder).read_requests() if kind == "request" else EventLog(folder).read_feedback()
        else:
            frame = reader()
        assert len(frame) >= 1
        if kind == "request":
            from ltrr.eventlog import RequestRecord

            for row in frame.to_dict("records"):
                RequestRecord.from_dict(row)  # what the reader accepted rebuilds as a record
                Context.from_dict(row["context"])


# ------------------------------------------------------------------ saved models


@pytest.fixture(scope="module")
def saved(logged_engine, workdir):
    folder = logged_engine.save(workdir / "saved-engine")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return folder, files


@FEW
@given(data=st.data())
def test_engine_load_refuses_any_altered_byte(saved, catalog, data):
    folder, files = saved
    rel = data.draw(st.sampled_from(files), label="file")
    content = (folder / rel).read_bytes()
    assume(content)
    at = data.draw(st.integers(0, len(content) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != content[at]), label="byte")
    for tmp in _tmpdir():
        copy = tmp / "engine"
        shutil.copytree(folder, copy)
        (copy / rel).write_bytes(content[:at] + bytes([new]) + content[at + 1 :])
        with pytest.raises(CorruptModelError):
            Engine.load(copy, catalog)


@FEW
@given(data=st.data())
def test_load_strategy_on_altered_files_raises_only_ltrr_errors(saved, data):
    folder, files = saved
    # .npy headers: see test_load_strategy_refuses_an_altered_npy_header
    strat_files = [f for f in files if f.startswith("strategies/") and not f.endswith(".npy")]
    rel = data.draw(st.sampled_from(strat_files), label="file")
    content = (folder / rel).read_bytes()
    assume(content)
    at = data.draw(st.integers(0, len(content) - 1), label="offset")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != content[at]), label="byte")
    name = rel.split("/")[1]
    for tmp in _tmpdir():
        copy = tmp / name
        shutil.copytree(folder / "strategies" / name, copy)
        inner = rel.split("/", 2)[2]
        (copy / inner).write_bytes(content[:at] + bytes([new]) + content[at + 1 :])
        try:
            strategy = load_strategy(copy)
        except LtrrError:
            continue
        strategy.retrieve("apple", k=3)  # a strategy that loads must answer


def test_load_strategy_refuses_an_altered_npy_header(saved):
    folder, _ = saved
    for tmp in _tmpdir():
        copy = tmp / "lexical"
        shutil.copytree(folder / "strategies" / "lexical", copy)
        data = bytearray((copy / "popularity.npy").read_bytes())
        data[data.index(b"{")] = 0  # a NUL in the header: tokenize.TokenError
        (copy / "popularity.npy").write_bytes(bytes(data))
        with pytest.raises(CorruptModelError):
            load_strategy(copy)


@FEW
@given(value=hostile_structure, key=st.sampled_from(["files", "format", "catalog_items", "format_version"]))
def test_engine_load_refuses_a_rewritten_manifest(saved, catalog, value, key):
    folder, _ = saved
    manifest = json.loads((folder / "manifest.json").read_text())
    assume(manifest.get(key) != value)
    for tmp in _tmpdir():
        copy = tmp / "engine"
        shutil.copytree(folder, copy)
        manifest[key] = value
        (copy / "manifest.json").write_bytes(dumps(manifest))
        with pytest.raises(CorruptModelError):
            Engine.load(copy, catalog)


def test_hostile_strings_cover_what_the_issue_names():
    assert "\x00" in NASTY and "\ud800" in NASTY and any("\u202e" in s for s in NASTY)
    assert csv.field_size_limit() >= 0
