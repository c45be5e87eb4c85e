"""ProxylessNAS agents (REINFORCE, gradient search) and the ``hwenvs nas`` / ``hwenvs search`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import hwenvs  # noqa: F401  (registers the ids)
from hwenvs.agents.base import EpisodeResult
from hwenvs.agents.proxyless_gradient import GradientSearchAgent
from hwenvs.agents.registry import make_agent
from hwenvs.agents.reinforce import ReinforceAgent
from hwenvs.cli.main import main
from hwenvs.data import Task
from hwenvs.nas.architecture import Architecture, uniform
from hwenvs.nas.search_space import NUM_BLOCKS, ZERO, ZERO_ALLOWED

ENV_ID = "ProxylessNAS-BISMO"
"""The target of the tests that do not depend on a table's values: computed here, so they run without
../shared/reference-data."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def task(mnist_small: Task) -> Task:
    """The embedded task with a 100-image validation batch, for fast episodes."""
    return mnist_small


def run(agent_name: str, env: gym.Env, episodes: int, seed: int = 0, **kwargs: object) -> list[EpisodeResult]:
    results: list[EpisodeResult] = []
    make_agent(agent_name, env, seed=seed, **kwargs).learn(episodes, results.append)
    return results


def test_reinforce_is_reproducible_and_plays_the_derived_architecture_last(task: Task) -> None:
    # a smoke test on the real environment; that REINFORCE learns is shown in test_agent_learning.py
    env = gym.make(ENV_ID, dataset=task)
    first = run("reinforce", env, 12, lr=0.5)
    second = run("reinforce", gym.make(ENV_ID, dataset=task), 12, lr=0.5)
    assert [r.info["architecture"] for r in first] == [r.info["architecture"] for r in second]
    assert [r.episode for r in first] == list(range(12))
    assert all({"architecture", "latency_ms", "accuracy", "cost_ratio"} <= r.info.keys() for r in first)
    # the last episode plays the derived architecture
    assert first[-1].extra["derived"] and not first[0].extra["derived"]
    other = run("reinforce", gym.make(ENV_ID, dataset=task), 12, seed=1, lr=0.5)
    assert [r.info["architecture"] for r in first] != [r.info["architecture"] for r in other]


def test_reinforce_update_follows_the_advantage(task: Task) -> None:
    agent = ReinforceAgent(gym.make(ENV_ID, dataset=task), seed=0, lr=0.1)
    good, good_lp = agent.sample()
    bad, bad_lp = agent.sample()
    agent.baseline = 0.5
    agent.update([1.0, 0.0], [good_lp, bad_lp])
    probs = agent.probabilities().detach().numpy()
    rows = np.arange(NUM_BLOCKS)
    differs = np.array(good.choices) != np.array(bad.choices)
    assert np.all(probs[rows, good.choices][differs] > probs[rows, bad.choices][differs])
    assert agent.baseline == pytest.approx(0.9 * 0.5 + 0.1 * 0.5)
    # zero stays impossible where it is not allowed
    assert np.all(probs[~np.array(ZERO_ALLOWED), ZERO] == 0)


def test_reinforce_stops_when_asked_and_runs_sequential(task: Task) -> None:
    env = gym.make(ENV_ID, dataset=task, mode="sequential")
    seen: list[EpisodeResult] = []

    def stop_after_three(result: EpisodeResult) -> bool:
        seen.append(result)
        return len(seen) < 3

    agent = ReinforceAgent(env, seed=0, batch_size=2)
    agent.learn(10, stop_after_three)
    assert len(seen) == 3
    assert all(r.info["invalid_zero"] == 0 for r in seen)
    assert agent.baseline is not None
    Architecture.from_string(agent.derived_architecture().to_string())
    agent = ReinforceAgent(gym.make(ENV_ID, dataset=task, mode="sequential"), seed=0, lr=0.5)
    results: list[EpisodeResult] = []
    agent.learn(5, results.append)
    assert results[-1].info["architecture"] == agent.derived_architecture().to_string()


@pytest.mark.parametrize("mode", ["oneshot", "sequential"])
def test_random_search_draws_valid_architectures(task: Task, mode: str) -> None:
    env = gym.make(ENV_ID, dataset=task, mode=mode)
    assert env.unwrapped.steps_per_episode == (1 if mode == "oneshot" else NUM_BLOCKS)
    first = run("random", env, 3, seed=2)
    again = run("random", env, 3, seed=2)  # frozen weights: the environment is stateless across episodes
    other = run("random", env, 3, seed=3)
    archs = [r.info["architecture"] for r in first]
    assert archs == [r.info["architecture"] for r in again] != [r.info["architecture"] for r in other]
    assert len(set(archs)) == 3
    # sequential draws follow action_masks(): zero is never drawn where it would become k3e3
    assert all(r.info["invalid_zero"] == 0 for r in first + other)
    for r in first:
        choices = Architecture.from_string(r.info["architecture"]).choices
        assert all(ZERO_ALLOWED[i] for i, c in enumerate(choices) if c == ZERO)


