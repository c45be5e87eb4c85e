"""``hwenvs search`` / ``evaluate`` / ``finetune`` end to end on a small configuration (MobileNetV1, model-size
budget), the result file's replay and its error messages, and Ctrl-C safety of the pipeline."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import hwenvs
from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult
from hwenvs.agents.pipeline import compact_json, run_search
from hwenvs.agents.random_search import RandomSearchAgent
from hwenvs.agents.replay import ResultFileError, load_result_file, replay
from hwenvs.cli.main import main
from hwenvs.cli.search import parse_kwargs

ENV_ID = "HAQ-MobileNetV1-BISMO"
ENV_ARGS = ["--env-kwarg", "constraint=size", "--env-kwarg", "preserve_ratio=0.4"]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``hwenvs search`` run (random search, 3 episodes), shared by the tests that read its output."""
    out = tmp_path_factory.mktemp("search") / "run"
    args = ["search", ENV_ID, "--agent", "random", "--episodes", "3", "--seed", "5", "--out", str(out), *ENV_ARGS]
    assert main([*args, "--no-progress"]) == 0
    return out


def test_search_writes_history_policy_and_plot(search_dir: Path) -> None:
    with open(search_dir / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["episode"]) for r in rows] == [0, 1, 2]
    assert {"reward", "best_reward", "accuracy", "cost", "cost_ratio", "policy"} <= set(rows[0])
    best_row = max(rows, key=lambda r: float(r["reward"]))
    assert float(rows[-1]["best_reward"]) == float(best_row["reward"])

    record = json.loads((search_dir / "policy.json").read_text())
    assert record["env_id"] == ENV_ID and record["seed"] == 5 and record["agent"] == "random"
    assert record["env_kwargs"] == {"constraint": "size", "preserve_ratio": 0.4}
    assert record["hwenvs_version"] == hwenvs.__version__
    assert record["policy"] == json.loads(best_row["policy"])
    assert record["accuracy"] == float(best_row["accuracy"]) and record["cost"] == float(best_row["cost"])
    assert record["episodes_run"] == record["episodes_planned"] == 3
    assert record["status"] == "complete" and record["interrupted"] is False
    assert record["val_accuracy"] == record["accuracy"] and 0.0 <= record["test_accuracy"] <= 1.0
    names = [r["name"] for r in record["references"]]
    assert names[:2] == ["float", "fixed 8-bit"] and names[2].startswith("best uniform")
    assert record["references"][2]["to_beat"] and record["verdict"]["baseline"] == names[2]
    assert (search_dir / "plot.png").stat().st_size > 10_000


@pytest.mark.slow
def test_search_prints_the_summary_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fixed"
    assert main(["search", ENV_ID, "--agent", "fixed", "--episodes", "1", "--out", str(out), "--no-progress",
                 "--no-plot", *ENV_ARGS]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if "test acc" in line)
    assert header.index("test acc") < header.index("val acc")  # test first: the headline
    for row in ("float", "fixed 8-bit", "best uniform", "found"):
        assert f"\n{row} " in printed
    assert "The search " in printed and "on the test split" in printed
    assert not (out / "plot.png").exists()


@pytest.fixture(scope="module")
def env() -> gym.Env:
    """The environment of ``search_dir``'s run, for replays through the API without rebuilding it each time."""
    env = gym.make(ENV_ID, constraint="size", preserve_ratio=0.4)
    yield env
    env.close()


def test_saved_policy_replays_exactly(search_dir: Path, env: gym.Env, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(search_dir / "policy.json")]) == 0
    assert "OK" in capsys.readouterr().out
    env.unwrapped._accuracy_cache.clear()  # a real re-evaluation, not the cache of an earlier test
    report = replay(load_result_file(search_dir / "policy.json"), env=env)
    record = json.loads((search_dir / "policy.json").read_text())
    assert report.ok
    assert report.measured["accuracy"] == record["accuracy"] and report.measured["cost"] == record["cost"]


