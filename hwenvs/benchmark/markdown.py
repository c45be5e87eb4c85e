"""``results.md`` from ``results.json`` alone: the families' aggregate tables, then each environment's rows.

:func:`render` reads nothing but the collected JSON (:mod:`hwenvs.benchmark.results`), so a report can be rendered
again, or regenerated and compared, without the trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hwenvs.benchmark import stats
from hwenvs.benchmark.budget import start_policy
from hwenvs.benchmark.plots import PLOTS
from hwenvs.benchmark.results import RESULTS_FORMAT, accuracy_label
from hwenvs.benchmark.summary import FAMILY_TITLES


def _ci(value: Sequence[float] | None, fmt: str = ".3f") -> str:
    if value is None:
        return "n/a"
    point, low, high = value
    return f"{point:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def _variant_title(variant: str, data: Mapping[str, Any]) -> str:
    if variant == "best":
        return "best setting of each agent (chosen on validation)"
    k = data["settings"].get("sweep", 0)
    return f"average over {k} sampled settings" if k else "default settings"


def render(data: Mapping[str, Any]) -> str:
    """``results.md`` from ``results.json`` alone.

    :param data: what :func:`hwenvs.benchmark.results.collect` wrote.
    """
    if data.get("format") != RESULTS_FORMAT or "summary" not in data:
        raise ValueError(f"not a benchmark results file of format {RESULTS_FORMAT} (no summary to render)")
    lines = _header(data)
    summary = data["summary"]
    for family, fam in summary["families"].items():
        lines += _family_section(family, fam, data)
    lines += ["## Environments", ""]
    for name, env_summary in summary["envs"].items():
        lines += _env_section(name, data["envs"][name], env_summary, data)
    lines += _footer(data)
    return "\n".join(lines).rstrip() + "\n"


def _header(data: Mapping[str, Any]) -> list[str]:
    suite, s, m = data["suite"], data["settings"], data["machine"]
    runs = len(data["trials"])
    lines = [
        f"# Benchmark `{suite['name']}` ({accuracy_label(data)})",
        "",
        suite.get("description") or "",
        "",
        f"{runs} searches on {len(data['envs'])} environment{'s' if len(data['envs']) != 1 else ''}, up to "
        f"{s['seeds']} seeds each"
        + (f", {s['sweep']} sampled hyperparameter settings per agent that declares a space" if s.get("sweep") else "")
        + f"; backend {s.get('backend', 'local')} with {s.get('workers', 1)} worker(s) of one torch thread on "
        f"{m['processor']} ({m['cpus']} CPUs); hwenvs {data['hwenvs_version']}, {data['created']}.",
        "",
        "Each search's solution is its best episode by validation reward; every figure below is that solution on the "
        "**test** split unless it says validation. Normalised score = (R - R_random) / (R_best uniform - R_random) "
        "on the test reward R: 0 is the mean of uniformly random solutions, 1 the best uniform solution within the "
        "budget (HAQ: the same ratio on test accuracy). 95% confidence intervals in brackets: stratified bootstrap "
        f"over seeds ({stats.REPS} replicates, percentile). IQM: interquartile mean.",
        "",
    ]
    if accuracy_label(data) == "surrogate accuracy":
        lines += ["**Surrogate accuracy**: every accuracy here is the surrogate's prediction, not a measurement.", ""]
    resumed = sum(t.get("resumed_at_episode", 0) > 0 for t in data["trials"])
    if resumed:
        lines += [
            f"{resumed} of the {runs} searches were killed and continued from a checkpoint, which gives the result "
            "an uninterrupted search gives (their search times add up the parts).",
            "",
        ]
    if len(data.get("parts", [])) > 1:
        lines += [f"Run in {len(data['parts'])} parts, combined (the statistics are over all of them):", ""]
        lines += [
            f"- {', '.join(p['envs'])}: {p['searches']} searches, backend {p['backend']} with {p['workers']} "
            f"worker(s), hwenvs {p['hwenvs_version']}, {p['created']}"
            for p in data["parts"]
        ]
        lines += [""]
    return lines


def _family_section(family: str, fam: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    title = FAMILY_TITLES.get(family, family)
    lines = [f"## {title}: {', '.join(fam['envs'])} ({accuracy_label(data)})", ""]
    for variant in data["summary"]["variants"]:
        lines += [f"### {_variant_title(variant, data)}", ""]
        lines += [
            "| agent | normalised score, IQM | normalised score, mean | runs beating best uniform | "
            "median episodes to beat it | runs (envs) |",
            "|---|---|---|---|---|---|",
        ]
        for agent, by_variant in fam["agents"].items():
            e = by_variant.get(variant)
            if e is None:
                continue
            setting = data["summary"]["best_settings"][family].get(agent) if variant == "best" else None
            name = f"{agent} ({setting})" if setting else agent
            cells = [_ci(e["iqm"]), _ci(e["mean"]), *_beating(e), f"{e['runs']} ({e['envs']})"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", *_improvement_table(fam["improvement"][variant]), ""]
    return lines


def _beating(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The cells "runs beating the best uniform solution" ("3/10") and "median episodes to beat it" ("never")."""
    beat, total = entry["beat_best_uniform"]
    median = entry["episodes_to_beat_median"]
    return f"{beat}/{total}", "never" if median is None else f"{median:.0f}"


