"""TensorBoard scalars of a search, one point per episode, whatever the agent (SB3's included).

The search pipeline's recorder (:class:`hwenvs.agents.pipeline.SearchRecorder`) sees every finished episode of every
agent, so it is where the scalars are written, with the episode index as the step:

* ``episode/reward``, ``episode/val_accuracy``, ``episode/cost_ratio``: the episode itself;
* ``best/reward``, ``best/val_accuracy``, ``best/cost_ratio``: the best episode so far (by validation reward);
* ``best/test_accuracy``, ``best/test_reward``: that best solution on the test split, which the pipeline measures
  whenever the best improves. Episodes are not evaluated on test one by one: that would double a search's cost, and
  the test split is for reports.

Needs the ``tensorboard`` package (``pip install "hwenvs[tensorboard]"``); ``torch.utils.tensorboard`` writes the
event files, so nothing else is imported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from hwenvs.agents.base import EpisodeResult

INSTALL_HINT = 'pip install "hwenvs[tensorboard]"'
"""How to get what TensorBoard logging needs."""

EPISODE_TAGS = ("episode/reward", "episode/val_accuracy", "episode/cost_ratio")
"""Scalars of each episode."""

BEST_TAGS = ("best/reward", "best/val_accuracy", "best/test_accuracy", "best/test_reward", "best/cost_ratio")
"""Scalars of the best episode so far (test figures where the environment offers the test split)."""


def summary_writer_class() -> type:
    """``torch.utils.tensorboard.SummaryWriter``.

    :raises ImportError: the ``tensorboard`` package is missing (or too old), with the command that installs it.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise ImportError(f"TensorBoard logging needs the tensorboard package: {INSTALL_HINT} ({exc})") from exc
    return SummaryWriter


class TensorBoardLog:
    """Writes a search's per-episode scalars into one TensorBoard run folder.

    :param log_dir: the run's folder (``tensorboard --logdir`` its parent to compare runs).
    :param first_episode: episodes already recorded (a resumed search): points logged before at this step or later,
        by the episodes the checkpoint did not keep, are hidden by TensorBoard (``purge_step``), so a resumed
        search's curves have one point per episode.
    :raises ImportError: the ``tensorboard`` package is missing, with the command that installs it.
    """

    def __init__(self, log_dir: str | os.PathLike, first_episode: int = 0) -> None:
        self.log_dir = os.fspath(log_dir)
        self.writer = summary_writer_class()(log_dir=self.log_dir, purge_step=first_episode)

    def episode(self, result: EpisodeResult, best: EpisodeResult, best_test: Mapping[str, Any] | None) -> None:
        """Log one finished episode and the best so far (after it).

        :param result: the episode.
        :param best: the best episode so far, ``result`` included.
        :param best_test: ``best``'s solution evaluated on the test split (None where there is none).
        """
        test = best_test or {}
        values = {
            "episode/reward": result.reward,
            "episode/val_accuracy": result.info.get("accuracy"),
            "episode/cost_ratio": result.info.get("cost_ratio"),
            "best/reward": best.reward,
            "best/val_accuracy": best.info.get("accuracy"),
            "best/test_accuracy": test.get("accuracy"),
            "best/test_reward": test.get("reward"),
            "best/cost_ratio": best.info.get("cost_ratio"),
        }
        for tag, value in values.items():
            if value is not None and math.isfinite(float(value)):  # SB3 reports NaN for an episode it lost track of
                self.writer.add_scalar(tag, float(value), result.episode)
        self.writer.flush()  # a search can be killed at any time: what TensorBoard shows is what history.csv holds

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
