"""Fuzzing ``gym.make`` keywords and ``hwenvs`` command lines (issue 31, section 4): every input either passes the
checks (the work then starts) or is refused with a clear error: ``gym.make`` raises ``TypeError`` / ``ValueError``
naming the keyword, and the command line prints one line ``hwenvs <command>: error: ...`` with exit code 2. Never a
traceback, never another exception.

No episode runs: the first heavy step of each path (loading data, a table, a surrogate, building a model) is replaced
by one that raises :class:`Started`, which counts as success; so the examples are cheap and the test stays fast.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli_misuse import assert_one_line_error
from test_robustness import HOSTILE, IDS, constructor_names, env_class

import hwenvs  # noqa: F401  (registers the ids)
from hwenvs.cli.main import main

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
NO_CUDA = not torch.cuda.is_available()


class Started(Exception):
    """Raised where the work would begin: every check before it passed."""


def start(*args: Any, **kwargs: Any) -> None:
    raise Started


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every heavy first step of the environments and commands raises :class:`Started` instead."""
    import hwenvs.cli.hardware
    import hwenvs.data
    import hwenvs.lab.surrogate_data.haq
    import hwenvs.lab.surrogate_data.nas
    import hwenvs.nas.latency_targets
    import hwenvs.nas.measure_latency
    import hwenvs.surrogate.accuracy
    from hwenvs.envs import haq_env, proxylessnas_env

    for module, name in [
        (haq_env, "load_task"), (haq_env, "build_architecture"), (proxylessnas_env, "load_task"),
        (proxylessnas_env, "load_latency_table"), (hwenvs.surrogate.accuracy, "load_haq_surrogate"),
        (hwenvs.surrogate.accuracy, "load_nas_surrogate"), (hwenvs.data, "load_task"),
        (hwenvs.cli.hardware, "model_layers"), (hwenvs.nas.measure_latency, "measured_table"),
        (hwenvs.nas.latency_targets, "load_latency_table"), (hwenvs.lab.surrogate_data.haq, "generate_haq"),
        (hwenvs.lab.surrogate_data.nas, "generate_nas"),
    ]:  # fmt: skip
        monkeypatch.setattr(module, name, start)
    monkeypatch.setattr(gym, "make", start)  # the commands' own gym.make (after their checks)


# -- gym.make ----------------------------------------------------------------------------------------------------------


@st.composite
def make_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """An id and up to three keywords, names its class takes (or misspelt ones), values of any type."""
    env_id = draw(st.sampled_from(IDS))
    names = [*constructor_names(env_class(env_id)), "foo", "preserv_ratio", "modle"]
    return env_id, draw(st.dictionaries(st.sampled_from(names), HOSTILE, max_size=3))


@FUZZ
@given(call=make_calls())
def test_gym_make_succeeds_or_names_the_keyword(call: tuple[str, dict[str, Any]], no_work: None) -> None:
    from gymnasium.envs.registration import make as real_make  # gym.make itself is patched for the commands

    env_id, kwargs = call
    try:
        real_make(env_id, **kwargs)
    except Started:
        return
    except (TypeError, ValueError) as exc:
        message = str(exc)
        assert "\n" not in message.strip(), message
        assert any(name in message for name in kwargs) or env_id in message, (kwargs, message)
    except RuntimeError as exc:  # ProxylessNAS-GPU without CUDA, whatever the keywords
        assert env_id == "ProxylessNAS-GPU" and NO_CUDA and "CUDA" in str(exc), (env_id, exc)


# -- the command line --------------------------------------------------------------------------------------------------

VALUES = ["0", "-1", "1", "2", "7", "32", "224", "nan", "inf", "-inf", "1e309", "2.5", "abc", "", "None", "[1, 2]",
          "k3e3", "99999999999", "0.5", "mobilenet_v2", "bismo-edge"]  # fmt: skip
"""What a command line can hold: numbers in and out of range, non-numbers, empty, huge."""

COMMANDS: dict[tuple[str, ...], tuple[list[str], list[str]]] = {
    ("search",): (["HAQ-MobileNetV2-BISMO", "ProxylessNAS-BISMO", "CartPole-v1", "hwenvs:HAQ-ResNet18-BISMO", "X"],
                  ["--episodes", "--seed", "--agent", "--env-kwarg", "--agent-kwarg"]),
    ("evaluate",): (["policy.json"], ["--rel-tol", "--env-kwarg"]),
    ("finetune",): (["policy.json"], ["--epochs", "--steps", "--lr", "--batch-size", "--seed", "--out"]),
    ("hardware",): (["mobilenet_v2", "resnet18", "vgg"], ["--resolution", "--batch", "--num-classes", "--input-bits"]),
    ("nas", "latency-table"): ([], ["--repeats", "--rounds", "--warmup", "--threads", "--validate", "--seed"]),
    ("nas", "latency"): (["k3e3", "zero", "abc"], ["--target"]),
    ("nas", "train"): (["k3e3"], ["--epochs", "--lr", "--seed", "--dataset"]),
    ("bench-data", "haq"): ([], ["--count", "--workers", "--chunk-size", "--min-bits", "--max-bits", "--width-mult"]),
    ("bench-data", "nas"): ([], ["--count", "--width-mult", "--val-batch-size", "--scratch", "--model"]),
    ("benchmark",): ([], ["--seeds", "--episodes", "--sweep", "--workers", "--cpus-per-trial", "--backend"]),
}  # fmt: skip
"""Each command (with its positional kind), positional values to draw from, and options that take a value."""

FIXED = {("hardware",): ["bismo-edge", "--bits", "4/4"], ("benchmark",): ["--dry-run", "--suite", "smoke"]}
"""Arguments a command needs after its positional ones."""


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A command, its positional arguments, and up to three options with hostile values (``key=value`` for the
    keyword options)."""
    command = draw(st.sampled_from(list(COMMANDS)))
    positional, options = COMMANDS[command]
    argv = [*command, *([draw(st.sampled_from(positional))] if positional else []), *FIXED.get(command, [])]
    for option in draw(st.lists(st.sampled_from(options), max_size=3)):
        value = draw(st.sampled_from(VALUES))
        if option.endswith("-kwarg"):
            value = f"{draw(st.sampled_from(['preserve_ratio', 'min_bits', 'batch_size', 'foo', 'actor_lr']))}={value}"
        argv += [option, value]
    return argv


@FUZZ
@given(argv=command_lines())
def test_a_command_line_succeeds_or_says_what_is_wrong_in_one_line(
    argv: list[str], no_work: None, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = tmp_path_factory.mktemp("out")
    if argv[0] == "search":
        argv = [*argv, "--out", str(out / "run")]
    try:
        code = main(argv)
    except Started:
        return
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        command = argv[0] if argv[0] not in ("nas",) else f"nas {argv[1]}"
        try:
            assert_one_line_error(err, command)
        except AssertionError:
            assert_one_line_error(err, argv[0])  # `hwenvs nas` itself reports what its sub-command refused
