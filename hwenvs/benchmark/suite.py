"""Benchmark suites: which environments, with which episode budgets, which agents, how many seeds.

A suite is a small YAML (or, on Python 3.11+, TOML) file. Two ship with the package (``default`` and ``smoke``, in
``hwenvs/benchmark/suites/``); any other file is named by its path. Its keys:

* ``name``, ``description``: how the report titles it.
* ``seeds``: seeds per (environment, agent, setting), 0..seeds-1 (the command line can lower it).
* ``episodes``: the default episode budget of every search (an environment may set its own).
* ``random_episodes``: uniformly random solutions per environment whose mean is the normalised score's zero.
* ``envs``: a list of ``{name, id, kwargs, episodes, requires, budget}``: ``name`` labels results and files, ``id``
  is a registered Gymnasium id, ``kwargs`` go to ``gym.make``, ``budget`` (HAQ) is a rule that fixes
  ``preserve_ratio`` on validation before any agent runs (:mod:`hwenvs.benchmark.budget`), ``requires`` (a key of
  :data:`REQUIREMENTS`, or a list of them) skips the environment (with a note) where a requirement is missing:
  ``fashion-mnist`` where that data set is not installed, ``proxylessnas-mobile-table`` where ProxylessNAS-Mobile's
  published latency table can be neither fetched nor found in ``$HWENVS_REFERENCE_DATA``.
* ``agents``: a list of ``{name, agent, envs, kwargs, episode_kwargs, seeds, group}``: ``agent`` is what ``hwenvs search
  --agent`` takes; ``envs`` lists environment names or families (``haq``, ``nas``; default: every environment);
  ``kwargs`` are hyperparameters; ``episode_kwargs`` are hyperparameters counted in episodes (multiplied by each
  environment's steps per episode: ``learning_starts: 5`` is five episodes); ``seeds`` caps the seeds (1 for a
  deterministic baseline); ``group`` is ``cold`` (the default) or ``warm`` (started from the best uniform
  policy: reports compare agents within a group). The same ``name`` may appear twice for different environments
  (PPO with other rollout sizes on HAQ and on ProxylessNAS), so that one row of the report covers both.

Every problem is reported as a ``ValueError`` naming the file, the entry and what is valid.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hwenvs.benchmark.budget import BudgetRule
from hwenvs.benchmark.sweep import settings
from hwenvs.benchmark.trials import TrialSpec, family_of
from hwenvs.envs.accuracy_source import env_kwargs

SUITES_DIR = Path(__file__).resolve().parent / "suites"
"""Where the shipped suites are installed."""

FAMILIES = ("haq", "nas")
"""Environment families an agent entry may name: HAQ's ids and ProxylessNAS's."""

SUITE_KEYS = ("name", "description", "seeds", "episodes", "random_episodes", "envs", "agents")
ENV_KEYS = ("name", "id", "kwargs", "episodes", "requires", "budget")
AGENT_KEYS = ("name", "agent", "envs", "kwargs", "episode_kwargs", "seeds", "group")
GROUPS = ("cold", "warm")
"""Agent groups: from scratch, or warm-started from the best uniform policy. Reports compare agents within a group."""
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
"""Environment and agent names: they become file names."""


def _fashion_mnist_missing() -> str | None:
    from hwenvs.data.fashion_mnist import find_fashion_mnist

    try:
        find_fashion_mnist()
    except FileNotFoundError:
        return "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist, or set $HWENVS_FASHION_MNIST)"
    return None


def _mobile_latency_table_missing() -> str | None:
    """ProxylessNAS-Mobile's latency table is a published file, fetched (and cached) on first use: a machine without
    the network or a local copy cannot build the environment, so its searches would all fail."""
    from hwenvs.reference_data import reference_path

    try:
        reference_path("proxylessnas_mobile_trim.yaml", timeout=10.0)
    except RuntimeError as exc:  # ChecksumError is one too: a corrupt copy is as missing as none
        return str(exc)
    return None


REQUIREMENTS: dict[str, Callable[[], str | None]] = {
    "fashion-mnist": _fashion_mnist_missing,
    "proxylessnas-mobile-table": _mobile_latency_table_missing,
}
"""What an environment may require: name -> a check returning why it is missing (None when it is there)."""


@dataclass(frozen=True)
class EnvEntry:
    """An environment of a suite.

    :param name: its label in results and file names.
    :param id: the registered Gymnasium id.
    :param kwargs: ``gym.make`` keyword arguments.
    :param episodes: the episode budget of every search on it.
    :param requires: keys of :data:`REQUIREMENTS`, every one of which must be met to run it.
    :param budget: the rule fixing ``preserve_ratio`` (:mod:`hwenvs.benchmark.budget`), or None.
    :param resolution: the rule's resolution once applied (:meth:`Suite.resolve_budgets`), else None.
    """

    name: str
    id: str
    kwargs: dict[str, Any]
    episodes: int
    requires: tuple[str, ...] = ()
    budget: BudgetRule | None = None
    resolution: dict[str, Any] | None = None

    @property
    def family(self) -> str:
        """``"haq"``, ``"nas"`` or ``"other"``."""
        return family_of(self.id)


@dataclass(frozen=True)
class AgentEntry:
    """An agent of a suite.

    :param name: its label in results (may repeat for disjoint environments).
    :param agent: what ``build_agent`` takes (``ddpg``, ``sb3:TD3``, ``tpe``, ``module:Class``...).
    :param envs: environment names or families it runs on (empty: all).
    :param kwargs: its hyperparameters.
    :param episode_kwargs: hyperparameters counted in episodes.
    :param seeds: the most seeds it runs (None: the suite's).
    :param group: ``"cold"`` or ``"warm"`` (:data:`GROUPS`).
    """

    name: str
    agent: str
    envs: tuple[str, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    episode_kwargs: dict[str, Any] = field(default_factory=dict)
    seeds: int | None = None
    group: str = "cold"

    def runs_on(self, env: EnvEntry) -> bool:
        """Whether this entry covers ``env``."""
        return not self.envs or env.name in self.envs or env.family in self.envs


@dataclass(frozen=True)
class Suite:
    """A loaded and checked suite (see the module docstring).

    :param name: its name.
    :param description: what it measures.
    :param seeds: seeds per (environment, agent, setting).
    :param random_episodes: random solutions averaged for each environment's random reference.
    :param envs: its environments.
    :param agents: its agent entries.
    :param source: the file it was read from.
    """

    name: str
    description: str
    seeds: int
    random_episodes: int
    envs: tuple[EnvEntry, ...]
    agents: tuple[AgentEntry, ...]
    source: str

    @property
    def agent_names(self) -> list[str]:
        """The agents' labels, in order of first appearance."""
        return list(dict.fromkeys(a.name for a in self.agents))

    def select(self, envs: Sequence[str] | None = None, agents: Sequence[str] | None = None) -> Suite:
        """The suite restricted to the named environments and agents (None: all of them).

        :raises ValueError: a name the suite does not have, listing those it has.
        """
        for asked, known, what in (
            (envs, [e.name for e in self.envs], "environment"),
            (agents, self.agent_names, "agent"),
        ):
            unknown = [n for n in asked or [] if n not in known]
            if unknown:
                raise ValueError(
                    f"suite {self.name!r} has no {what} {', '.join(map(repr, unknown))}; it has {', '.join(known)}"
                )
        kept_envs = tuple(e for e in self.envs if envs is None or e.name in envs)
        kept_agents = tuple(a for a in self.agents if agents is None or a.name in agents)
        return replace(self, envs=kept_envs, agents=kept_agents)

    def unavailable(self) -> dict[str, str]:
        """Environments whose requirement is missing on this machine: name -> why."""
        missing = {}
        for env in self.envs:
            reasons = [reason for need in env.requires if (reason := REQUIREMENTS[need]())]
            if reasons:
                missing[env.name] = "; ".join(reasons)
        return missing

    def resolve_budgets(self, folder: Path | None) -> Suite:
        """The suite with every budget rule applied (:func:`hwenvs.benchmark.budget.resolve`): each such
        environment's ``preserve_ratio`` set in its arguments and its resolution kept.

        :param folder: where resolutions are kept and reused (``OUT/budgets``), or None.
        """
        from hwenvs.benchmark.budget import resolve

        envs = []
        for env in self.envs:
            if env.budget is not None and env.resolution is None:
                resolution = resolve(env.name, env.id, env.kwargs, env.budget, folder)
                kwargs = {**env.kwargs, "preserve_ratio": resolution["preserve_ratio"]}
                env = replace(env, kwargs=kwargs, resolution=resolution)
            envs.append(env)
        return replace(self, envs=tuple(envs))

    def with_episodes(self, episodes: int) -> Suite:
        """The suite with every environment's budget set to ``episodes``."""
        return replace(self, envs=tuple(replace(e, episodes=episodes) for e in self.envs))


def shipped_suites() -> list[str]:
    """The names of the suites that ship with the package."""
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(name_or_path: str | Path) -> Suite:
    """A shipped suite by name (``default``, ``smoke``) or a suite file by path, checked.

    :raises ValueError: an unknown name, a missing or unreadable file, or a suite that breaks the format.
    """
    text = str(name_or_path)
    path = SUITES_DIR / f"{text}.yaml" if text in shipped_suites() else Path(text)
    if not path.is_file():
        raise ValueError(
            f"unknown suite {text!r}: give a shipped suite ({', '.join(shipped_suites())}) or the path of a .yaml "
            "or .toml suite file"
        )
    return parse_suite(_read(path), str(path))


def _read(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"suite {path}: cannot be read ({exc.strerror or exc})") from exc
    if path.suffix == ".toml":
        if sys.version_info >= (3, 11):  # this form, not `< (3, 11): raise`, tells mypy where tomllib exists
            import tomllib

            try:
                return tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"suite {path}: not valid TOML ({exc})") from exc
        raise ValueError(f"suite {path}: TOML suites need Python 3.11 (tomllib); write it as YAML")
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"suite {path}: not valid YAML ({' '.join(str(exc).split())})") from exc


