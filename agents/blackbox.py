"""Black-box optimisers from Optuna as search agents: TPE (``tpe``) and CMA-ES (``cmaes``), one trial per episode.

Neither learns a policy over steps: each optimiser proposes a whole solution (one Optuna trial), the agent plays it
as one ordinary episode through the environment's ``step`` API (so HAQ's rollback into the budget and every reward
are the environment's own), and tells the optimiser the episode's return. The parameters of a trial are:

* HAQ: one integer in ``min_bits..max_bits`` per free layer side (``w3`` is layer 3's weight bits, ``a3`` its
  activation bits); sides fixed by the layer rules (the first and last layers by default) and activations under the
  model-size budget get no parameter. The bits are the ones chosen before the rollback, as for every other agent.
* ProxylessNAS: per searchable block either one categorical choice among its 6 or 7 candidates (``b3``;
  ``nas_encoding="categorical"``, TPE's default) or ordinal integers, ``b3_kernel`` (3, 5, 7 as 0..2),
  ``b3_expand`` (3, 6 as 0..1) and, on the 15 skippable blocks, ``b3_skip`` (``nas_encoding="ordinal"``, CMA-ES's
  default: Optuna's CMA-ES has no categorical parameters and would draw them at random).

Both need the benchmark extra (``pip install "hwenvs[benchmark]"``: optuna, and cmaes for CMA-ES). A search repeats
exactly with the same seed (the samplers are seeded, the environments deterministic), and resumes exactly: the
agent's state is the pickled Optuna study, sampler state included.
"""

from __future__ import annotations

import abc
import pickle
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, cast

import gymnasium as gym
import numpy as np

from hwenvs.agents.base import Agent, EpisodeCallback, EpisodeResult, check_config
from hwenvs.agents.start import box_action_space, start_bits
from hwenvs.envs import checks
from hwenvs.envs.contract import BitAllocationEnv

if TYPE_CHECKING:
    from hwenvs.envs.haq_env import HAQEnv

EXTRA_HINT = 'pip install "hwenvs[benchmark]"'
"""How to install what the black-box agents import."""

NAS_ENCODINGS = ("categorical", "ordinal")
"""How ProxylessNAS's block choices become Optuna parameters (see the module docstring)."""


def import_optuna() -> Any:
    """The ``optuna`` module, with its logging quietened (one INFO line per trial otherwise).

    :raises ImportError: optuna is not installed, saying how to install it.
    """
    try:
        import optuna
    except ImportError as exc:
        raise ImportError(f"the tpe and cmaes agents need optuna: {EXTRA_HINT}") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# -- search spaces: a trial's parameters <-> one episode --------------------------------------------------------------


class TrialSpace(abc.ABC):
    """The Optuna parameters of a solution and how to play a trial's values as one episode."""

    distributions: dict[str, Any]
    """Parameter name -> Optuna distribution, the same for every trial (a fixed search space)."""

    def start_params(self, env: gym.Env) -> dict[str, Any]:
        """The parameters of the search's start (:mod:`hwenvs.agents.start`).

        :raises ValueError: the environment has no start (only HAQ's have one).
        """
        raise ValueError(
            "warm_start: only HAQ environments have a start (the best uniform policy), not "
            f"{type(env.unwrapped).__name__}"
        )

    @abc.abstractmethod
    def play(self, env: gym.Env, params: Mapping[str, Any], seed: int | None) -> tuple[float, dict[str, Any]]:
        """Play the solution ``params`` describe as one episode; returns (return, terminal info).

        :param env: the environment (wrapped or not).
        :param params: a trial's parameter values.
        :param seed: passed to ``reset`` (the search's first episode only).
        """


