"""HAQ's ``ansi`` rendering: the episode so far as a per-layer table of bits and, once it ended, costs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hwenvs.envs.bit_budget import UNQUANTIZED

if TYPE_CHECKING:
    from hwenvs.envs.haq_env import HAQEnv


def render_ansi(env: HAQEnv) -> str:
    """The table :meth:`~hwenvs.envs.haq_env.HAQEnv.render` returns: each layer's name, type and bits (``-`` not
    chosen yet, ``f`` an unquantized input), and after the last step each layer's cost and share and the totals.

    :param env: the environment, at any step of its episode.
    """
    w, a = env._w, env._a
    done = env._step >= env.steps_per_episode
    costs = env.budget_model.layer_costs(np.maximum(w, 1), a) if done else None
    lines = [f"{'#':>3} {'layer':<28} {'type':<9} {'W':>2} {'A':>2} {'cost':>11} {'share':>6}"]
    for i, layer in enumerate(env.layers):
        kind = "dw-conv" if layer.depthwise else layer.kind
        wb = str(w[i]) if w[i] else "-"
        ab = "f" if done and a[i] == UNQUANTIZED else (str(a[i]) if a[i] else "-")
        cost = f"{costs[i]:11.4g} {100 * costs[i] / costs.sum():5.1f}%" if costs is not None else ""
        lines.append(f"{i:>3} {layer.name[:28]:<28} {kind:<9} {wb:>2} {ab:>2} {cost}")
    if done:
        info = env._last_info
        lines.append(
            f"{env.constraint}: {info['cost']:.4g} {info['unit']} = {info['cost_ratio']:.3f} x 8-bit "
            f"(budget {env.budget_model.preserve_ratio:.3f}); accuracy {info['accuracy']:.4f} "
            f"(float {env.float_accuracy:.4f})"
        )
    return "\n".join(lines)