def parse_suite(data: Any, source: str) -> Suite:
    """Check a suite's content and build it.

    :param data: the parsed file (a mapping).
    :param source: where it came from, for messages.
    :raises ValueError: naming the entry and the problem.
    """
    where = f"suite {source}"
    table = _mapping(data, where, SUITE_KEYS)
    for key in ("envs", "agents"):
        if key not in table:
            raise ValueError(f"{where}: no {key!r} list")
    seeds = _positive(table.get("seeds", 10), f"{where}: seeds")
    episodes = _positive(table.get("episodes", 150), f"{where}: episodes")
    random_episodes = _positive(table.get("random_episodes", 50), f"{where}: random_episodes")
    envs = tuple(
        _env(item, f"{where}: envs[{i}]", episodes) for i, item in enumerate(_list(table["envs"], where, "envs"))
    )
    _unique([e.name for e in envs], f"{where}: envs")
    agents = tuple(
        _agent(item, f"{where}: agents[{i}]", envs) for i, item in enumerate(_list(table["agents"], where, "agents"))
    )
    for env in envs:
        _unique([a.name for a in agents if a.runs_on(env)], f"{where}: agents on environment {env.name!r}")
    return Suite(
        name=str(table.get("name", Path(source).stem)),
        description=str(table.get("description", "")).strip(),
        seeds=seeds,
        random_episodes=random_episodes,
        envs=envs,
        agents=agents,
        source=source,
    )


