"""Checks of what the environments are given: constructor arguments, reset options (and the helpers of their actions).

Every check raises ``TypeError`` for a value of the wrong type and ``ValueError`` for a value of the right type out of
range, with one message shape: ``<name> must be <what is valid>, got <the value> (<its type>)``. The environments run
their argument checks before any heavy work (loading data, models, tables), so a bad ``gym.make`` fails at once, and
the checks can be called on their own (``HAQEnv.check_arguments(**kwargs)``) to validate a configuration.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
import os
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import numpy as np
from gymnasium import logger as gym_logger

MAX_SHOWN = 60
"""Characters of a value's ``repr`` that a message shows."""

Init = TypeVar("Init", bound=Callable[..., None])


def shown(value: Any) -> str:
    """``value`` for an error message: its (shortened) repr and its type.

    :param value: anything.
    """
    text = repr(value).replace("\n", " ")
    if len(text) > MAX_SHOWN:
        text = text[: MAX_SHOWN - 3] + "..."
    return f"{text} ({type(value).__name__})"


def _fail(name: str, valid: str, value: Any, error: type[Exception]) -> Exception:
    return error(f"{name} must be {valid}, got {shown(value)}")


def is_real(value: Any) -> bool:
    """True for a real number (Python or numpy int or float), False for bools, strings, None and anything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value: Any) -> bool:
    """True for a Python or numpy integer that is not a bool (2.0 and 2.5 are not integers)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    valid: str | None = None,
) -> float:
    """``value`` as a finite float within the bounds.

    :param name: the argument's name, for the message.
    :param value: what was passed.
    :param low: smallest allowed value (None: no bound).
    :param high: largest allowed value (None: no bound).
    :param low_open: ``low`` itself is not allowed.
    :param high_open: ``high`` itself is not allowed.
    :param valid: what is valid, in words (default: the interval).
    :raises TypeError: not a real number.
    :raises ValueError: not finite or outside the bounds.
    """
    if valid is None:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        opening = "(" if low is None or low_open else "["
        closing = ")" if high is None or high_open else "]"
        valid = f"a real number in {opening}{left}, {right}{closing}"
    if not is_real(value):
        raise _fail(name, valid, value, TypeError)
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    too_low = low is not None and (number < low or (low_open and number == low))
    too_high = high is not None and (number > high or (high_open and number == high))
    if not math.isfinite(number) or too_low or too_high:
        raise _fail(name, valid, value, ValueError)
    return number


def integer_range(low: int | None, high: int | None) -> str:
    """The integers from ``low`` to ``high`` in words (``"an integer in 2..8"``; a None bound is open)."""
    if low is not None and high is not None:
        return f"an integer in {low}..{high}"
    if low is not None:
        return f"an integer >= {low}"
    return "an integer" if high is None else f"an integer <= {high}"


def integer(name: str, value: Any, *, low: int | None = None, high: int | None = None, valid: str | None = None) -> int:
    """``value`` as an int within ``low..high``; floats are refused, not truncated (2.5 is not 2).

    :param name: the argument's name, for the message.
    :param value: what was passed.
    :param low: smallest allowed value (None: no bound).
    :param high: largest allowed value (None: no bound).
    :param valid: what is valid, in words (default: the range).
    :raises TypeError: not an integer (a float, a bool, a string...).
    :raises ValueError: outside ``low..high``.
    """
    if valid is None:
        valid = integer_range(low, high)
    if not is_integer(value):
        raise _fail(name, valid, value, TypeError)
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise _fail(name, valid, value, ValueError)
    return number


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool (``"false"`` or 0 are refused: they would read as the opposite or as a number).

    :param name: the argument's name, for the message.
    :param value: what was passed.
    :raises TypeError: not a bool.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(name, "True or False", value, TypeError)
    return bool(value)


def choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices`` (strings, or None), with a close match suggested when there is one.

    :param name: the argument's name, for the message.
    :param value: what was passed.
    :param choices: the valid values.
    :raises TypeError: not a string (nor None where None is a choice).
    :raises ValueError: a string that is not a choice.
    """
    listed = ", ".join(repr(c) for c in choices)
    valid = f"one of {listed}"
    if value is None and None in choices:
        return None
    if not isinstance(value, str):
        raise _fail(name, valid, value, TypeError)
    if value not in choices:
        close = difflib.get_close_matches(value, [c for c in choices if isinstance(c, str)], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name} must be {valid}, got {shown(value)}{hint}")
    return value


def render_mode(owner: str, value: Any, supported: Collection[str]) -> str | None:
    """``render_mode`` as Gymnasium treats it: None or a supported mode as given; any other string is warned about
    and rendered as nothing (the environment's ``render_mode`` becomes None, so ``render()`` returns None).

    ``gym.make`` itself only warns for a mode an environment does not declare, and generic tools rely on that: SB3's
    ``make_vec_env`` asks every environment for ``"rgb_array"`` and falls back only on a ``TypeError``. The mode
    becomes None rather than staying unsupported because Gymnasium's render checker (and SB3's ``VecEnv.render``)
    expect a mode that is set to be one the environment renders.

    :param owner: the environment's class name, for the warning.
    :param value: what was passed.
    :param supported: the modes the environment renders.
    :raises TypeError: neither a string nor None (``gym.make`` fails on it too).
    """
    listed = ", ".join(repr(mode) for mode in supported)
    if value is None:
        return None
    if not isinstance(value, str):  # before any comparison: an array compared with a mode would compare elementwise
        raise _fail("render_mode", f"None or a string (rendered: {listed})", value, TypeError)
    if value in supported:
        return value
    close = difflib.get_close_matches(value, list(supported), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    message = f"{owner} renders only {listed}: render_mode={value!r} renders nothing, render() returns None{hint}"
    # gym.logger.warn %-formats its message; a '%' in the user's value must not be read as a format
    gym_logger.warn(message.replace("%", "%%"))
    return None


def mapping(name: str, value: Any) -> dict[str, Any]:
    """``value`` as a dict with string keys (None gives an empty dict).

    :param name: the argument's name, for the message.
    :param value: what was passed.
    :raises TypeError: not a mapping, or a key that is not a string.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(name, "a dict of keyword arguments (or None)", value, TypeError)
    bad = [key for key in value if not isinstance(key, str)]
    if bad:
        raise TypeError(f"{name} must have string keys (keyword-argument names), got key {shown(bad[0])}")
    return dict(value)


def torch_device(name: str, value: Any) -> str:
    """``value`` as the name of a torch device this machine has (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).

    :param name: the argument's name, for the message.
    :param value: what was passed (a string or a ``torch.device``).
    :raises TypeError: neither a string nor a ``torch.device``.
    :raises ValueError: not a device torch knows, or CUDA asked for on a machine without it.
    """
    import torch

    valid = "a torch device: 'cpu', 'cuda' or 'cuda:<index>' (a str or torch.device)"
    if not isinstance(value, (str, torch.device)):
        raise _fail(name, valid, value, TypeError)
    try:
        device = torch.device(value)
    except RuntimeError:
        raise _fail(name, valid, value, ValueError) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={str(device)!r} was asked for but CUDA is not available here; use 'cpu'")
    return str(device)