class BitSpace(TrialSpace):
    """HAQ: an integer bit width per free layer side, played as the bins' centre actions.

    :param env: a HAQ environment.
    """

    def __init__(self, env: gym.Env) -> None:
        optuna = import_optuna()
        haq = cast("HAQEnv", env.unwrapped)  # trial_space's dispatch: a bit-allocation environment, HAQ's
        self.haq = haq
        # a side whose bits differ between the all-min and all-max uniform policies is free; the layer rules fix the
        # others, and activations the model-size budget leaves unquantized are None in both
        low, high = haq.uniform_policy(haq.min_bits), haq.uniform_policy(haq.max_bits)
        self.steps: list[str | None] = []
        for layer, (lo, hi) in enumerate(zip(low, high, strict=True)):
            for side in range(haq.steps_per_layer):
                self.steps.append(f"{'wa'[side]}{layer}" if lo[side] != hi[side] else None)
        bits = optuna.distributions.IntDistribution(haq.min_bits, haq.max_bits)
        self.distributions = {name: bits for name in self.steps if name is not None}
        space = box_action_space(env)
        self._fixed_action = np.zeros(space.shape, space.dtype)  # ignored by a fixed side

    def play(self, env: gym.Env, params: Mapping[str, Any], seed: int | None) -> tuple[float, dict[str, Any]]:
        """Reset, step once per layer side (the bits' bin centre, or an ignored action on a fixed side)."""
        env.reset(seed=seed)
        total = 0.0
        info: dict[str, Any] = {}
        for name in self.steps:
            action = self._fixed_action if name is None else self._action(int(params[name]))
            _, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return total, info

    def _action(self, bits: int) -> np.ndarray:
        return np.full(self._fixed_action.shape, self.haq.bits_to_action(bits), self._fixed_action.dtype)

    def start_params(self, env: gym.Env) -> dict[str, int]:
        """The parameters of the search's start (:mod:`hwenvs.agents.start`): the best uniform policy's bits."""
        return {name: b for name, b in zip(self.steps, start_bits(env), strict=True) if name is not None}


class ArchitectureSpace(TrialSpace):
    """ProxylessNAS: each block's candidate, categorical or as ordinal kernel / expand / skip integers.

    :param encoding: ``"categorical"`` or ``"ordinal"``.
    """

    def __init__(self, encoding: str) -> None:
        optuna = import_optuna()
        from hwenvs.nas.search_space import NUM_BLOCKS, NUM_MBCONV_OPS, OPS, ZERO_ALLOWED

        if encoding not in NAS_ENCODINGS:
            raise ValueError(f"nas_encoding={encoding!r}; valid: {', '.join(NAS_ENCODINGS)}")
        self.encoding = encoding
        dist = optuna.distributions
        self.kernels = sorted({op.kernel for op in OPS[:NUM_MBCONV_OPS]})
        self.expands = sorted({op.expand for op in OPS[:NUM_MBCONV_OPS]})
        self.op_index = {(op.kernel, op.expand): i for i, op in enumerate(OPS[:NUM_MBCONV_OPS])}
        self.zero_allowed = ZERO_ALLOWED
        self.distributions = {}
        for block in range(NUM_BLOCKS):
            if encoding == "categorical":
                choices = tuple(range(len(OPS) if ZERO_ALLOWED[block] else NUM_MBCONV_OPS))
                self.distributions[f"b{block}"] = dist.CategoricalDistribution(choices)
                continue
            self.distributions[f"b{block}_kernel"] = dist.IntDistribution(0, len(self.kernels) - 1)
            self.distributions[f"b{block}_expand"] = dist.IntDistribution(0, len(self.expands) - 1)
            if ZERO_ALLOWED[block]:
                self.distributions[f"b{block}_skip"] = dist.IntDistribution(0, 1)

    def choices(self, params: Mapping[str, Any]) -> list[int]:
        """The candidate index of every block (``OPS``'s order) that ``params`` describe."""
        from hwenvs.nas.search_space import ZERO

        if self.encoding == "categorical":
            return [int(params[f"b{block}"]) for block in range(len(self.zero_allowed))]
        choices = []
        for block, allowed in enumerate(self.zero_allowed):
            if allowed and params[f"b{block}_skip"]:
                choices.append(ZERO)
                continue
            kernel = self.kernels[int(params[f"b{block}_kernel"])]
            choices.append(self.op_index[kernel, self.expands[int(params[f"b{block}_expand"])]])
        return choices

    def play(self, env: gym.Env, params: Mapping[str, Any], seed: int | None) -> tuple[float, dict[str, Any]]:
        """One episode choosing the architecture (one step in oneshot mode, one per block in sequential mode)."""
        from hwenvs.agents.reinforce import run_architecture
        from hwenvs.nas.architecture import Architecture

        reward, info = run_architecture(env, Architecture.from_indices(self.choices(params)), seed=seed)
        return reward, dict(info)


