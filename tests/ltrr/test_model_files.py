"""Saved engines refuse every added, removed or altered file, and survive killed saves."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ltrr.engine import Engine
from ltrr.errors import CorruptModelError
from ltrr.io import atomic_dir, read_json, recover_dir
from ltrr.types import Catalog, Engagement, EngagementKind, Query
from strategies import LexicalStrategy
from tests.conftest import make_small_catalog

DEAD_PID = 99_999_999  # above any pid_max: no such process
QUERIES = [Query("apple", id="q1"), Query("red car", id="q2"), Query("bike battery", id="q3")]
QRELS = {"q1": {"d1": 1, "d2": 1}, "q2": {"d3": 1}, "q3": {"d5": 1}}


def _engine(catalog: Catalog, searches: int) -> Engine:
    strategies = {
        "titles": LexicalStrategy(name="titles", fields=["title"]).fit(catalog),
        "lexical": LexicalStrategy().fit(catalog),
    }
    engine = Engine(catalog, strategies, seed=0)
    for _ in range(searches):
        r = engine.search("apple", k=3)
        engine.feedback(r.request_id, [Engagement(r.item_ids[0], EngagementKind.CLICK, 1)])
    return engine


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return make_small_catalog()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> dict[str, Path]:
    """Two saved engines: ``v1`` (2 feedbacks, with a ranker) and ``v2`` (5 feedbacks)."""
    root = tmp_path_factory.mktemp("saved")
    e1 = _engine(catalog, 2)
    e1.train_ranker(QUERIES, QRELS, n_folds=1, n_estimators=5, min_data_in_leaf=1)
    return {
        "v1": e1.save(root / "v1"),
        "v2": _engine(catalog, 5).save(root / "v2"),
    }


@pytest.fixture
def folder(saved: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved["v1"], tmp_path / "model"))


def _seen(engine: Engine) -> int:
    return int(engine.stats.seen(Query("apple")))


def _edit_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))

    return edit


def _flip_to_invalid_utf8(folder: Path) -> None:
    data = bytearray((folder / "manifest.json").read_bytes())
    data[data.index(b'"files"') + 1] = 0xFF
    (folder / "manifest.json").write_bytes(bytes(data))


def _truncate(folder: Path) -> None:
    data = (folder / "manifest.json").read_bytes()
    (folder / "manifest.json").write_bytes(data[: len(data) // 2])


def _first_file(m: dict[str, Any]) -> str:
    return sorted(m["files"])[0]


MANIFEST_TAMPERINGS = [
    pytest.param(_flip_to_invalid_utf8, r"manifest\.json' is not valid UTF-8", id="invalid-utf8"),
    pytest.param(_truncate, r"manifest\.json' is not valid JSON", id="invalid-json"),
    pytest.param(
        lambda f: (f / "manifest.json").write_text("[1, 2]"),
        r"manifest\.json' is not a JSON object",
        id="top-level-list",
    ),
    pytest.param(
        _edit_manifest(lambda m: m.update(format="other")),
        r"manifest\.json' is not an ltrr engine manifest",
        id="format",
    ),
    pytest.param(
        _edit_manifest(lambda m: m.update(checksums=m.pop("files"))),
        r"manifest\.json' has no 'files' mapping",
        id="files-renamed",
    ),
    pytest.param(
        _edit_manifest(lambda m: m.update(files={})),
        r"manifest\.json' has no 'files' mapping",
        id="files-empty",
    ),
    pytest.param(
        _edit_manifest(lambda m: m.update(files=sorted(m["files"]))),
        r"manifest\.json' has no 'files' mapping",
        id="files-list",
    ),
    pytest.param(
        _edit_manifest(lambda m: m.update(catalog_items="6")),
        r"manifest\.json' has catalog_items '6'",
        id="catalog-items-str",
    ),
    pytest.param(
        lambda f: (f / "selector" / "extra.txt").write_text("added"),
        r"holds files its manifest does not list: \['selector/extra\.txt'\]",
        id="file-added",
    ),
    pytest.param(
        lambda f: (f / "state.json").unlink(),
        r"'state\.json' is missing",
        id="file-removed",
    ),
    pytest.param(
        _edit_manifest(lambda m: m["files"].pop("state.json")),
        r"does not list: \['state\.json'\]",
        id="entry-removed",
    ),
    pytest.param(
        _edit_manifest(lambda m: m["files"].update({"../outside.json": "0" * 64})),
        r"manifest\.json' lists '\.\./outside\.json', which is not a relative path",
        id="dotdot-path",
    ),
    pytest.param(
        _edit_manifest(lambda m: m["files"].update({"selector/../state.json": "0" * 64})),
        r"lists 'selector/\.\./state\.json', which is not a relative path",
        id="inner-dotdot-path",
    ),
    pytest.param(
        _edit_manifest(lambda m: m["files"].update({"/etc/passwd": "0" * 64})),
        r"lists '/etc/passwd', which is not a relative path",
        id="absolute-path",
    ),
    pytest.param(
        _edit_manifest(lambda m: m["files"].update({_first_file(m): "z" * 64})),
        r"manifest\.json' gives file .* the checksum 'zzz.*expected 64 lowercase hex",
        id="non-hex-digest",
    ),
    pytest.param(
        _edit_manifest(lambda m: m["files"].update({_first_file(m): 5})),
        r"the checksum '5'; expected 64 lowercase hex",
        id="int-digest",
    ),
]


@pytest.mark.parametrize(("tamper", "message"), MANIFEST_TAMPERINGS)
def test_manifest_tampering_is_refused(folder, catalog, tamper, message):
    Engine.load(folder, catalog)  # intact: loads
    tamper(folder)
    with pytest.raises(CorruptModelError, match=message):
        Engine.load(folder, catalog)


def test_every_one_byte_change_of_the_manifest_is_refused_or_harmless(folder, catalog):
    path = folder / "manifest.json"
    good = path.read_bytes()
    loaded = 0
    for i in range(len(good)):
        path.write_bytes(good[:i] + bytes([good[i] ^ 0x01]) + good[i + 1 :])
        try:
            Engine.load(folder, catalog)
        except CorruptModelError:
            continue
        loaded += 1  # e.g. a digit of "created", or whitespace
    path.write_bytes(good)
    assert 0 < loaded < len(good) // 10


def test_a_byte_altered_in_each_file_kind_is_refused(folder, catalog):
    files = sorted(json.loads((folder / "manifest.json").read_text())["files"])
    kinds: dict[tuple[str, str], str] = {}
    for rel in files:
        kinds.setdefault((rel.split("/")[0], Path(rel).suffix), rel)
    assert {k[0] for k in kinds} >= {"strategies", "selector", "ranker", "state.json"}
    for rel in kinds.values():
        path = folder / rel
        good = path.read_bytes()
        path.write_bytes(bytes([good[0] ^ 0x01]) + good[1:] if good else b"x")
        with pytest.raises(CorruptModelError, match=rf"'{rel}' .* was altered"):
            Engine.load(folder, catalog)
        path.write_bytes(good)
    Engine.load(folder, catalog)


def test_read_json_decode_errors_name_the_file(tmp_path):
    (tmp_path / "a.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(CorruptModelError, match=r"thing '.*a\.json' is not valid UTF-8"):
        read_json(tmp_path / "a.json", what="thing")
    (tmp_path / "b.json").write_text("[1]")
    assert read_json(tmp_path / "b.json") == [1]
    with pytest.raises(CorruptModelError, match=r"'.*b\.json' is not a JSON object"):
        read_json(tmp_path / "b.json", mapping=True)
    (tmp_path / "c.json").write_text("[" * 100_000)
    with pytest.raises(CorruptModelError, match=r"'.*c\.json' is not valid JSON"):
        read_json(tmp_path / "c.json")


# ---------------------------------------------------------------- killed saves


def _age(folder: Path, seconds: float) -> None:
    """Make every file of ``folder`` (and it) ``seconds`` older."""
    for p in [folder, *folder.rglob("*")]:
        st = p.stat()
        os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


def _killed_mid_swap(saved: dict[str, Path], root: Path, tmp_name: str | None = None) -> Path:
    """Leave what a save of v2 over v1 killed between its two renames leaves."""
    old = Path(shutil.copytree(saved["v1"], root / f".model.old-{DEAD_PID}-123"))
    _age(old, 3600)
    Path(shutil.copytree(saved["v2"], root / (tmp_name or f".model.tmp-{DEAD_PID}-ab12cd_x.tmp")))
    return root / "model"


@pytest.mark.parametrize(
    "tmp_name",
    [f".model.tmp-{DEAD_PID}-ab12cd_x.tmp", ".model.k3j_9xq2.tmp"],
    ids=["tmp", "legacy"],
)
def test_kill_between_renames_recovers_the_new_complete_copy(saved, catalog, tmp_path, tmp_name):
    dest = _killed_mid_swap(saved, tmp_path, tmp_name)
    assert not dest.exists()
    assert _seen(Engine.load(dest, catalog)) == 5  # the new (v2) copy was put back
    assert (tmp_path / f".model.old-{DEAD_PID}-123").is_dir()  # left for the next save


def test_an_incomplete_new_copy_falls_back_to_the_previous_model(saved, catalog, tmp_path):
    dest = _killed_mid_swap(saved, tmp_path)
    tmp = tmp_path / f".model.tmp-{DEAD_PID}-ab12cd_x.tmp"
    (tmp / "state.json").write_text("{}")  # altered: its manifest does not verify
    assert _seen(Engine.load(dest, catalog)) == 2  # the previous (v1) copy
    assert tmp.is_dir() and not (tmp_path / f".model.old-{DEAD_PID}-123").exists()


def test_a_newer_copy_that_does_not_verify_is_not_put_back(saved, catalog, tmp_path):
    tmp = Path(shutil.copytree(saved["v2"], tmp_path / f".model.tmp-{DEAD_PID}-zz.tmp"))
    (tmp / "manifest.json").unlink()
    with pytest.raises(CorruptModelError, match=r"engine manifest .* is missing"):
        Engine.load(tmp_path / "model", catalog)
    assert tmp.is_dir() and not (tmp_path / "model").exists()


def test_recovery_leaves_live_and_unrelated_folders_alone(saved, catalog, tmp_path):
    live = Path(shutil.copytree(saved["v1"], tmp_path / f".model.old-{os.getppid()}-1"))
    other = Path(shutil.copytree(saved["v1"], tmp_path / f".modelx.old-{DEAD_PID}-1"))
    assert recover_dir(tmp_path / "model") is None  # a running process's copy is not taken
    with pytest.raises(CorruptModelError, match="is missing"):
        Engine.load(tmp_path / "model", catalog)
    assert live.is_dir() and other.is_dir()
    # without a checker, only a previous folder (.old) of a dead process is trusted
    dead = live.rename(tmp_path / f".model.old-{DEAD_PID}-1")
    assert recover_dir(tmp_path / "model") == dead
    assert (tmp_path / "model" / "manifest.json").is_file()
    assert recover_dir(tmp_path / "model") is None  # present: nothing to do


def test_an_existing_model_is_never_replaced_by_recovery(saved, catalog, tmp_path):
    Path(shutil.copytree(saved["v2"], tmp_path / f".model.tmp-{DEAD_PID}-ab.tmp"))
    shutil.copytree(saved["v1"], tmp_path / "model")
    assert _seen(Engine.load(tmp_path / "model", catalog)) == 2


def test_stale_leftovers_are_cleaned_by_the_next_save(saved, catalog, tmp_path):
    _killed_mid_swap(saved, tmp_path)
    (tmp_path / ".model.k3j_9xq2.tmp").mkdir()  # a legacy temporary of a killed save
    keep = [
        tmp_path / f".model.old-{os.getppid()}-7",  # a running process's
        tmp_path / f".modelx.old-{DEAD_PID}-1",  # another path's
        tmp_path / f".model.v2.old-{DEAD_PID}-1",  # another path's (".model.v2")
        tmp_path / ".model.notes",  # not a name a save makes
    ]
    for p in keep:
        p.mkdir()
    _engine(catalog, 3).save(tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model", *(p.name for p in keep)])
    assert _seen(Engine.load(tmp_path / "model", catalog)) == 3


def test_atomic_dir_cleans_only_after_a_successful_swap(tmp_path):
    stale = tmp_path / f".model.old-{DEAD_PID}-1"
    stale.mkdir()
    with pytest.raises(RuntimeError, match="crash"), atomic_dir(tmp_path / "model") as tmp:
        assert tmp.name.startswith(f".model.tmp-{os.getpid()}-")
        raise RuntimeError("crash")
    assert stale.is_dir()  # a failed save removes nothing but its own temporary
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "a.txt").write_text("v1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
