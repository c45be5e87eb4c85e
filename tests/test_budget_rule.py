"""Budget rules: a suite row's preserve_ratio fixed on validation by a written rule, before any agent runs."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import hwenvs  # noqa: F401  (registers the environments)
from hwenvs.benchmark import budget
from hwenvs.benchmark.budget import BudgetRule, UniformScore
from hwenvs.benchmark.suite import load_suite, parse_suite, plan

SCORES = [  # validation accuracy falls as the cost ratio falls; float is 0.87
    UniformScore(8, 8, 0.870, 1.00),
    UniformScore(6, 6, 0.869, 0.70),
    UniformScore(5, 5, 0.864, 0.55),
    UniformScore(4, 5, 0.826, 0.50),
    UniformScore(5, 4, 0.415, 0.45),
    UniformScore(3, 3, 0.100, 0.30),
]


def test_the_rule_takes_the_loosest_ratio_that_loses_enough() -> None:
    rule = BudgetRule((0.3, 0.45, 0.5, 0.55, 0.7), 0.02)
    resolution = budget.apply(rule, SCORES, 0.87)
    assert resolution["preserve_ratio"] == 0.5 and resolution["met"]
    assert [row["best_uniform"] for row in resolution["table"]] == ["3/3", "5/4", "4/5", "5/5", "6/6"]
    assert "loses at least 2 points" in resolution["rule_text"]
    assert budget.start_policy(resolution) == "4/5"  # the start: the best uniform policy at the chosen ratio


def test_the_report_names_the_start_a_resolution_chose() -> None:
    from hwenvs.benchmark.markdown import _budget_lines

    resolution = budget.apply(BudgetRule((0.45, 0.55), 0.02), SCORES, 0.87)
    assert (
        "preserve_ratio 0.45 (the best uniform policy within it, on validation: 5/4)"
        in _budget_lines(resolution, None)[0]
    )


def test_a_rule_no_grid_value_meets_takes_the_smallest_feasible_and_says_so() -> None:
    resolution = budget.apply(BudgetRule((0.25, 0.55, 0.7), 0.5), SCORES[:3], 0.87)
    assert resolution["preserve_ratio"] == 0.55 and not resolution["met"]
    with pytest.raises(ValueError, match="admits a uniform policy"):
        budget.apply(BudgetRule((0.1,), 0.02), SCORES, 0.87)


def test_best_uniform_chooses_as_the_environment_does() -> None:
    for ratio in (0.4, 0.5):
        env = gym.make("HAQ-MobileNetV2-BISMO", preserve_ratio=ratio, min_bits=3, max_bits=5).unwrapped
        scores = []
        for w, a in env.uniform_pairs():
            info = env.evaluate_solution(env.uniform_policy(w, a), "val")
            scores.append(UniformScore(w, a, info["accuracy"], info["cost_ratio"]))
        chosen = budget.best_uniform(scores, ratio)
        assert chosen is not None
        assert env.uniform_policy(chosen.w_bits, chosen.a_bits) == env.best_uniform_policy()


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"grid": [0.5]}, "exactly grid, min_loss"),
        ({"grid": [], "min_loss": 0.02}, "non-empty list"),
        ({"grid": [0.5, 1.5], "min_loss": 0.02}, "ratios in"),
        ({"grid": [0.5], "min_loss": 2}, "accuracy fraction"),
        ({"grid": [0.5], "min_loss": float("nan")}, "accuracy fraction"),
    ],
)
def test_bad_rules_name_the_problem(value: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        BudgetRule.parse(value, "suite x: envs[0]")


def _suite(env: dict, agents: list | None = None) -> dict:
    return {"name": "t", "envs": [env], "agents": agents or [{"name": "random", "agent": "random"}]}


def test_a_suite_refuses_a_rule_where_it_cannot_apply() -> None:
    rule = {"grid": [0.5], "min_loss": 0.02}
    with pytest.raises(ValueError, match="not a HAQ id"):
        parse_suite(_suite({"name": "n", "id": "ProxylessNAS-BISMO", "budget": rule}), "t.yaml")
    both = {"name": "h", "id": "HAQ-MobileNetV2-BISMO", "kwargs": {"preserve_ratio": 0.5}, "budget": rule}
    with pytest.raises(ValueError, match="not both"):
        parse_suite(_suite(both), "t.yaml")
    with pytest.raises(ValueError, match="group 'hot'"):
        parse_suite(_suite({"name": "h", "id": "HAQ-MobileNetV2-BISMO"}, [{"name": "r", "agent": "random",
                                                                          "group": "hot"}]), "t.yaml")  # fmt: skip


def test_resolution_is_applied_once_per_folder_and_goes_into_every_trial(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def fake_scores(env_id, env_kwargs, loosest):
        calls.append(loosest)
        return SCORES, 0.87

    monkeypatch.setattr(budget, "score_uniform", fake_scores)
    rule = {"grid": [0.45, 0.5, 0.55], "min_loss": 0.02}
    suite = parse_suite(_suite({"name": "h", "id": "HAQ-MobileNetV2-BISMO", "budget": rule}), "t.yaml")
    for _ in range(2):
        resolved = suite.resolve_budgets(tmp_path / "budgets")
        assert resolved.envs[0].kwargs["preserve_ratio"] == 0.5
    assert calls == [0.55]  # the second run read OUT/budgets/h.json
    assert budget.read_resolution(tmp_path / "budgets", "h")["preserve_ratio"] == 0.5
    assert budget.read_resolution(tmp_path / "budgets", "absent") is None
    jobs = plan(resolved, tmp_path)
    assert {j.env_kwargs["preserve_ratio"] for j in jobs} == {0.5}
    changed = parse_suite(_suite({"name": "h", "id": "HAQ-MobileNetV2-BISMO", "budget": {**rule, "min_loss": 0.5}}),
                          "t.yaml")  # fmt: skip
    assert changed.resolve_budgets(tmp_path / "budgets").envs[0].kwargs["preserve_ratio"] == 0.45
    assert calls == [0.55, 0.55]  # another rule: applied afresh


def test_the_default_suite_has_budget_rules_and_both_groups() -> None:
    suite = load_suite("default")
    haq = [e for e in suite.envs if e.family == "haq"]
    assert haq and all(e.budget is not None and e.kwargs.get("dataset") == "fashion-mnist" for e in haq)
    groups = {a.name: a.group for a in suite.agents}
    assert {"ddpg-warm", "random-warm", "tpe-warm", "cmaes-warm"} <= {n for n, g in groups.items() if g == "warm"}
    assert all(a.kwargs.get("warm_start") for a in suite.agents if a.group == "warm" and a.agent != "ddpg-warm")


def test_plan_runs_a_row_seed_by_seed() -> None:
    suite = load_suite("smoke").select(["haq-mbv2-bismo-3to5"])
    searches = [j for j in plan(suite, "out") if j.kind == "search"]
    seeds = [j.seed for j in searches]
    assert seeds == sorted(seeds) and len(set(seeds)) == 2
    first = [j.agent for j in searches if j.seed == 0]
    assert first == [a.name for a in suite.agents if a.runs_on(suite.envs[0])]
