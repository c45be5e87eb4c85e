"""Plugging in one's own search method and SB3's options: ``--agent mymodule:MyPolicy`` finds a module in the
current folder (as ``python -m`` does), a policy can ask HAQ for bit widths through ``self.env.bits_to_action``, and
``--agent-kwarg`` values go over the SB3 adapter's defaults (``verbose=1`` crashed with a duplicate keyword)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from hwenvs.agents.base import EpisodeResult
from hwenvs.agents.examples.bit_widths import UniformBitsPolicy
from hwenvs.agents.pipeline import build_agent
from hwenvs.agents.policy import PolicyAgent
from hwenvs.agents.sb3 import SB3Agent
from hwenvs.data import Task
from hwenvs.envs.contract import ContractError

HAQ = "HAQ-MobileNetV1-BISMO"  # the smallest episode of the HAQ ids on the embedded task

POLICY_MODULE = '''
import numpy as np

from hwenvs.agents.policy import Policy


class FourBits(Policy):
    """Asks for 4 bits at every step."""

    def act(self, observation, step):
        return np.array([self.env.bits_to_action(4)], dtype=np.float32)
'''


@pytest.fixture(scope="module")
def env(mnist_small: Task) -> gym.Env:
    """A HAQ environment whose budget (the 8-bit cost) never makes the rollback lower what a policy asks for."""
    return gym.make(HAQ, dataset=mnist_small, preserve_ratio=1.0)


def run_one_episode(agent: PolicyAgent) -> EpisodeResult:
    results: list[EpisodeResult] = []
    agent.learn(1, results.append)
    return results[0]


def test_agent_module_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: gym.Env) -> None:
    (tmp_path / "hwenvs_test_four_bits.py").write_text(POLICY_MODULE)
    monkeypatch.chdir(tmp_path)
    # as under the `hwenvs` console script, whose sys.path starts with its own folder: neither "" nor the cwd
    here = os.path.realpath(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p and os.path.realpath(p) != here])
    monkeypatch.delitem(sys.modules, "hwenvs_test_four_bits", raising=False)

    agent = build_agent("hwenvs_test_four_bits:FourBits", env, seed=0)

    assert isinstance(agent, PolicyAgent) and sys.path[0] == os.getcwd()
    # a policy asking for 4 bits gets 4 bits on every free layer; the fixed first and last layers keep theirs
    assert run_one_episode(agent).info["policy"] == env.unwrapped.uniform_policy(4)


def test_a_missing_agent_module_names_where_it_was_looked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ValueError, match=f"no_such_module.*looked in {os.getcwd()}"):
        build_agent("no_such_module:Policy", gym.make("CartPole-v1"))


def test_policy_asking_for_bit_widths_gets_them(env: gym.Env) -> None:
    result = run_one_episode(PolicyAgent(env, UniformBitsPolicy(w_bits=6, a_bits=4), seed=0))
    assert result.info["policy"] == env.unwrapped.uniform_policy(6, 4)


def test_bit_width_policy_needs_a_haq_environment() -> None:
    with pytest.raises(ContractError, match="UniformBitsPolicy needs a HAQ environment"):
        PolicyAgent(gym.make("CartPole-v1"), UniformBitsPolicy(), seed=0)


def test_bits_to_action_round_trips_and_refuses_non_integers(env: gym.Env) -> None:
    haq = env.unwrapped
    for bits in range(haq.min_bits, haq.max_bits + 1):
        action = np.array([haq.bits_to_action(np.int64(bits))], dtype=np.float32)  # as a policy returns it
        assert haq.action_to_bits(float(action[0])) == bits
    for bad, error in ((4.0, TypeError), (True, TypeError), (1, ValueError), (9, ValueError)):
        with pytest.raises(error, match=r"bits must be an integer in 2\.\.8"):
            haq.bits_to_action(bad)


def test_sb3_kwargs_go_over_the_adapter_defaults(env: gym.Env) -> None:
    assert SB3Agent(env, "TD3").model.verbose == 0  # the pipeline reports episodes itself
    assert SB3Agent(env, "TD3", verbose=1).model.verbose == 1
