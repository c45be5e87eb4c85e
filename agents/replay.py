"""Reading a search's result file back: validation with clear errors, rebuilding its environment, and replay.

Names: a *solution* is what an episode decides (HAQ's bit allocation, ProxylessNAS's architecture); an RL *policy* is
what an agent acts with (:class:`hwenvs.agents.policy.Policy`); the *result file* is what a search writes. Its file
name stays ``policy.json``, as 0.1 wrote it, so existing runs and scripts keep working.

A replay rebuilds the environment from the file's ``env_id`` and ``env_kwargs``, checks the stored solution
(:func:`check_solution`: the right kind, fits the environment and its budget), evaluates exactly it through the
environment's contract (``evaluate_solution``, on validation and test: no rollback, no agent) and compares what it
measures with what the file says, field by field.
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

from hwenvs.agents.pipeline import RESULT_FORMAT
from hwenvs.data.task import Split
from hwenvs.envs.contract import SearchEnv, search_env

REQUIRED_FIELDS = ("env_id", "env_kwargs", "solution_key", "accuracy")
"""Fields every result file must have."""


class ResultFileError(ValueError):
    """A result file (policy.json) that cannot be used: unreadable, malformed, or not matching its environment."""


@dataclass
class ResultFile:
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
        for key in ("test_accuracy", "test_reward"):  # absent from files written before the test split existed
            if self.data.get(key) is not None:
                expected[key] = self.data[key]
        if self.cost_key is not None and self.data.get("cost") is not None:
            expected[self.cost_key] = self.data["cost"]
        return expected


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def load_result_file(path: str | os.PathLike) -> ResultFile:
    """Read and structurally validate a result file (a search's policy.json).

    :param path: the ``policy.json`` written by a search.
    :raises ResultFileError: the file is missing, not JSON, or lacks required fields.
    """
    path = Path(path)
    if path.is_dir():  # a search's --out folder given for the file in it
        inside = path / "policy.json"
        hint = f"give {inside}" if inside.is_file() else "give the policy.json a search wrote"
        raise ResultFileError(f"{path} is a folder, not a result file; {hint}")
    try:
        text = path.read_text()
    except OSError as exc:
        raise ResultFileError(f"cannot read result file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultFileError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "is it a policy.json written by `hwenvs search`?"
        ) from exc
    if not isinstance(data, dict):
        raise ResultFileError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if data.get("format", RESULT_FORMAT) != RESULT_FORMAT:
        raise ResultFileError(f"{path}: unsupported format {data.get('format')!r}; this hwenvs reads {RESULT_FORMAT}")
    missing = [k for k in REQUIRED_FIELDS if k not in data]
    if missing:
        raise ResultFileError(f"{path}: missing field(s) {missing}; a result file needs {list(REQUIRED_FIELDS)}")
    if not isinstance(data["env_id"], str):
        raise ResultFileError(f"{path}: env_id must be a string, got {data['env_id']!r}")
    if not isinstance(data["env_kwargs"], dict):
        raise ResultFileError(f"{path}: env_kwargs must be an object, got {data['env_kwargs']!r}")
    if data["solution_key"] not in data:
        raise ResultFileError(f"{path}: solution_key is {data['solution_key']!r} but the file has no such field")
    return ResultFile(path, data)


def make_env(result_file: ResultFile, overrides: Mapping[str, Any] | None = None) -> gym.Env:
    """The environment the policy was found on, rebuilt from the file.

    :param result_file: the loaded file.
    :param overrides: env keyword arguments replacing the stored ones (e.g. ``device="cpu"``).
    :raises ResultFileError: the env id is not registered, or the keywords (stored or overriding) do not fit it.
    """
    import hwenvs  # noqa: F401  (registers the environments the file names)
    from hwenvs.registration import check_env_kwargs, missing_search_methods

    env_id = result_file.env_id
    if env_id not in gym.registry:
        similar = sorted(k for k in gym.registry if k.split("-")[0] == env_id.split("-")[0])
        hint = f"; registered ids like it: {similar}" if similar else ""
        raise ResultFileError(f"{result_file.path}: environment id {env_id!r} is not registered{hint}")
    name, methods = missing_search_methods(env_id)  # the check `hwenvs search` runs on ENV_ID
    if methods:  # no search writes such a file; building it with the file's keywords ended in its own traceback
        raise ResultFileError(
            f"{result_file.path}: {env_id} ({name}) is not a search environment (it lacks {', '.join(methods)}), so "
            "no result of it can be replayed; a result file names a HAQ-* or ProxylessNAS-* id"
        )
    kwargs = {**result_file.env_kwargs, **(overrides or {})}
    try:  # the check `hwenvs search` runs on --env-kwarg, before anything is built
        check_env_kwargs(env_id, kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        given = "the file's env_kwargs" + (" with the --env-kwarg overrides" if overrides else "")
        raise ResultFileError(f"{result_file.path}: {given} do not fit {env_id}: {exc}") from exc
    return gym.make(env_id, **kwargs)


def check_solution(env: gym.Env, result_file: ResultFile) -> SearchEnv:
    """The one validation of a stored result that every command shares (``evaluate``, ``finetune``): the
    environment offers the contract, holds the file's kind of solution, and the solution fits it and its budget.

    :param env: the environment from :func:`make_env`.
    :param result_file: the loaded file.
    :returns: the environment's contract.
    :raises ResultFileError: with the reason the result is not valid.
    """
    try:
        contract = search_env(env)
    except TypeError as exc:
        raise ResultFileError(f"{result_file.path}: {exc}") from exc
    key = result_file.solution_key
    if key != contract.solution_key:
        raise ResultFileError(
            f"{result_file.path}: the file holds a {key!r} but {result_file.env_id} searches a "
            f"{contract.solution_key!r}; was it saved for another environment?"
        )
    info = _evaluate(contract, result_file, "val")
    searchable = getattr(contract, "check_searchable", None)  # HAQ: bits within the search's range
    if searchable is not None:
        try:
            searchable(result_file.solution)
        except ValueError as exc:
            raise ResultFileError(
                f"{result_file.path}: the stored {key} is not a result of {result_file.env_id}: {exc}"
            ) from exc
    if info.get("within_budget") is False:
        raise ResultFileError(
            f"{result_file.path}: the stored {key} costs {info[contract.cost_key]:.6g} {info.get('unit', '')}, over "
            f"{result_file.env_id}'s budget of {info['budget']:.6g} ({info['cost_ratio']:.4f} x the reference cost); "
            "a result must fit its budget"
        )
    return contract


def _evaluate(contract: SearchEnv, result_file: ResultFile, split: Split) -> dict[str, Any]:
    try:
        return contract.evaluate_solution(result_file.solution, split)
    except (ValueError, TypeError) as exc:
        raise ResultFileError(
            f"{result_file.path}: the stored {result_file.solution_key} does not fit {result_file.env_id}: {exc}"
        ) from exc


def evaluate_solution(env: gym.Env, result_file: ResultFile, split: Split = "val") -> dict[str, Any]:
    """Evaluate exactly the stored solution on ``env`` after :func:`check_solution`.

    :param env: the environment from :func:`make_env`.
    :param result_file: the loaded file.
    :param split: ``"val"`` (what the file's ``accuracy`` was measured on) or ``"test"``.
    :raises ResultFileError: the result is not valid (see :func:`check_solution`).
    """
    return _evaluate(check_solution(env, result_file), result_file, split)


@dataclass
class ReplayReport:
    """The outcome of a replay.

    :param measured: the replayed evaluation on validation (terminal-info dict).
    :param measured_test: the same solution on the test split.
    :param mismatches: ``(key, stored, replayed)`` for every field that differs.
    """

    measured: dict[str, Any]
    measured_test: dict[str, Any] = field(default_factory=dict)
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
    result_file: ResultFile,
    overrides: Mapping[str, Any] | None = None,
    rel_tol: float = 0.0,
    env: gym.Env | None = None,
) -> ReplayReport:
    """Rebuild the environment, re-evaluate the stored solution and compare with what was stored.

    :param result_file: the loaded file.
    :param overrides: env keyword arguments replacing the stored ones.
    :param rel_tol: relative tolerance for floats (0: exact; use a small one across devices).
    :param env: an environment already made as the file says, to replay many files without rebuilding it.
    """
    own_env = env is None
    if env is None:
        env = make_env(result_file, overrides)
    try:
        contract = check_solution(env, result_file)
        measured = _evaluate(contract, result_file, "val")
        measured_test = _evaluate(contract, result_file, "test")
    finally:
        if own_env:
            env.close()
    report = ReplayReport(measured, measured_test)
    replayed = {**measured, "test_accuracy": measured_test["accuracy"], "test_reward": measured_test["reward"]}
    for key, stored in result_file.expected().items():
        if key not in replayed:
            continue
        value = replayed[key]
        if isinstance(stored, float) and isinstance(value, int | float) and not isinstance(value, bool):
            same = math.isclose(stored, float(value), rel_tol=rel_tol, abs_tol=0.0) or stored == value
        else:
            same = stored == value
        if not same:
            report.mismatches.append((key, stored, value))
    return report
