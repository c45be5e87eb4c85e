"""``hwenvs benchmark``: suite files and their error messages, the hyperparameter lottery, the statistics (against
rliable where it imports, and on numbers worked by hand), and a small end-to-end run with two workers that then
resumes without rerunning finished trials and renders its report from the JSON."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from hwenvs.agents.random_search import RandomSearchAgent
from hwenvs.benchmark import stats
from hwenvs.benchmark.report import combine, render
from hwenvs.benchmark.store import TrialStore, decode_line, encode_line
from hwenvs.benchmark.suite import load_suite, parse_suite, plan, shipped_suites
from hwenvs.benchmark.sweep import sample_setting, settings, sweep_space
from hwenvs.benchmark.trials import TrialSpec, finished, read_trial, run_trial
from hwenvs.cli.main import main
from hwenvs.surrogate.dataset import available_datasets

# -- suites -----------------------------------------------------------------------------------------------------------


def test_shipped_suites_load_and_cover_the_issue() -> None:
    assert {"default", "quick", "smoke"} <= set(shipped_suites())
    quick = load_suite("quick")  # the embedded MNIST rows, the default suite until 0.2
    ids = {(e.id, e.kwargs.get("constraint"), e.kwargs.get("preserve_ratio")) for e in quick.envs}
    assert {("HAQ-MobileNetV2-BISMO", "latency", 0.5), ("HAQ-MobileNetV2-BitFusion", "energy", 0.5)} <= ids
    assert "HAQ-ResNet18-BISMO-Cloud" in {e.id for e in quick.envs}
    suite = load_suite("default")
    assert suite.seeds == 10
    assert {"ProxylessNAS-Mobile", "ProxylessNAS-BISMO"} <= {e.id for e in suite.envs}
    assert all("fashion-mnist" in e.requires for e in suite.envs)
    agents = {a.agent for a in suite.agents}
    assert {
        "ddpg",
        "ddpg-warm",
        "random",
        "fixed",
        "sb3:TD3",
        "sb3:SAC",
        "sb3:PPO",
        "reinforce",
        "gradient",
        "tpe",
        "cmaes",
    } <= agents
    jobs = plan(suite, "/tmp/x")
    by_env = {e.name: [j for j in jobs if j.env == e.name and j.kind == "search"] for e in suite.envs}
    assert {j.agent for j in by_env["nas-bismo-fmnist"]} == {"random", "ppo", "reinforce", "gradient", "tpe", "cmaes"}
    haq = by_env["haq-mbv2-bismo-fmnist"]
    assert len([j for j in haq if j.agent == "fixed"]) == 1  # deterministic: one seed
    assert all(len([j for j in haq if j.agent == a]) == 10 for a in ("ddpg", "cmaes", "tpe", "random", "ddpg-warm"))
    assert all(len([j for j in haq if j.agent == a]) == 5 for a in ("td3", "sac", "ppo", "td3-warm", "sac-warm"))
    assert sum(j.kind == "reference" for j in jobs) == len(suite.envs)


def test_selection_seeds_and_episodes_come_from_the_command_line() -> None:
    suite = load_suite("smoke").select(["nas-bismo"], ["random", "tpe"]).with_episodes(7)
    jobs = plan(suite, "out", seeds=1)
    assert [(j.kind, j.agent, j.seed, j.episodes) for j in jobs] == [
        ("reference", "", 0, suite.random_episodes), ("search", "random", 0, 7), ("search", "tpe", 0, 7)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="has no agent 'dqn'; it has random, fixed"):
        load_suite("smoke").select(None, ["dqn"])


GOOD_ENV = {"name": "nas", "id": "ProxylessNAS-BISMO"}
GOOD_AGENT = {"name": "random", "agent": "random"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping"),
        ({"envs": [GOOD_ENV]}, "no 'agents' list"),
        ({"envs": [GOOD_ENV], "agents": [GOOD_AGENT], "seed": 3}, "unknown key 'seed'; valid: name, description"),
        ({"envs": [GOOD_ENV], "agents": [GOOD_AGENT], "seeds": 0}, "seeds must be a positive integer, got 0"),
        ({"envs": [{"name": "x", "id": "HAQ-Nope"}], "agents": [GOOD_AGENT]}, "envs[0] (x): id 'HAQ-Nope' is not"),
        ({"envs": [GOOD_ENV, GOOD_ENV], "agents": [GOOD_AGENT]}, "name 'nas' appears more than once"),
        ({"envs": [{**GOOD_ENV, "name": "a b"}], "agents": [GOOD_AGENT]}, "must be letters, digits"),
        ({"envs": [{**GOOD_ENV, "requires": "imagenet"}], "agents": [GOOD_AGENT]}, "requires 'imagenet'"),
        ({"envs": [{**GOOD_ENV, "requires": ["fashion-mnist", 3]}], "agents": [GOOD_AGENT]}, "list of the known"),
        ({"envs": [GOOD_ENV], "agents": [{"name": "q", "agent": "dqn"}]}, "agents[0] (q): agent 'dqn'; valid:"),
        ({"envs": [GOOD_ENV], "agents": [{**GOOD_AGENT, "envs": ["hqa"]}]}, "envs 'hqa' unknown; valid: haq, nas"),
        ({"envs": [GOOD_ENV], "agents": [{**GOOD_AGENT, "episode_kwargs": {"n_steps": -1}}]}, "positive number"),
        ({"envs": [GOOD_ENV], "agents": [GOOD_AGENT, GOOD_AGENT]}, "agents on environment 'nas': name 'random'"),
    ],
)
def test_bad_suites_are_refused_with_the_entry_and_the_reason(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^suite bad.yaml: .*{re.escape(message)}"):
        parse_suite(data, "bad.yaml")


def test_the_same_agent_name_may_cover_disjoint_environments() -> None:
    data = {
        "envs": [GOOD_ENV, {"name": "haq", "id": "HAQ-MobileNetV2-BISMO"}],
        "agents": [
            {"name": "ppo", "agent": "sb3:PPO", "envs": ["nas"]},
            {"name": "ppo", "agent": "sb3:PPO", "envs": ["haq"]},
        ],
    }
    suite = parse_suite(data, "ok.yaml")
    assert suite.agent_names == ["ppo"]


def test_cli_user_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--suite", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwenvs benchmark: error: unknown suite 'nope'") and "\n" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("envs: [\n")
    assert main(["benchmark", "--suite", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["benchmark", "--suite", "smoke", "--seeds", "0"]) == 2
    assert "--seeds must be an integer >= 1" in capsys.readouterr().err


def test_surrogate_accuracy_reaches_the_environment_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # the smoke suite's 250-image ProxylessNAS batch is not what a surrogate dataset measured (or there is none yet):
    # the benchmark stops before running anything, with the environment's own one-line message
    code = main(["benchmark", "--suite", "smoke", "--envs", "nas-bismo", "--accuracy", "surrogate", "--dry-run",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "environment nas-bismo (ProxylessNAS-BISMO)" in err and "surrogate" in err and "\n" not in err.strip()


@pytest.mark.skipif(
    "haq-mobilenet_v2-mnist" not in available_datasets(),
    reason="the HAQ surrogate dataset is not shipped yet",
)
def test_a_surrogate_benchmark_runs_and_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "surrogate"
    argv = ["benchmark", "--suite", "smoke", "--envs", "haq-mbv2-bismo-3to5", "--agents", "random,fixed"]
    assert main([*argv, "--accuracy", "surrogate", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["settings"]["accuracy"] == "surrogate" and len(data["trials"]) == 3 and not data["missing"]
    assert "**Surrogate accuracy**" in (out / "results.md").read_text()
    specs = [record["spec"] for record in TrialStore(out).records().values()]
    assert {len(spec["surrogate_sha256"]) for spec in specs} == {64}


# -- sweeps -----------------------------------------------------------------------------------------------------------


def test_sweep_settings_are_seeded_stable_and_inside_the_space() -> None:
    space = sweep_space("ddpg")
    assert {"actor_lr", "critic_lr", "noise_sigma", "batch_size"} <= set(space)
    five, ten = settings("ddpg", "ddpg", 5), settings("ddpg", "ddpg", 10)
    assert list(five) == [f"s{k}" for k in range(5)] and all(ten[k] == v for k, v in five.items())
    assert settings("ddpg", "ddpg", 5) == five and settings("ddpg", "ddpg-2", 5) != five
    for setting in ten.values():
        assert 1e-5 <= setting["actor_lr"] <= 1e-3 and setting["batch_size"] in (32, 64, 128)
    assert settings("random", "random", 5) == {"default": {}}  # no space: its defaults only
    assert set(sweep_space("sb3:td3")) == {"learning_rate", "batch_size"}
    assert sweep_space("tpe") and sweep_space("cmaes") and sweep_space("reinforce") and sweep_space("gradient")
    drawn = [sample_setting({"n": ("int", 1, 3)}, "a", k)["n"] for k in range(60)]
    assert set(drawn) == {1, 2, 3}


# -- statistics -------------------------------------------------------------------------------------------------------

RUNS = np.array([[0.1, 0.9, 0.4], [0.5, 0.7, 0.2], [0.3, 0.8, 0.6], [0.9, 0.1, 0.5], [0.2, 0.6, 0.45]])
"""5 runs x 3 tasks."""
OTHER = np.array([[0.3, 0.5, 0.4], [0.6, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.1, 0.5]])
"""4 runs x 3 tasks."""


def columns(matrix: np.ndarray) -> list[np.ndarray]:
    return [matrix[:, j] for j in range(matrix.shape[1])]


def test_point_estimates_on_numbers_worked_by_hand() -> None:
    assert stats.iqm(np.arange(8.0)) == pytest.approx(3.5)  # trims two from each end: mean of 2, 3, 4, 5
    assert stats.iqm(np.array([0.0, 1.0, 2.0, 100.0])) == pytest.approx(1.5)
    from scipy.stats import trim_mean

    for n in (1, 2, 3, 5, 10, 13):  # scipy's trim_mean, which rliable's aggregate_iqm is
        values = np.random.default_rng(n).random((4, n))
        np.testing.assert_allclose(stats.iqm(values, axis=1), trim_mean(values, 0.25, axis=1))
    # 9 pairs: (1 > 0), (2 = 2) x2, (2 > 0), (3 > 2) x2, (3 > 0) -> (6 + 2 x 0.5) / 9
    prob = stats.probability_of_improvement([np.array([1.0, 2.0, 3.0])], [np.array([2.0, 2.0, 0.0])])
    assert prob.point == pytest.approx(6 / 9)
    point, _, _ = stats.performance_profile([np.array([0.0, 0.5, 1.0, 1.5])], np.array([0.25, 1.0]))
    np.testing.assert_allclose(point, [0.75, 0.25])


def test_point_estimates_match_rliable() -> None:
    try:
        from rliable import metrics
    except ImportError:
        pytest.skip("rliable is not installed")
    assert stats.interval(columns(RUNS), stats.iqm).point == pytest.approx(metrics.aggregate_iqm(RUNS))
    assert stats.interval(columns(RUNS), stats.mean).point == pytest.approx(metrics.aggregate_mean(RUNS))
    expected = metrics.probability_of_improvement(RUNS, OTHER)
    assert stats.probability_of_improvement(columns(RUNS), columns(OTHER)).point == pytest.approx(expected)


def test_stratified_bootstrap_matches_a_direct_computation_and_keeps_every_task() -> None:
    reps = 4000
    ours = stats.interval(columns(RUNS), stats.iqm, reps=reps, seed=0)
    # the estimator written replicate by replicate: every task's runs resampled on their own
    rng = np.random.default_rng(1)
    direct = [stats.iqm(np.concatenate([rng.choice(task, task.size) for task in columns(RUNS)])) for _ in range(reps)]
    low, high = np.percentile(direct, [2.5, 97.5])
    assert ours.point == pytest.approx(stats.iqm(RUNS.reshape(-1)))
    assert ours.low == pytest.approx(low, abs=0.02) and ours.high == pytest.approx(high, abs=0.02)
    # stratified: a task with one run is in every replicate exactly once, so the mean stays in [5/3, 7/3] (an
    # unstratified bootstrap would draw replicates with no 5 or three of them)
    one = stats.interval([np.array([5.0]), np.array([0.0, 1.0])], stats.mean, reps=500)
    assert one.point == pytest.approx(2.0) and 5 / 3 - 1e-9 <= one.low and one.high <= 7 / 3 + 1e-9
    constant = stats.interval([np.full(4, 0.3)], stats.iqm)
    assert constant.to_list() == pytest.approx([0.3, 0.3, 0.3])
    again = stats.interval(columns(RUNS), stats.iqm, reps=reps, seed=0)
    assert again == ours  # seeded: a report's numbers repeat


def test_probability_of_improvement_interval_and_curves() -> None:
    better = [np.array([2.0, 3.0, 4.0])]
    worse = [np.array([0.0, 1.0])]
    assert stats.probability_of_improvement(better, worse).to_list() == [1.0, 1.0, 1.0]
    mixed = stats.probability_of_improvement(columns(RUNS), columns(OTHER))
    assert mixed.low <= mixed.point <= mixed.high and 0 <= mixed.low and mixed.high <= 1
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(columns(RUNS), columns(OTHER)[:2])
    point, low, high = stats.curve_intervals(np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 4.0]]))
    np.testing.assert_allclose(point, [0.0, 2.5])
    assert (low <= point).all() and (point <= high).all() and low[0] == high[0] == 0.0


# -- a small benchmark, end to end --------------------------------------------------------------------------------

SUITE = """
name: tiny
description: Two agents on ProxylessNAS-BISMO with a 64-image validation batch.
seeds: 2
episodes: 3
random_episodes: 3
envs:
  - name: nas
    id: ProxylessNAS-BISMO
    kwargs: {val_batch_size: 64}
