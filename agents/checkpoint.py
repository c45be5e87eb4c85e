"""Checkpoints of a search, so that a killed or interrupted search resumes where it stopped.

A checkpoint (``OUT/checkpoint.pt``) holds, after a finished episode: the agent's :meth:`Agent.state_dict`, the
search record's state (rewards, best episode, its test figures, the size of ``history.csv``), the global random
generators (Python's, numpy's legacy one, torch's CPU one) and the environment's ``np_random``. It is written after
the episode's history row and ``policy.json``, atomically, and off the search's thread: the search pays only for the
snapshot (a pickle whose tensors and arrays are copied as raw buffers: about 5 ms of CPU, 3.7 MB, for DDPG on
HAQ-MobileNetV2 with a full replay buffer, under 1% of an episode), and a kill during a write leaves the previous
checkpoint in place.

A checkpoint is a pickle: resume only from folders you trust, such as your own searches' (SB3's ``load`` is a
pickle too).
"""

from __future__ import annotations

import io
import pickle
import random
import sys
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from hwenvs.agents.base import Agent, ResumeError

CHECKPOINT_NAME = "checkpoint.pt"
"""The checkpoint's file name in a search's output folder."""

CHECKPOINT_FORMAT = "hwenvs-checkpoint/1"
"""The ``format`` field of a checkpoint."""

IDENTITY_KEYS = ("env_id", "env_kwargs", "agent", "agent_kwargs", "seed")
"""What a resumed search must share with the checkpoint's (fields of the search's ``meta``)."""


# -- serialisation ----------------------------------------------------------------------------------------------------


def _tensor_from_array(array: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(array if array.flags.writeable else array.copy())  # torch warns on read-only memory


class _Pickler(pickle.Pickler):
    """Pickles CPU-representable torch tensors as numpy arrays (raw buffers, much faster than torch's own reduce)."""

    def reducer_override(self, obj: Any) -> Any:
        torch = sys.modules.get("torch")
        if torch is not None and type(obj) is torch.Tensor and not obj.requires_grad:
            try:
                return _tensor_from_array, (obj.detach().cpu().numpy(),)
            except TypeError:  # a dtype numpy lacks (bfloat16...): torch's own reduce
                return NotImplemented
        return NotImplemented


def dumps(state: Any) -> bytes:
    """``state`` as checkpoint bytes: a pickle (protocol 5, arrays and tensors as raw buffers; tensors come back as
    CPU tensors).

    :param state: any picklable object.
    """
    stream = io.BytesIO()
    _Pickler(stream, protocol=5).dump(state)
    return stream.getvalue()


def loads(data: bytes) -> Any:
    """The object :func:`dumps` wrote.

    :param data: checkpoint bytes.
    """
    return pickle.loads(data)


# -- random generators ------------------------------------------------------------------------------------------------


def global_rng_state() -> dict[str, Any]:
    """The states of Python's ``random``, numpy's legacy global generator and (if imported) torch's CPU generator."""
    torch = sys.modules.get("torch")
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002  (user agents may draw from the legacy global generator)
        "torch": torch.get_rng_state() if torch is not None else None,
    }


def set_global_rng_state(state: Mapping[str, Any]) -> None:
    """Restore :func:`global_rng_state`'s states.

    :param state: a dict from :func:`global_rng_state`.
    """
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002
    if state["torch"] is not None:
        import torch

        torch.set_rng_state(state["torch"])


def env_rng_state(env: gym.Env) -> Mapping[str, Any]:
    """The state of the environment's ``np_random`` (created, as Gymnasium does, if the environment has none)."""
    return env.unwrapped.np_random.bit_generator.state


def set_env_rng_state(env: gym.Env, state: Mapping[str, Any]) -> None:
    """Give the environment an ``np_random`` in :func:`env_rng_state`'s state.

    :param env: the environment.
    :param state: a bit generator's state.
    """
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    env.unwrapped.np_random = np.random.Generator(bit_generator)


# -- whether a search can resume --------------------------------------------------------------------------------------


