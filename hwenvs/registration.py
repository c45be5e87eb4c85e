"""Every environment id hwenvs registers, in one place.

Ids carry no version suffix so that ``gym.make("HAQ-MobileNetV2-BISMO")`` works without Gymnasium's
"unversioned id" warning; variants beyond model x hardware are keyword arguments (``constraint``,
``preserve_ratio``, ``dataset``...), not further ids.

An id names its model and hardware, so a keyword that names another one contradicts it and is refused
(``gym.make("HAQ-MobileNetV2-BISMO", model="resnet18")`` would otherwise build ResNet-18 under the MobileNetV2 id, and
every result would carry the wrong name): each id's entry point is an :class:`IdEntryPoint`, which checks that before
building the class. Hardware given as an object (a ``HardwareModel``, a cost table, a ``LatencyTable``, a YAML path)
names no id and is accepted: that is how custom hardware is searched.

``max_episode_steps`` is a horizon, one step past the longest natural episode: ``gym.make``'s ``TimeLimit`` flags
``truncated`` when the limit is reached, so a limit equal to the episode's length would truncate every natural end
(loops that treat truncation as "read the final observation", as CleanRL's do, then break). The natural last step is
``terminated`` only; the exact length is ``env.unwrapped.steps_per_episode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from hwenvs.nas.search_space import NUM_BLOCKS

HAQ_MODELS = {"MobileNetV2": "mobilenet_v2", "ResNet18": "resnet18", "MobileNetV1": "mobilenet_v1"}
"""Id fragment -> model name accepted by the HAQ environment."""

HAQ_LAYERS = {"mobilenet_v2": 53, "resnet18": 21, "mobilenet_v1": 28}
"""Quantizable layers of each HAQ model (a test checks them against the built models): with the default latency
budget an episode is two steps per layer; the EnvSpec's ``max_episode_steps`` is one more (see :func:`horizon`)."""

HAQ_HARDWARE = {"BISMO": "bismo-edge", "BISMO-Cloud": "bismo-cloud", "BitFusion": "bitfusion"}
"""Id fragment -> hardware name accepted by :func:`hwenvs.hardware.make_hardware`."""


def horizon(longest_episode: int) -> int:
    """The ``max_episode_steps`` of an id whose longest natural episode is ``longest_episode`` steps: one more, so
    that the ``TimeLimit`` ``gym.make`` adds never fires on a natural end (the last step is ``terminated`` only).

    :param longest_episode: steps of the id's longest episode.
    """
    return longest_episode + 1


def haq_env_ids() -> list[str]:
    """All registered HAQ ids."""
    return [f"HAQ-{m}-{h}" for m in HAQ_MODELS for h in HAQ_HARDWARE]


class RenderModes(list):
    """An environment's render modes, which refuse to be searched for anything but a string (see
    :attr:`IdEntryPoint.metadata`)."""

    def __contains__(self, mode: object) -> bool:
        if not isinstance(mode, str):
            from hwenvs.envs import checks

            rendered = ", ".join(map(repr, self))
            raise TypeError(f"render_mode must be None or a string (rendered: {rendered}), got {checks.shown(mode)}")
        return super().__contains__(mode)


