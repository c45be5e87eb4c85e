"""``accuracy="surrogate"``: the same environments with predicted accuracy, exact costs, clear refusals, and the
tools around it (replay, ``hwenvs evaluate``, the results file that chose the family)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import hwenvs  # noqa: F401
from hwenvs.envs.proxylessnas_env import ProxylessNASEnv
from hwenvs.surrogate import accuracy as surrogate_accuracy
from hwenvs.surrogate import predictor
from hwenvs.surrogate.dataset import available_datasets, load_haq_dataset, load_nas_dataset

pytestmark = pytest.mark.usefixtures("one_thread")
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
HAQ_ID = "HAQ-MobileNetV2-BISMO"
HAQ_DATA, NAS_DATA = "haq-mobilenet_v2-mnist", "nas-w0.35-mnist"


def data_missing(name: str) -> str | None:
    """Why tests of dataset ``name`` skip (None when it is shipped)."""
    if name in available_datasets():
        return None
    kind = name.split("-")[0]
    return f"the embedded task's {kind.upper()} surrogate dataset is not shipped yet (`hwenvs bench-data {kind}`)"


needs_haq = pytest.mark.skipif(data_missing(HAQ_DATA) is not None, reason=str(data_missing(HAQ_DATA)))
needs_nas = pytest.mark.skipif(data_missing(NAS_DATA) is not None, reason=str(data_missing(NAS_DATA)))


@pytest.fixture(scope="module")
def haq() -> gym.Env:
    if data_missing(HAQ_DATA):
        pytest.skip(data_missing(HAQ_DATA))
    env = gym.make(HAQ_ID, accuracy="surrogate")
    yield env
    env.close()


def random_episode(env: gym.Env, seed: int) -> dict:
    env.reset(seed=seed)
    env.action_space.seed(seed)
    while True:
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            return info


def test_haq_surrogate_keeps_spaces_and_scores_with_predicted_accuracy(haq: gym.Env) -> None:
    env = haq.unwrapped
    assert env.task is None and env.surrogate is not None  # no data and no network loaded
    assert haq.observation_space == gym.spaces.Box(0.0, 1.0, (10,), np.float32)
    assert haq.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    info = random_episode(haq, seed=3)
    assert info["accuracy_source"] == "surrogate"
    assert info["within_budget"] and info["cost_ratio"] <= 0.5 + 1e-9
    assert 0.0 <= info["accuracy"] <= 1.0
    assert info["float_accuracy"] == load_haq_dataset().meta["float_accuracy"]["val"]
    assert info["reward"] == pytest.approx(0.1 * (info["accuracy"] - info["float_accuracy"]))
    assert random_episode(haq, seed=3) == info  # same seed, same episode


def test_haq_surrogate_costs_are_the_exact_ones_of_the_dataset(haq: gym.Env) -> None:
    data = load_haq_dataset()
    for row in (0, len(data) // 2, len(data) - 1):
        policy = data.policy(row)
        assert haq.unwrapped.policy_cost(policy) == pytest.approx(data.cost("bismo-edge")[row], rel=1e-12)


def test_haq_surrogate_predicts_the_measured_accuracy_of_held_out_rows(haq: gym.Env) -> None:
    data = load_haq_dataset()
    _, held_out = predictor.holdout_split(len(data))
    predicted = [haq.unwrapped.evaluate_solution(data.policy(int(r)), split="val")["accuracy"] for r in held_out[:200]]
    metrics = predictor.error_metrics(np.asarray(predicted), data.val_accuracy[held_out[:200]].astype(np.float64))
    assert metrics["kendall_tau"] > 0.5, metrics  # ranks policies far better than chance
    assert metrics["rmse_points"] < 15, metrics


def test_haq_surrogate_env_is_light_to_pickle(haq: gym.Env) -> None:
    assert len(pickle.dumps(haq.unwrapped)) < 20_000_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "resnet18"}, "no surrogate for 'haq-resnet18-mnist'.*the ones that exist are"),
        ({"dataset": "fashion-mnist"}, "no surrogate for 'haq-mobilenet_v2-fashion-mnist'.*the ones that exist are"),
        ({"accuracy": "predicted"}, "accuracy must be one of 'real', 'surrogate'"),
    ],
)
def test_a_surrogate_that_does_not_exist_is_refused_with_the_ones_that_do(kwargs: dict, message: str) -> None:
    env_id = "HAQ-ResNet18-BISMO" if kwargs.get("model") == "resnet18" else HAQ_ID  # an id refuses another model
    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **{"accuracy": "surrogate", **kwargs})


@needs_haq
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"constraint": "size"}, "not constraint='size'"),
        ({"finetune_steps": 5}, "finetune_steps=0 only"),
        ({"quantizer": "kmeans"}, "quantizer='linear' only"),
        ({"keep_first_layer": False}, "keep_first_layer=True only"),
    ],
)
def test_haq_surrogate_refuses_what_its_dataset_did_not_measure(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gym.make(HAQ_ID, **{"accuracy": "surrogate", **kwargs})


def test_haq_surrogate_has_no_network_to_hand_out(haq: gym.Env) -> None:
    with pytest.raises(RuntimeError, match="accuracy='real'"):
        haq.unwrapped.quantized_model(haq.unwrapped.uniform_policy(8))
    with pytest.raises(RuntimeError, match="accuracy='real'"):
        haq.unwrapped.trained_accuracy(torch.nn.Linear(1, 1))


@needs_haq
def test_haq_surrogate_passes_the_environment_checker() -> None:
    from gymnasium.utils.env_checker import check_env

    check_env(gym.make(HAQ_ID, accuracy="surrogate").unwrapped, skip_render_check=True)


@needs_nas
def test_nas_surrogate_scores_architectures(mobile_table_file: None) -> None:
    env = gym.make("ProxylessNAS-Mobile", accuracy="surrogate")
    data = load_nas_dataset()
    info = env.unwrapped.evaluate_solution(data.architecture(0))
    assert info["accuracy_source"] == "surrogate" and 0.0 <= info["accuracy"] <= 1.0
    assert info["latency_ms"] == pytest.approx(data.latency_ms["mobile"][0])
    assert random_episode(env, seed=1) == random_episode(env, seed=1)


@needs_nas
def test_nas_surrogate_refuses_online_weights_and_another_batch() -> None:
    with pytest.raises(ValueError, match="weights='frozen'"):
        gym.make("ProxylessNAS-BISMO", accuracy="surrogate", weights="online")
    with pytest.raises(ValueError, match=r"no surrogate for 'nas-w0\.5-mnist'"):
        gym.make("ProxylessNAS-BISMO", accuracy="surrogate", width_mult=0.5)
    # another scoring batch is refused by the argument checks alone, before anything is built
    with pytest.raises(ValueError, match=r"first 1000 images of each split.*val_batch_size=250"):
        ProxylessNASEnv.check_arguments(accuracy="surrogate", val_batch_size=250)


def test_the_family_the_environments_use_is_the_one_the_error_report_kept() -> None:
    path = RESULTS / "surrogate_error.json"
    if not path.is_file():
        pytest.skip("benchmarks/results/surrogate_error.json is not there yet: run benchmarks/surrogate_error.py")
    report = json.loads(path.read_text())
    for name, result in report["datasets"].items():
        assert result["kept"] == surrogate_accuracy.FAMILY, name


def test_evaluate_rescores_a_surrogate_result_on_the_real_network(
    haq: gym.Env, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from hwenvs.cli.main import main

    policy = haq.unwrapped.fit_to_budget(haq.unwrapped.uniform_policy(6))
    val = haq.unwrapped.evaluate_solution(policy)
    test = haq.unwrapped.evaluate_solution(policy, split="test")
    record = {
        "env_id": HAQ_ID,
        "env_kwargs": {"accuracy": "surrogate"},
        "solution_key": "policy",
        "policy": policy,
        "accuracy": val["accuracy"],
        "test_accuracy": test["accuracy"],
        "cost_key": "cost",
        "cost": val["cost"],
        "info": {k: v for k, v in val.items() if k != "policy"},
    }
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(record))
    assert main(["evaluate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "(surrogate: predicted)" in out and "(real network)" in out and "the surrogate was off by" in out
