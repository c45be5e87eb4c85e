"""Fair starts: every agent that takes ``warm_start`` plays the same first episode, the best uniform policy within
the budget, and agents that cannot take it honestly refuse it."""

from __future__ import annotations

import gymnasium as gym
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.agents.registry import make_agent
from hwenvs.agents.start import play_start, start_actions, start_bits


@pytest.fixture(scope="module")
def env() -> gym.Env:
    return gym.make("HAQ-MobileNetV2-BISMO", preserve_ratio=0.4, min_bits=3, max_bits=5)


def _solutions(agent_spec: str, env: gym.Env, episodes: int = 3, **kwargs) -> list:
    solutions: list = []
    agent = make_agent(agent_spec, env, seed=0, **kwargs)
    agent.learn(episodes, lambda result: solutions.append(result.info["policy"]))
    return solutions


@pytest.mark.parametrize(
    ("spec", "kwargs"),
    [
        ("random", {}),
        ("tpe", {}),
        ("cmaes", {}),
        ("ddpg", {"warmup_episodes": 5}),  # no update within 3 episodes: the test is about the start, and stays fast
        ("sb3:TD3", {"learning_starts": 10_000}),
        ("sb3:SAC", {"learning_starts": 10_000}),
    ],
)
def test_every_warm_agent_plays_the_best_uniform_policy_first(spec: str, kwargs: dict, env: gym.Env) -> None:
    start = env.unwrapped.best_uniform_policy()
    solutions = _solutions(spec, env, warm_start=True, **kwargs)
    assert solutions[0] == start
    assert len(solutions) == 3
    cold = _solutions(spec, env, **kwargs)
    assert cold[0] != start  # the start is the option's doing, not every search's first episode


def test_start_bits_clip_fixed_sides_into_the_action_range(env: gym.Env) -> None:
    bits = start_bits(env)
    haq = env.unwrapped
    assert len(bits) == haq.steps_per_episode
    assert all(haq.min_bits <= b <= haq.max_bits for b in bits)  # the first and last layers' 8 bits are clipped
    episode = play_start(env, seed=0)
    assert episode.info["policy"] == haq.best_uniform_policy()
    assert episode.terminated[-1] and len(episode.actions) == len(start_actions(env))


def test_warm_random_search_draws_what_the_cold_one_draws_after_the_start(env: gym.Env) -> None:
    warm, cold = _solutions("random", env, 4, warm_start=True), _solutions("random", env, 3)
    assert warm[1:] == cold  # same generator, untouched by the start: the two differ by the start alone


def test_warm_cmaes_centres_its_distribution_on_the_start(env: gym.Env) -> None:
    agent = make_agent("cmaes", env, seed=0, warm_start=True)
    assert agent.study.sampler._x0 == agent.start
    assert all(3 <= b <= 5 for b in agent.start.values())
    assert agent.study.sampler._sigma0 == 0.1  # ddpg-warm's exploration width, not the cold default of a sixth
    cold = make_agent("cmaes", env, seed=0).study.sampler
    assert cold._x0 is None and cold._sigma0 is None
    assert make_agent("cmaes", env, seed=0, warm_start=True, warm_sigma=0.3).study.sampler._sigma0 == 0.3
    with pytest.raises(ValueError, match=r"warm_sigma.*\(0, 1\]"):
        make_agent("cmaes", env, seed=0, warm_start=True, warm_sigma=0.0)


def test_warm_cmaes_explores_as_near_the_start_as_ddpg_warm() -> None:
    """The step sizes agree: CMA-ES's warm sigma (a fraction of each range, Optuna scales ranges to [0, 1]) is
    ddpg-warm's noise sigma (a fraction of the action range)."""
    from hwenvs.agents.blackbox import CmaEsConfig
    from hwenvs.agents.ddpg import WARM_START

    assert CmaEsConfig().warm_sigma == WARM_START.noise_sigma


def test_agents_that_cannot_take_a_start_refuse_it(env: gym.Env) -> None:
    with pytest.raises(ValueError, match="on-policy"):
        make_agent("sb3:PPO", env, seed=0, warm_start=True)
    nas = gym.make("ProxylessNAS-BISMO", val_batch_size=250)
    for spec in ("random", "tpe", "sb3:TD3"):
        with pytest.raises((ValueError, TypeError), match="warm_start"):
            make_agent(spec, nas, seed=0, warm_start=True)