class IdEntryPoint:
    """An id's entry point: refuses keywords that contradict what the id names, then builds ``target``.

    ``gym.make`` passes the id's registered keywords merged with the caller's, so a value that differs from the
    registered one can only come from the caller. Strings are names (compared); any other hardware value is the
    caller's own model or table, which no id names (accepted).

    :param env_id: the registered id.
    :param target: the class (or vector class) it builds.
    :param fixed: the keywords the id names, with their registered values.
    :param ids_by_value: for each fixed keyword, the id naming each other value (for the message's suggestion).
    """

    def __init__(
        self, env_id: str, target: str, fixed: Mapping[str, str], ids_by_value: Mapping[str, Mapping[str, str]]
    ) -> None:
        self.env_id, self.target, self.fixed, self.ids_by_value = env_id, target, dict(fixed), ids_by_value

    def _target(self) -> Any:
        """The environment's class (Any: Gymnasium's loader types it as a plain callable, without its classmethods)."""
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(self.target)

    @property
    def metadata(self) -> dict[str, Any]:
        """The class's metadata: ``gym.make`` reads the render modes from the entry point, as from a class.

        Its ``render_modes`` refuse a ``render_mode`` that is not a string when ``gym.make`` asks whether they hold
        it: ``gym.make`` asks before the class's checks run, and then calls ``render_mode.endswith``, which ended a
        ``render_mode=False`` in an AttributeError from inside Gymnasium.
        """
        metadata = dict(getattr(self._target(), "metadata", {}))
        if "render_modes" in metadata:
            metadata["render_modes"] = RenderModes(metadata["render_modes"])
        return metadata

    def check_contradictions(self, kwargs: Mapping[str, Any]) -> None:
        """Refuse a keyword whose name-value differs from the id's.

        :param kwargs: the merged keywords ``gym.make`` passes.
        :raises ValueError: naming the keyword, the id's value and the id that builds the value given (if any).
        """
        for name, registered in self.fixed.items():
            if name == "hardware" and kwargs.get("latency_table") is not None:
                continue  # ProxylessNAS with the caller's own table: hardware only labels the results
            value = kwargs.get(name, registered)
            if not isinstance(value, str) or value == registered or value not in self._known_names(name):
                continue  # an object, the id's own name, or a YAML table or other value the class checks itself
            other = self.ids_by_value[name].get(value)
            direct = f"build {self.target.rsplit(':', 1)[1]}({name}={value!r}) directly"
            hint = f"use the id {other!r}, or {direct}" if other else f"no id names it: {direct}"
            raise ValueError(
                f"{self.env_id} builds {name}={registered!r} (its id names it), got {name}={value!r}: {hint}"
            )

    def _known_names(self, name: str) -> set[str]:
        """The names ``name`` takes that mean something else than the id's: those of other ids and the class's other
        named choices (``"haq-table"``, ``"cpu"``...); anything else is left to the class's own checks."""
        names = set(self.ids_by_value[name])
        if name == "model":
            from hwenvs.models.zoo import ARCHITECTURES

            names |= set(ARCHITECTURES)
        elif self.target.endswith("HAQEnv") or self.target.endswith("HAQVectorEnv"):
            from hwenvs.hardware import HARDWARE

            names |= set(HARDWARE)
        else:
            from hwenvs.nas.latency_targets import TARGETS

            names |= set(TARGETS)
        return names

    def __call__(self, **kwargs: Any) -> Any:
        self.check_contradictions(kwargs)
        return self._target()(**kwargs)

    def check_arguments(self, **kwargs: Any) -> dict[str, Any]:
        """What construction checks first, without building anything: contradictions, then the class's own checks.

        :param kwargs: the merged keywords (the id's registered ones and the caller's).
        :raises TypeError: as the class's ``check_arguments``.
        :raises ValueError: a keyword contradicting the id, or as the class's ``check_arguments``.
        """
        self.check_contradictions(kwargs)
        return self._target().check_arguments(**kwargs)

    def __repr__(self) -> str:
        return f"IdEntryPoint({self.env_id!r} -> {self.target})"


def _entry_point_name(env_id: str, vector: bool = False) -> str:
    """The attribute of this module holding ``env_id``'s entry point (ids hold dashes, names cannot)."""
    return ("_vector_" if vector else "_entry_") + env_id.replace("-", "_")


PROXYLESSNAS_HARDWARE = {
    "Mobile": "mobile",
    "CPU": "cpu",
    "GPU": "gpu",
    "BISMO": "bismo-edge",
    "BitFusion": "bitfusion",
}
"""Id fragment -> latency target of the ProxylessNAS environment (see :mod:`hwenvs.nas.latency_targets`)."""


def proxylessnas_env_ids() -> list[str]:
    """All registered ProxylessNAS ids."""
    return [f"ProxylessNAS-{h}" for h in PROXYLESSNAS_HARDWARE]


def _specs() -> list[dict[str, Any]]:
    """Every id's registration: id, class, vector class (or None), fixed keywords, the ids of other values, horizon."""
    specs = []
    for model_id, model in HAQ_MODELS.items():
        for hw_id, hardware in HAQ_HARDWARE.items():
            others = {
                "model": {m: f"HAQ-{i}-{hw_id}" for i, m in HAQ_MODELS.items()},
                "hardware": {h: f"HAQ-{model_id}-{i}" for i, h in HAQ_HARDWARE.items()},
            }
            specs.append({
                "id": f"HAQ-{model_id}-{hw_id}", "target": "hwenvs.envs.haq_env:HAQEnv",
                # gym.make_vec steps all sub-environments at once and scores episodes that end together in one call
                "vector": "hwenvs.envs.haq_vector_env:HAQVectorEnv",
                "fixed": {"model": model, "hardware": hardware}, "others": others,
                # past the id's longest episode (weight and activation steps; model-size budgets take half)
                "max_episode_steps": horizon(2 * HAQ_LAYERS[model]),
            })  # fmt: skip
    nas_others = {"hardware": {h: f"ProxylessNAS-{i}" for i, h in PROXYLESSNAS_HARDWARE.items()}}
    for hw_id, hardware in PROXYLESSNAS_HARDWARE.items():
        specs.append({
            "id": f"ProxylessNAS-{hw_id}", "target": "hwenvs.envs.proxylessnas_env:ProxylessNASEnv", "vector": None,
            "fixed": {"hardware": hardware}, "others": nas_others,
            # past sequential mode's 21 steps (one block a step); oneshot episodes are one step
            "max_episode_steps": horizon(NUM_BLOCKS),
        })  # fmt: skip
    return specs