def test_evaluate_reports_a_mismatch_with_a_diff(
    search_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = json.loads((search_dir / "policy.json").read_text())
    record["accuracy"] += 0.001
    tampered = tmp_path / "policy.json"
    tampered.write_text(json.dumps(record))
    assert main(["evaluate", str(tampered)]) == 1
    err = capsys.readouterr().err
    assert "MISMATCH" in err and f"- accuracy: {record['accuracy']!r}" in err


def _edited(search_dir: Path, tmp_path: Path, **changes: object) -> Path:
    record = json.loads((search_dir / "policy.json").read_text())
    record.update(changes)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(record))
    return path


def test_bad_policy_files_get_clear_errors(
    search_dir: Path, env: gym.Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"env_id": "HAQ-MobileNetV1-BISMO", ')
    assert main(["evaluate", str(malformed)]) == 2
    assert "is not valid JSON (line 1" in capsys.readouterr().err

    with pytest.raises(ResultFileError, match="cannot read result file"):
        load_result_file(tmp_path / "missing.json")
    with pytest.raises(ResultFileError, match=r"missing field\(s\) \['env_kwargs'"):
        load_result_file(_without(search_dir, tmp_path))

    wrong_id = _edited(search_dir, tmp_path, env_id="HAQ-MobileNetV9-BISMO")
    assert main(["evaluate", str(wrong_id)]) == 2
    err = capsys.readouterr().err
    assert "'HAQ-MobileNetV9-BISMO' is not registered" in err and "HAQ-MobileNetV1-BISMO" in err

    policy = json.loads((search_dir / "policy.json").read_text())["policy"]
    short = _edited(search_dir, tmp_path, policy=policy[:-1])
    with pytest.raises(
        ResultFileError, match=f"does not fit {ENV_ID}: policy has {len(policy) - 1} layers, mobilenet_v1 has 28"
    ):
        replay(load_result_file(short), env=env)

    bits = [list(p) for p in policy]
    bits[3][0] = 9
    with pytest.raises(ResultFileError, match="does not fit"):
        replay(load_result_file(_edited(search_dir, tmp_path, policy=bits)), env=env)

    over_budget = _edited(search_dir, tmp_path, policy=env.unwrapped.uniform_policy(8))
    with pytest.raises(ResultFileError, match="over HAQ-MobileNetV1-BISMO's budget"):
        replay(load_result_file(over_budget), env=env)
    assert main(["finetune", str(over_budget), "--steps", "1"]) == 2
    assert "a result must fit its budget" in capsys.readouterr().err

    nas = _edited(search_dir, tmp_path, solution_key="architecture", architecture="k3e3 " * 21)
    with pytest.raises(ResultFileError, match="the file holds a 'architecture' but HAQ-MobileNetV1-BISMO searches"):
        replay(load_result_file(nas), env=env)


def _without(search_dir: Path, tmp_path: Path) -> Path:
    record = json.loads((search_dir / "policy.json").read_text())
    del record["env_kwargs"]
    path = tmp_path / "incomplete.json"
    path.write_text(json.dumps(record))
    return path


@pytest.mark.slow
def test_finetune_prints_before_and_after_and_saves(
    search_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = tmp_path / "ft.pt"
    assert main(["finetune", str(search_dir / "policy.json"), "--steps", "3", "--out", str(checkpoint)]) == 0
    printed = capsys.readouterr().out
    record = json.loads((search_dir / "policy.json").read_text())
    before = f"quantized before fine-tuning {record['test_accuracy']:.4f} test ({record['accuracy']:.4f} validation)"
    assert before in printed and "after fine-tuning" in printed
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["policy"] == record["policy"] and saved["val_accuracy_before"] == record["accuracy"]
    assert saved["test_accuracy_before"] == record["test_accuracy"]
    assert saved["state_dict"] and 0.0 <= saved["test_accuracy_after"] <= 1.0


@pytest.mark.slow
def test_search_with_sb3_td3_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "td3"
    args = ["search", ENV_ID, "--agent", "sb3:TD3", "--episodes", "2", "--agent-kwarg", "learning_starts=30"]
    assert main([*args, "--out", str(out), "--no-progress", "--no-plot", *ENV_ARGS]) == 0
    assert json.loads((out / "policy.json").read_text())["agent"] == "sb3:TD3"


def test_sb3_agent_kwargs_override_the_adapter_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--agent-kwarg verbose=1`` reaches SB3 (it was a duplicate keyword: the adapter passed verbose=0 too)."""
    args = ["search", "ProxylessNAS-BISMO", "--agent", "sb3:PPO", "--episodes", "1", "--agent-kwarg", "verbose=1"]
    args += ["--env-kwarg", "val_batch_size=50", "--out", str(tmp_path), "--no-progress", "--no-plot"]
    assert main(args) == 0
    assert "Using cpu device" in capsys.readouterr().out  # what SB3 prints with verbose=1 only
    assert json.loads((tmp_path / "policy.json").read_text())["agent_kwargs"] == {"verbose": 1}


class _InterruptedAgent(Agent):
    """Random search that is 'Ctrl-C'ed during its third episode."""

    name = "interrupted"

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        def stop_at_third(result: EpisodeResult) -> None:
            on_episode(result)
            if result.episode == 1:
                raise KeyboardInterrupt

        RandomSearchAgent(self.env, self.seed).learn(episodes, stop_at_third)


def test_ctrl_c_keeps_what_was_found(tmp_path: Path, mnist_small) -> None:
    env = gym.make(ENV_ID, constraint="size", dataset=mnist_small)
    result = run_search(env, _InterruptedAgent(env, seed=0), 10, tmp_path, meta={"env_kwargs": {}}, progress=False)
    assert result.interrupted and result.episodes == 2
    record = json.loads((tmp_path / "policy.json").read_text())
    assert record["interrupted"] is True and record["episodes_run"] == 2
    assert record["status"] == "interrupted" and record["episodes_planned"] == 10
    assert record["reward"] == max(result.rewards)
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 3
    assert (tmp_path / "plot.png").exists()


def test_env_kwargs_must_be_replayable(tmp_path: Path, mnist_small) -> None:
    env = gym.make(ENV_ID, constraint="size", dataset=mnist_small)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        run_search(env, RandomSearchAgent(env), 1, tmp_path, progress=False)


def test_key_value_parsing() -> None:
    parsed = parse_kwargs(["preserve_ratio=0.5", "constraint=energy", "finetune_steps=10", "x=true", "y=None"], "o")
    assert parsed == {"preserve_ratio": 0.5, "constraint": "energy", "finetune_steps": 10, "x": True, "y": None}
    with pytest.raises(ValueError, match="key=value"):
        parse_kwargs(["novalue"], "--env-kwarg")


def test_compact_json_keeps_the_data() -> None:
    data = {"policy": [[8, None], [2, 3]], "info": {"a": [1.5e-3, -2.0]}, "s": "x, y"}
    text = compact_json(data)
    assert json.loads(text) == data and "[8, null]" in text


def test_search_help_names_every_built_in_agent(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hwenvs.agents.registry import AGENTS

    monkeypatch.setenv("COLUMNS", "10000")  # one line per option: no name broken at a hyphen
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    agent_help = capsys.readouterr().out.split("\n  --agent AGENT", 1)[1].split("\n  --episodes", 1)[0]
    assert all(name in agent_help for name in AGENTS), sorted(n for n in AGENTS if n not in agent_help)


def test_test_at_end_measures_only_the_final_best_on_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = gym.make("ProxylessNAS-BISMO", val_batch_size=64)
    evaluator = env.unwrapped
    calls: list[str] = []
    original = type(evaluator).evaluate_solution

    def counting(self: object, solution: object, split: str = "val") -> dict:
        calls.append(split)
        return original(self, solution, split)

    monkeypatch.setattr(type(evaluator), "evaluate_solution", counting)
    points = len(evaluator.reference_points())  # measured (and cached) before the searches
    calls.clear()
    results = {}
    for each in (True, False):
        agent = RandomSearchAgent(env, seed=1)
        results[each] = run_search(env, agent, 8, tmp_path / str(each), progress=False, plot=False,
                                   test_each_best=each)  # fmt: skip
        results[each].tests = calls.count("test")
        calls.clear()
    improvements = len(set(np.maximum.accumulate(results[True].rewards)))
    assert improvements > 1 and results[True].tests == improvements and results[False].tests == 1
    assert results[True].best_test == results[False].best_test and points > 0
    saved = json.loads((tmp_path / "False" / "policy.json").read_text())
    assert saved["status"] == "complete" and saved["test_accuracy"] == results[False].best_test["accuracy"]