def _requirements(value: Any, where: str) -> tuple[str, ...]:
    """``requires``: nothing, one key of :data:`REQUIREMENTS` or a list of them."""
    needs = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(needs, list) or not all(isinstance(n, str) and n in REQUIREMENTS for n in needs):
        raise ValueError(
            f"{where}: requires {value!r}; give one or a list of the known requirements: {', '.join(REQUIREMENTS)}"
        )
    return tuple(needs)


def _mapping(data: Any, where: str, keys: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping of {', '.join(keys)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in keys]
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(map(repr, unknown))}; valid: {', '.join(keys)}")
    return data


def _list(value: Any, where: str, key: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: {key!r} must be a non-empty list")
    return value


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive integer, got {value!r}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ValueError(f"{where}: name {value!r} must be letters, digits, '.', '_' or '-' (it names files)")
    return value


def _kwargs(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where} must be a mapping of argument names to values, got {value!r}")
    return dict(value)


def _unique(names: list[str], where: str) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{where}: name {', '.join(map(repr, repeated))} appears more than once")


def _env(item: Any, where: str, episodes: int) -> EnvEntry:
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments)

    table = _mapping(item, where, ENV_KEYS)
    name = _name(table.get("name"), where)
    where = f"{where} ({name})"
    env_id = table.get("id")
    if env_id not in gym.registry:
        known = ", ".join(k for k in gym.registry if k.startswith(("HAQ-", "ProxylessNAS-")))
        raise ValueError(f"{where}: id {env_id!r} is not a registered environment; hwenvs registers {known}")
    requires = _requirements(table.get("requires"), where)
    kwargs = _kwargs(table.get("kwargs"), f"{where}: kwargs")
    budget = None
    if table.get("budget") is not None:
        if family_of(env_id) != "haq":
            raise ValueError(f"{where}: a budget rule sets HAQ's preserve_ratio; {env_id} is not a HAQ id")
        if "preserve_ratio" in kwargs:
            raise ValueError(f"{where}: give either a budget rule or kwargs preserve_ratio, not both")
        budget = BudgetRule.parse(table["budget"], where)
    return EnvEntry(
        name=name,
        id=env_id,
        kwargs=kwargs,
        episodes=_positive(table.get("episodes", episodes), f"{where}: episodes"),
        requires=requires,
        budget=budget,
    )


