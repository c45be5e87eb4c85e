"""The benchmark's trial store (``OUT/trials.jsonl``): whole lines under a lock, validated on read, the last line of
a trial winning, legacy per-trial files read and converted, and the committed runs' statistics unchanged by their
conversion."""

from __future__ import annotations

import json
import math
import multiprocessing
import warnings
from pathlib import Path

import pytest

from hwenvs.benchmark.results import collect
from hwenvs.benchmark.store import STORE_NAME, TornLineWarning, TrialStore, convert, decode_line, encode_line
from hwenvs.benchmark.trials import TRIAL_FORMAT, TrialSpec, finished, read_trial

RUNS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
COMMITTED = sorted(RUNS.glob("*_runs/*/" + STORE_NAME))


def _spec(out: Path, seed: int = 0) -> TrialSpec:
    return TrialSpec("search", "nas", "ProxylessNAS-BISMO", {}, 3, str(out), "random", "random", seed=seed)


def _record(spec: TrialSpec, status: str = "complete", **extra: object) -> dict:
    return {"format": TRIAL_FORMAT, "status": status, "spec": spec.identity(), **extra}


def _legacy_text(record: dict) -> str:
    """A per-trial file as the benchmark wrote it before the store."""
    return json.dumps(record, indent=1, allow_nan=True) + "\n"


def test_a_line_round_trips_and_a_changed_byte_fails_its_checksum() -> None:
    record = {"x": [1.5, math.nan, None, "é"], "y": {"z": 1e-05}}
    line = encode_line("t", record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    name, back = decode_line(line)
    assert name == "t" and json.dumps(back, allow_nan=True) == json.dumps(record, allow_nan=True)
    assert decode_line(line.replace(b"1e-05", b"2e-05")) is None  # valid JSON, wrong checksum
    assert decode_line(line[: len(line) // 2]) is None  # torn
    assert decode_line(b'{"trial": "t", "record": {}}') is None  # no checksum


def test_a_torn_last_line_is_ignored_with_a_warning_and_its_trial_runs_again(tmp_path: Path) -> None:
    kept, torn = _spec(tmp_path, 0), _spec(tmp_path, 1)
    store = TrialStore(tmp_path)
    store.append(kept.name, _record(kept))
    whole = encode_line(torn.name, _record(torn))
    with open(store.path, "ab") as handle:
        handle.write(whole[:-10])  # a write a kill cut short
    with pytest.warns(TornLineWarning, match="line 2"):
        assert not finished(torn)
    assert finished(kept)
    store.append(torn.name, _record(torn))  # the rerun starts a line of its own
    with pytest.warns(TornLineWarning, match="line 2"):
        assert finished(torn) and finished(kept)
    assert store.path.read_bytes().endswith(b"\n" + whole)


def test_the_last_line_of_a_trial_wins_and_a_failure_is_stored_as_a_line(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    spec.store.append(spec.name, _record(spec, "failed", error="Traceback ..."))
    assert read_trial(spec)["status"] == "failed" and not finished(spec)
    spec.store.append(spec.name, _record(spec, value=1))
    assert finished(spec) and read_trial(spec)["value"] == 1
    read_trial(spec)["value"] = 2  # a reader's copy: the store's parsed records are shared with later reads
    assert read_trial(spec)["value"] == 1
    assert len(spec.path.read_bytes().splitlines()) == 2 and spec.path == tmp_path / "trials.jsonl"


def test_legacy_files_are_read_then_converted_in_name_order_on_the_first_write(tmp_path: Path) -> None:
    specs = [_spec(tmp_path, seed) for seed in (2, 0, 1)]
    (tmp_path / "trials").mkdir()
    for spec in specs[:2]:
        spec.legacy_path.write_text(_legacy_text(_record(spec, value=spec.seed)))
    checkpoint = specs[2].checkpoint_path
    checkpoint.write_bytes(b"checkpoint")
    (tmp_path / "trials" / "broken.json").write_text("{")
    assert finished(specs[0]) and finished(specs[1]) and not finished(specs[2])  # an old run resumes
    assert not specs[0].path.exists()
    with pytest.warns(TornLineWarning, match="broken.json"):
        specs[2].store.append(specs[2].name, _record(specs[2], value=1))
    names = [decode_line(line)[0] for line in specs[0].path.read_bytes().splitlines()]
    assert names == [specs[1].name, specs[0].name, specs[2].name]  # s0, s2 by name, then the new line
    assert not specs[0].legacy_path.exists() and not specs[1].legacy_path.exists()
    assert checkpoint.read_bytes() == b"checkpoint" and (tmp_path / "trials" / "broken.json").exists()
    assert [read_trial(s)["value"] for s in specs] == [2, 0, 1]


def test_a_legacy_file_left_beside_the_store_loses_to_its_line(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    spec.store.append(spec.name, _record(spec, value="store"))
    spec.legacy_path.parent.mkdir()
    spec.legacy_path.write_text(_legacy_text(_record(spec, value="legacy")))  # a kill between fsync and removal
    assert read_trial(spec)["value"] == "store"
    assert convert(tmp_path) == 1 and not spec.legacy_path.exists()
    assert len(spec.path.read_bytes().splitlines()) == 1


def _append_many(out: str, worker: int) -> None:
    store = TrialStore(out)
    for i in range(40):
        store.append(f"w{worker}-{i}", {"payload": "x" * 20_000, "worker": worker, "i": i})


def test_workers_appending_at_once_never_interleave(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")  # the children only write JSON
    workers = [context.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn or interleaved line would warn
        records = TrialStore(tmp_path).records()
    assert len(records) == 160 and len((tmp_path / STORE_NAME).read_bytes().splitlines()) == 160


@pytest.mark.parametrize("store", COMMITTED, ids=lambda p: p.parent.name)
def test_a_committed_run_has_the_same_statistics_from_legacy_files_and_from_its_store(
    store: Path, tmp_path: Path
) -> None:
    """A committed run written back as per-trial files collects to the same results as from its store, and converting
    those files gives the committed store's lines byte for byte (its last line of each trial; in the order of their
    names, where a run the store wrote itself holds them in the order they finished)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = TrialStore(store.parent).records()
    assert records and all(r["format"] == TRIAL_FORMAT for r in records.values())
    legacy = tmp_path / "legacy"
    (legacy / "trials").mkdir(parents=True)
    for name, record in records.items():
        (legacy / "trials" / f"{name}.json").write_text(_legacy_text(record))
    results = json.loads((store.parent / "results.json").read_text())
    meta = {key: results[key] for key in ("suite", "settings", "agents", "budgets", "groups") if key in results}
    jobs = [TrialSpec(**{**r["spec"], "out": str(legacy)}) for r in records.values()]
    before = collect(jobs, meta)
    assert not before["missing"] and len(before["trials"]) == sum(j.kind == "search" for j in jobs)
    assert convert(legacy) == len(records) and not list((legacy / "trials").glob("*.json"))
    after = collect(jobs, meta)
    for key in ("envs", "trials", "missing", "summary"):
        assert json.dumps(after[key], allow_nan=True) == json.dumps(before[key], allow_nan=True), key
    # a trial run again (a changed spec) appended a line that supersedes its earlier one: the last line wins
    last = {json.loads(line)["trial"]: line for line in store.read_bytes().splitlines()}
    assert sorted((legacy / STORE_NAME).read_bytes().splitlines()) == sorted(last.values())
