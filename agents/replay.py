"""Reading a saved ``policy.json`` back: validation with clear errors, rebuilding its environment, and replay.

A replay rebuilds the environment from the file's ``env_id`` and ``env_kwargs``, evaluates exactly the stored
solution (``evaluate_<solution_key>``, e.g. HAQ's ``evaluate_policy``, else ``evaluate``: no rollback, no agent)
and compares what it measures with what the file says, field by field.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym

from agents.pipeline import POLICY_FORMAT

REQUIRED_FIELDS = ("env_id", "env_kwargs", "solution_key", "accuracy")
"""Fields every policy file must have."""


class PolicyFileError(ValueError):
    """A policy file that cannot be used: unreadable, malformed, or not matching its environment."""


@dataclass
class PolicyFile:
    """A loaded, structurally valid ``policy.json``.

    :param path: where it was read from.
    :param data: its whole content.
    """

    path: Path
    data: dict[str, Any]

    @property
    def env_id(self) -> str:
        """The environment id the solution was found on."""
        return self.data["env_id"]

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The keyword arguments the environment was made with."""
        return self.data["env_kwargs"]

    @property
    def solution_key(self) -> str:
        """The terminal-info key of the solution (``policy`` for HAQ)."""
        return self.data["solution_key"]

    @property
    def solution(self) -> Any:
        """The stored solution (HAQ: ``[w_bits, a_bits]`` per layer)."""
        return self.data[self.solution_key]

    @property
    def cost_key(self) -> str | None:
        """The terminal-info key of the cost (``cost`` for HAQ)."""
        return self.data.get("cost_key")

    def expected(self) -> dict[str, Any]:
        """Every stored scalar measurement a replay must reproduce, by terminal-info key."""
        expected = {k: v for k, v in (self.data.get("info") or {}).items() if _scalar(v)}
        expected["accuracy"] = self.data["accuracy"]
        if self.cost_key is not None and self.data.get("cost") is not None:
            expected[self.cost_key] = self.data["cost"]
        return expected


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def load_policy_file(path: str | os.PathLike) -> PolicyFile:
    """Read and structurally validate a policy file.

    :param path: the ``policy.json`` written by a search.
    :raises PolicyFileError: the file is missing, not JSON, or lacks required fields.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "is it a policy.json written by `hwenvs search`?"
        ) from exc
    if not isinstance(data, dict):
        raise PolicyFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if data.get("format", POLICY_FORMAT) != POLICY_FORMAT:
        raise PolicyFileError(f"{path}: unsupported format {data.get('format')!r}; this hwenvs reads {POLICY_FORMAT}")
    missing = [k for k in REQUIRED_FIELDS if k not in data]
    if missing:
        raise PolicyFileError(f"{path}: missing field(s) {missing}; a policy file needs {list(REQUIRED_FIELDS)}")
    if not isinstance(data["env_id"], str):
        raise PolicyFileError(f"{path}: env_id must be a string, got {data['env_id']!r}")
    if not isinstance(data["env_kwargs"], dict):
        raise PolicyFileError(f"{path}: env_kwargs must be an object, got {data['env_kwargs']!r}")
    if data["solution_key"] not in data:
        raise PolicyFileError(f"{path}: solution_key is {data['solution_key']!r} but the file has no such field")
    return PolicyFile(path, data)


def make_env(policy_file: PolicyFile, overrides: Mapping[str, Any] | None = None) -> gym.Env:
    """The environment the policy was found on, rebuilt from the file.

    :param policy_file: the loaded file.
    :param overrides: env keyword arguments replacing the stored ones (e.g. ``device="cpu"``).
    :raises PolicyFileError: the env id is not registered.
    """
    import hwenvs  # noqa: F401  (registers the environments the file names)

    env_id = policy_file.env_id
    if env_id not in gym.registry:
        similar = sorted(k for k in gym.registry if k.split("-")[0] == env_id.split("-")[0])
        hint = f"; registered ids like it: {similar}" if similar else ""
        raise PolicyFileError(f"{policy_file.path}: environment id {env_id!r} is not registered{hint}")
    return gym.make(env_id, **{**policy_file.env_kwargs, **(overrides or {})})


def evaluate_solution(env: gym.Env, policy_file: PolicyFile) -> dict[str, Any]:
    """Evaluate exactly the stored solution on ``env``.

    :param env: the environment from :func:`make_env`.
    :param policy_file: the loaded file.
    :raises PolicyFileError: the solution does not fit the environment (wrong layer count, bits out of range...).
    """
    unwrapped = env.unwrapped
    key = policy_file.solution_key
    # HAQ names its evaluator after the solution (evaluate_policy); ProxylessNAS has a plain evaluate(architecture)
    evaluate = getattr(unwrapped, f"evaluate_{key}", None) or getattr(unwrapped, "evaluate", None)
    if evaluate is None:
        raise PolicyFileError(f"{policy_file.env_id} cannot replay a {key!r}: it has no evaluate_{key}() method")
    solution = policy_file.solution
    layers = getattr(unwrapped, "num_layers", None)
    if key == "policy":
        if not isinstance(solution, list):
            raise PolicyFileError(f"{policy_file.path}: policy must be a list of [w_bits, a_bits], got {solution!r}")
        if layers is not None and len(solution) != layers:
            raise PolicyFileError(
                f"{policy_file.path}: the policy has {len(solution)} layers but {policy_file.env_id} has {layers}; "
                "was it saved for another model?"
            )
    try:
        return evaluate(solution)
    except (ValueError, TypeError) as exc:
        raise PolicyFileError(f"{policy_file.path}: the stored {key} does not fit {policy_file.env_id}: {exc}") from exc


@dataclass
class ReplayReport:
    """The outcome of a replay.

    :param measured: the replayed evaluation (terminal-info dict).
    :param mismatches: ``(key, stored, replayed)`` for every field that differs.
    """

    measured: dict[str, Any]
    mismatches: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if everything matched."""
        return not self.mismatches

    def diff(self) -> str:
        """The mismatches as ``-stored`` / ``+replayed`` lines."""
        lines = []
        for key, stored, replayed in self.mismatches:
            lines += [f"- {key}: {stored!r}", f"+ {key}: {replayed!r}"]
        return "\n".join(lines)


def replay(
    policy_file: PolicyFile,
    overrides: Mapping[str, Any] | None = None,
    rel_tol: float = 0.0,
    env: gym.Env | None = None,
) -> ReplayReport:
    """Rebuild the environment, re-evaluate the stored solution and compare with what was stored.

    :param policy_file: the loaded file.
    :param overrides: env keyword arguments replacing the stored ones.
    :param rel_tol: relative tolerance for floats (0: exact; use a small one across devices).
    :param env: an environment already made as the file says, to replay many files without rebuilding it.
    """
    own_env = env is None
    env = make_env(policy_file, overrides) if own_env else env
    try:
        measured = evaluate_solution(env, policy_file)
    finally:
        if own_env:
            env.close()
    report = ReplayReport(measured)
    for key, stored in policy_file.expected().items():
        if key not in measured:
            continue
        value = measured[key]
        if isinstance(stored, float) and isinstance(value, int | float) and not isinstance(value, bool):
            same = math.isclose(stored, float(value), rel_tol=rel_tol, abs_tol=0.0) or stored == value
        else:
            same = stored == value
        if not same:
            report.mismatches.append((key, stored, value))
    return report
