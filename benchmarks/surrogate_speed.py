"""Episodes per second with ``accuracy="surrogate"`` against the real environment, in one run on one core.

An episode is what an agent pays for: ``reset``, every step with a random action (drawn before timing), the rollback
and the accuracy (predicted, or measured on the validation split). Both environments are made with ``gym.make``
(Gymnasium's default wrappers included) and cache nothing (``cache_accuracy=False``), so every episode is scored.
The goal is 500 surrogate episodes per second on one core; the ratio to the real environment is what the machine's
load cannot skew, since both run in the same process minutes apart. HAQ ids are also run through ``gym.make_vec``
(``HAQVectorEnv``: vectorised steps, one batched prediction per round of episodes) at several ``num_envs``.

    python benchmarks/surrogate_speed.py                      # HAQ-MobileNetV2-BISMO and ProxylessNAS-Mobile
    python benchmarks/surrogate_speed.py --surrogate-episodes 2000 --real-episodes 20

Writes results/surrogate_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import results_io
import torch

import hwenvs  # noqa: F401  (registers the ids)

RESULTS = Path(__file__).parent / "results"
GOAL_EPISODES_PER_SECOND = 500
ENV_IDS = ("HAQ-MobileNetV2-BISMO", "ProxylessNAS-Mobile")
VECTOR_SIZES = (16, 64, 256)
"""Sub-environments of the vectorised runs (ids with a vector entry point: HAQ)."""


def random_actions(env: gym.Env, episodes: int, seed: int) -> list[list[Any]]:
    """Every step's action of ``episodes`` episodes, drawn before timing."""
    env.action_space.seed(seed)
    steps = env.unwrapped.steps_per_episode
    return [[env.action_space.sample() for _ in range(steps)] for _ in range(episodes)]


def episodes_per_second(env: gym.Env, actions: list[list[Any]]) -> float:
    """Run the episodes; their rate."""
    start = time.perf_counter()
    for episode in actions:
        env.reset()
        for action in episode:
            env.step(action)
    return len(actions) / (time.perf_counter() - start)


def measure(env_id: str, surrogate_episodes: int, real_episodes: int, seed: int) -> dict[str, Any]:
    """Surrogate and real rates of one id (each environment's first episode is run untimed, to warm caches)."""
    result: dict[str, Any] = {}
    for source, episodes in (("surrogate", surrogate_episodes), ("real", real_episodes)):
        start = time.perf_counter()
        env = gym.make(env_id, accuracy=source, cache_accuracy=False)
        make_seconds = time.perf_counter() - start
        actions = random_actions(env, episodes + 1, seed)
        episodes_per_second(env, actions[:1])
        rate = episodes_per_second(env, actions[1:])
        env.close()
        result[source] = {"episodes": episodes, "episodes_per_second": rate, "make_seconds": make_seconds}
        print(f"{env_id} {source}: {rate:.1f} episodes/s over {episodes} (make {make_seconds:.1f} s)")
    result["speedup"] = result["surrogate"]["episodes_per_second"] / result["real"]["episodes_per_second"]
    result["meets_goal"] = result["surrogate"]["episodes_per_second"] >= GOAL_EPISODES_PER_SECOND
    if gym.spec(env_id).vector_entry_point is not None:
        result["vector"] = [measure_vector(env_id, n, surrogate_episodes, seed) for n in VECTOR_SIZES]
    return result


def measure_vector(env_id: str, num_envs: int, episodes: int, seed: int) -> dict[str, Any]:
    """Surrogate episodes per second of ``gym.make_vec(env_id, num_envs)`` (the vectorised environment, one batched
    prediction per round of episodes), over at least ``episodes`` episodes after one untimed round."""
    envs = gym.make_vec(env_id, num_envs=num_envs, accuracy="surrogate", cache_accuracy=False)
    steps = envs.unwrapped.env.steps_per_episode + 1  # the step after an episode ends resets it (NEXT_STEP)
    rounds = max(1, -(-episodes // num_envs))
    envs.action_space.seed(seed)
    actions = [envs.action_space.sample() for _ in range(steps * (rounds + 1))]
    envs.reset(seed=seed)
    for action in actions[:steps]:
        envs.step(action)
    start = time.perf_counter()
    for action in actions[steps:]:
        envs.step(action)
    rate = rounds * num_envs / (time.perf_counter() - start)
    envs.close()
    print(f"{env_id} surrogate, gym.make_vec num_envs={num_envs}: {rate:.1f} episodes/s")
    return {"num_envs": num_envs, "episodes": rounds * num_envs, "episodes_per_second": rate}


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("envs", "goal"), "surrogate_speed.json", "benchmarks/surrogate_speed.py")
    lines = [
        "# Surrogate episode rate",
        "",
        "Episodes per second (reset, every step with a random action, rollback, accuracy) with `gym.make` defaults, "
        f"`cache_accuracy=False`, one torch thread, in one process. Goal: {data['goal']} surrogate episodes/s.",
        "",
    ]
    columns = ["environment", "surrogate episodes/s", "real episodes/s", "speed-up", "goal met", "make surrogate (s)",
               "make real (s)"]  # fmt: skip
    rows = []
    for env_id, r in data["envs"].items():
        s, real = r["surrogate"], r["real"]
        rows.append([env_id, f"{s['episodes_per_second']:.1f} ({s['episodes']} episodes)",
                     f"{real['episodes_per_second']:.2f} ({real['episodes']} episodes)", f"{r['speedup']:.0f}x",
                     "yes" if r["meets_goal"] else "no", f"{s['make_seconds']:.2f}",
                     f"{real['make_seconds']:.2f}"])  # fmt: skip
    lines += results_io.table(columns, rows)
    vector_rows = [(env_id, v) for env_id, r in data["envs"].items() for v in r.get("vector", [])]
    if vector_rows:
        lines += [
            "",
            "`gym.make_vec` (the vectorised environment: every sub-environment stepped at once, one batched "
            "prediction per round of episodes), same actions source, one core:",
            "",
        ]
        columns = ["environment", "num_envs", "surrogate episodes/s", "over single-environment surrogate"]
        rows = []
        for env_id, v in vector_rows:
            single = data["envs"][env_id]["surrogate"]["episodes_per_second"]
            rows.append([env_id, v["num_envs"], f"{v['episodes_per_second']:.0f} ({v['episodes']} episodes)",
                         f"{v['episodes_per_second'] / single:.1f}x"])  # fmt: skip
        lines += results_io.table(columns, rows)
    lines += ["", f"Machine: {data['machine']}; load average at the start {data['load_average']:.2f}; {data['date']}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(ENV_IDS))
    parser.add_argument("--surrogate-episodes", type=int, default=2000)
    parser.add_argument("--real-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    envs = {env_id: measure(env_id, args.surrogate_episodes, args.real_episodes, args.seed) for env_id in args.envs}
    data = {
        "goal": GOAL_EPISODES_PER_SECOND,
        "envs": envs,
        "load_average": load,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "date": datetime.date.today().isoformat(),
    }
    results_io.write(RESULTS / "surrogate_speed.json", data, RESULTS / "surrogate_speed.md", render(data))
    print(render(data))


if __name__ == "__main__":
    main()
