"""``hwenvs search --tensorboard DIR`` / ``run_search(..., tensorboard=DIR)``: one point per episode of reward,
validation accuracy, cost ratio and the best so far (with its test accuracy), for any agent (SB3's included), read
back with TensorBoard's own EventAccumulator; a clear error naming the extra where tensorboard is missing."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import pytest

from hwenvs.agents.base import EpisodeCallback, EpisodeResult
from hwenvs.agents.examples.bit_widths import UniformBitsPolicy
from hwenvs.agents.pipeline import run_search
from hwenvs.agents.policy import PolicyAgent
from hwenvs.agents.random_search import RandomSearchAgent
from hwenvs.agents.tensorboard import BEST_TAGS, EPISODE_TAGS
from hwenvs.cli.main import main
from hwenvs.data import Task

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator", reason='needs pip install "hwenvs[tensorboard]"'
)

NAS_ARGS = ["--env-kwarg", "val_batch_size=50", "--no-progress", "--no-plot"]
"""ProxylessNAS with a 50-image validation batch: the cheapest episodes of the registered ids."""


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in ``run_dir``'s event files, as (step, value) pairs."""
    accumulator = event_accumulator.EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_search_logs_every_episode_for_an_sb3_agent(tmp_path: Path) -> None:
    out, board = tmp_path / "ppo-run", tmp_path / "tb"
    argv = ["search", "ProxylessNAS-BISMO", "--agent", "sb3:PPO", "--episodes", "3", "--seed", "1"]
    assert main([*argv, "--out", str(out), "--tensorboard", str(board), *NAS_ARGS]) == 0

    logged = scalars(board / "ppo-run")  # one run folder per search, named as its output folder
    assert set(EPISODE_TAGS) | set(BEST_TAGS) <= set(logged)
    assert all([step for step, _ in logged[tag]] == [0, 1, 2] for tag in (*EPISODE_TAGS, *BEST_TAGS))
    rewards = [value for _, value in logged["episode/reward"]]
    best = [value for _, value in logged["best/reward"]]
    assert best == pytest.approx([max(rewards[: i + 1]) for i in range(3)])
    assert all(0.0 <= value <= 1.0 for _, value in logged["best/test_accuracy"])
    history = (out / "history.csv").read_text().splitlines()[1:]
    assert rewards == pytest.approx([float(row.split(",")[1]) for row in history])  # what history.csv says


def test_run_search_logs_haq_episodes(tmp_path: Path, mnist_small: Task) -> None:
    env = gym.make("HAQ-MobileNetV1-BISMO", dataset=mnist_small, preserve_ratio=1.0)
    agent = PolicyAgent(env, UniformBitsPolicy(w_bits=8), seed=0)
    run_search(env, agent, 2, None, meta={"env_kwargs": {}}, progress=False, references=False, tensorboard=tmp_path)
    logged = scalars(tmp_path)
    assert set(EPISODE_TAGS) | set(BEST_TAGS) <= set(logged)
    assert [step for step, _ in logged["best/test_accuracy"]] == [0, 1]
    (_, accuracy), _ = logged["episode/val_accuracy"]
    assert 0.0 < accuracy <= 1.0 and logged["episode/cost_ratio"][0][1] == pytest.approx(1.0)  # all 8 bits


class Stop(Exception):
    """Raised from the episode callback: the search dies after recording an episode."""


def test_a_resumed_search_logs_each_episode_once(tmp_path: Path, mnist_small: Task) -> None:
    """Checkpoints every 2 episodes, death after the third: the resume runs episode 2 again, and TensorBoard shows
    the second run's point only (``purge_step``)."""
    env = gym.make("ProxylessNAS-BISMO", dataset=mnist_small, val_batch_size=50)
    options = {"meta": {"env_kwargs": {}}, "progress": False, "plot": False, "references": False}
    options |= {"checkpoint_every": 2, "tensorboard": tmp_path / "tb"}

    agent = RandomSearchAgent(env, seed=0)
    learn = agent.learn

    def learn_then_die(episodes: int, on_episode: EpisodeCallback) -> None:
        def record_then_die(result: EpisodeResult) -> None:
            on_episode(result)
            if result.episode == 2:
                raise Stop

        learn(episodes, record_then_die)

    agent.learn = learn_then_die
    with pytest.raises(Stop):
        run_search(env, agent, 4, tmp_path / "out", **options)
    assert [step for step, _ in scalars(tmp_path / "tb")["episode/reward"]] == [0, 1, 2]

    resumed = run_search(env, RandomSearchAgent(env, seed=0), 4, tmp_path / "out", resume=True, **options)
    logged = scalars(tmp_path / "tb")["episode/reward"]
    assert [step for step, _ in logged] == [0, 1, 2, 3]
    assert [value for _, value in logged] == pytest.approx(resumed.rewards)


@pytest.fixture
def no_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``torch.utils.tensorboard`` unimportable, as where the tensorboard package is not installed."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)


@pytest.mark.usefixtures("no_tensorboard")
def test_missing_tensorboard_is_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("gym.make was called: the missing package was not reported before any work")

    monkeypatch.setattr(gym, "make", refuse)
    argv = ["search", "ProxylessNAS-BISMO", "--agent", "random", "--out", str(tmp_path / "out")]
    assert main([*argv, "--tensorboard", str(tmp_path / "tb"), *NAS_ARGS]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("hwenvs search: error: --tensorboard:") and 'pip install "hwenvs[tensorboard]"' in err


@pytest.mark.usefixtures("no_tensorboard")
def test_run_search_reports_a_missing_tensorboard_before_any_work(tmp_path: Path) -> None:
    env = gym.make("CartPole-v1")
    with pytest.raises(ImportError, match=r"hwenvs\[tensorboard\]"):
        run_search(env, RandomSearchAgent(env), 1, None, tensorboard=tmp_path)