def test_gradient_pair_update_keeps_other_probabilities(task: Task) -> None:
    env = gym.make(ENV_ID, dataset=task)
    agent = GradientSearchAgent(env, seed=0, loss_lambda=0.0, arch_lr=0.5, batch_size=32)
    before = agent.probabilities().detach().clone()
    agent.arch_step()
    after = agent.probabilities().detach()
    changed = ~torch.isclose(before, after, atol=1e-6)
    # at most the two sampled candidates of a block move, and their total probability is kept
    assert torch.all(changed.sum(1) <= 2) and changed.any()
    assert torch.allclose((after * changed).sum(1), (before * changed).sum(1), atol=1e-5)


@pytest.mark.usefixtures("mobile_table_file")
def test_gradient_expected_latency_and_reduction(task: Task) -> None:
    env = gym.make("ProxylessNAS-Mobile", dataset=task)
    agent = GradientSearchAgent(env, seed=0, batch_size=32, weight_steps=1, arch_lr=0.3)
    with torch.no_grad():
        agent.alpha.zero_()
        agent.alpha[:, 0] = 50.0  # all k3e3
    assert float(agent.expected_latency().detach()) == pytest.approx(76.048, abs=0.01)
    with torch.no_grad():
        agent.alpha.zero_()
    start = float(agent.expected_latency().detach())
    frozen = [p.detach().clone() for p in env.unwrapped.supernet.parameters()]
    results: list[EpisodeResult] = []
    agent.learn(4, results.append)
    assert float(agent.expected_latency().detach()) < start
    assert len(results) == 4 and results[-1].info["architecture"] == agent.derived_architecture().to_string()
    # the agent trains its own copy: the environment's supernet, and so its rewards, stay frozen
    assert all(torch.equal(a, b) for a, b in zip(frozen, env.unwrapped.supernet.parameters(), strict=True))


def test_gradient_bad_config(task: Task) -> None:
    env = gym.make(ENV_ID, dataset=task)
    with pytest.raises(ValueError, match="latency_loss"):
        GradientSearchAgent(env, latency_loss="square")
    with pytest.raises(ValueError, match="holdout_fraction"):
        GradientSearchAgent(env, holdout_fraction=1.5)


def test_search_cli_writes_outputs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "search",
        ENV_ID,
        "--agent",
        "reinforce",
        "--episodes",
        "4",
        "--out",
        str(out),
        "--env-kwarg",
        "val_batch_size=100",
        "--no-progress",
        "--no-plot",
    ]
    assert main(args) == 0
    assert len((out / "history.csv").read_text().splitlines()) == 5
    best = json.loads((out / "policy.json").read_text())
    assert Architecture.from_string(best["architecture"])


def test_search_cli_random_on_sequential(tmp_path: Path) -> None:
    out = tmp_path / "random"
    args = ["search", ENV_ID, "--agent", "random", "--episodes", "2", "--out", str(out), "--no-progress",
            "--env-kwarg", "mode=sequential", "--env-kwarg", "val_batch_size=100"]  # fmt: skip
    assert main(args) == 0
    best = json.loads((out / "policy.json").read_text())
    assert best["agent"] == "random" and best["env_kwargs"] == {"mode": "sequential", "val_batch_size": 100}
    assert best["info"]["invalid_zero"] == 0 and Architecture.from_string(best["architecture"])
    assert len((out / "history.csv").read_text().splitlines()) == 3 and (out / "plot.png").is_file()


@pytest.mark.usefixtures("mobile_table_file")
def test_nas_cli_latency_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = uniform("k3e3").to_string()
    assert main(["nas", "latency", arch, "--target", "mobile"]) == 0
    assert "76.048 ms" in capsys.readouterr().out
    assert main(["nas", "export", arch, "--out", str(tmp_path / "net.pt"), "--weights", "supernet"]) == 0
    from hwenvs.nas.export import load_network

    net, record = load_network(tmp_path / "net.pt")
    assert net.arch == uniform("k3e3") and record["weights"] == "supernet"
    assert main(["nas", "latency", "k3e3/zero"]) == 2


@pytest.mark.slow
@pytest.mark.usefixtures("mobile_table_file")
def test_nas_cli_train_from_scratch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arch = "k3e3-zero-zero-zero/" * 5 + "k3e3"
    assert main(["nas", "train", arch, "--epochs", "4", "--no-progress", "--out", str(tmp_path / "n.pt")]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("accuracy ")[1].split()[0])
    assert accuracy > 0.8
    assert "29.609 ms" in out


def test_nas_cli_gpu_table_without_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["nas", "latency-table", "--target", "gpu"]) == 2
    assert "CUDA" in capsys.readouterr().err


def test_nas_cli_cpu_table_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HWENVS_CACHE", str(tmp_path))
    args = ["nas", "latency-table", "--target", "cpu", "--repeats", "2", "--warmup", "1", "--validate", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "rank correlation (Spearman)" in out and len(list(tmp_path.rglob("cpu-*.yaml"))) == 1
    assert main([*args[:4], "--rounds", "0"]) == 2
    assert "rounds" in capsys.readouterr().err
