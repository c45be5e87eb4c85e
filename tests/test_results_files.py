"""Every figure in a results file is computed by the code that prints it.

Each ``benchmarks/results/NAME.md`` (or ``.txt``) with a ``NAME.json`` beside it must start with exactly what
``benchmarks/NAME.py``'s ``render`` makes of that JSON (no model evaluation: this only formats), and the hand-written
reading after it (``results_io.READING_HEADING``) may quote only decimal numbers that the generated part contains.
A results file without its JSON yet, or whose JSON an older script wrote, is skipped with the command that
regenerates it.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
RESULTS = BENCHMARKS / "results"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their shared helper as a top-level module

import results_io  # noqa: E402

TEXT_FILES = sorted(p for p in RESULTS.glob("*") if p.suffix in (".md", ".txt"))


def script(stem: str) -> ModuleType:
    """The benchmark script that writes ``results/STEM.*``."""
    if not (BENCHMARKS / f"{stem}.py").is_file():
        pytest.fail(f"results/{stem} has no script benchmarks/{stem}.py to regenerate it")
    return importlib.import_module(stem)


def regenerated(text_path: Path) -> str:
    """What the script's ``render`` makes of the committed JSON; skips where there is none or it is stale."""
    json_path = text_path.with_suffix(".json")
    if not json_path.is_file():
        pytest.skip(f"{text_path.name} has no {json_path.name} yet: rerun benchmarks/{text_path.stem}.py")
    module = script(text_path.stem)
    try:
        return module.render(json.loads(json_path.read_text()))
    except results_io.StaleResults as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("text_path", TEXT_FILES, ids=lambda p: p.name)
def test_generated_part_is_rendered_from_the_json(text_path: Path) -> None:
    generated, _ = results_io.split(text_path.read_text())
    expected = regenerated(text_path)
    assert generated == expected.rstrip() + "\n", (
        f"{text_path.name} differs from what benchmarks/{text_path.stem}.py renders from its JSON: regenerate it, "
        "do not edit the generated part by hand"
    )


@pytest.mark.parametrize("text_path", TEXT_FILES, ids=lambda p: p.name)
def test_reading_quotes_only_numbers_of_the_generated_part(text_path: Path) -> None:
    missing = results_io.missing_numbers(text_path.read_text())
    assert not missing, f"{text_path.name}'s hand-written reading quotes {missing}, which its tables do not show"