def trial_space(env: gym.Env, nas_encoding: str) -> TrialSpace:
    """The parameters of ``env``'s solutions: bits for HAQ, block choices for ProxylessNAS.

    :param env: the environment (wrapped or not).
    :param nas_encoding: ProxylessNAS's encoding (see :data:`NAS_ENCODINGS`).
    :raises ValueError: another environment.
    """
    unwrapped = env.unwrapped
    if isinstance(unwrapped, BitAllocationEnv):
        return BitSpace(env)
    if getattr(unwrapped, "mode", None) in ("oneshot", "sequential") and hasattr(unwrapped, "supernet"):
        return ArchitectureSpace(nas_encoding)
    raise ValueError(
        f"the black-box agents search HAQ and ProxylessNAS environments (a whole solution per trial); got "
        f"{type(unwrapped).__name__}"
    )


# -- the agents ---------------------------------------------------------------------------------------------------


@dataclass
class TPEConfig:
    """Hyperparameters of the TPE agent (Optuna's ``TPESampler``)."""

    n_startup_trials: int = 10
    """Trials drawn at random (Optuna's seeded RandomSampler) before TPE's density model proposes any."""
    multivariate: bool = True
    """Model the parameters jointly (multivariate TPE) instead of one density per parameter."""
    n_ei_candidates: int = 24
    """Candidates drawn from the good-solution density per trial; the one of highest expected improvement is played."""
    nas_encoding: str = "categorical"
    """ProxylessNAS parameters: ``"categorical"`` (one choice per block) or ``"ordinal"`` (kernel, expand, skip)."""
    warm_start: bool = False
    """Play the best uniform policy within the budget as the first trial (HAQ; :mod:`hwenvs.agents.start`)."""


@dataclass
class CmaEsConfig:
    """Hyperparameters of the CMA-ES agent (Optuna's ``CmaEsSampler``, which runs the ``cmaes`` package)."""

    popsize: int | None = None
    """Solutions per generation (None: CMA-ES's 4 + 3 ln(parameters))."""
    n_startup_trials: int = 1
    """Trials drawn at random before CMA-ES starts (Optuna's default)."""
    with_margin: bool = True
    """CMA-ES with margin: keeps a floor on each integer parameter's chance of leaving its current value, so the bits
    and block choices do not freeze once the step size shrinks below one integer."""
    nas_encoding: str = "ordinal"
    """ProxylessNAS parameters: ``"ordinal"`` (kernel, expand, skip integers) or ``"categorical"`` (which Optuna's
    CMA-ES cannot model: it draws those at random)."""
    warm_start: bool = False
    """Centre the first distribution on the best uniform policy within the budget (CMA-ES's mean) and play it as the
    first trial (HAQ; :mod:`hwenvs.agents.start`)."""
    warm_sigma: float = 0.1
    """With ``warm_start``, the first step size as a fraction of each parameter's range: ddpg-warm's exploration width
    (its noise sigma, 0.1 of the action range), so both explore as far around the same start. Cold runs keep
    CMA-ES's default, a sixth, around the ranges' centre."""

    def __post_init__(self) -> None:
        self.warm_sigma = checks.real(
            "cmaes warm_sigma", self.warm_sigma, low=0.0, high=1.0, low_open=True,
            valid="a real number in (0, 1] (a fraction of each parameter's range)",
        )  # fmt: skip


