"""Ray RLlib on the hwenvs ids with no user glue: ``hwenvs.rllib.register_with_ray()`` makes every id buildable in
a remote env runner that never imported hwenvs, and ``HwenvsMetricsCallback`` puts each episode's accuracy and cost
into the training result. PPO trains one iteration with one remote env runner on a HAQ and a ProxylessNAS id."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator

import numpy as np
import pytest

from hwenvs.registration import haq_env_ids, proxylessnas_env_ids
from hwenvs.rllib import EPISODE_METRICS, METRICS_KEY, hwenvs_ids, make_env, register_with_ray, terminal_figures

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason='Ray is not installed: pip install "hwenvs[ray]"'
)


def test_terminal_figures_keep_finite_numbers_of_the_known_keys() -> None:
    haq = {"accuracy": np.float32(0.5), "cost_ratio": 0.49, "cost": 12, "within_budget": True, "policy": [[8, 8]]}
    assert terminal_figures(haq) == {"accuracy": 0.5, "cost_ratio": 0.49, "cost": 12.0}
    nas = {"accuracy": 0.9, "latency_ms": 3.5, "cost_ratio": math.nan}
    assert terminal_figures(nas) == {"accuracy": 0.9, "latency_ms": 3.5}  # NaN is no figure
    assert terminal_figures({"accuracy": True}) == {} and terminal_figures(None) == {}  # nor is a flag
    assert set(EPISODE_METRICS) == {"accuracy", "cost_ratio", "cost", "latency_ms"}


def test_every_id_is_offered_and_vectors_are_made_where_an_id_has_one(mnist_small) -> None:
    from hwenvs.envs.haq_vector_env import HAQVectorEnv

    assert hwenvs_ids() == [*haq_env_ids(), *proxylessnas_env_ids()]
    vector = make_env("HAQ-MobileNetV2-BISMO", {"num_envs": 3, "dataset": mnist_small})
    assert isinstance(vector, HAQVectorEnv) and vector.num_envs == 3
    with pytest.raises(ValueError, match='only the HAQ ids offer: use "sync"'):
        make_env("ProxylessNAS-BISMO", {"num_envs": 2})


@needs_ray
def test_registering_an_unknown_id_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="not hwenvs ids: 'HAQ-Nope'; hwenvs registers HAQ-MobileNetV2-BISMO, "):
        register_with_ray(["HAQ-Nope"])


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    """A private two-CPU Ray instance for the module, shut down after it."""
    ray = pytest.importorskip("ray", reason='Ray is not installed: pip install "hwenvs[ray]"')
    with pytest.MonkeyPatch.context() as patch:
        # no token: a throwaway local instance (Ray would otherwise write ~/.ray/auth_token and switch this process
        # to token mode for every later cluster)
        patch.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            yield
        finally:
            ray.shutdown()


@needs_ray
@pytest.mark.slow
@pytest.mark.parametrize(
    ("env_id", "env_config", "batch", "cost_key", "vectorize", "num_envs"),
    [
        ("HAQ-MobileNetV2-BISMO", {"preserve_ratio": 0.5}, 106, "cost", "sync", 1),  # one 106-step episode
        ("ProxylessNAS-BISMO", {"val_batch_size": 64}, 4, "latency_ms", "sync", 1),  # four one-step episodes
        # two HAQ episodes side by side in one HAQVectorEnv
        ("HAQ-MobileNetV2-BISMO", {"preserve_ratio": 0.5}, 212, "cost", "vector_entry_point", 2),
    ],
)
def test_ppo_trains_with_a_remote_env_runner_and_logs_accuracy_and_cost(
    ray_instance: None, env_id: str, env_config: dict, batch: int, cost_key: str, vectorize: str, num_envs: int
) -> None:
    from ray.rllib.algorithms.ppo import PPOConfig

    from hwenvs.rllib import HwenvsMetricsCallback

    register_with_ray()
    config = (
        PPOConfig()
        .environment(env_id, env_config=env_config)
        .env_runners(
            num_env_runners=1,
            num_envs_per_env_runner=num_envs,
            num_cpus_per_env_runner=1,
            gym_env_vectorize_mode=vectorize,
        )
        .learners(num_learners=0)
        .training(gamma=1.0, train_batch_size_per_learner=batch, minibatch_size=batch // 2, num_epochs=1)
        .callbacks(HwenvsMetricsCallback)
        .debugging(seed=0)
    )
    algo = config.build_algo()
    try:
        assert algo.env_runner_group.num_remote_env_runners() == 1  # built in a process that never imported hwenvs
        result = algo.train()
    finally:
        algo.stop()
    runners = result["env_runners"]
    assert runners["num_episodes"] >= 1
    figures = runners[METRICS_KEY]
    assert set(figures) == {"accuracy", "cost_ratio", cost_key}
    assert 0.0 <= figures["accuracy"] <= 1.0 and figures[cost_key] > 0
    if env_id.startswith("HAQ-"):
        assert figures["cost_ratio"] <= env_config["preserve_ratio"] + 1e-9  # the rollback keeps the budget