@pytest.mark.parametrize("json_path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_every_json_has_its_results_file_and_script(json_path: Path) -> None:
    texts = [json_path.with_suffix(s) for s in (".md", ".txt") if json_path.with_suffix(s).is_file()]
    assert len(texts) == 1, f"{json_path.name} needs exactly one results file beside it, found {texts}"
    assert callable(getattr(script(json_path.stem), "render", None)), f"benchmarks/{json_path.stem}.py has no render"


def test_split_and_numbers() -> None:
    text = f"a 0.914 ± 0.051, torch 2.14.1, 2026-11-25\n\n{results_io.READING_HEADING}\n\nquotes 0.914 and 1.5x\n"
    generated, reading = results_io.split(text)
    assert generated == "a 0.914 ± 0.051, torch 2.14.1, 2026-11-25\n"
    assert reading.startswith(results_io.READING_HEADING)
    assert results_io.decimals(generated) == ["0.914", "0.051"]  # a version or a date is not a figure
    assert results_io.missing_numbers(text) == ["1.5"]
    assert results_io.split("no reading\n") == ("no reading\n", "")
    assert results_io.decimals("uniform 0.88..1.02, 1.5%") == ["0.88", "1.02", "1.5"]  # both ends of a range


def test_write_keeps_the_reading(tmp_path: Path) -> None:
    text_path = tmp_path / "x.md"
    text_path.write_text(f"old 1.25\n\n{results_io.READING_HEADING}\n\n1.25 was it\n")
    stale = results_io.write(tmp_path / "x.json", {"v": 1.5}, text_path, "new 1.50\n")
    assert text_path.read_text() == f"new 1.50\n\n{results_io.READING_HEADING}\n\n1.25 was it\n"
    assert stale == ["1.25"]  # the rerun changed the figure the reading quotes: the reading must be rewritten
    assert json.loads((tmp_path / "x.json").read_text()) == {"v": 1.5}


# --------------------------------------------------------------------------------------- HAQ agents' report


def haq_agents_data() -> dict:
    """A hand-made run in the format the search pipeline writes (two agents, a reference list)."""
    references = [
        {"name": "float", "val_accuracy": 0.97, "test_accuracy": 0.96, "cost": None, "cost_ratio": None},
        {"name": "fixed 8-bit", "val_accuracy": 0.965, "test_accuracy": 0.958, "cost": 0.04, "cost_ratio": 1.0},
        {"name": "best uniform 4/4", "val_accuracy": 0.91, "test_accuracy": 0.9, "cost": 0.017, "cost_ratio": 0.425},
    ]
    run = {
        "env_id": "HAQ-MobileNetV2-BISMO",
        "env_kwargs": {"constraint": "latency", "preserve_ratio": 0.4},
        "budget": 0.016,
        "reference_cost": 0.04,
        "unit": "s",
        "cost": 0.015,
        "cost_ratio": 0.375,
        "best_reward": -0.005,
        "best_episode": 7,
        "best_so_far": {"20": -0.01},
        "distinct_policies": 20,
        "mean_reward_last_50": -0.02,
        "search_time_s": 30.0,
        "references": references,
    }
    runs = [
        {**run, "agent": "ddpg", "seed": 0, "accuracy": 0.93, "val_accuracy": 0.93, "test_accuracy": 0.91},
        {**run, "agent": "ddpg", "seed": 1, "accuracy": 0.95, "val_accuracy": 0.95, "test_accuracy": 0.94},
        {**run, "agent": "random", "seed": 0, "accuracy": 0.9, "val_accuracy": 0.9, "test_accuracy": 0.86},
    ]
    settings = {"episodes": 20, "seeds": [0, 1], "agents": ["ddpg", "random"], "jobs": 1, "preserve_ratio": 0.4}
    machine = {"processor": "x86_64", "cpus": 2, "date": "2026-11-26 10:00 UTC"}
    return {"total_wall_s": 60.0, "settings": settings, "machine": machine, "results": runs}


def test_haq_agents_reports_test_accuracy_and_optimism() -> None:
    text = script("haq_agents").render(haq_agents_data())
    assert "(0.40 x fixed 8-bit)" in text  # computed from budget / reference cost, not the default 0.5
    assert "| ddpg | 0.9250 ± 0.0212 | 0.9400 ± 0.0141 | 0.0150 ± 0.0071 |" in text  # test, validation, optimism
    assert "| random | 0 | 0.8600 | 0.9000 | 0.0400 |" in text  # per seed
    assert "| best uniform 4/4 | 0.9000 | 0.9100 | 0.017 | 0.425 |" in text


def test_haq_agents_refuses_runs_without_test_figures() -> None:
    data = haq_agents_data()
    old = copy.deepcopy(data)
    for run in old["results"]:
        del run["test_accuracy"]
    with pytest.raises(results_io.StaleResults, match="test_accuracy"):
        script("haq_agents").render(old)


def test_surrogate_ranking_row_correlations_are_scipys() -> None:
    from scipy import stats

    ranking = script("surrogate_ranking")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, size=(200, 6)).astype(float), rng.normal(size=(200, 6))  # ties in x
    taus, rhos = ranking.kendall_tau_rows(x, y), ranking.spearman_rho_rows(x, y)
    for row, (a, b) in enumerate(zip(x, y, strict=True)):
        tau, rho = stats.kendalltau(a, b).statistic, stats.spearmanr(a, b).statistic
        assert taus[row] == pytest.approx(tau, nan_ok=True) and rhos[row] == pytest.approx(rho, nan_ok=True)