def resume_problem(env: gym.Env, agent: Agent) -> str | None:
    """Why a search of ``agent`` on ``env`` cannot be checkpointed and resumed, or None if it can.

    :param env: the environment searched.
    :param agent: the agent.
    """
    if not agent.resumable:
        policy = getattr(agent, "policy", None)  # a PolicyAgent: the policy is what does not save its state
        what = f"policy {type(policy).__name__}" if policy is not None else f"agent {type(agent).__name__}"
        return f"{what} does not save its state (its resumable is False), so searches with it cannot resume"
    nas = sys.modules.get("hwenvs.envs.proxylessnas_env")
    if nas is not None and isinstance(env.unwrapped, nas.ProxylessNASEnv) and env.unwrapped.weights == "online":
        return (
            "ProxylessNAS with weights='online' trains the environment's supernet every episode, which a checkpoint "
            "does not hold, so the search cannot resume; weights='frozen' (the default) can"
        )
    return None


def identity_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The :data:`IDENTITY_KEYS` on which two searches' ``meta`` differ, as ``"key: saved X, now Y"``.

    :param saved: the checkpoint's meta (JSON-normalised).
    :param current: the resuming search's meta (JSON-normalised the same way).
    """
    return [
        f"{key}: saved {saved.get(key)!r}, now {current.get(key)!r}"
        for key in IDENTITY_KEYS
        if saved.get(key) != current.get(key)
    ]


def read_checkpoint(path: Path, identity: Mapping[str, Any]) -> dict[str, Any]:
    """Load the checkpoint at ``path`` and check it is the same search as ``identity`` describes.

    :param path: the checkpoint file.
    :param identity: the resuming search's meta (JSON-normalised).
    :raises ResumeError: for an unreadable file, another format, or another search (naming what differs).
    """
    try:
        state = loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as exc:
        raise ResumeError(f"cannot read the checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ResumeError(f"{path} is not an hwenvs checkpoint (format {CHECKPOINT_FORMAT!r})")
    differ = identity_differences(state["meta"], identity)
    if differ:
        raise ResumeError(
            f"the search in {path.parent} was made with other settings, so it cannot resume with these "
            f"({'; '.join(differ)}); use another output folder"
        )
    return state


def restore(state: Mapping[str, Any], env: gym.Env, agent: Agent) -> None:
    """Put the agent, the global generators and the environment's ``np_random`` back where the checkpoint was.

    :param state: a checkpoint from :func:`read_checkpoint`.
    :param env: the environment (built with the checkpoint's arguments).
    :param agent: the agent (built with the checkpoint's arguments).
    """
    agent.load_state_dict(state["agent"])
    set_global_rng_state(state["rng"])
    set_env_rng_state(env, state["env_rng"])


# -- writing ----------------------------------------------------------------------------------------------------------


class CheckpointWriter:
    """Snapshots a search after an episode and writes it atomically on a background thread, one write at a time.

    :param path: the checkpoint file.
    :param env: the environment searched.
    :param agent: the agent.
    :param meta: the search's meta (JSON-normalised), checked on resume.
    :param every: write after every ``every``-th episode (and after the last planned one).
    """

    def __init__(self, path: Path, env: gym.Env, agent: Agent, meta: Mapping[str, Any], every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {every}")
        self.path, self.env, self.agent, self.meta, self.every = path, env, agent, dict(meta), every
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hwenvs-checkpoint")
        self._pending: Future[None] | None = None

    def due(self, episodes: int, planned: int) -> bool:
        """Whether to write after ``episodes`` finished episodes of ``planned``."""
        return episodes % self.every == 0 or episodes >= planned

    def save(self, recorder_state: Mapping[str, Any]) -> None:
        """Snapshot agent, record and generators now; write the snapshot in the background.

        :param recorder_state: the search record's :meth:`SearchRecorder.state_dict`.
        """
        from hwenvs import __version__

        data = dumps(
            {
                "format": CHECKPOINT_FORMAT,
                "hwenvs_version": __version__,
                "meta": self.meta,
                "agent": self.agent.state_dict(),
                "recorder": dict(recorder_state),
                "rng": global_rng_state(),
                "env_rng": env_rng_state(self.env),
            }
        )
        self._wait()  # at most one write in flight; also raises the previous write's error
        from hwenvs.cache import atomic_write_bytes

        self._pending = self._executor.submit(atomic_write_bytes, self.path, data)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        """Wait for the last write (raising its error, if any) and stop the writer thread."""
        try:
            self._wait()
        finally:
            self._executor.shutdown(wait=True)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary checkpoint files a killed search left in ``folder``.

    :param folder: a search's output folder.
    """
    for tmp in folder.glob(f".{CHECKPOINT_NAME}.*.tmp"):
        tmp.unlink(missing_ok=True)