agents:
  - {name: random, agent: random}
  - {name: tpe, agent: tpe, kwargs: {n_startup_trials: 1}}
"""


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    pytest.importorskip("optuna")
    root = tmp_path_factory.mktemp("benchmark")
    suite = root / "tiny.yaml"
    suite.write_text(SUITE)
    out = root / "out"
    code = main(["benchmark", "--suite", str(suite), "--workers", "2", "--out", str(out)])
    assert code == 0
    return suite, out, (out / "results.md").read_text()


def test_a_benchmark_stores_one_line_per_trial_and_writes_a_report(benchmark_run: tuple[Path, Path, str]) -> None:
    _, out, markdown = benchmark_run
    lines = (out / "trials.jsonl").read_bytes().splitlines()
    assert sorted(decode_line(line)[0] for line in lines) == [
        "nas__random__default__s0", "nas__random__default__s1", "nas__reference",
        "nas__tpe__default__s0", "nas__tpe__default__s1",
    ]  # fmt: skip
    assert not list(out.glob("trials/*"))  # no file per trial, and no checkpoint left
    trial = TrialStore(out).get("nas__tpe__default__s1")
    assert trial["status"] == "complete" and trial["episodes_run"] == 3
    assert len(trial["history"]["reward"]) == 3 and trial["improvements"][0]["episode"] == 0
    assert trial["result"]["test_accuracy"] is not None and trial["result"]["verdict"] is not None
    pids = {record["pid"] for record in TrialStore(out).records().values()}
    assert os.getpid() not in pids and len(pids) <= 2  # run by the pool's two workers
    data = json.loads((out / "results.json").read_text())
    assert len(data["trials"]) == 4 and not data["missing"]
    # the report's numbers are the JSON's: a trial's test accuracy, the random reference, the aggregate
    assert f"{data['envs']['nas']['random']['test_accuracy']:.4f}" in markdown
    entry = data["summary"]["envs"]["nas"]["agents"]["tpe"]["all"]
    assert f"{entry['test_accuracy_mean'][0]:.4f}" in markdown
    tests = sorted(t["test_accuracy"] for t in data["trials"] if t["agent"] == "tpe")
    assert entry["test_accuracy_mean"][0] == pytest.approx(np.mean(tests))
    assert f"{data['summary']['families']['nas']['agents']['random']['all']['iqm'][0]:.3f}" in markdown
    assert "real accuracy" in markdown and "surrogate" not in markdown
    assert render(data) == markdown  # rendered from the JSON alone
    assert "continued from a checkpoint" not in markdown and {t["resumed_at_episode"] for t in data["trials"]} == {0}
    data["trials"][0]["resumed_at_episode"] = 2
    assert "1 of the 4 searches were killed and continued from a checkpoint" in render(data)
    assert all((out / name).stat().st_size > 0 for name in ("curves.png", "intervals.png", "improvement.png"))


def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def _run(spec: TrialSpec) -> dict:
    """Run ``spec`` and return its stored record."""
    assert run_trial(spec) == str(spec.path)
    return read_trial(spec)


def _forget(job: Any) -> None:
    """Drop ``job``'s lines from its store, as if the benchmark had been killed during that trial."""
    lines = job.path.read_bytes().splitlines(keepends=True)
    job.path.write_bytes(b"".join(line for line in lines if decode_line(line)[0] != job.name))