def test_surrogate_ranking_compares_agents_and_names_disagreements() -> None:
    ranking = script("surrogate_ranking")

    def trials(agent: str, tests: list[float], rescored: list[float] | None = None) -> list[dict]:
        rescored = rescored or tests
        return [
            {"agent": agent, "seed": s, "test_accuracy": t, "real_test_accuracy": r}
            for s, (t, r) in enumerate(zip(tests, rescored, strict=True))
        ]

    real = {"a": trials("a", [0.9, 0.8]), "b": trials("b", [0.5, 0.6]), "c": trials("c", [0.7, 0.7]), "d": []}
    surrogate = {
        "a": trials("a", [0.95, 0.85], rescored=[0.9, 0.8]),
        "b": trials("b", [0.8, 0.8], rescored=[0.5, 0.5]),  # predicted above c: a disagreement
        "c": trials("c", [0.6, 0.6], rescored=[0.7, 0.7]),
        "d": trials("d", [0.1, 0.1]),  # no real trials: left out
    }
    result = ranking.compare(real, surrogate)
    assert set(result["agents"]) == {"a", "b", "c"}
    assert result["agents"]["b"]["gap"]["mean"] == pytest.approx(0.3)
    assert result["kendall_tau_surrogate"] == pytest.approx(1 / 3)  # one of three pairs swapped
    assert result["kendall_tau_surrogate_rescored"] == pytest.approx(1.0)
    (swapped,) = result["disagreements"]
    assert swapped["pair"] == ["b", "c"]
    assert swapped["real_difference"] == pytest.approx(-0.15) and swapped["surrogate_difference"] == pytest.approx(0.2)
    # bootstrap intervals: b's real mean is one of 0.5, 0.55, 0.6 and c's always 0.7, so b - c lies in [-0.2, -0.1]
    low, high = swapped["real_difference_ci"]
    assert -0.2 - 1e-9 <= low <= high <= -0.1 + 1e-9
    assert swapped["surrogate_difference_ci"] == pytest.approx([0.2, 0.2])
    for key in ("kendall_tau_surrogate_ci", "spearman_rho_surrogate_rescored_ci"):
        assert -1.0 <= result[key][0] <= result[key][1] <= 1.0
    assert result == ranking.compare(real, surrogate)  # seeded
    settings = {"env_id": "X", "env_kwargs": {}, "episodes": 2, "seeds": 2}
    text = ranking.render({"comparison": result, "settings": settings, "machine": "m", "date": "d"})
    assert f"b vs c: real -0.1500 [{low:.4f}, {high:.4f}]" in text and "not separated" not in text
    # a swap of two agents the real side cannot tell apart is marked as such
    tied = ranking.compare({"x": trials("x", [0.6, 0.8]), "y": trials("y", [0.69, 0.69])},
                           {"x": trials("x", [0.6, 0.6]), "y": trials("y", [0.7, 0.7])})  # fmt: skip
    (swap,) = tied["disagreements"]
    assert swap["real_difference_ci"][0] < 0 < swap["real_difference_ci"][1]
    text = ranking.render({"comparison": tied, "settings": settings, "machine": "m", "date": "d"})
    assert "x vs y: real +0.0100" in text and "(not separated on the real side)" in text


# --------------------------------------------------------------------------------------- agent suite's README tables


