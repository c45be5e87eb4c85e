"""The RL Baselines3 Zoo hyperparameters shipped in ``hwenvs/zoo/hyperparams``: every HAQ id, values consistent with
the environments (gamma 1, budgets in whole episodes, Monitor keywords the terminal info holds), keys the algorithms
take, and a tiny real run of the Zoo where ``rl_zoo3`` is installed (``pip install "hwenvs[zoo]"``)."""

from __future__ import annotations

import csv
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO, SAC, TD3

from hwenvs.data import Task
from hwenvs.models.shapes import quantizable_layers
from hwenvs.models.zoo import build_architecture
from hwenvs.registration import HAQ_LAYERS, haq_env_ids
from hwenvs.zoo import ALGOS, hyperparams_file, load_hyperparams
from hwenvs.zoo.__main__ import main as zoo_main

ALGORITHMS = {"td3": TD3, "sac": SAC, "ppo": PPO}
ZOO_KEYS = {"n_timesteps", "policy", "noise_type", "noise_std", "monitor_kwargs", "normalize", "n_envs"}
"""Keys the Zoo consumes itself instead of passing them to the algorithm's constructor."""
INFO_KEYWORDS = ("accuracy", "cost_ratio")
MAX_WARMUP_EPISODES = 10
"""What "a few episodes" of ``learning_starts`` may be at most."""


def steps_per_episode(env_id: str) -> int:
    """Two steps per quantizable layer of the id's model, counted on the built network (not taken from a table)."""
    model = gym.spec(env_id).kwargs["model"]
    return 2 * len(quantizable_layers(build_architecture(model, num_classes=10)))


def monitor_kwargs(hyperparams: dict) -> dict:
    """``monitor_kwargs`` as the Zoo reads it: a string is evaluated, a dict used as it is."""
    value = hyperparams["monitor_kwargs"]
    return eval(value) if isinstance(value, str) else value  # what rl_zoo3's ExperimentManager does with it


@pytest.mark.parametrize("algo", ALGOS)
def test_hyperparams_are_consistent_with_the_environments(algo: str) -> None:
    table = load_hyperparams(algo)
    assert set(table) == set(haq_env_ids())
    for env_id, hp in table.items():
        steps = steps_per_episode(env_id)
        # the spec's limit is a horizon one step past the episode (a natural end is not a truncation)
        assert steps + 1 == gym.spec(env_id).max_episode_steps == 2 * HAQ_LAYERS[gym.spec(env_id).kwargs["model"]] + 1
        assert hp["gamma"] == 1.0 and hp["policy"] == "MlpPolicy", env_id
        assert hp["n_timesteps"] % steps == 0 and hp["n_timesteps"] // steps >= 100, env_id
        if algo == "ppo":
            assert hp["n_steps"] % steps == 0 and hp["n_timesteps"] % hp["n_steps"] == 0, env_id
            assert hp["n_steps"] % hp["batch_size"] == 0, env_id
        else:
            assert hp["learning_starts"] % steps == 0, env_id
            assert 1 <= hp["learning_starts"] // steps <= MAX_WARMUP_EPISODES, env_id
        kwargs = monitor_kwargs(hp)
        assert kwargs == {"info_keywords": INFO_KEYWORDS} and isinstance(kwargs["info_keywords"], tuple)
        # every other key is a constructor argument of the algorithm (a misspelt one would fail only in the Zoo)
        accepted = set(inspect.signature(ALGORITHMS[algo].__init__).parameters)
        assert set(hp) - ZOO_KEYS <= accepted, (env_id, set(hp) - ZOO_KEYS - accepted)


def test_mobilenet_v2_episode_length() -> None:
    assert steps_per_episode("HAQ-MobileNetV2-BISMO") == 106  # 53 layers, 17 of them depthwise
    assert load_hyperparams("td3")["HAQ-MobileNetV2-BISMO"]["n_timesteps"] == 300 * 106


def test_monitor_keywords_are_in_every_terminal_info(mnist_small: Task) -> None:
    env = gym.make("HAQ-MobileNetV1-BISMO", dataset=mnist_small)
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, info = env.step(np.zeros(1, np.float32))
    assert set(INFO_KEYWORDS) <= set(info) and all(np.isfinite(info[key]) for key in INFO_KEYWORDS)
    assert env.unwrapped.steps_per_episode == steps_per_episode("HAQ-MobileNetV1-BISMO")


def test_module_prints_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert zoo_main(["TD3"]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path == hyperparams_file("td3") and path.is_file()
    with pytest.raises(ValueError, match="td3, sac, ppo"):
        hyperparams_file("a2c")


ZOO_TIMEOUT_S = 600


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("rl_zoo3") is None, reason='needs pip install "hwenvs[zoo]"')
def test_rl_zoo_trains_with_the_shipped_hyperparams(tmp_path: Path) -> None:
    """Two episodes of TD3 through ``python -m rl_zoo3.train`` with the shipped file; the Monitor's CSV holds both
    episodes with their accuracy and cost ratio."""
    env_id, steps = "HAQ-MobileNetV1-BISMO", steps_per_episode("HAQ-MobileNetV1-BISMO")
    command = [
        sys.executable, "-m", "rl_zoo3.train", "--algo", "td3", "--env", env_id, "--gym-packages", "hwenvs",
        "--conf-file", str(hyperparams_file("td3")), "-n", str(2 * steps), "--eval-freq", "-1", "--seed", "0",
        "--hyperparams", f"learning_starts:{steps}", "--num-threads", "1", "-f", str(tmp_path), "--verbose", "0",
        # bits 6..8 (under the 8-bit cost): fewer quantized weights to compute and no clipping search, so it stays small
        "--env-kwargs", "min_bits:6", "preserve_ratio:1.0",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=ZOO_TIMEOUT_S, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (monitor,) = tmp_path.rglob("*.monitor.csv")
    with open(monitor, newline="") as f:
        next(f)  # the Monitor's JSON header line
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(int(row["l"]) == steps for row in rows)
    assert all(0.0 < float(row["accuracy"]) <= 1.0 and 0.0 < float(row["cost_ratio"]) <= 1.0 for row in rows)