class OptunaAgent(Agent):
    """An Optuna sampler as an agent: ask a trial, play it as one episode, tell the return.

    :param env: a HAQ or ProxylessNAS environment.
    :param seed: seeds the sampler and the environment's first reset.
    :param overrides: fields of the agent's config dataclass.
    """

    config_class: ClassVar[type] = TPEConfig
    resumable = True

    def __init__(self, env: gym.Env, seed: int = 0, **overrides: Any) -> None:
        super().__init__(env, seed)
        valid = {f.name for f in fields(self.config_class)}
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ValueError(f"unknown {self.name} hyperparameters {unknown}; valid: {sorted(valid)}")
        self.config = self.config_class(**overrides)
        self.optuna = import_optuna()
        self.space = trial_space(env, self.config.nas_encoding)
        self.start = self.space.start_params(env) if self.config.warm_start else None
        with warnings.catch_warnings():  # multivariate TPE and CMA-ES with margin are "experimental" in Optuna
            warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
            sampler = self.make_sampler()
        self.study = self.optuna.create_study(direction="maximize", sampler=sampler)
        if self.start is not None:
            self.study.enqueue_trial(self.start)  # the first ask returns it: every warm agent plays the same start

    @abc.abstractmethod
    def make_sampler(self) -> Any:
        """The Optuna sampler, seeded with :attr:`seed`."""

    def learn(self, episodes: int, on_episode: EpisodeCallback | None = None) -> None:
        """Run ``episodes`` more trials, one episode each, numbered from :attr:`episodes_done`."""
        start = self.episodes_done
        for episode in range(start, start + episodes):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
                trial = self.study.ask(self.space.distributions)
            reward, info = self.space.play(self.env, trial.params, self.seed if episode == 0 else None)
            self.study.tell(trial, reward)
            self.episodes_done = episode + 1
            result = EpisodeResult(episode, reward, info, {"trial": trial.number})
            if on_episode is not None and on_episode(result) is False:
                return

    def state_dict(self) -> dict[str, Any]:
        """The episode count, the config and the pickled study (its trials and the sampler's generator)."""
        return {**super().state_dict(), "config": asdict(self.config), "study": pickle.dumps(self.study)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved.

        :param state: a dict from :meth:`state_dict`.
        :raises ResumeError: the state was made with other hyperparameters.
        """
        check_config(state["config"], asdict(self.config), self.name)
        super().load_state_dict(state)
        self.study = pickle.loads(state["study"])


class TPEAgent(OptunaAgent):
    """Tree-structured Parzen Estimator search (Optuna's ``TPESampler``), one trial per episode."""

    name = "tpe"
    config_class = TPEConfig

    SWEEP_SPACE: ClassVar[dict[str, tuple]] = {
        "n_startup_trials": ("int", 5, 30),
        "multivariate": ("choice", [True, False]),
        "n_ei_candidates": ("choice", [12, 24, 48]),
    }
    """The hyperparameter lottery's space (``hwenvs benchmark --sweep K``; format in :mod:`hwenvs.benchmark.sweep`)."""

    def make_sampler(self) -> Any:
        """A seeded ``TPESampler`` with the config's settings."""
        cfg = self.config
        return self.optuna.samplers.TPESampler(
            n_startup_trials=cfg.n_startup_trials,
            multivariate=cfg.multivariate,
            n_ei_candidates=cfg.n_ei_candidates,
            seed=self.seed,
        )


class CmaEsAgent(OptunaAgent):
    """CMA-ES search (Optuna's ``CmaEsSampler``; needs the ``cmaes`` package), one trial per episode."""

    name = "cmaes"
    config_class = CmaEsConfig

    SWEEP_SPACE: ClassVar[dict[str, tuple]] = {
        "n_startup_trials": ("int", 1, 10),
        "popsize": ("choice", [None, 8, 16]),
        "with_margin": ("choice", [True, False]),
    }
    """The hyperparameter lottery's space (``hwenvs benchmark --sweep K``; format in :mod:`hwenvs.benchmark.sweep`)."""

    def make_sampler(self) -> Any:
        """A seeded ``CmaEsSampler`` with the config's settings.

        :raises ImportError: the ``cmaes`` package is missing.
        """
        try:
            import cmaes  # noqa: F401  (Optuna imports it only at the first CMA-ES trial; fail here instead)
        except ImportError as exc:
            raise ImportError(f"the cmaes agent needs the cmaes package: {EXTRA_HINT}") from exc
        cfg = self.config
        # Optuna scales every range to [0, 1], so sigma0 is a fraction of each range (its default: a sixth, one bit on
        # 2..8). x0 and sigma0 are deprecated since Optuna 4.9 and go in 6.0 (hence optuna<6 in the benchmark extra);
        # a cold run sets neither (the ranges' centre and the default step), as before.
        start = {"x0": self.start, "sigma0": cfg.warm_sigma} if self.start is not None else {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*`(x0|sigma0)`.*", category=FutureWarning)
            return self.optuna.samplers.CmaEsSampler(
                **start,
                popsize=cfg.popsize,
                n_startup_trials=cfg.n_startup_trials,
                with_margin=cfg.with_margin,
                seed=self.seed,
                warn_independent_sampling=False,  # categorical ProxylessNAS parameters are meant to fall back
            )