def test_agent_suite_tables_read_each_default_row_by_group_then_the_quick_suite_and_the_lottery() -> None:
    def entry(point: float, runs: int = 10) -> dict:
        return {"test_accuracy_iqm": [point, point - 0.01, point + 0.01], "runs": runs}

    envs = {
        "a": {"id": "HAQ-MobileNetV2-BISMO", "kwargs": {"preserve_ratio": 0.5}, "family": "haq"},
        "b": {"id": "ProxylessNAS-Mobile", "kwargs": {}, "family": "nas"},
    }
    quick = {
        "settings": {},
        "envs": envs,
        "summary": {"envs": {"a": {"agents": {"ddpg": {"all": entry(0.9)}, "fixed": {"all": entry(0.93, 1)}}},
                             "b": {"agents": {"random": {"all": entry(0.5)}}}}},
    }  # fmt: skip
    images = {
        "paired": {"wins": 3, "losses": 1, "ties": 6, "level": 0.05},
        "start_runs": 2,
        "gain_mean": [0.004, 0.001, 0.007],
        "test_accuracy_iqm_images": [0.88, 0.87, 0.89],
    }
    warm = {**entry(0.88), "images": images, "wall_time_s_total": 7200.0}
    default = {
        "settings": {},
        "groups": {"ddpg": "cold", "ddpg-warm": "warm"},
        "missing": [],
        "envs": {"a": {**envs["a"], "kwargs": {"dataset": "fashion-mnist", "preserve_ratio": 0.5}}},
        "summary": {"envs": {"a": {
            "agents": {"ddpg-warm": {"all": warm}, "ddpg": {"all": entry(0.8)}},
            "images": {"headroom_points": 4.56, "headroom_images": 456, "test_images": 10000},
        }}},
    }  # fmt: skip
    sweep = {
        "trials": [{}],
        "settings": {"sweep": 8, "accuracy": "surrogate"},
        "envs": {"a": envs["a"]},
        "agents": {"tpe": {"s3": {"multivariate": True, "gamma_ratio": 0.123456}, "s5": {"multivariate": False}}},
        "summary": {
            "envs": {"a": {"agents": {"tpe": {"best": entry(0.95), "all": entry(0.8, 80)}}}},
            "best_settings": {"haq": {"tpe": "s3"}},
        },
    }
    agent_suite = script("agent_suite")
    text = agent_suite.readme_tables({"suite": default, "quick": quick, "sweep": sweep})
    lines = text.splitlines()
    assert "**a**: HAQ-MobileNetV2-BISMO (dataset=fashion-mnist, preserve_ratio=0.5). Headroom: float minus" in text
    assert "4.56 points (456 of 10000 test images)" in text
    rows = [line for line in lines if line.startswith(("| cold", "| warm"))]
    assert rows[0].startswith("| cold | ddpg | 0.8000 [0.7900, 0.8100] | n/a |")  # cold first, whatever the order
    assert rows[1] == (
        "| warm | ddpg-warm | 0.8800 [0.8700, 0.8900] | 0.8800 [0.8700, 0.8900] | 3 / 1 / 6 | 2/10 | "
        "+0.40 [+0.10, +0.70] | 2.00 (10) |"
    )
    assert "| ddpg | 0.900 [0.890, 0.910] (10) | - |" in lines  # the quick suite's table
    assert "real accuracy: a: HAQ-MobileNetV2-BISMO (preserve_ratio=0.5); b: ProxylessNAS-Mobile." in text
    assert (
        "| tpe (s3: multivariate=True, gamma_ratio=0.123) | 0.950 [0.940, 0.960] (10) | 0.800 [0.790, 0.810] (80) |"
        in lines
    )
    assert "predicted by the surrogate" in text and "re-scored" not in text.lower()
    real = {
        "tpe": {
            "best_setting": "s5",
            "surrogate_best_setting": "s3",
            "best": {**entry(0.85), "paired": {"win": 1, "loss": 2, "tie": 7}},
            "all": entry(0.7, 80),
        }
    }
    text = agent_suite.readme_tables({"suite": default, "quick": quick, "sweep": sweep, "sweep_real": real})
    assert (
        "| tpe (s3: multivariate=True, gamma_ratio=0.123) | 0.950 [0.940, 0.960] (10) | 0.800 [0.790, 0.810] (80) |"
        " s5: multivariate=False | 0.850 [0.840, 0.860] (10) | 1 / 2 / 7 | 0.700 [0.690, 0.710] (80) |"
        in text.splitlines()
    )
    sweep["trials"] = []
    assert "lottery" not in agent_suite.readme_tables({"suite": None, "quick": None, "sweep": sweep})


def test_agent_suite_report_only_runs_nothing_and_says_what_has_not_finished(tmp_path: Path) -> None:
    suite = script("agent_suite")
    suite.main(["--report-only", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path)])
    assert not (tmp_path / "runs").exists()  # nothing ran
    text = (tmp_path / "agent_suite.md").read_text()
    assert "No row of the default suite has finished a search yet." in text
    assert "## The default suite (HAQ on Fashion-MNIST): not finished yet" in text
    assert "## Hyperparameter lottery: not finished yet" in text
    written = json.loads((tmp_path / "agent_suite.json").read_text())
    assert written == {"suite": None, "quick": None, "sweep": None, "sweep_real": None}


BISMO_ROW = RESULTS / "agent_suite_runs" / "suite-haq-mbv2-bismo" / "results.json"