def _agent(item: Any, where: str, envs: Sequence[EnvEntry]) -> AgentEntry:
    from hwenvs.agents.registry import AGENTS

    table = _mapping(item, where, AGENT_KEYS)
    name = _name(table.get("name"), where)
    where = f"{where} ({name})"
    agent = table.get("agent")
    if not isinstance(agent, str) or (agent not in AGENTS and ":" not in agent):
        raise ValueError(
            f"{where}: agent {agent!r}; valid: {', '.join(sorted(AGENTS))}, sb3:ALGO (e.g. sb3:TD3) or module:Class"
        )
    targets = table.get("envs") or []
    targets = [targets] if isinstance(targets, str) else targets
    known = [*FAMILIES, *(e.name for e in envs)]
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise ValueError(f"{where}: envs {', '.join(map(repr, unknown))} unknown; valid: {', '.join(known)}")
    episode_kwargs = _kwargs(table.get("episode_kwargs"), f"{where}: episode_kwargs")
    for key, value in episode_kwargs.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{where}: episode_kwargs {key!r} must be a positive number of episodes, got {value!r}")
    seeds = table.get("seeds")
    group = table.get("group", "cold")
    if group not in GROUPS:
        raise ValueError(f"{where}: group {group!r}; valid: {', '.join(GROUPS)}")
    return AgentEntry(
        name=name,
        agent=agent,
        envs=tuple(targets),
        kwargs=_kwargs(table.get("kwargs"), f"{where}: kwargs"),
        episode_kwargs=episode_kwargs,
        seeds=None if seeds is None else _positive(seeds, f"{where}: seeds"),
        group=group,
    )


def plan(
    suite: Suite, out: str | Path, seeds: int | None = None, sweep: int = 0, accuracy: str = "real"
) -> list[TrialSpec]:
    """Every job of a benchmark: one reference job per environment, then one trial per (environment, agent,
    setting, seed), grouped by environment (so a worker reuses its environment), seed by seed.

    :param suite: the (selected) suite.
    :param out: the output folder.
    :param seeds: seeds per agent (None: the suite's); an agent's own ``seeds`` caps it.
    :param sweep: K sampled hyperparameter settings per agent that declares a space (0: its defaults only).
    :param accuracy: ``"real"`` (the environment's default) or ``"surrogate"`` (passed as ``accuracy=`` to
        ``gym.make``).
    """
    seeds = suite.seeds if seeds is None else seeds
    extra = env_kwargs(accuracy)
    jobs: list[TrialSpec] = []
    for env in suite.envs:
        kwargs = {**env.kwargs, **extra}
        data = _surrogate_sha256(env) if accuracy == "surrogate" else ""
        reference = TrialSpec("reference", env.name, env.id, kwargs, suite.random_episodes, str(out))
        jobs.append(replace(reference, surrogate_sha256=data))
        searches = []
        for agent in suite.agents:
            if not agent.runs_on(env):
                continue
            for setting, values in settings(agent.agent, agent.name, sweep).items():
                for seed in range(min(seeds, agent.seeds or seeds)):
                    searches.append(
                        TrialSpec(
                            "search", env.name, env.id, kwargs, env.episodes, str(out), agent.name, agent.agent,
                            {**agent.kwargs, **values}, _without(agent.episode_kwargs, values), setting, seed, data,
                        )
                    )  # fmt: skip
        # seed-major: a row cut short by the end of a session has every agent at its first seeds, not some agents
        # at all seeds and others at none (sorted() is stable: agents and settings keep the suite's order per seed)
        jobs += sorted(searches, key=lambda spec: spec.seed)
    return jobs


def _surrogate_sha256(env: EnvEntry) -> str:
    from hwenvs.surrogate.accuracy import dataset_sha256

    return dataset_sha256(surrogate_dataset(env.id, env.kwargs))


def surrogate_dataset(env_id: str, env_kwargs: Mapping[str, Any]) -> str:
    """The surrogate dataset ``gym.make(env_id, accuracy="surrogate", **env_kwargs)`` reads (``haq-<model>-<task>``
    or ``nas-w<width>-<task>``), from the environment's own argument checks (nothing is built).

    :raises ValueError: an id of neither family, or arguments the environment refuses.
    """
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the ids)
    from hwenvs.surrogate.dataset import haq_name, nas_name

    arguments = {**gym.spec(env_id).kwargs, **env_kwargs}
    if env_id.startswith("HAQ-"):
        from hwenvs.envs.haq_env import HAQEnv

        checked = HAQEnv.check_arguments(**arguments)
        return haq_name(checked["model"], str(checked["dataset"]))
    if env_id.startswith("ProxylessNAS-"):
        from hwenvs.envs.proxylessnas_env import ProxylessNASEnv

        checked = ProxylessNASEnv.check_arguments(**arguments)
        return nas_name(str(checked["dataset"]), checked["width_mult"])
    raise ValueError(f"{env_id!r} has no surrogate mode: only the HAQ-* and ProxylessNAS-* ids do")


def _without(episode_kwargs: Mapping[str, Any], setting: Mapping[str, Any]) -> dict[str, Any]:
    """The episode-counted hyperparameters a sweep setting does not set itself (the setting's value wins)."""
    return {k: v for k, v in episode_kwargs.items() if k not in setting}