def path_like(name: str, value: Any, valid: str) -> str:
    """``value`` as a string if it is a string or an ``os.PathLike``.

    :param name: the argument's name, for the message.
    :param value: what was passed.
    :param valid: what is valid, in words.
    :raises TypeError: anything else.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise _fail(name, valid, value, TypeError)


def keyword_options(
    name: str, options: Mapping[str, Any], function: Callable[..., Any], given: Collection[str] = ()
) -> dict[str, Any]:
    """``options`` if ``function`` accepts each as a keyword argument (besides the ``given`` ones it always gets).

    :param name: the argument holding the options, for the message.
    :param options: the options.
    :param function: where they go.
    :param given: parameters the caller fills in itself (not options).
    :raises TypeError: an option ``function`` does not take, listing those it does.
    """
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(options)
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    valid = [p.name for p in parameters if p.kind in keyword and p.name not in given]
    unknown = [key for key in options if key not in valid]
    if unknown:
        close = difflib.get_close_matches(unknown[0], valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"{name} has an unknown key {unknown[0]!r}{hint}; {function.__name__} takes: {', '.join(valid) or 'none'}"
        )
    return dict(options)


IMAGEFOLDER_LAYOUT = (
    "root/train/<class>/<image files> and optionally root/val/<class>/<image files>, or root/<class>/<image files>"
)
"""The folder layout an ImageFolder dataset needs (see :mod:`hwenvs.data.imagefolder`)."""


def dataset(value: Any, options: Any = None) -> dict[str, Any]:
    """Check a ``dataset`` argument cheaply (an embedded name, an existing folder or a loaded Task; the folder's
    content is checked when it is loaded) and return its loader's options as a dict.

    :param value: the ``dataset`` argument.
    :param options: the ``dataset_kwargs`` argument: None, or keyword arguments the loader takes.
    :raises TypeError: a dataset that is not a name, path or Task; options that are not a dict, that the loader
        does not take, or that come with an already loaded Task.
    :raises ValueError: a name that is neither an embedded task nor an existing folder.
    """
    from hwenvs.data import EMBEDDED_TASKS, Task, load_imagefolder

    options = mapping("dataset_kwargs", options)
    if isinstance(value, Task):
        if options:
            raise TypeError(f"dataset_kwargs {sorted(options)} cannot apply to an already loaded Task")
        return options
    valid = f"one of the named tasks {sorted(EMBEDDED_TASKS)} or an existing ImageFolder root ({IMAGEFOLDER_LAYOUT})"
    name = path_like("dataset", value, f"{valid}, or a loaded Task")
    if isinstance(value, str) and name in EMBEDDED_TASKS:
        return dataset_option_values(keyword_options("dataset_kwargs", options, EMBEDDED_TASKS[name]))
    if not name or not os.path.isdir(name):
        close = difflib.get_close_matches(name.lower(), list(EMBEDDED_TASKS), n=1) if isinstance(value, str) else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"dataset must be {valid}, got {shown(value)}{hint}")
    return dataset_option_values(keyword_options("dataset_kwargs", options, load_imagefolder, given=("root",)))


DATASET_INTEGERS: dict[str, int | None] = {
    "split_seed": 0, "seed": None, "num_train": 1, "resolution": 1, "num_classes": 1, "val_size": 1,
    "test_size": 1, "train_size": 1, "calibration_size": 1,
}  # fmt: skip
"""The loaders' integer options and their smallest values (None: any integer). Unchecked, ``split_seed=-1`` ended in
numpy's "expected non-negative integer" and ``split_seed=nan`` in a traceback, once the data was being loaded."""

DATASET_DEFAULTED = ("num_classes", "val_size", "test_size", "train_size")
"""Integer options that take None (the loader's default: every class, its own split sizes)."""


def dataset_option_values(options: dict[str, Any]) -> dict[str, Any]:
    """``dataset_kwargs`` with its integer options checked (None stays None where the loader defaults it:
    :data:`DATASET_DEFAULTED`) and ``carve_val`` a bool or None; the names were checked against the loader already.

    :param options: the loader's keyword arguments.
    :raises TypeError: a value that is not an integer (or bool).
    :raises ValueError: an integer below its smallest value.
    """
    checked = dict(options)
    for key, value in options.items():
        if key in DATASET_INTEGERS and not (value is None and key in DATASET_DEFAULTED):
            checked[key] = integer(f"dataset_kwargs {key}", value, low=DATASET_INTEGERS[key])
        elif key == "carve_val" and value is not None:
            checked[key] = boolean("dataset_kwargs carve_val", value)
    return checked


# -- constructors and reset --------------------------------------------------------------------------------------------


