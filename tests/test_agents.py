"""Search agents on a small real HAQ configuration: MobileNetV1 (28 layers), model-size budget (one step per layer),
a 100-image validation split. Every agent runs a few episodes; DDPG's warm-up is shortened through its dataclass."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.agents.base import EpisodeResult
from hwenvs.agents.ddpg import DDPGAgent, DDPGConfig
from hwenvs.agents.examples.custom_policy import HillClimbPolicy
from hwenvs.agents.fixed_precision import FixedPrecisionAgent
from hwenvs.agents.pipeline import build_agent
from hwenvs.agents.policy import Policy, PolicyAgent, Trajectory
from hwenvs.agents.random_search import RandomSearchAgent, UniformPolicy
from hwenvs.agents.sb3 import SB3Agent, algorithm_class

ENV_ID = "HAQ-MobileNetV1-BISMO"


@pytest.fixture(scope="module")
def env(mnist_small) -> gym.Env:
    """One small HAQ environment shared by the module (its accuracy cache makes repeated policies free)."""
    env = gym.make(ENV_ID, constraint="size", preserve_ratio=0.4, dataset=mnist_small)
    yield env
    env.close()


def run(agent, episodes: int) -> list[EpisodeResult]:
    results: list[EpisodeResult] = []
    agent.learn(episodes, results.append)
    return results


def check_results(env: gym.Env, results: list[EpisodeResult], episodes: int) -> None:
    haq = env.unwrapped
    assert [r.episode for r in results] == list(range(episodes))
    for r in results:
        assert len(r.info["policy"]) == haq.num_layers
        assert r.info["cost"] <= haq.budget * (1 + 1e-9)
        assert r.reward == pytest.approx(0.1 * (r.info["accuracy"] - haq.float_accuracy))


# -- DDPG ---------------------------------------------------------------------------------------------------------


def test_ddpg_defaults_are_haqs() -> None:
    cfg = DDPGConfig()
    assert (cfg.hidden, cfg.actor_lr, cfg.critic_lr, cfg.tau, cfg.discount) == (300, 1e-4, 1e-3, 0.01, 1.0)
    assert (cfg.batch_size, cfg.replay_per_layer, cfg.warmup_episodes) == (64, 128, 20)
    assert (cfg.noise_sigma, cfg.noise_decay, cfg.baseline_alpha) == (0.5, 0.99, 0.5)


def test_ddpg_runs_stores_every_step_and_updates_after_warmup(env: gym.Env) -> None:
    # a smoke test of the search loop; that DDPG learns is shown on a bandit in test_agent_learning.py
    agent = DDPGAgent(env, seed=0, warmup_episodes=1, batch_size=16)
    assert agent.buffer.capacity == 128 * env.unwrapped.num_layers
    results = run(agent, 3)
    check_results(env, results, 3)
    steps = env.unwrapped.steps_per_episode
    assert agent.buffer.size == 3 * steps
    # every transition of an episode carries that episode's terminal reward
    np.testing.assert_allclose(agent.buffer.rewards[:steps], results[0].reward, rtol=1e-6)
    np.testing.assert_allclose(agent.buffer.rewards[steps : 2 * steps], results[1].reward, rtol=1e-6)
    assert results[0].extra == {"sigma": None}  # warm-up: no updates
    assert results[1].extra["sigma"] == pytest.approx(1.0)  # 0.5 of the [-1, 1] range's width
    assert results[2].extra["sigma"] == pytest.approx(0.99)
    assert np.isfinite(results[2].extra["critic_loss"]) and agent.reward_baseline is not None


def test_ddpg_same_seed_same_search(env: gym.Env) -> None:
    first = run(DDPGAgent(env, seed=3, warmup_episodes=1, batch_size=16), 3)
    second = run(DDPGAgent(env, seed=3, warmup_episodes=1, batch_size=16), 3)
    other = run(DDPGAgent(env, seed=4, warmup_episodes=1, batch_size=16), 3)
    assert [r.info["policy"] for r in first] == [r.info["policy"] for r in second]
    assert [r.extra for r in first] == [r.extra for r in second]
    assert [r.info["policy"] for r in first] != [r.info["policy"] for r in other]


def test_ddpg_noise_stays_in_the_action_range_and_decays(env: gym.Env) -> None:
    agent = DDPGAgent(env, seed=0, warmup_episodes=20)
    obs, _ = env.reset()
    actions = np.array([agent.act(obs, episode=20) for _ in range(500)])
    assert actions.min() >= -1.0 and actions.max() <= 1.0
    assert actions.std() > 0.4  # sigma 1.0 truncated to [-1, 1]
    assert agent.sigma(120) == pytest.approx(1.0 * 0.99**100)
    late = np.array([agent.act(obs, episode=500) for _ in range(200)])
    assert late.std() < 0.05  # sigma 0.0066: the actor's choice


def test_ddpg_rejects_unknown_hyperparameters(env: gym.Env) -> None:
    with pytest.raises(ValueError, match="unknown DDPG hyperparameters"):
        DDPGAgent(env, warmup=3)


def test_agents_stop_when_the_callback_returns_false(env: gym.Env) -> None:
    for agent in (DDPGAgent(env, seed=0, warmup_episodes=1), RandomSearchAgent(env, seed=0)):
        seen: list[int] = []
        agent.learn(5, lambda r, seen=seen: seen.append(r.episode) or len(seen) < 2)
        assert seen == [0, 1]


# -- baselines ------------------------------------------------------------------------------------------------------


def test_random_search_is_seeded(env: gym.Env) -> None:
    a = run(RandomSearchAgent(env, seed=1), 3)
    b = run(RandomSearchAgent(env, seed=1), 3)
    c = run(RandomSearchAgent(env, seed=2), 3)
    check_results(env, a, 3)
    assert [r.info["policy"] for r in a] == [r.info["policy"] for r in b]
    assert [r.info["policy"] for r in a] != [r.info["policy"] for r in c]
    assert len({str(r.info["policy"]) for r in a}) == 3


def draws(space: gym.spaces.Space, seed: int = 0, n: int = 200, masks=None) -> list:
    policy = UniformPolicy(masks)
    policy.setup(gym.spaces.Box(0, 1, (1,)), space, seed)
    return [policy.act(np.zeros(1), i) for i in range(n)]


def test_uniform_policy_draws_from_any_space() -> None:
    discrete = gym.spaces.Discrete(5, start=2)
    values = draws(discrete)
    assert set(map(int, values)) == {2, 3, 4, 5, 6} and all(v in discrete for v in values)
    assert [int(v) for v in draws(discrete, seed=3)] == [int(v) for v in draws(discrete, seed=3)]
    assert [int(v) for v in draws(discrete, seed=3)] != [int(v) for v in draws(discrete, seed=4)]
    multi = gym.spaces.MultiDiscrete([2, 3, 7])
    values = np.array(draws(multi))
    assert all(v in multi for v in values) and [len(set(values[:, i])) for i in range(3)] == [2, 3, 7]
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert all(v in box for v in draws(box))
    # spaces without a dedicated draw use their own sample(), seeded, without touching the environment's space
    composite = gym.spaces.Dict({"bits": gym.spaces.MultiBinary(4), "x": gym.spaces.Box(-np.inf, np.inf, (2,))})
    state = composite.np_random.bit_generator.state
    values = draws(composite, seed=1, n=5)
    assert all(v in composite for v in values) and composite.np_random.bit_generator.state == state
    assert str(values) == str(draws(composite, seed=1, n=5))


def test_uniform_policy_draws_only_valid_actions() -> None:
    allowed = np.array([True, False, False, True, False])
    assert set(map(int, draws(gym.spaces.Discrete(5), masks=lambda: allowed))) == {0, 3}
    multi = gym.spaces.MultiDiscrete([2, 3])
    flat = np.array([False, True, True, False, True])  # entry 0: only 1; entry 1: 0 or 2
    for mask in (flat, [flat[:2], flat[2:]]):
        values = np.array(draws(multi, masks=lambda mask=mask: mask))
        assert set(values[:, 0]) == {1} and set(values[:, 1]) == {0, 2}
    with pytest.raises(ValueError, match="allows no action"):
        draws(gym.spaces.Discrete(2), masks=lambda: np.zeros(2, bool))
    with pytest.raises(ValueError, match="5 flags"):
        draws(multi, masks=lambda: np.ones(4, bool))
    with pytest.raises(ValueError, match="can only mask"):
        draws(gym.spaces.MultiBinary(3), masks=lambda: np.ones(3, bool))


def test_random_search_on_a_discrete_env() -> None:
    env = gym.make("CartPole-v1")
    results = run(RandomSearchAgent(env, seed=0), 2)
    again = run(RandomSearchAgent(gym.make("CartPole-v1"), seed=0), 2)
    assert [r.reward for r in results] == [r.reward for r in again] and all(r.reward >= 1 for r in results)


def test_fixed_precision_tries_every_uniform_pair_that_fits(env: gym.Env) -> None:
    haq = env.unwrapped
    agent = FixedPrecisionAgent(env, seed=0)
    pairs = agent.candidates()
    bits = range(haq.min_bits, haq.max_bits + 1)
    every = [(w, a) for w in bits for a in bits] if haq.steps_per_layer == 2 else [(b, b) for b in bits]
    fits = {p for p in every if haq.policy_cost(haq.uniform_policy(*p)) <= haq.budget}
    assert set(pairs) == fits and (haq.min_bits, haq.min_bits) in fits
    costs = [haq.policy_cost(haq.uniform_policy(*p)) for p in pairs]
    assert costs == sorted(costs, reverse=True)  # most expensive first
    results = run(agent, 2)
    assert [(r.extra["w_bits"], r.extra["a_bits"]) for r in results] == pairs[:2]
    for r, pair in zip(results, pairs, strict=False):
        assert r.info["policy"] == haq.uniform_policy(*pair)  # no rollback touched it
        assert r.info["cost"] <= haq.budget


def test_fixed_precision_needs_a_haq_env() -> None:
    with pytest.raises(ValueError, match="needs a HAQ environment"):
        FixedPrecisionAgent(gym.make("Pendulum-v1"))


# -- the plug-in interface -----------------------------------------------------------------------------------------


def test_custom_policy_plugs_in_with_a_few_lines(env: gym.Env) -> None:
    class Constant(Policy):
        def act(self, observation: np.ndarray, step: int) -> np.ndarray:
            return np.ones(1, np.float32)  # max bits everywhere; the rollback fits it into the budget

    results = run(PolicyAgent(env, Constant(), seed=0), 1)
    check_results(env, results, 1)
    assert results[0].info["policy"] == env.unwrapped.fit_to_budget(env.unwrapped.uniform_policy(8))


def test_policy_update_sees_the_whole_trajectory(env: gym.Env) -> None:
    seen: list[Trajectory] = []

    class Recorder(HillClimbPolicy):
        def update(self, trajectory: Trajectory) -> dict:
            seen.append(trajectory)
            return super().update(trajectory)

    results = run(PolicyAgent(env, Recorder(), seed=0), 3)
    steps = env.unwrapped.steps_per_episode
    assert [len(t.actions) for t in seen] == [steps] * 3
    assert [t.info for t in seen] == [r.info for r in results]
    assert results[-1].extra["best_reward"] == max(r.reward for r in results)


def test_example_policy_by_module_path(env: gym.Env) -> None:
    agent = build_agent("hwenvs.agents.examples.custom_policy:HillClimbPolicy", env, seed=0, sigma=0.1)
    assert isinstance(agent, PolicyAgent) and agent.policy.sigma == 0.1
    check_results(env, run(agent, 2), 2)
    with pytest.raises(ValueError, match="cannot load agent"):
        build_agent("hwenvs.agents.examples.custom_policy:Nope", env)
    with pytest.raises(ValueError, match="neither"):
        build_agent("hwenvs.agents.pipeline:run_search", env)


@pytest.mark.slow
def test_example_script_prints_a_policy_within_budget(capsys: pytest.CaptureFixture[str]) -> None:
    from hwenvs.agents.examples.custom_policy import main

    main(["--env", ENV_ID, "--episodes", "2"])
    out = capsys.readouterr().out
    cost_ratio = float(out.split("cost ratio ")[1].split()[0])
    policy = json.loads(out.split("policy [w_bits, a_bits] per layer: ")[1].strip().replace("None", "null"))
    assert "best reward" in out and 0 < cost_ratio <= 0.5 + 1e-3  # the default budget: half the 8-bit latency
    assert len(policy) == 28 and policy[0] == [8, None] and policy[-1] == [8, 8]  # MobileNetV1; the layer rules


# -- Stable-Baselines3 ------------------------------------------------------------------------------------------------


def test_sb3_td3_smoke_a_few_hundred_steps(env: gym.Env) -> None:
    agent = build_agent("sb3:TD3", env, seed=0, learning_starts=100, batch_size=32)
    assert isinstance(agent, SB3Agent)
    results = run(agent, 10)
    check_results(env, results, 10)
    steps = env.unwrapped.steps_per_episode
    assert agent.model.num_timesteps == 10 * steps  # 280 steps, 180 of them with gradient updates
    episodes = agent.monitor.get_episode_rewards()
    assert episodes == pytest.approx([r.reward for r in results], abs=1e-6)  # Monitor rounds to 6 digits
    assert "accuracy" in agent.monitor.info_keywords and "cost_ratio" in agent.monitor.info_keywords


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["SAC", "DDPG", "PPO", "A2C"])
def test_every_sb3_box_algorithm_smoke(env: gym.Env, algo: str) -> None:
    kwargs = {"SAC": {"learning_starts": 28}, "DDPG": {"learning_starts": 28}, "A2C": {"n_steps": 28}}.get(
        algo, {"n_steps": 28, "batch_size": 28}
    )
    results = run(SB3Agent(env, algo, seed=0, **kwargs), 3)
    check_results(env, results, 3)


def test_sb3_in_user_code(env: gym.Env) -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor

    monitored = Monitor(env, info_keywords=("accuracy", "cost_ratio"))
    steps = env.unwrapped.steps_per_episode
    PPO("MlpPolicy", monitored, n_steps=steps, batch_size=steps, seed=0).learn(total_timesteps=2 * steps)
    assert len(monitored.get_episode_rewards()) == 2


def test_package_exports_the_plug_in_api_and_imports_light() -> None:
    import subprocess
    import sys

    import hwenvs.agents
    from hwenvs.agents.pipeline import run_search

    assert hwenvs.agents.Policy is Policy and hwenvs.agents.PolicyAgent is PolicyAgent
    assert hwenvs.agents.run_search is run_search
    assert set(hwenvs.agents.__all__) <= set(dir(hwenvs.agents))
    heavy = "('torch', 'stable_baselines3', 'matplotlib')"
    code = f"import sys, hwenvs.agents; print(sorted(m for m in {heavy} if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_unknown_sb3_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown Stable-Baselines3 algorithm 'NOPE'"):
        algorithm_class("NOPE")
    assert algorithm_class("tqc").__name__ == "TQC"  # sb3-contrib
    assert algorithm_class("maskableppo").__name__ == "MaskablePPO"  # found whatever the case