def _improvement_table(improvement: Mapping[str, Any]) -> list[str]:
    agents = improvement["agents"]
    if len(agents) < 2:
        return []
    lines = [
        "Probability of improvement P(row > column), normalised test score, on the environments both ran:",
        "",
        "| P(row > column) | " + " | ".join(agents) + " |",
        "|---|" + "---|" * len(agents),
    ]
    for agent, row in zip(agents, improvement["matrix"], strict=True):
        cells = ["" if c is None else _ci(c, ".2f") for c in row]
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    return lines


def _env_section(name: str, env: Mapping[str, Any], summary: Mapping[str, Any], data: Mapping[str, Any]) -> list[str]:
    kwargs = ", ".join(f"{k}={v}" for k, v in env["kwargs"].items()) or "default arguments"
    lines = [f"### {name}: {env['id']} ({kwargs})", ""]
    best, random = env.get("best_uniform"), env["random"]
    lines.append(
        f"Random ({random.get('source', 'random solutions')}): test accuracy {random['test_accuracy']:.4f}, test "
        f"reward {random['test_reward']:.4f}."
        + (
            f" Best uniform ({best['name']}): test accuracy {best['test_accuracy']:.4f}, test reward "
            f"{best['test_reward']:.4f}, validation accuracy {best['val_accuracy']:.4f}."
            if best
            else " No uniform solution fits the budget: scores cannot be normalised."
        )
    )
    lines.append("")
    lines += _budget_lines(data.get("budgets", {}).get(name), summary.get("images"))
    for variant in data["summary"]["variants"]:
        lines += [
            f"{_variant_title(variant, data).capitalize()} ({accuracy_label(data)}):",
            "",
            "| agent | test accuracy, mean | test accuracy, IQM | validation accuracy | normalised score, mean | "
            "normalised score, IQM | cost ratio | beat best uniform | median episodes to beat | search time (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for agent, by_variant in summary["agents"].items():
            e = by_variant.get(variant)
            if e is None:
                continue
            beat, median = _beating(e)
            lines.append(
                f"| {agent} | {_ci(e['test_accuracy_mean'], '.4f')} | {_ci(e['test_accuracy_iqm'], '.4f')} | "
                f"{e['val_accuracy_mean']:.4f} | {_ci(e['score_mean'])} | {_ci(e['score_iqm'])} | "
                f"{e['cost_ratio_mean']:.3f} | {beat} | {median} | {e['search_time_s_mean']:.1f} |"
            )
        lines += ["", *_images_table(summary["agents"], variant)]
        for group, improvement in summary.get("improvement", {}).get(variant, {}).items():
            if len(improvement["agents"]) > 1:
                lines += [f"Within the {group} group, on this environment alone:", ""]
                lines += [*_improvement_table(improvement), ""]
    return lines


def _budget_lines(budget: Mapping[str, Any] | None, images: Mapping[str, Any] | None) -> list[str]:
    """The row's budget rule and what it chose, and its headroom on the test images."""
    lines = []
    if budget is not None:
        met = "" if budget["met"] else " (no grid value met the rule: the smallest feasible one)"
        start = start_policy(budget)
        within = "" if start is None else f" (the best uniform policy within it, on validation: {start})"
        lines += [
            f"Budget: preserve_ratio {budget['preserve_ratio']:g}{within}, by the rule: {budget['rule_text']}{met}.",
            "",
        ]
    if images is not None and "headroom_points" in images:
        lines += [
            f"Headroom: float minus the best uniform solution on test, {images['headroom_points']:.2f} points "
            f"({images['headroom_images']} of {images['test_images']} test images). The best uniform solution's test "
            f"accuracy over resampled test images: {_ci(images['best_uniform_test_accuracy_images'], '.4f')}.",
            "",
        ]
    return lines


def _images_table(agents: Mapping[str, Any], variant: str) -> list[str]:
    """Per agent: paired wins and losses against the best uniform solution, runs ending on it, the gain over it and
    test accuracy with intervals over seeds and test images, and the compute it took."""
    rows = [(a, v[variant]) for a, v in agents.items() if v.get(variant) and v[variant].get("images")]
    if not rows:
        return []
    level = rows[0][1]["images"]["paired"]["level"]
    lines = [
        f"Over the test images (paired with the best uniform solution; exact McNemar at p < {level:g}; intervals "
        "resample seeds and test images):",
        "",
        "| agent | significant wins / losses / ties | runs ending on the best uniform solution | gain over it, mean "
        "(points) | test accuracy, IQM | compute (core-hours) |",
        "|---|---|---|---|---|---|",
    ]
    for agent, e in rows:
        im, p = e["images"], e["images"]["paired"]
        gain = [100 * g for g in im["gain_mean"]]
        hours = "n/a" if e.get("wall_time_s_total") is None else f"{e['wall_time_s_total'] / 3600:.2f}"
        lines.append(
            f"| {agent} | {p['wins']} / {p['losses']} / {p['ties']} | {im['start_runs']}/{e['runs']} | "
            f"{_ci(gain, '+.2f')} | {_ci(im['test_accuracy_iqm_images'], '.4f')} | {hours} |"
        )
    return [*lines, ""]


def _footer(data: Mapping[str, Any]) -> list[str]:
    missing = data["missing"]
    lines = ["## Plots", "", *(f"![{p}]({p})" for p in PLOTS), ""]
    if not missing:
        return lines
    lines += [f"## Missing ({len(missing)} jobs without a complete result; rerun the same command to run them)", ""]
    lines += [f"- {m['trial']}" + (f": {m['error']}" if m.get("error") else "") for m in missing]
    return [*lines, ""]