def _stored(jobs: list[Any], but: Any) -> dict[str, bytes]:
    """Every job's stored line but ``but``'s: a trial run again would store another pid and time."""
    return {j.name: encode_line(j.name, read_trial(j)) for j in jobs if j is not but}


def test_a_killed_benchmark_resumes_without_rerunning_finished_trials(
    benchmark_run: tuple[Path, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from hwenvs.benchmark.local import run_local

    suite_file, out, _ = benchmark_run
    jobs = plan(load_suite(suite_file), out)
    assert all(finished(job) for job in jobs)
    lost = next(j for j in jobs if j.agent == "random" and j.seed == 1)
    _forget(lost)  # as if the benchmark had been killed during this trial
    kept = _stored(jobs, lost)
    outcomes = run_local(jobs, workers=2)
    assert [o.spec.name for o in outcomes if not o.skipped] == [lost.name]
    assert _stored(jobs, lost) == kept
    assert finished(lost)
    # a changed spec (another budget) is not "finished": its trials run again
    assert not finished(TrialSpec(**{**lost.__dict__, "episodes": 4}))
    assert main(["benchmark", "--suite", str(suite_file), "--out", str(out), "--dry-run"]) == 0
    assert "5 already finished, 0 to continue from a checkpoint" in capsys.readouterr().out
    _forget(lost)  # killed again, this time after its first checkpoint
    lost.checkpoint_path.write_bytes(b"")
    try:
        assert main(["benchmark", "--suite", str(suite_file), "--out", str(out), "--dry-run"]) == 0
    finally:
        lost.checkpoint_path.unlink()
        run_local([lost])
    printed = capsys.readouterr().out
    assert "4 already finished, 1 to continue from a checkpoint" in printed
    assert f"  {lost.name} (checkpointed)" in printed


class MutatingAgent(RandomSearchAgent):
    """Random search that writes into a dict it is given, as SB3's SAC adds ``use_sde`` to ``policy_kwargs``."""

    def __init__(self, env: gym.Env, seed: int = 0, nested: dict | None = None) -> None:
        nested["touched"] = True
        super().__init__(env, seed)


def test_a_trial_is_finished_even_if_its_agent_changed_its_arguments(benchmark_run: tuple[Path, Path, str]) -> None:
    _, out, _ = benchmark_run
    reference = next(j for j in plan(load_suite(benchmark_run[0]), out) if j.kind == "reference")
    spec = TrialSpec(
        "search", "nas", reference.env_id, reference.env_kwargs, 2, str(out), "mutating",
        f"{__name__}:MutatingAgent", {"nested": {"x": 1}},
    )  # fmt: skip
    run_trial(spec)
    assert spec.agent_kwargs == {"nested": {"x": 1}} and finished(spec)


def test_render_refuses_a_file_that_is_not_a_benchmark_result() -> None:
    with pytest.raises(ValueError, match="not a benchmark results file"):
        render({"format": "hwenvs-policy/1"})


def test_surrogate_trials_name_their_dataset_and_real_ones_do_not(tmp_path: Path) -> None:
    from hwenvs.benchmark.suite import surrogate_dataset

    assert surrogate_dataset("HAQ-ResNet18-BISMO", {}) == "haq-resnet18-mnist"
    assert surrogate_dataset("HAQ-MobileNetV2-BISMO", {"preserve_ratio": 0.3}) == "haq-mobilenet_v2-mnist"
    assert surrogate_dataset("ProxylessNAS-Mobile", {"width_mult": 0.5}) == "nas-w0.5-mnist"
    with pytest.raises(ValueError, match="no surrogate mode"):
        surrogate_dataset("CartPole-v1", {})
    suite = load_suite("smoke").select(envs=["haq-mbv2-bismo-3to5"], agents=["random"])
    assert all("surrogate_sha256" not in job.identity() for job in plan(suite, tmp_path))
    if "haq-mobilenet_v2-mnist" not in available_datasets():
        with pytest.raises(ValueError, match="no surrogate for 'haq-mobilenet_v2-mnist'"):
            plan(suite, tmp_path, accuracy="surrogate")
    else:  # a resumed benchmark reruns trials predicted from another dataset
        shas = {job.identity()["surrogate_sha256"] for job in plan(suite, tmp_path, accuracy="surrogate")}
        assert len(shas) == 1 and len(shas.pop()) == 64


# -- checkpoints inside a trial ---------------------------------------------------------------------------------------


class InexactRandomSearch(RandomSearchAgent):
    """Random search claiming an inexact resume, as Stable-Baselines3's agents do."""

    resumes_exactly = False


def _kill_after(episodes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next trial raise after its ``episodes``-th episode has been recorded (and checkpointed)."""
    from hwenvs.benchmark import trials

    original = trials.trace_recorder

    def killing_recorder(spec: TrialSpec, evaluator: object) -> object:
        recorder = original(spec, evaluator)
        base = type(recorder)

        def call(self: object, result: object) -> None:
            base.__call__(self, result)
            if len(self.rewards) == episodes:
                raise RuntimeError("killed")

        recorder.__class__ = type("Killed", (base,), {"__call__": call})
        return recorder

    monkeypatch.setattr(trials, "trace_recorder", killing_recorder)


@pytest.mark.skipif("haq-mobilenet_v2-mnist" not in available_datasets(), reason="no HAQ surrogate dataset")
def test_a_killed_trial_continues_from_its_checkpoint_to_the_uninterrupted_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hwenvs.benchmark import trials

    monkeypatch.setattr(trials, "CHECKPOINT_INTERVAL_S", 0.0)  # a checkpoint after every episode

    def spec(out: str, agent: str = "ddpg", agent_spec: str = "ddpg") -> TrialSpec:
        kwargs = {"preserve_ratio": 0.4, "accuracy": "surrogate"}
        ddpg = {"warmup_episodes": 2, "batch_size": 16} if agent_spec == "ddpg" else {}
        return TrialSpec("search", "haq", "HAQ-MobileNetV2-BISMO", kwargs, 6, str(tmp_path / out), agent, agent_spec,
                         ddpg, seed=3)  # fmt: skip

    whole = _run(spec("whole"))
    assert whole["resumed_at_episode"] == 0 and not spec("whole").checkpoint_path.exists()
    with monkeypatch.context() as patch:
        _kill_after(4, patch)
        with pytest.raises(RuntimeError, match="killed"):
            run_trial(spec("killed"))
    assert spec("killed").checkpoint_path.exists() and not finished(spec("killed"))
    saved = spec("killed").checkpoint_path.read_bytes()  # the same trial's in another folder: its identity
    resumed = _run(spec("killed"))
    assert resumed["resumed_at_episode"] == 4 and resumed["episodes_run"] == 6
    for key in ("history", "improvements", "result"):
        left, right = resumed[key], whole[key]
        if key == "result":  # everything but the clocks
            left, right = ({k: v for k, v in r.items() if "time" not in k and k != "created"} for r in (left, right))
        assert left == right, key
    assert not spec("killed").checkpoint_path.exists()
    # another spec under the same name (another budget) does not take the checkpoint over
    other = TrialSpec(**{**spec("other").__dict__, "episodes": 3})
    other.checkpoint_path.parent.mkdir(parents=True)
    other.checkpoint_path.write_bytes(saved)
    assert _run(other)["resumed_at_episode"] == 0
    # a checkpoint of the same trial that cannot be restored (another version's agent state) is dropped
    from hwenvs.agents import checkpoint

    spoilt = spec("spoilt")
    spoilt.checkpoint_path.parent.mkdir(parents=True)
    spoilt.checkpoint_path.write_bytes(checkpoint.dumps({**checkpoint.loads(saved), "agent": {"episodes_done": 4}}))
    restarted = _run(spoilt)
    assert restarted["resumed_at_episode"] == 0 and restarted["history"] == whole["history"]
    # an agent whose resume is not exact starts again from the first episode
    inexact = spec("inexact", "inexact", f"{__name__}:InexactRandomSearch")
    with monkeypatch.context() as patch:
        _kill_after(2, patch)
        with pytest.raises(RuntimeError, match="killed"):
            run_trial(inexact)
    assert not inexact.checkpoint_path.exists()
    assert _run(inexact)["resumed_at_episode"] == 0


def test_benchmarks_run_apart_combine_into_the_statistics_of_one_run(benchmark_run: tuple[Path, Path, str]) -> None:
    data = _read(benchmark_run[1] / "results.json")
    alone = combine([data])
    assert alone["summary"] == data["summary"] and alone["trials"] == data["trials"]
    other = copy.deepcopy(data)
    other["envs"] = {"nas2": other["envs"].pop("nas")}
    for trial in other["trials"]:
        trial["env"] = "nas2"
    other["settings"]["workers"] = 1
    both = combine([data, other])
    assert both["summary"]["envs"]["nas2"] == data["summary"]["envs"]["nas"]
    # the family's aggregates pool both environments, as one run over both would
    assert both["summary"]["families"]["nas"]["envs"] == ["nas", "nas2"]
    assert both["summary"]["families"]["nas"] != data["summary"]["families"]["nas"]
    assert both["settings"]["workers"] == "2 / 1" and [p["envs"] for p in both["parts"]] == [["nas"], ["nas2"]]
    text = render(both)
    assert "Run in 2 parts, combined" in text and "- nas2: 4 searches, backend local with 1 worker(s)" in text
    assert combine([both])["parts"] == both["parts"]  # combining again keeps the parts, not a nesting of them
    for changed, message in (
        ({"envs": data["envs"]}, "environment 'nas' is in two parts"),
        ({"settings": {**other["settings"], "seeds": 3}}, "parts with different seeds: 3 and 2"),
        ({"agents": {"tpe": {"default": {"n_startup_trials": 5}}}}, "agent 'tpe' has different hyperparameters"),
        ({"format": "other"}, "not a benchmark results file"),
    ):
        with pytest.raises(ValueError, match=message):
            combine([data, {**other, **changed}])
    with pytest.raises(ValueError, match="at least one"):
        combine([])


def test_the_cli_combines_benchmarks_run_apart(
    benchmark_run: tuple[Path, Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _read(benchmark_run[1] / "results.json")
    other = tmp_path / "other"
    other.mkdir()
    renamed = {**data, "envs": {"nas2": data["envs"]["nas"]}, "trials": [{**t, "env": "nas2"} for t in data["trials"]]}
    (other / "results.json").write_text(json.dumps(renamed))
    out = tmp_path / "combined"
    argv = ["benchmark", "--report-only", "--out", str(out), "--combine", str(benchmark_run[1]), str(other)]
    assert main(argv) == 0
    combined = _read(out / "results.json")
    assert list(combined["envs"]) == ["nas", "nas2"] and len(combined["trials"]) == 8
    assert "Run in 2 parts, combined" in (out / "results.md").read_text() and (out / "curves.png").is_file()
    assert main(argv[:-2] + [str(benchmark_run[1])] * 2) == 2  # one environment twice
    assert "--combine: environment 'nas' is in two parts" in capsys.readouterr().err
    assert main([*argv[:-1], str(tmp_path / "nowhere")]) == 2
    assert "nowhere/results.json is missing or not JSON" in capsys.readouterr().err
    assert main(["benchmark", "--out", str(out), "--combine", str(other)]) == 2
    assert "--combine works with --report-only" in capsys.readouterr().err


def test_proxylessnas_mobile_is_skipped_where_its_latency_table_cannot_be_had(monkeypatch: pytest.MonkeyPatch) -> None:
    import hwenvs.reference_data

    suite = load_suite("quick").select(["nas-mobile", "nas-bismo"])

    def unreachable(name: str, timeout: float = 30.0) -> Path:
        raise RuntimeError(f"could not fetch {name} (no network)")

    monkeypatch.setattr(hwenvs.reference_data, "reference_path", unreachable)
    assert suite.unavailable() == {
        "nas-mobile": "could not fetch proxylessnas_mobile_trim.yaml (no network)"
    }  # ProxylessNAS-BISMO's latency model is ours: it needs nothing
    monkeypatch.setattr(hwenvs.reference_data, "reference_path", lambda name, timeout=30.0: Path(name))
    assert suite.unavailable() == {}


def test_an_environment_with_two_requirements_names_each_that_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import hwenvs.benchmark.suite as suite_module

    suite = load_suite("default").select(["nas-mobile-fmnist", "nas-bismo-fmnist"])
    assert suite.envs[0].requires == ("fashion-mnist", "proxylessnas-mobile-table")
    monkeypatch.setitem(suite_module.REQUIREMENTS, "fashion-mnist", lambda: "no Fashion-MNIST")
    monkeypatch.setitem(suite_module.REQUIREMENTS, "proxylessnas-mobile-table", lambda: "no table")
    assert suite.unavailable() == {
        "nas-mobile-fmnist": "no Fashion-MNIST; no table",
        "nas-bismo-fmnist": "no Fashion-MNIST",
    }
    monkeypatch.setitem(suite_module.REQUIREMENTS, "fashion-mnist", lambda: None)
    assert suite.unavailable() == {"nas-mobile-fmnist": "no table"}


def test_collect_reports_an_unfinished_benchmark_without_running_anything(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    argv = ["benchmark", "--suite", "smoke", "--envs", "nas-bismo", "--agents", "random", "--out", str(out)]
    assert main([*argv, "--collect"]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["trials"] == [] and len(data["missing"]) == 3  # the reference job and two seeds, none run
    assert not TrialStore(out).names() and not (out / "trials.jsonl").exists()
    assert "Missing (3 jobs" in (out / "results.md").read_text()
