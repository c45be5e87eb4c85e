"""Searches that survive interruption: a search stopped at episode k (an exception from the callback, or a real
SIGKILL of a subprocess) and resumed to N episodes has the history of an uninterrupted N-episode search, exactly for
every agent whose state can be saved; a resume into another search's folder is refused, naming what differs.

Small configurations: HAQ-MobileNetV1-BISMO with a latency budget and ProxylessNAS-BISMO, both on 100-image
validation and test splits.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, ResumeError
from hwenvs.agents.checkpoint import CHECKPOINT_NAME
from hwenvs.agents.pipeline import SearchResult, build_agent, run_search
from hwenvs.agents.policy import Policy
from hwenvs.cli.main import main
from hwenvs.data import Task
from hwenvs.envs.haq_env import HAQEnv

pytestmark = pytest.mark.usefixtures("one_thread")

HAQ_ID = "HAQ-MobileNetV1-BISMO"
HAQ_KWARGS = {"constraint": "latency", "preserve_ratio": 0.7}  # linear quantizers: nothing slow to set up
NAS_ID = "ProxylessNAS-BISMO"
SMALL_DDPG = {"warmup_episodes": 2, "hidden": 16, "batch_size": 8}
TESTS = Path(__file__).resolve().parent


class Stop(Exception):
    """Raised from the episode callback: the search dies after recording an episode."""


def stop_after(agent: Agent, stop_at: int) -> None:
    """Make ``agent``'s search die (raise :class:`Stop`) right after episode ``stop_at`` is recorded."""
    learn = agent.learn

    def learn_then_die(episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        def record_then_die(result: EpisodeResult) -> None:
            on_episode(result)
            if result.episode == stop_at:
                raise Stop

        learn(episodes, record_then_die)

    agent.learn = learn_then_die


@pytest.fixture(scope="module")
def haq(mnist_small: Task) -> gym.Env:
    """One HAQ environment shared by the module: it has no state between episodes but its caches."""
    env = gym.make(HAQ_ID, dataset=mnist_small, **HAQ_KWARGS)
    yield env
    env.close()


def search(
    env: gym.Env, spec: str, episodes: int, out: Path, seed: int = 0, stop_at: int | None = None, **options: Any
) -> SearchResult | None:
    """One search with a fresh agent (``stop_at``: die after that episode; returns None then)."""
    agent_kwargs = options.pop("agent_kwargs", {})
    agent = build_agent(spec, env, seed=seed, **agent_kwargs)
    if stop_at is not None:
        stop_after(agent, stop_at)
    meta = {"env_kwargs": {}, "agent": spec, "agent_kwargs": agent_kwargs}
    try:
        return run_search(env, agent, episodes, out, meta=meta, progress=False, plot=False, references=False, **options)
    except Stop:
        return None


def history(out: Path) -> list[dict[str, str]]:
    """history.csv's rows without the wall-clock column."""
    with open(out / "history.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(f)]


def check_same_search(full: SearchResult, resumed: SearchResult, full_out: Path, resumed_out: Path) -> None:
    assert resumed.rewards == full.rewards
    assert history(resumed_out) == history(full_out)  # rewards, solutions, costs, agents' extras: all equal
    record = json.loads((resumed_out / "policy.json").read_text())
    assert record["status"] == "complete" and record["episodes_run"] == len(full.rewards)
    assert record["episode"] == full.best.episode and record["reward"] == full.best.reward


def stop_episode(episodes: int, seed: int) -> int:
    """A random episode to stop after (seeded, so a failure repeats): not the first, not the last."""
    return int(np.random.default_rng(seed).integers(1, episodes - 1))


@pytest.mark.parametrize(
    ("spec", "agent_kwargs", "every"),
    [("random", {}, 2), ("fixed", {}, 1), ("ddpg", SMALL_DDPG, 1)],
    ids=["random-every-2", "fixed", "ddpg"],
)
def test_haq_search_resumes_exactly(haq: gym.Env, tmp_path: Path, spec: str, agent_kwargs: dict, every: int) -> None:
    episodes = {"random": 6, "ddpg": 5}.get(spec) or min(5, len(haq.unwrapped.uniform_pairs()))
    assert episodes >= 3
    options = {"agent_kwargs": agent_kwargs, "checkpoint_every": every}
    full = search(haq, spec, episodes, tmp_path / "full", **options)
    stop = stop_episode(episodes, len(spec))
    if every > 1 and (stop + 1) % every == 0:
        stop -= 1  # stop between checkpoints: the resumed search repeats the episodes after the last one
    assert search(haq, spec, episodes, tmp_path / "cut", stop_at=stop, **options) is None
    assert len(history(tmp_path / "cut")) == stop + 1
    assert json.loads((tmp_path / "cut" / "policy.json").read_text())["status"] == "interrupted"
    resumed = search(haq, spec, episodes, tmp_path / "cut", resume=True, **options)
    check_same_search(full, resumed, tmp_path / "full", tmp_path / "cut")


def test_reinforce_resumes_mid_batch_exactly(mnist_small: Task, tmp_path: Path) -> None:
    options = {"agent_kwargs": {"batch_size": 3, "lr": 0.5}}
    full = search(gym.make(NAS_ID, dataset=mnist_small), "reinforce", 8, tmp_path / "full", **options)
    # stopped after episode 4: one update done, two sampled architectures waiting in the batch
    assert search(gym.make(NAS_ID, dataset=mnist_small), "reinforce", 8, tmp_path / "cut", stop_at=4, **options) is None
    resumed = search(gym.make(NAS_ID, dataset=mnist_small), "reinforce", 8, tmp_path / "cut", resume=True, **options)
    check_same_search(full, resumed, tmp_path / "full", tmp_path / "cut")


def test_gradient_search_resumes_exactly(mnist_small: Task, tmp_path: Path) -> None:
    # 28 hold-out images in batches of 16: the architecture batches wrap around an epoch every two episodes
    kwargs = {"batch_size": 16, "weight_steps": 1, "holdout_fraction": 0.01}
    options = {"agent_kwargs": kwargs}
    full = search(gym.make(NAS_ID, dataset=mnist_small), "gradient", 5, tmp_path / "full", **options)
    assert search(gym.make(NAS_ID, dataset=mnist_small), "gradient", 5, tmp_path / "cut", stop_at=2, **options) is None
    resumed = search(gym.make(NAS_ID, dataset=mnist_small), "gradient", 5, tmp_path / "cut", resume=True, **options)
    check_same_search(full, resumed, tmp_path / "full", tmp_path / "cut")


def test_sb3_resumes_with_its_own_save_and_load(haq: gym.Env, tmp_path: Path) -> None:
    # not exact (see hwenvs.agents.sb3): the search continues with SB3's saved model, buffer and timestep count
    options = {"agent_kwargs": {"learning_starts": 30, "batch_size": 16}, "checkpoint_every": 1}
    assert search(haq, "sb3:TD3", 4, tmp_path, stop_at=1, **options) is None
    checkpointed = history(tmp_path)
    resumed = search(haq, "sb3:TD3", 4, tmp_path, resume=True, **options)
    rows = history(tmp_path)
    assert resumed.episodes == 4 and [int(r["episode"]) for r in rows] == [0, 1, 2, 3]
    assert rows[:2] == checkpointed
    timesteps = [json.loads(r["extra"])["timesteps"] for r in rows]
    assert timesteps == sorted(timesteps) and timesteps[-1] == 4 * haq.unwrapped.steps_per_episode


_CHILD = """
import sys
sys.path.insert(0, {tests!r})
import torch
torch.set_num_threads(1)
import gymnasium as gym
import hwenvs
from conftest import small_task
from hwenvs.agents.pipeline import run_search
from hwenvs.agents.random_search import RandomSearchAgent
env = gym.make({env_id!r}, dataset=small_task(100), **{kwargs!r})
run_search(env, RandomSearchAgent(env, seed=3), {episodes}, {out!r}, meta={{"env_kwargs": {{}}}}, progress=False,
           plot=False, references=False, resume=True)
"""


def _rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except OSError:
        return 0


def test_a_sigkilled_search_resumes_exactly(haq: gym.Env, tmp_path: Path) -> None:
    episodes, kill_after = 6, stop_episode(4, 7)
    out = tmp_path / "killed"
    code = _CHILD.format(tests=str(TESTS), env_id=HAQ_ID, kwargs=HAQ_KWARGS, episodes=episodes, out=str(out))
    child_env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", code], env=child_env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while _rows(out / "history.csv") < kill_after and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)  # wherever it is: mid-episode, mid-row, mid-checkpoint
    _, err = child.communicate()
    assert child.returncode == -signal.SIGKILL, err
    assert json.loads((out / "policy.json").read_text())["status"] == "running"

    # a fresh process's environment is not needed: HAQ keeps no state between episodes (but caches)
    options = {"meta": {"env_kwargs": {}}, "progress": False, "plot": False, "references": False}
    full = run_search(haq, build_agent("random", haq, seed=3), episodes, tmp_path / "full", **options)
    resumed = run_search(haq, build_agent("random", haq, seed=3), episodes, out, resume=True, **options)
    check_same_search(full, resumed, tmp_path / "full", out)
    assert not list(out.glob(".*.tmp"))


def test_a_resume_into_another_search_is_refused(haq: gym.Env, tmp_path: Path) -> None:
    search(haq, "random", 2, tmp_path)
    before = (tmp_path / "history.csv").read_bytes()
    with pytest.raises(ResumeError, match=r"other settings.*seed: saved 0, now 1"):
        search(haq, "random", 3, tmp_path, seed=1, resume=True)
    with pytest.raises(ResumeError, match=r"agent: saved 'random', now 'fixed'"):
        search(haq, "fixed", 3, tmp_path, resume=True)
    with pytest.raises(ResumeError, match="already ran 2 episodes, more than the 1 "):
        search(haq, "random", 1, tmp_path, resume=True)
    assert (tmp_path / "history.csv").read_bytes() == before  # nothing touched


def test_a_resume_that_cannot_be_exact_is_refused(mnist_small: Task, haq: gym.Env, tmp_path: Path) -> None:
    online = gym.make(NAS_ID, dataset=mnist_small, weights="online")
    with pytest.raises(ResumeError, match="weights='online'"):
        search(online, "random", 2, tmp_path, resume=True)

    class Forgetful(Policy):  # keeps state it does not save
        def act(self, observation: np.ndarray, step: int) -> np.ndarray:
            return np.zeros(1, np.float32)

    from hwenvs.agents.policy import PolicyAgent

    agent = PolicyAgent(haq, Forgetful())
    run_search(haq, agent, 1, tmp_path / "p", meta={"env_kwargs": {}}, progress=False, plot=False, references=False)
    assert not (tmp_path / "p" / CHECKPOINT_NAME).exists()
    with pytest.raises(ResumeError, match=r"Forgetful.*cannot resume"):
        run_search(haq, PolicyAgent(haq, Forgetful()), 2, tmp_path / "p", meta={"env_kwargs": {}}, resume=True)


def test_hwenvs_search_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the command's full 1,000-image splits make reference points slow, and they are not what is tested here
    monkeypatch.setattr(HAQEnv, "reference_points", lambda self: [])
    # the search to resume, as `hwenvs search --episodes 2` leaves it
    out = tmp_path / "run"
    env = gym.make(HAQ_ID, **HAQ_KWARGS)
    meta = {"env_id": HAQ_ID, "env_kwargs": HAQ_KWARGS, "agent": "random", "agent_kwargs": {}, "seed": 2}
    run_search(env, build_agent("random", env, seed=2), 2, out, meta=meta, progress=False, plot=False)
    first = history(out)

    args = ["search", HAQ_ID, "--agent", "random", "--seed", "2", "--out", str(out), "--no-progress", "--no-plot"]
    args += [f"--env-kwarg={k}={v}" for k, v in HAQ_KWARGS.items()]
    assert main([*args, "--episodes", "3", "--resume"]) == 0
    rows = history(out)
    assert rows[:2] == first and [int(r["episode"]) for r in rows] == [0, 1, 2]
    record = json.loads((out / "policy.json").read_text())
    assert record["status"] == "complete" and record["episodes_run"] == record["episodes_planned"] == 3
    assert "finished 3 episodes" in capsys.readouterr().out

    assert main([*args, "--episodes", "4", "--resume", "--seed", "5"]) == 2
    err = capsys.readouterr().err
    assert "seed: saved 2, now 5" in err and "Traceback" not in err
    assert main([*args, "--episodes", "4", "--resume", "--overwrite"]) == 2
    assert "give one of them" in capsys.readouterr().err