SPECS = _specs()
# Gymnasium loads an entry point by "module:name" (and pickles that string, not the object), so each id's is an
# attribute of this module, made at import: a reloaded module has them whatever the registry already holds.
for _spec in SPECS:
    globals()[_entry_point_name(_spec["id"])] = IdEntryPoint(
        _spec["id"], _spec["target"], _spec["fixed"], _spec["others"]
    )
    if _spec["vector"] is not None:
        globals()[_entry_point_name(_spec["id"], vector=True)] = IdEntryPoint(
            _spec["id"], _spec["vector"], _spec["fixed"], _spec["others"]
        )


def check_env_kwargs(env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check keyword arguments for ``gym.make(env_id, **env_kwargs)`` without building anything: the one check that
    ``hwenvs search``, ``evaluate``, ``finetune`` and ``benchmark`` share (what ``gym.make`` itself runs first).

    An hwenvs id's entry point checks keywords that contradict the id, then its class's ``check_arguments``; another
    environment's class is checked only if it offers ``check_arguments`` (else ``gym.make`` checks when it builds).

    :param env_id: a registered id.
    :param env_kwargs: the keywords given on top of the id's registered ones.
    :returns: every argument, checked and normalised (only the given ones for an environment without checks).
    :raises TypeError: an unknown keyword (listing the valid ones) or a value of the wrong type.
    :raises ValueError: a value out of range, or one contradicting the id.
    :raises RuntimeError: an environment this machine cannot run (``ProxylessNAS-GPU`` without CUDA).
    """
    from gymnasium.envs.registration import load_env_creator

    spec = gym.spec(env_id)
    creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
    check = getattr(creator, "check_arguments", None)
    if check is None:
        return dict(env_kwargs)
    return check(**{**spec.kwargs, **env_kwargs})


def missing_search_methods(env_id: str) -> tuple[str, list[str]]:
    """What the class ``env_id`` builds lacks of :class:`~hwenvs.envs.contract.SearchEnv`, without building it: the
    one check that ``hwenvs search``, ``evaluate``, ``finetune`` and ``benchmark`` share (an environment without the
    contract ran a search whose result could not be replayed, or failed with its own constructor's traceback).

    :param env_id: a registered id.
    :returns: the class's name and the contract methods it lacks (none: it is a search environment, or a factory
        function whose product is known only once built).
    """
    from gymnasium.envs.registration import load_env_creator

    entry = gym.spec(env_id).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    creator = getattr(creator, "_target", lambda: creator)()  # an hwenvs id's entry point builds its class
    if not isinstance(creator, type):
        return getattr(creator, "__name__", repr(creator)), []
    methods = ("evaluate_solution", "reference_points")
    return creator.__name__, [name for name in methods if not callable(getattr(creator, name, None))]


def vector_entry_points_supported() -> bool:
    """Whether this Gymnasium's ``gym.register`` takes ``vector_entry_point`` (1.x; 0.29 runs single environments)."""
    import inspect

    return "vector_entry_point" in inspect.signature(gym.register).parameters


def register_envs() -> None:
    """Register every hwenvs environment with Gymnasium (idempotent)."""
    if "HAQ-MobileNetV2-BISMO" in gym.registry:
        return
    vector = vector_entry_points_supported()
    for spec in SPECS:
        options: dict[str, Any] = {}
        if spec["vector"] is not None and vector:
            options["vector_entry_point"] = f"{__name__}:{_entry_point_name(spec['id'], vector=True)}"
        gym.register(
            id=spec["id"],
            entry_point=f"{__name__}:{_entry_point_name(spec['id'])}",
            kwargs=dict(spec["fixed"]),
            max_episode_steps=spec["max_episode_steps"],
            **options,
        )