@pytest.mark.skipif(not BISMO_ROW.is_file(), reason="no finished HAQ-MobileNetV2-BISMO row of the agent suite yet")
def test_a_complete_agent_suite_row_is_kept_and_rows_combine_into_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = script("agent_suite")
    row = suite.row_folder(tmp_path, "haq-mbv2-bismo")
    row.mkdir()
    data = json.loads(BISMO_ROW.read_text())
    (row / "results.json").write_text(json.dumps(data))
    quick = {"suite_name": "quick"}
    assert suite.row_complete(row, "haq-mbv2-bismo", **quick)
    assert suite.row_complete(row, "haq-mbv2-bismo", seeds=3, agents="ddpg,tpe", **quick)  # a subset of it
    assert not suite.row_complete(row, "haq-mbv2-bismo", seeds=11, **quick)
    assert not suite.row_complete(row, "haq-mbv2-bismo", episodes=151, **quick)
    assert not suite.row_complete(row, "haq-mbv2-bitfusion-energy", **quick)

    def must_not_run(argv: list[str], suite_name: str) -> None:
        raise AssertionError(f"ran hwenvs benchmark {argv} on a complete row")

    monkeypatch.setattr(suite, "run", must_not_run)
    suite.run_row("haq-mbv2-bismo", row, ["--workers", "1"], **quick)
    ran: list[tuple[list[str], str]] = []
    monkeypatch.setattr(suite, "run", lambda argv, suite_name: ran.append((argv, suite_name)))
    (row / "results.json").write_text(json.dumps({**data, "trials": data["trials"][1:]}))  # a trial short
    suite.run_row("haq-mbv2-bismo", row, ["--workers", "1"], seeds=10, **quick)
    assert ran == [(["--workers", "1", "--envs", "haq-mbv2-bismo", "--out", str(row), "--seeds", "10"], "quick")]
    # a second row (the same figures under another name) joins the first in one report
    (row / "results.json").write_text(json.dumps(data))
    other = suite.row_folder(tmp_path, "haq-mbv2-bitfusion-energy")
    other.mkdir()
    renamed = copy.deepcopy(data)
    renamed["envs"] = {"haq-mbv2-bitfusion-energy": data["envs"]["haq-mbv2-bismo"]}
    for trial in renamed["trials"]:
        trial["env"] = "haq-mbv2-bitfusion-energy"
    (other / "results.json").write_text(json.dumps(renamed))
    combined = suite.suite_results(tmp_path, "quick")
    assert list(combined["envs"]) == ["haq-mbv2-bismo", "haq-mbv2-bitfusion-energy"]
    assert len(combined["trials"]) == 2 * len(data["trials"]) and len(combined["parts"]) == 2
    for name in combined["envs"]:
        for agent, entry in combined["summary"]["envs"][name]["agents"].items():
            committed = data["summary"]["envs"]["haq-mbv2-bismo"]["agents"][agent]["all"]
            assert {k: entry["all"][k] for k in committed} == committed  # figures added since are new keys
    assert "| agent | haq-mbv2-bismo | haq-mbv2-bitfusion-energy |" in suite.quick_table(combined)


def test_agent_suite_lottery_real_chooses_on_real_validation_and_clusters_the_pooled_interval(tmp_path: Path) -> None:
    from hwenvs.benchmark import outcomes, stats

    suite = script("agent_suite")
    trials = [
        {"env": "a", "agent": "tpe", "setting": setting, "seed": seed, "test_accuracy": 0.9}
        for setting in ("s0", "s1")
        for seed in range(4)
    ]
    base = np.zeros(1000, bool)
    base[:800] = True
    better = base.copy()
    better[800:900] = True

    def cached(t: dict) -> dict:
        s1 = t["setting"] == "s1"
        return {
            "val": 0.5 if s1 else 0.7,  # s0 wins on real validation, whatever the surrogate chose (s1)
            "test": (0.6 if s1 else 0.2) + t["seed"] / 100,
            "test_outcomes": outcomes.pack(better if t["seed"] == 0 else base),
        }

    cache = {f"tpe__{t['setting']}__s{t['seed']}": cached(t) for t in trials}
    cache["__best_uniform__"] = {"solution": [], "val": 0.8, "test": 0.8, "test_outcomes": outcomes.pack(base)}
    (tmp_path / "rescored.json").write_text(json.dumps(cache))
    sweep = {
        "trials": trials,
        "settings": {"accuracy": "surrogate"},
        "envs": {"a": {"family": "haq"}},
        "summary": {"best_settings": {"haq": {"tpe": "s1"}}},
    }
    real = suite.lottery_real(tmp_path, sweep)["tpe"]  # every trial cached: no environment is built
    assert (real["best_setting"], real["surrogate_best_setting"]) == ("s0", "s1")
    assert real["best"]["runs"] == 4 and real["all"]["runs"] == 8
    assert real["best"]["test_accuracy_iqm"][0] == pytest.approx(0.215)  # seeds 1 and 2 of s0
    assert real["best"]["paired"] == {"win": 1, "loss": 0, "tie": 3}
    pooled = stats.clustered_interval(
        [np.array([0.2, 0.21, 0.22, 0.23]), np.array([0.6, 0.61, 0.62, 0.63])], seed=0
    ).to_list()
    assert real["all"]["test_accuracy_iqm"] == pytest.approx(pooled)
    assert all("real_test_accuracy" not in t for t in trials)  # the lottery's own results are left as they were
    assert suite.lottery_real(tmp_path, {**sweep, "settings": {"accuracy": "real"}}) is None