def bind_arguments(init: Callable[..., None], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a call of the constructor ``init`` (``self`` excluded), defaults filled in.

    :param init: an ``__init__`` (its signature; a decorated one is followed to the original).
    :param args: positional arguments after ``self``.
    :param kwargs: keyword arguments.
    :raises TypeError: an unknown keyword (with a close match, and every valid name), a missing or duplicated
        argument, or too many positional ones.
    """
    signature = inspect.signature(init)
    owner = init.__qualname__.split(".")[0]
    names = [name for name in signature.parameters if name != "self"]
    unknown = [key for key in kwargs if key not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"{owner} got an unexpected keyword argument {unknown[0]!r}{hint}; valid arguments: {', '.join(names)}"
        )
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{owner}: {exc}; valid arguments: {', '.join(names)}") from None
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if name != "self"}


def checked_init(check: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Init], Init]:
    """Decorate an environment's ``__init__`` so that its arguments go through ``check`` first.

    The call's arguments are bound to the constructor's signature (an unknown keyword is a ``TypeError`` that lists
    the valid ones, which ``gym.make`` passes on), defaults are filled in, ``check`` validates them all and returns
    them normalised (an int for an integer, a float for a real number...), and ``__init__`` runs with those, which the
    instance keeps as ``_arguments`` (:mod:`hwenvs.envs.pickling` rebuilds from them). Nothing else changes:
    ``inspect.signature``, ``gym.make``'s entry point and ``env.unwrapped``'s class.

    :param check: maps every argument by name to its checked value; raises ``TypeError`` / ``ValueError`` naming
        the argument.
    """

    def decorate(init: Init) -> Init:
        @functools.wraps(init)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
            arguments = check(bind_arguments(init, args, kwargs))
            self._arguments = arguments  # what the environment is rebuilt from when unpickled (envs/pickling.py)
            init(self, **arguments)

        wrapper.check = check  # type: ignore[attr-defined]  # what CheckedArguments.check_arguments runs
        return wrapper  # type: ignore[return-value]  # it takes init's arguments, which functools.wraps cannot type

    return decorate


class CheckedArguments:
    """Mixin for an environment whose ``__init__`` is wrapped by :func:`checked_init`: ``check_arguments`` runs the
    constructor's checks alone."""

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> dict[str, Any]:
        """Check constructor arguments without building or loading anything (what construction checks first).

        :param kwargs: constructor arguments by name; the others take their defaults.
        :returns: every argument, checked and normalised.
        :raises TypeError: an unknown argument (listing the valid ones) or one of the wrong type.
        :raises ValueError: an argument out of range or not one of the choices.
        :raises RuntimeError: what construction raises before loading (ProxylessNAS's ``hardware="gpu"`` on a
            machine without CUDA).
        """
        init = cls.__init__
        return init.check(bind_arguments(init, (), kwargs))  # type: ignore[attr-defined]  # set by checked_init


def real_action(action: Any, step: int, space: Any) -> float:
    """The one real number a one-float ``action`` holds (HAQ's Action Space), checked.

    :param action: what ``step`` got.
    :param step: the episode's step, for the message.
    :param space: the action space, for the message.
    :raises TypeError: not a real floating-point number (a string, None, an object, complex, bool or integer).
    :raises ValueError: a shape other than ``(1,)`` or ``()``, or a non-finite value.
    """
    # What agents pass almost always: checked in a few attribute reads, since a step costs microseconds.
    if type(action) is np.ndarray and action.dtype.kind == "f" and action.shape in ((1,), ()):
        value = action.item()
        if math.isfinite(value):
            return value

    def problem(what: str) -> str:  # built only on failure, since a repr costs more than a whole step
        return (
            f"step {step}: action {shown(action)} {what}; expected an element of {space}: a float array of shape "
            "(1,), or one float"
        )

    try:
        arr = np.asarray(action)
    except (TypeError, ValueError, OverflowError):  # ragged nesting and the like
        raise TypeError(problem("is not a number")) from None
    if arr.dtype.kind in "iu":
        raise TypeError(
            problem("is an integer")
            + ". Integers are refused, not read as points of [-1, 1]: for a bit width use bits_to_action(bits)"
        )
    if arr.dtype.kind != "f":
        raise TypeError(problem(f"is not a real number (dtype {arr.dtype})"))
    if arr.shape not in ((), (1,)):
        raise ValueError(problem(f"has shape {arr.shape}"))
    value = float(arr.reshape(-1)[0])
    if not math.isfinite(value):
        raise ValueError(problem("is not finite") + " (finite values outside [-1, 1] are clipped)")
    return value


def reset_options(owner: str, options: Any, known: Collection[str] = ()) -> dict[str, Any]:
    """``reset``'s ``options`` as a dict, refusing keys the environment does not know.

    :param owner: the environment's name, for the message.
    :param options: what ``reset(options=...)`` got (None or a dict).
    :param known: the option names the environment understands.
    :raises TypeError: options that are not a dict.
    :raises ValueError: unknown option names, listing the known ones.
    """
    options = mapping("reset options", options)
    unknown = sorted(key for key in options if key not in known)
    if unknown:
        accepted = f"known: {', '.join(sorted(known))}" if known else f"{owner} accepts no reset options"
        raise ValueError(f"reset(options=...) got unknown option(s) {unknown}; {accepted}")
    return options
