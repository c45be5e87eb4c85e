"""Plugging in a search method of your own: a hill climber on HAQ in a few lines.

The policy remembers the actions of the best episode so far and replays them with Gaussian noise; that is all a
:class:`hwenvs.agents.policy.Policy` needs (``act``, and ``update`` to learn from each finished episode). Run it with::

    python -m hwenvs.agents.examples.custom_policy --episodes 20
    hwenvs search HAQ-MobileNetV2-BISMO --agent hwenvs.agents.examples.custom_policy:HillClimbPolicy --episodes 20
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.agents.policy import Policy, Trajectory


class HillClimbPolicy(Policy):
    """Perturb the best episode's actions; uniform random until there is one.

    :param sigma: standard deviation of the perturbation, in action units ([-1, 1] on HAQ).
    """

    def __init__(self, sigma: float = 0.3) -> None:
        self.sigma = sigma
        self.best_reward = -np.inf
        self.best_actions: list[np.ndarray] = []

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        """The best episode's action at ``step``, perturbed."""
        space = self.action_space
        assert isinstance(space, gym.spaces.Box), space  # HAQ acts with a Box: Box(-1, 1, (1,))
        low, high = space.low, space.high
        if not self.best_actions:
            return self.rng.uniform(low, high)
        return np.clip(self.best_actions[step] + self.rng.normal(0.0, self.sigma, low.shape), low, high)

    def update(self, trajectory: Trajectory) -> dict[str, Any]:
        """Keep the episode's actions if it is the best so far."""
        if trajectory.reward > self.best_reward:
            self.best_reward, self.best_actions = trajectory.reward, trajectory.actions
        return {"best_reward": self.best_reward}


def main(argv: list[str] | None = None) -> None:
    """Search HAQ-MobileNetV2-BISMO with the hill climber and print the best policy found."""
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)
    from hwenvs.agents.policy import PolicyAgent

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HAQ-MobileNetV2-BISMO")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    env = gym.make(args.env)
    best: dict[str, Any] = {}

    def on_episode(result: Any) -> None:
        if result.reward >= best.get("reward", -np.inf):
            best.update(reward=result.reward, info=result.info)

    PolicyAgent(env, HillClimbPolicy(), seed=args.seed).learn(args.episodes, on_episode)
    info = best["info"]
    print(f"best reward {best['reward']:.4f}: accuracy {info['accuracy']:.4f}, cost ratio {info['cost_ratio']:.3f}")
    print("policy [w_bits, a_bits] per layer:", info["policy"])


if __name__ == "__main__":
    main()
