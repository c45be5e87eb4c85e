"""Vector environments with Gymnasium's defaults: AsyncVectorEnv forks on Linux after building an env in the parent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys

import pytest

TIMEOUT_S = 400
"""Generous for a loaded 2-core machine; a deadlocked worker never finishes."""

SCRIPT = """
import gymnasium as gym, numpy as np, torch
import hwenvs
torch.set_num_threads(2)
torch.ones(256, 256) @ torch.ones(256, 256)  # the parent's intra-op pool is up, as in any real session
envs = gym.make_vec("HAQ-MobileNetV1-BISMO", num_envs=2, vectorization_mode="async", constraint="size")
envs.reset(seed=0)
finished = 0
for _ in range(2 * 28 + 1):  # 28 steps an episode; next-step autoreset: the step after a terminal one resets
    _, rewards, terminated, _, _ = envs.step(np.zeros((2, 1), np.float32))
    finished += int(terminated.sum())
envs.close()
print(finished)
"""


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork start method here")
def test_async_vector_env_with_the_default_fork_start_method() -> None:
    """Two forked workers x two episodes, in a child process so that a deadlock fails the test instead of hanging the
    suite. Before hwenvs set one torch thread in forked children, the workers hung in their first torch op: the
    parent's OpenMP pool does not survive a fork (Gymnasium builds an env in the parent before forking)."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], start_new_session=True, **pipes)
    try:
        out, err = child.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)  # the forked workers too
        child.communicate()
        pytest.fail(f"AsyncVectorEnv with the fork start method did not finish in {TIMEOUT_S} s (deadlocked workers)")
    assert child.returncode == 0, err[-2000:]
    assert out.split()[-1] == "4"  # two episodes in each worker
