"""Standard RL tools on the environments, unmodified: SB3's ``make_vec_env`` (which asks every environment for
``render_mode="rgb_array"``) with DummyVecEnv and SubprocVecEnv, and Gymnasium's handling of an unsupported render
mode (a warning, then nothing rendered)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from hwenvs.data import Task
from hwenvs.envs.haq_env import HAQEnv
from hwenvs.envs.proxylessnas_env import ProxylessNASEnv

HAQ = "HAQ-MobileNetV2-BISMO"
NAS = "ProxylessNAS-BISMO"  # its latency table is computed here (Mobile's comes from shared reference data)
INFO_KEYWORDS = ("accuracy", "cost_ratio")


def _actions(venv, n: int) -> np.ndarray:
    return np.stack([venv.action_space.sample() for _ in range(n)])


@pytest.mark.parametrize("env_id", [HAQ, NAS])
def test_make_vec_env_without_env_kwargs(env_id: str) -> None:
    """SB3's exact call, no env_kwargs: each env is asked for "rgb_array", warns, and renders nothing."""
    with pytest.warns(UserWarning, match=r"renders only 'ansi': render_mode='rgb_array' renders nothing"):
        venv = make_vec_env(env_id, n_envs=2)
    try:
        assert venv.get_attr("render_mode") == [None, None] and venv.render_mode is None
        venv.seed(0)
        obs = venv.reset()
        assert obs.shape == (2, *venv.observation_space.shape)
        obs, rewards, _, infos = venv.step(_actions(venv, 2))
        assert obs.shape[0] == rewards.shape[0] == len(infos) == 2
    finally:
        venv.close()


@pytest.mark.parametrize("env_id", [HAQ, NAS])
def test_make_vec_env_runs_whole_episodes_with_monitor_info(env_id: str, mnist_small: Task) -> None:
    kwargs = {"dataset": mnist_small} if env_id == HAQ else {"dataset": mnist_small, "val_batch_size": 50}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the render-mode warning, tested above
        monitor = {"info_keywords": INFO_KEYWORDS}
        venv = make_vec_env(env_id, n_envs=2, seed=0, env_kwargs=kwargs, monitor_kwargs=monitor)
    try:
        venv.reset()
        steps = venv.get_attr("steps_per_episode")[0]
        # HAQ: one bit width everywhere, so each env quantizes every layer once (random widths cost a minute here)
        actions = np.zeros((2, 1), np.float32) if env_id == HAQ else _actions(venv, 2)
        for step in range(steps):
            _, rewards, dones, infos = venv.step(actions)
            assert dones.all() == (step == steps - 1)
        for reward, info in zip(rewards, infos, strict=True):
            assert {"episode", "terminal_observation", *INFO_KEYWORDS} <= set(info)
            assert info["episode"]["l"] == steps and info["episode"]["r"] == pytest.approx(reward)
            assert 0.0 <= info["episode"]["accuracy"] <= 1.0 and info["episode"]["cost_ratio"] > 0
    finally:
        venv.close()


SUBPROC_SCRIPT = """
import numpy as np
import hwenvs  # registers the ids in this process and, through it, in the workers
from hwenvs.data import load_task
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

if __name__ == "__main__":
    load_task("mnist")  # loaded once here: the forked workers inherit it instead of loading it twice more
    for env_id in ("HAQ-MobileNetV2-BISMO", "ProxylessNAS-BISMO"):
        venv = make_vec_env(env_id, n_envs=2, vec_env_cls=SubprocVecEnv, vec_env_kwargs={"start_method": "fork"})
        venv.reset()
        obs, _, _, _ = venv.step(np.stack([venv.action_space.sample() for _ in range(2)]))
        print(env_id, obs.shape[0], venv.render_mode)
        venv.close()
"""
SUBPROC_TIMEOUT_S = 400
"""Generous for a loaded 2-core machine; a deadlocked worker never finishes."""


@pytest.mark.slow
def test_make_vec_env_with_subproc_vec_env(tmp_path: Path) -> None:
    """SubprocVecEnv with no env_kwargs, from a script (as a user runs it), in a child process so that a deadlocked
    worker fails the test instead of hanging the suite."""
    script = tmp_path / "train.py"
    script.write_text(SUBPROC_SCRIPT)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    child = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, start_new_session=True, **pipes)
    try:
        out, err = child.communicate(timeout=SUBPROC_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the workers too
        child.communicate()
        pytest.fail(f"SubprocVecEnv did not finish in {SUBPROC_TIMEOUT_S} s")
    assert child.returncode == 0, err[-2000:]
    assert out.split("\n")[:2] == [f"{HAQ} 2 None", f"{NAS} 2 None"], out


def test_gym_make_with_an_unsupported_render_mode_warns_and_renders_nothing(mnist_small: Task) -> None:
    with pytest.warns(UserWarning, match="renders nothing") as caught:
        env = gym.make(HAQ, render_mode="rgb_array", dataset=mnist_small)
    assert any("not in the possible render_modes" in str(w.message) for w in caught)  # gym.make's own warning
    assert env.render_mode is None
    env.reset(seed=0)
    assert env.render() is None  # through gym.make's render checker, which refuses a mode the env does not declare


@pytest.mark.parametrize("cls", [HAQEnv, ProxylessNASEnv])
@pytest.mark.parametrize("mode", ["rgb_array", "human", "ansii", "100%"])
def test_unsupported_render_modes_warn(cls: type[gym.Env], mode: str) -> None:
    with pytest.warns(UserWarning, match=f"{cls.__name__} renders only 'ansi'") as caught:
        args = cls.check_arguments(render_mode=mode)
    assert args["render_mode"] is None
    assert ("did you mean 'ansi'?" in str(caught[0].message)) == (mode == "ansii")


@pytest.mark.parametrize("cls", [HAQEnv, ProxylessNASEnv])
@pytest.mark.parametrize("mode", [None, "ansi"])
def test_supported_render_modes_pass_silently(cls: type[gym.Env], mode: str | None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cls.check_arguments(render_mode=mode)["render_mode"] == mode


@pytest.mark.parametrize("cls", [HAQEnv, ProxylessNASEnv])
@pytest.mark.parametrize("mode", [1, b"ansi", ["ansi"], np.array(["ansi"]), 1j])
def test_render_modes_that_are_not_strings_are_refused(cls: type[gym.Env], mode: object) -> None:
    with pytest.raises(TypeError, match="render_mode must be None or a string"):
        cls.check_arguments(render_mode=mode)
