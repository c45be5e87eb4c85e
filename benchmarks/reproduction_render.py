"""The reproduction page and its plot, drawn from what ``reproduction_analysis`` makes of the collected JSON.

Formatting only: every figure and verdict on the page comes from :mod:`reproduction_analysis`; this module words
the rules, the rows and the details, and states the settings the JSON records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import reproduction_analysis as an
import results_io

NAME = "reproduction"
SCRIPT = "python benchmarks/reproduction.py"
PLOT_NAME = f"{NAME}_bits.png"
MIN_COMMITTED_SEEDS = 5

CLAIMS = ("1", "2", "3", "4", "5")
CLAIM_TITLES = {
    "1": "HAQ Table 1: policies specialise to their hardware",
    "2": "HAQ: latency and energy at iso-accuracy against fixed 8-bit",
    "3": "HAQ: where the bits go on edge and cloud",
    "4": "HAQ: model size against Deep Compression",
    "5": "ProxylessNAS: architectures specialise to their target",
}
HARDWARE_LABEL = {"BISMO": "BISMO edge", "BISMO-Cloud": "BISMO cloud", "BitFusion": "BitFusion"}
HAQ_MODEL = "MobileNetV2"

PAPER_TABLE1_MS = {"HW1": (16.29, 85.24, 117.44), "HW2": (19.95, 64.29, 108.64), "HW3": (19.94, 66.15, 99.68)}
"""haq.md: the best policy for each of three hardware targets (rows), run on each target (columns), in ms."""
PAPER_SIZE_MOBILENETV2 = {2: (58.07, 66.75), 3: (68.00, 70.90), 4: (71.24, 71.47)}
"""haq.md, marked unverified there: MobileNetV2 top-1 at 2/3/4 bits, (Deep Compression, HAQ)."""
PAPER_NAS_MS = {"GPU": (5.1, 204.9, 124.0), "CPU": (7.4, 138.7, 116.0), "Mobile": (7.2, 164.1, 78.0)}
"""proxylessnas.md: each hardware's model (rows) on GPU / CPU / mobile (ms)."""
PAPER_NAS_COLUMNS = ("GPU", "CPU", "Mobile")

Rows = list[tuple[str, ...]]


def spread(values: list[float], fmt: str) -> str:
    """``mean (min..max)``, or the one value.

    :param values: at least one number.
    :param fmt: the format of each number.
    """
    if format(min(values), fmt) == format(max(values), fmt):
        return format(an.mean(values), fmt)
    return f"{format(an.mean(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def tally(c: dict[str, int], of: str) -> str:
    """``3 held, 1 failed, 1 within noise of 5 seeds``.

    :param c: :func:`reproduction_analysis.counts` of a row's units.
    :param of: what the units are.
    """
    total = sum(c.values())
    return f"{c[an.HELD]} held, {c[an.FAILED]} failed, {c[an.NOISE]} within noise of {total} {of}"


def progress(runs: list[dict[str, Any]]) -> str:
    """``k of n searches done``.

    :param runs: a claim's runs.
    """
    return f"{sum(r['summary'] is not None for r in runs)} of {len(runs)} searches done"


def claim_command(data: dict[str, Any], claim: str) -> str:
    """The command that runs (or resumes) a claim's searches with the JSON's settings.

    :param data: the collected JSON.
    :param claim: the claim (claim 3's command runs claim 1's searches).
    """
    source = "1" if claim == "3" else claim
    s = data["claims"][source]["settings"]
    parts = [
        SCRIPT,
        f"--claims {source}",
        f"--dataset {data['dataset']}",
        "--seeds " + " ".join(map(str, data["seeds"])),
    ]
    parts.append(f"--episodes {source}={s['episodes']}")
    if source in ("1", "2", "4"):
        parts.append(f"--agent {s['agent']}")
    if source == "1":
        parts.append("--budgets " + " ".join(f"{r:g}" for r in s["budgets"]))
    if source == "2":
        parts.append(f"--finetune-steps {s['finetune_steps']}")
        parts.append("--grid " + " ".join(f"{r:g}" for r in s["grid"]))
    if source == "4":
        parts.append(f"--finetune-steps {max(s['finetune_steps'])}")
        parts.append("--size-bits " + " ".join(map(str, s["bits"])))
    if source == "5":
        parts.append(f"--nas-agent {s['agent']}")
        parts.append("--nas-targets " + " ".join(s["targets"]))
        parts.append("--retrain-seeds " + " ".join(map(str, s["retrain"]["seeds"])))
        return " ".join(["OMP_NUM_THREADS=1", *parts, "--workers 2"])  # the trainings: one thread each
    return " ".join([*parts, "--workers 2"])


def not_run(data: dict[str, Any], claim: str, runs: list[dict[str, Any]]) -> str:
    """A row's verdict cell until its searches have finished.

    :param data: the collected JSON.
    :param claim: the claim.
    :param runs: the runs the row needs.
    """
    return f"not run yet ({progress(runs)}: `{claim_command(data, claim)}`)"


def job_times(runs: list[dict[str, Any]]) -> str:
    """Time the finished searches took (from their summaries).

    :param runs: a claim's runs.
    """
    finished = [r["summary"] for r in runs if r["summary"] is not None and r["summary"].get("episodes")]
    if not finished:
        return "No search has finished yet."
    per_episode = an.mean([s["search_time_s"] / s["episodes"] for s in finished])
    return (
        f"{len(finished)} search(es) finished: {an.mean([s['job_time_s'] for s in finished]):.0f} s each on average "
        f"(search, per-image test outcomes, and for a setting's first seed building the environment and measuring "
        f"its reference points), {per_episode:.2f} s per episode."
    )


def footer(runs: list[dict[str, Any]], differs: str) -> list[str]:
    """The end of a claim's details: the time its searches took, then how its setting differs from the paper's.

    :param runs: the claim's runs.
    :param differs: the differences, in words.
    """
    return ["", job_times(runs), "", f"What differs from the paper: {differs}"]


# ================================================================================================== the page


def check(data: dict[str, Any]) -> None:
    """Refuse a JSON this renderer cannot read (:class:`results_io.StaleResults`: the results test then skips).

    :param data: the collected JSON.
    """
    if data.get("format") != an.FORMAT:
        raise results_io.StaleResults(
            f"{NAME}.json is format {data.get('format')!r}, written by an older script; this one reads "
            f"{an.FORMAT!r}: rerun `{SCRIPT}`"
        )
    results_io.require(data, ("dataset", "seeds", "claims", "date", "machine", "significance"), f"{NAME}.json", SCRIPT)


def render(data: dict[str, Any]) -> str:
    """The results page, from the benchmark's JSON alone.

    :param data: the collected JSON.
    """
    check(data)
    sections = {"1": claim1, "2": claim2, "3": claim3, "4": claim4, "5": claim5}
    rows, details = [], []
    for claim in CLAIMS:
        if claim not in data["claims"] and not (claim == "3" and "1" in data["claims"]):
            rows.append(
                (claim, CLAIM_TITLES[claim], "", "not in this JSON", f"not run yet (`{SCRIPT} --claims {claim}`)")
            )
            continue
        claim_rows, claim_details = sections[claim](data)
        rows += [(claim, *row) for row in claim_rows]
        details += ["", f"## {claim}. {CLAIM_TITLES[claim]}", "", *claim_details]
    seeds = data["seeds"]
    level = data["significance"]
    lines = [
        "# Reproducing HAQ and ProxylessNAS: the papers' claims, one row each",
        "",
        f"Generated by `{SCRIPT}` from `{NAME}.json` on {data['date']} ({data['machine']}); dataset "
        f"`{data['dataset']}`, seeds {', '.join(map(str, seeds))}. The papers' figures are those quoted in the "
        "project's paper summaries (`haq.md`, `proxylessnas.md`); ours are test-split figures of solutions chosen "
        "on the validation split (the search's best episode by validation reward), mean (min..max) over seeds.",
    ]
    if len(seeds) < MIN_COMMITTED_SEEDS:
        lines += ["", f"**{len(seeds)} seed(s) only: a smoke run, not a result (the page needs "
                  f"{MIN_COMMITTED_SEEDS} or more).**"]  # fmt: skip
    lines += [
        "",
        "**Reproduced?** Each row's test is made on units (seeds, searches or points of an accuracy grid, as the row "
        "says), each of which *held*, *failed* or is *within noise*: the effect lies within the noise of the test "
        "images, because the paired test (exact McNemar on the per-image test outcomes of the two policies "
        f"compared) is not significant at the {level:g} level. *yes*: held in every unit; *partly*: held in at "
        "least half; *no*: failed in more than half; *inconclusive*: the rest. A row is computed only when every "
        "search it needs has finished for every seed; until then it says *not run yet*, with the command that runs "
        "it.",
        "",
        "| claim | what is tested | the paper's figure | ours | reproduced? |",
        "|---|---|---|---|---|",
    ]
    for claim, what, paper, ours, result in rows:
        lines.append(f"| {claim} | {what} | {paper} | {ours} | {result} |")
    return "\n".join(lines + details) + "\n"


# ==================================================================================================== claim 1


def claim1(data: dict[str, Any]) -> tuple[Rows, list[str]]:
    """Claim 1's summary rows and details.

    :param data: the collected JSON.
    """
    c = data["claims"]["1"]
    s, hws = c["settings"], c["settings"]["hardware"]
    analysis = an.analyse_claim1(data)
    hw_names = list(PAPER_TABLE1_MS)
    rows: Rows = []
    for i, hw in enumerate(hws):
        what = (
            f"on {HARDWARE_LABEL[hw]}, the policies searched for it give lower latency at equal test accuracy than "
            "those searched for each other hardware"
        )
        paper_col = [PAPER_TABLE1_MS[row][i] for row in hw_names]
        others = ", ".join(f"{paper_col[j]:.2f} ({hw_names[j]}'s)" for j in range(len(hw_names)) if j != i)
        paper = f"{hw_names[i]}'s policy on {hw_names[i]}: {paper_col[i]:.2f} ms vs {others}"
        if analysis is None:
            rows.append((what, paper, "", not_run(data, "1", c["runs"])))
            continue
        a = analysis[hw]
        cells = []
        for other, p in a["pairs"].items():
            if p["range"] is None:
                cells.append(f"vs {HARDWARE_LABEL[other]}'s: no shared test-accuracy range (inconclusive)")
                continue
            cells.append(
                f"vs {HARDWARE_LABEL[other]}'s (accuracy {p['range'][0]:.4f}..{p['range'][1]:.4f}): "
                f"{tally(p['counts'], 'grid points')} ({p['verdict']})"
            )
        ours = "; ".join(cells) + f"; {a['ends_on_start']} of {a['searches']} own searches ended on their start"
        rows.append((what, paper, ours, a["verdict"]))
    details = [
        f"{HAQ_MODEL}, agent `{s['agent']}`, {s['episodes']} episodes per search, no fine-tune in the reward; each "
        "hardware searched (constraint latency) at budgets " + ", ".join(f"{b:g}" for b in s["budgets"]) + " x its own "
        "fixed 8-bit latency, every seed. Every found policy's latency is measured on every hardware model (per "
        "batch of that model's default batch size).",
        "",
        "**Rule.** On each hardware, the *front* of a set of policies gives, for a test accuracy a, the lowest "
        "latency on that hardware of its policies whose test accuracy is at least a. The own front (every seed and "
        "budget searched for this hardware) is compared with each other hardware's front on "
        f"{s['grid_points']} test accuracies evenly spaced over the range both reach (from the higher of their "
        "lowest accuracies to the lower of their highest). A grid point *held* where the own front is cheaper and "
        "the own policy there is significantly more accurate (paired test) than the other front's most accurate "
        "policy at no more latency (or the other front has none that cheap); it *failed* where the other front is "
        "cheaper and the same test, the other way round, is significant, or where both fronts have the same "
        "latency; otherwise it is within noise. So a comparison is *yes* where the own front is significantly "
        "lower over the whole shared range, *partly* where it is over at least half of the grid points, *no* where "
        "the other front is significantly lower (or level) over more than half. The row takes the weaker of its "
        "two comparisons' verdicts (order: no, inconclusive, partly, yes). A budget the searches were not given "
        "cannot be read off: the fronts are as dense as the budgets.",
        "",
        "The paper (haq.md), rows the policy's hardware, columns where it runs, ms: "
        + "; ".join(f"{k} {' / '.join(f'{v:.2f}' for v in vals)}" for k, vals in PAPER_TABLE1_MS.items())
        + ". haq.md does not name HW1..HW3; we set them against "
        + ", ".join(HARDWARE_LABEL[h] for h in hws)
        + " in that order.",
    ]
    if analysis is not None:
        details += ["", "Mean test accuracy and latency (ms) on each hardware of the policies searched for each "
                    "hardware and budget, over seeds:", ""]  # fmt: skip
        details += ["| searched for | budget | test acc | " + " | ".join(f"on {HARDWARE_LABEL[h]}" for h in hws) + " |",
                    "|---" * (3 + len(hws)) + "|"]  # fmt: skip
        for r in hws:
            for b in s["budgets"]:
                runs = [x["summary"] for x in c["runs"] if x["target"] == r and x["ratio"] == b]
                cells = [f"{an.mean([x['costs_on'][h]['ms'] for x in runs]):.2f}" for h in hws]
                acc = an.mean([x["test_accuracy"] for x in runs])
                details.append(f"| {HARDWARE_LABEL[r]} | {b:g} | {acc:.4f} | " + " | ".join(cells) + " |")
        for hw in hws:
            for other, p in analysis[hw]["pairs"].items():
                if p["range"] is None:
                    continue
                title = f"On {HARDWARE_LABEL[hw]}, own front against {HARDWARE_LABEL[other]}'s:"
                details += [
                    "",
                    title,
                    "",
                    "| test accuracy at least | own (ms) | other (ms) | unit |",
                    "|---|---|---|---|",
                ]
                for acc, own_ms, other_ms, unit in zip(p["grid"], p["own_ms"], p["other_ms"], p["units"], strict=True):
                    details.append(f"| {acc:.4f} | {own_ms:.2f} | {other_ms:.2f} | {unit} |")
    details += footer(
        c["runs"],
        "the task (`" + data["dataset"] + "`, 32x32 images, our own trained weights; the paper: ImageNet); latency "
        "from our analytic models of BISMO edge and cloud and BitFusion, on the layer shapes of a 224x224 input, not "
        f"the paper's simulators; {s['episodes']} episodes of `{s['agent']}` (HAQ: 600 episodes of DDPG); no "
        "fine-tune before the reward (HAQ: a short fine-tune); the paper compares one policy per hardware, at a "
        "budget haq.md does not state, where we compare fronts over several budgets.",
    )
    return rows, details


# ==================================================================================================== claim 2


def claim2(data: dict[str, Any]) -> tuple[Rows, list[str]]:
    """Claim 2's summary rows and details.

    :param data: the collected JSON.
    """
    c = data["claims"]["2"]
    s = c["settings"]
    tol = 100 * s["tolerance"]
    rows: Rows = []
    details = [
        f"{HAQ_MODEL}, agent `{s['agent']}`, {s['episodes']} episodes per search, {s['finetune_steps']} fine-tune "
        "step(s) before every reward and every accuracy below (fixed 8-bit's and the uniform policies' included), "
        "budget ratios " + ", ".join(f"{g:g}" for g in s["grid"]) + ".",
        "",
        f"**Rule.** Iso-accuracy is decided on validation: a policy series' iso ratio is the lowest ratio of the grid "
        f"from which every higher ratio keeps its validation accuracy within {tol:g} point of fixed 8-bit's "
        "validation accuracy; its reduction is 1 / its cost ratio there. Both the found policies and the best "
        "uniform policy within each budget (chosen on validation, the search's start) get one. *Reduction* row, per "
        "seed: held if the found policy's reduction reaches the paper's lower figure, failed if not (costs carry no "
        "image noise). *Mixed precision* row, per seed: held if the found reduction exceeds the uniform one and, at "
        "the found iso ratio, the found policy is significantly more accurate on test than the best uniform policy "
        "within that budget (paired test); within noise if the reduction exceeds but the test is not significant; "
        "failed otherwise (or where the search returned the uniform policy).",
    ]
    for hw, constraint in s["targets"]:
        label = f"{HARDWARE_LABEL[hw]} {constraint}"
        analysis = an.analyse_claim2(data, hw, constraint)
        low = an.PAPER_LATENCY_REDUCTION[0] if constraint == "latency" else an.PAPER_ENERGY_REDUCTION
        what_r = f"{label}: reduction vs fixed 8-bit at iso-accuracy (chosen on validation) is at least {low:g}x"
        what_m = f"{label}: mixed precision beats the best uniform policy at iso-accuracy beyond the image noise"
        if constraint == "latency":
            paper = (
                f"{an.PAPER_LATENCY_REDUCTION[0]:g}-{an.PAPER_LATENCY_REDUCTION[1]:g}x lower latency than fixed 8-bit"
            )
        else:
            paper = f"{an.PAPER_ENERGY_REDUCTION:g}x lower energy than fixed 8-bit"
        paper += ", negligible accuracy loss"
        runs = [r for r in c["runs"] if r["target"] == hw and r["constraint"] == constraint]
        if analysis is None:
            missing = not_run(data, "2", runs)
            rows += [
                (what_r, paper, "", missing),
                (what_m, "HAQ's mixed precision against fixed precision", "", missing),
            ]
            details += ["", f"{label}: {progress(runs)}."]
            continue
        seeds = analysis["seeds"]
        ratios = ", ".join("none" if v["found_ratio"] is None else f"{v['found_ratio']:g}" for v in seeds.values())
        uratios = ", ".join("none" if v["uniform_ratio"] is None else f"{v['uniform_ratio']:g}" for v in seeds.values())
        found_red = [v["found"]["reduction"] for v in seeds.values() if v["found"] is not None]
        uni_red = [v["uniform"]["reduction"] for v in seeds.values() if v["uniform"] is not None]
        ours = f"iso ratio per seed: {ratios}"
        if found_red:
            accs = [v["found"]["test_accuracy"] for v in seeds.values() if v["found"] is not None]
            base = [v["found"]["fixed8_test"] for v in seeds.values() if v["found"] is not None]
            ours += f"; reduction {spread(found_red, '.2f')}x, test accuracy {spread(accs, '.4f')} vs fixed 8-bit "
            ours += f"{spread(base, '.4f')}"
        ours += f"; {tally(analysis['counts']['reduction'], 'seeds')}"
        rows.append((what_r, paper, ours, analysis["verdicts"]["reduction"]))
        mixed = f"uniform iso ratio per seed: {uratios}"
        if uni_red:
            mixed += f", its reduction {spread(uni_red, '.2f')}x"
        mixed += f"; {tally(analysis['counts']['mixed'], 'seeds')}"
        rows.append((what_m, "HAQ's mixed precision against fixed precision", mixed, analysis["verdicts"]["mixed"]))
        header = "| ratio | " + " | ".join(f"seed {x}" for x in seeds) + " |"
        details += ["", f"{label}: found policy val / test accuracy (cost ratio), then the best uniform policy's; "
                    "`iso` marks each series' iso ratio.", "", header, "|---" * (len(seeds) + 1) + "|"]  # fmt: skip
        for g in s["grid"]:
            cells = []
            for v in seeds.values():
                p, u = v["points"][g], v["uniform_points"][g]
                if p is None:
                    cells.append("below the budget floor")
                    continue
                cell = f"{p['val_accuracy']:.4f} / {p['test_accuracy']:.4f} ({p['cost_ratio']:.3f})"
                cell += " iso" if v["found_ratio"] == g else ""
                if u is not None:
                    cell += f"; {u['name']} {u['val_accuracy']:.4f} / {u['test_accuracy']:.4f} ({u['cost_ratio']:.3f})"
                    cell += " iso" if v["uniform_ratio"] == g else ""
                cells.append(cell)
            details.append(f"| {g:g} | " + " | ".join(cells) + " |")
        measured = [p for v in seeds.values() for p in v["points"].values() if p is not None]
        if measured:
            details += ["", f"Fixed 8-bit after the same fine-tune: validation {measured[0]['fixed8_val']:.4f}, test "
                        f"{measured[0]['fixed8_test']:.4f}."]  # fmt: skip
    details += footer(
        c["runs"],
        f"the task (`{data['dataset']}`, 32x32; the paper: ImageNet) and our hardware models; {s['finetune_steps']} "
        f"SGD step(s) of fine-tune per episode (HAQ: one epoch); iso-accuracy defined as within {tol:g} point of "
        'fixed 8-bit on validation (the paper: "negligible loss"), on a grid of budget ratios (the reduction can '
        f"only take the values the grid allows); {s['episodes']} episodes of `{s['agent']}` (HAQ: 600 of DDPG); the "
        "paper's range covers its models and hardware, which haq.md does not break down.",
    )
    return rows, details


# ==================================================================================================== claim 3


def claim3(data: dict[str, Any]) -> tuple[Rows, list[str]]:
    """Claim 3's summary rows and details.

    :param data: the collected JSON.
    """
    analysis = an.analyse_claim3(data)
    runs = [r for r in data["claims"]["1"]["runs"] if r["target"] in ("BISMO", "BISMO-Cloud")]
    texts = {
        "edge": ("BISMO edge: the agent gives depthwise layers fewer activation bits than pointwise layers (mean)",
                 "edge: depthwise layers fewer activation bits, pointwise more"),
        "cloud": ("BISMO cloud, last layers: the agent gives depthwise layers more activation bits than pointwise "
                  "layers (mean)", "cloud: the last layers' depthwise get more bits, the opposite of edge"),
    }  # fmt: skip
    if analysis is None:
        missing = not_run(data, "3", runs)
        return [(what, paper, "", missing) for what, paper in texts.values()], [
            f"Reads claim 1's searches: {progress(runs)}."
        ]
    rows: Rows = []
    for key, (what, paper) in texts.items():
        a = analysis[key]
        x = a["searches"]
        ours = (
            f"chosen activation bits depthwise {spread([v['chosen']['depthwise_a'] for v in x], '.2f')} vs pointwise "
            f"{spread([v['chosen']['pointwise_a'] for v in x], '.2f')}; {tally(a['counts'], 'searches')}; the "
            f"rollback changed {spread([float(v['rollback_changed']) for v in x], '.1f')} of {x[0]['layers']} layers; "
            f"after it the test holds in {sum(v['final_holds'] for v in x)} of {len(x)}"
        )
        rows.append((what, paper, ours, a["verdict"]))
    details = [
        "Claim 1's searches of BISMO edge and cloud, every budget and seed (one unit each). The bits tested are "
        "those the agent chose in the found episode, before HAQ's rollback lowered bits from the last layer back to "
        "meet the budget, so that the rollback does not decide the test; the final policy's figures are shown "
        "beside them. Mean bits over the depthwise and the pointwise (1x1, ungrouped) layers; the stem and the "
        "classifier are neither. *Last layers*: from the first of the last third of the depthwise layers to the "
        "end. No test image enters these bits (the search chose them on validation): a unit held or failed, never "
        "within noise; a search that ended on its uniform start chose no preference, and fails.",
        "",
        "| hardware | layers | budget | searches | ended on start | rollback changed (layers) | depthwise A chosen "
        "| pointwise A chosen | depthwise A final | pointwise A final |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    budgets = sorted({v["ratio"] for a in analysis.values() for v in a["searches"]})
    for a in analysis.values():
        for b in budgets:
            x = [v for v in a["searches"] if v["ratio"] == b]
            sides = [(side, k) for side in ("chosen", "final") for k in ("depthwise_a", "pointwise_a")]
            cells = [an.mean([v[side][k] for v in x]) for side, k in sides]
            changed = an.mean([float(v["rollback_changed"]) for v in x])
            details.append(
                f"| {HARDWARE_LABEL[a['hardware']]} | {a['part']} | {b:g} | {len(x)} | "
                f"{sum(v['ends_on_start'] for v in x)} | {changed:.1f} | "
                + " | ".join(f"{v:.2f}" for v in cells)
                + " |"
            )
    if bits_plot_ready(data):
        details += ["", f"Bits the agent chose per layer (mean over searches; depthwise layers shaded): "
                    f"![bits per layer]({PLOT_NAME})"]  # fmt: skip
    details += [
        "",
        "What differs from the paper: claim 1's settings (task, hardware models, episodes, no fine-tune); haq.md does "
        'not say which layers are "the last layers" nor whether the cloud statement is about weight or activation '
        "bits: we test activation bits, as the edge statement is, on the last third of the depthwise layers; the "
        "paper reads its final policies, which its rollback has changed.",
    ]
    return rows, details


# ==================================================================================================== claim 4


def claim4(data: dict[str, Any]) -> tuple[Rows, list[str]]:
    """Claim 4's summary rows and details.

    :param data: the collected JSON.
    """
    c = data["claims"]["4"]
    s = c["settings"]
    rows: Rows = []
    table = []
    for min_bits in s["min_bits"]:
        for bits in s["bits"]:
            for steps in s["finetune_steps"]:
                ft = f"{steps} fine-tune step{'s' * (steps != 1)}" if steps else "no fine-tune"
                what = (
                    f"{bits}-bit size, bits {min_bits}..8, {ft}: HAQ (k-means) above uniform k-means (Deep "
                    "Compression) on test accuracy"
                )
                dc, haq = PAPER_SIZE_MOBILENETV2.get(bits, (None, None))
                paper = "no figure"
                if dc is not None:
                    paper = f"MobileNetV2 top-1 Deep Compression {dc:.2f} vs HAQ {haq:.2f} ({haq - dc:+.2f} pts"
                    paper += "; unverified in haq.md)"
                a = an.analyse_claim4(data, bits, steps, min_bits)
                runs = [r for r in c["runs"] if (r["bits"], r["finetune"], r["min_bits"]) == (bits, steps, min_bits)]
                if a is None:
                    rows.append((what, paper, "", not_run(data, "4", runs)))
                    continue
                if not a["admits_others"]:
                    ours = (
                        f"bits {min_bits}..8 admit only Deep Compression's policy at this size (every free layer at "
                        f"{min_bits} bits): the search can only return it, so none is run"
                    )
                    rows.append((what, paper, ours, a["verdict"]))
                    continue
                seeds = a["seeds"].values()
                haq_acc = [v["test_accuracy"] for v in seeds]
                dc_acc = [v["uniform"]["test_accuracy"] for v in seeds]
                gains = [100 * (h - d) for h, d in zip(haq_acc, dc_acc, strict=True)]
                ours = (
                    f"admits other policies; Deep Compression {an.mean(dc_acc):.4f} vs HAQ {spread(haq_acc, '.4f')} "
                    f"({spread(gains, '+.2f')} pts); the start was Deep Compression's policy in "
                    f"{a['start_is_uniform']} of {len(haq_acc)} searches and {a['ends_on_start']} ended on the start; "
                    f"{tally(a['counts'], 'seeds')}"
                )
                rows.append((what, paper, ours, a["verdict"]))
                table.append(
                    f"| {bits} | {min_bits}..8 | {steps} | {an.mean([v['uniform']['size_mb'] for v in seeds]):.3f} "
                    f"| {an.mean(dc_acc):.4f} | {an.mean(haq_acc):.4f} "
                    f"| {an.mean([v['cost_ratio'] for v in seeds]):.3f} "
                    f"| {a['ends_on_start']} |"
                )
    details = [
        f"{HAQ_MODEL}, k-means weights (2^b centroids per layer), activations not quantized; budget: the size of "
        "uniform b-bit weights (the first and last layers at 8 bits, as the layer rules keep them); bit ranges "
        + " and ".join(f"{m}..8" for m in s["min_bits"])
        + " (haq.md: HAQ's is 2..8); agent "
        f"`{s['agent']}`, {s['episodes']} episodes per search. The warm start is the best uniform policy within the "
        "budget (chosen on validation), which at the size of uniform b bits is uniform b bits unless a narrower one "
        "is more accurate: Deep Compression's own policy (each row counts the searches where it was), so a search "
        "that finds nothing better returns it.",
        "",
        "**Rule**, per seed: failed if the search ended on its start (Deep Compression's policy) or is significantly "
        "less accurate than it on test; held if significantly more accurate (paired test); else within noise.",
    ]
    if table:
        details += [
            "",
            "| bits | range | fine-tune steps | size (MB) | Deep Compression test | HAQ test | HAQ size / 8-bit "
            "| ended on start |",
            "|---|---|---|---|---|---|---|---|",
            *table,
        ]
    details += footer(
        c["runs"],
        f"the task (`{data['dataset']}`, 32x32; the paper: ImageNet); fine-tune {max(s['finetune_steps'])} SGD step(s) "
        "(the paper fine-tunes longer; haq.md's figures are marked unverified and do not say how long); our own "
        "k-means quantizer; the paper's rows are MobileNetV2 as here.",
    )
    return rows, details


# ==================================================================================================== claim 5


def claim5(data: dict[str, Any]) -> tuple[Rows, list[str]]:
    """Claim 5's summary rows and details.

    :param data: the collected JSON.
    """
    c = data["claims"]["5"]
    s, targets = c["settings"], c["settings"]["targets"]
    analysis = an.analyse_claim5(data)
    rows = [claim5_row(data, analysis, t) for t in targets]
    rows.append(claim5_shape_row(data, analysis))
    details = claim5_setup(c)
    if analysis is not None:
        details += claim5_tables(analysis, targets)
    differs = (
        f"the task (`{data['dataset']}`, 32x32; the paper: ImageNet) and a width-0.35 accuracy supernet, warmed up "
        "and then frozen (the paper alternates weight and architecture steps for 120 epochs); the finalist is the "
        "best sampled architecture by validation reward through the supernet, not the argmax of the architecture "
        "parameters, and its from-scratch training is the reference set's short recipe, not the paper's full "
        "retraining; latency of the network deployed at 224x224: Mobile is ProxylessNAS's published Pixel 1 table, "
        "CPU is this machine's measured table (shared and noisy), BISMO edge and BitFusion are our hardware models "
        "at 8/8 bits (targets the paper does not have); no GPU target unless the run names it; "
        f"{s['episodes']} episodes of `{s['agent']}`."
    )
    details += ["", job_times(c["runs"]), *trainings_line(c), "", f"What differs from the paper: {differs}"]
    return rows, details


def claim5_paper(target: str) -> str:
    """The paper's figure for ``target``'s row.

    :param target: a ProxylessNAS target.
    """
    if target not in PAPER_NAS_MS:
        return "not in the paper (its finding, on GPU/CPU/mobile: each hardware's model fastest on it)"
    i = PAPER_NAS_COLUMNS.index(target)
    others = ", ".join(f"{PAPER_NAS_MS[r][i]:g} ({r} model)" for r in PAPER_NAS_MS if r != target)
    return f"{target} model fastest on {target}: {PAPER_NAS_MS[target][i]:g} ms vs {others}"


def claim5_not_run(data: dict[str, Any]) -> str:
    """Claim 5's verdict cell until its searches and trainings have finished.

    :param data: the collected JSON.
    """
    c = data["claims"]["5"]
    retrains = c.get("retrains") or []
    trained = sum(r["summary"] is not None for r in retrains)
    return (
        f"not run yet ({progress(c['runs'])}, {trained} of {len(retrains)} from-scratch trainings of the finalists "
        f"found so far: `{claim_command(data, '5')}`)"
    )


def claim5_row(data: dict[str, Any], analysis: dict[str, Any] | None, target: str) -> tuple[str, ...]:
    """One target's summary row.

    :param data: the collected JSON.
    :param analysis: :func:`reproduction_analysis.analyse_claim5` (None: not run yet).
    :param target: the target.
    """
    what = (
        f"on {target}, the architectures searched for it are faster than those searched for each other target at "
        "equal from-scratch test accuracy"
    )
    if analysis is None:
        return what, claim5_paper(target), "", claim5_not_run(data)
    a = analysis["targets"][target]
    if analysis["tolerance"] is None:
        cells = ["the training seed's noise is unmeasured (fewer than 3 architectures trained twice with the recipe)"]
    else:
        cells = []
        for other, p in a["pairs"].items():
            if p["range"] is None:
                cells.append(f"vs {other}'s: no shared from-scratch accuracy range (inconclusive)")
                continue
            cells.append(
                f"vs {other}'s (accuracy {p['range'][0]:.4f}..{p['range'][1]:.4f}): "
                f"{tally(p['counts'], 'grid points')} ({p['verdict']})"
            )
    searches = len(a["points"])
    ours = "; ".join(cells) + (
        f"; {a['distinct']} distinct finalist(s) in {searches} searches, {a['shared']} of them also found for "
        "another target"
    )
    return what, claim5_paper(target), ours, a["verdict"]


def claim5_shape_row(data: dict[str, Any], analysis: dict[str, Any] | None) -> tuple[str, ...]:
    """The preferences row: the GPU's finalists shallower and wider than Mobile's and CPU's (needs the GPU target).

    :param data: the collected JSON.
    :param analysis: :func:`reproduction_analysis.analyse_claim5` (None: not run yet).
    """
    targets = data["claims"]["5"]["settings"]["targets"]
    what = "preferences: the GPU's architecture is shallower and wider (higher mean expansion) than Mobile's and CPU's"
    paper = "GPU prefers shallow and wide (large kernels, expand 6), CPU deep and narrow"
    if analysis is None:
        return what, paper, "", claim5_not_run(data)
    seeds = analysis["seeds"].values()
    ours = "; ".join(
        f"{t} depth {an.mean([a['shape'][t]['depth'] for a in seeds]):.1f}, "
        f"kernel {an.mean([a['shape'][t]['kernel'] for a in seeds]):.2f}, "
        f"expand {an.mean([a['shape'][t]['expand'] for a in seeds]):.2f}"
        for t in targets
    )
    if not {"GPU", "Mobile", "CPU"} <= set(targets):
        command = claim_command(data, "5").replace(
            "--nas-targets " + " ".join(targets), "--nas-targets " + " ".join([*targets, "GPU"])
        )
        return what, paper, ours, f"not run yet (needs the GPU target, on a machine with CUDA: `{command}`)"
    units = [
        an.HELD
        if a["shape"]["GPU"]["depth"] < min(a["shape"][t]["depth"] for t in ("Mobile", "CPU"))
        and a["shape"]["GPU"]["expand"] > max(a["shape"][t]["expand"] for t in ("Mobile", "CPU"))
        else an.FAILED
        for a in seeds
    ]
    return what, paper, ours + f"; holds in {units.count(an.HELD)} of {len(units)} seeds", an.verdict(units)


def recipe_words(regime: dict[str, Any]) -> str:
    """The from-scratch recipe in words.

    :param regime: the recipe's record (``Regime.record()``).
    """
    train = ", ".join(f"{k} {v}" for k, v in regime["train"].items())
    identity = ", residual blocks starting as the identity" if regime.get("zero_init") else ""
    return (
        f"`{regime['dataset']}` with {regime['num_train']:,} training images, width {regime['width_mult']:g}, stem "
        f"stride {regime['stem_stride']}{identity}, SGD-Nesterov with a one-cycle schedule ({train})"
    )


def supernet_words(supernet: str) -> str:
    """Which frozen supernet the searches scored architectures with.

    :param supernet: claim 5's ``supernet`` setting (a sha256 prefix, or ``warmed-up``).
    """
    if supernet == "warmed-up":
        return "a frozen supernet warmed up on first use: none ships for the task"
    return f"the frozen supernet shipped for the task, sha256 `{supernet}...`"


def claim5_setup(c: dict[str, Any]) -> list[str]:
    """Claim 5's settings and rule, in words.

    :param c: the JSON's claim 5.
    """
    s, retrain = c["settings"], c["settings"]["retrain"]
    noise = c.get("noise") or {}
    if noise.get("sd") is None:
        measured = (
            f"not measured yet ({noise.get('pairs', 0)} architecture(s) trained with two seeds under this recipe, "
            f"of {noise.get('reference_rows', 0)} reference rows of it; at least 3 are needed)"
        )
    else:
        tolerance = retrain["noise_sds"] * noise["sd"]
        measured = (
            f"{100 * noise['sd']:.2f} points, from {noise['pairs']} architectures trained with two seeds (the "
            f"reference set's rows of this recipe, {noise['reference_rows']} in all, and any finalist trained here "
            f"with two seeds; mean |difference| {100 * noise['mean_abs_diff']:.2f} points, max "
            f"{100 * noise['max_abs_diff']:.2f}); the threshold is {retrain['noise_sds']:g} x that, "
            f"{100 * tolerance:.2f} points"
        )
    return [
        f"`{s['agent']}` on ProxylessNAS-<target> (oneshot, {supernet_words(s['supernet'])}), {s['episodes']} "
        "episodes per search; the finalist is the best episode by validation "
        f"reward (its test accuracy through the supernet is shown beside). Every finalist is then trained from "
        f"scratch with the NAS reference set's recipe ({recipe_words(retrain['regime'])}), seed(s) "
        f"{', '.join(map(str, retrain['seeds']))}, once per architecture however many searches found it, and scored "
        f"on the test split (mean over its seeds); a training the reference set (`{retrain['reference']}`) already "
        "holds with the same recipe and seed is read from it.",
        "",
        "**Rule.** On each target, the *front* of a set of finalists gives, for a from-scratch test accuracy a, the "
        "lowest latency on that target of its finalists whose from-scratch test accuracy is at least a. The own "
        "front (every seed's finalist for this target) is compared with each other target's front on "
        f"{s['grid_points']} accuracies evenly spaced over the range both reach, as claim 1 does, with the training "
        "seed's noise in place of the paired test (a paired test on the test images takes each trained network as "
        "fixed, while training the same architecture again with another seed moves its accuracy by itself): a grid "
        "point *held* where the own front is cheaper and its "
        "finalist there is more accurate by more than the threshold than the other front's most accurate finalist "
        "at no more latency (or the other front has none that cheap); it *failed* where the other front is cheaper "
        "and the same test the other way round holds, or where both fronts have the same latency (the same "
        "architecture found for both targets); otherwise it is within noise. A comparison without a shared "
        "accuracy range is inconclusive. The row takes the weakest of its comparisons' verdicts.",
        "",
        f"**Noise.** The seed-to-seed sd of one from-scratch training's test accuracy (`nas_pareto.seed_noise`: "
        f"sqrt(mean(d^2) / 2) over the first-minus-second-seed differences d): {measured}.",
    ]


def claim5_tables(analysis: dict[str, Any], targets: list[str]) -> list[str]:
    """Claim 5's tables: mean latency and accuracies by target, every finalist, each comparison's grid, and what
    each target prefers.

    :param analysis: :func:`reproduction_analysis.analyse_claim5`.
    :param targets: the targets.
    """
    seeds = analysis["seeds"]
    lines = [
        "",
        "Latency (ms) of each row's finalists on each column's target, and their test accuracy through the supernet "
        "and from scratch; mean over seeds:",
        "",
        "| searched for \\ on | " + " | ".join(targets) + " | supernet test acc | from-scratch test acc |",
        "|---" * (len(targets) + 3) + "|",
    ]
    for r in targets:
        cells = [f"{an.mean([a['ms'][r][col] for a in seeds.values()]):.2f}" for col in targets]
        supernet = an.mean([a["supernet"][r] for a in seeds.values()])
        scratch = an.mean([a["scratch"][r] for a in seeds.values()])
        lines.append(f"| {r} | " + " | ".join(cells) + f" | {supernet:.4f} | {scratch:.4f} |")
    lines += [
        "",
        "Every finalist (from-scratch accuracy: mean over its training seeds; *(ref)*: read from the reference set):",
        "",
        "| seed | searched for | architecture | supernet test acc | from-scratch test acc |",
        "|---|---|---|---|---|",
    ]
    for seed, a in seeds.items():
        for t in targets:
            arch = a["architecture"][t]
            reused = " (ref)" if analysis["scratch"][arch]["reused"] else ""
            lines.append(f"| {seed} | {t} | `{arch}` | {a['supernet'][t]:.4f} | {a['scratch'][t]:.4f}{reused} |")
    for t in targets:
        for other, p in analysis["targets"][t]["pairs"].items():
            if p["range"] is None:
                continue
            lines += [
                "",
                f"On {t}, own front against {other}'s:",
                "",
                "| from-scratch test accuracy at least | own (ms) | other (ms) | unit |",
                "|---|---|---|---|",
            ]
            for acc, own_ms, other_ms, unit in zip(p["grid"], p["own_ms"], p["other_ms"], p["units"], strict=True):
                lines.append(f"| {acc:.4f} | {own_ms:.2f} | {other_ms:.2f} | {unit} |")
    lines += [
        "",
        "What each target prefers (kept blocks; depth per stage over the six stages); mean over seeds:",
        "",
        "| target | depth | depth per stage | mean kernel | mean expand |",
        "|---|---|---|---|---|",
    ]
    for t in targets:
        v = [a["shape"][t] for a in seeds.values()]
        stages = "/".join(f"{an.mean([x['stages'][i] for x in v]):.1f}" for i in range(len(v[0]["stages"])))
        lines.append(
            f"| {t} | {an.mean([x['depth'] for x in v]):.1f} | {stages} | {an.mean([x['kernel'] for x in v]):.2f} "
            f"| {an.mean([x['expand'] for x in v]):.2f} |"
        )
    return lines


def trainings_line(c: dict[str, Any]) -> list[str]:
    """The time the finalists' from-scratch trainings took, and how many the reference set gave.

    :param c: the JSON's claim 5.
    """
    finished = [r["summary"] for r in c.get("retrains") or [] if r["summary"] is not None]
    if not finished:
        return ["", "No from-scratch training of a finalist has finished yet."]
    trained = [x for x in finished if x["source"] == "retrained"]
    seconds = f": {an.mean([x['train_seconds'] for x in trained]):.0f} s each on average" if trained else ""
    return [
        "",
        f"{len(finished)} from-scratch training(s) of finalists finished: {len(finished) - len(trained)} read from "
        f"the reference set, {len(trained)} trained here{seconds} (one torch thread).",
    ]


# ==================================================================================================== the plot


def bits_plot_ready(data: dict[str, Any]) -> bool:
    """True when every claim-1 search has finished (the plot is drawn, and the page shows it).

    :param data: the collected JSON.
    """
    c = data["claims"].get("1")
    return c is not None and bool(c["runs"]) and an.done(c["runs"])


def plot_bits(data: dict[str, Any], path: Path) -> bool:
    """Draw the bits the agent chose per layer (before the rollback; mean over claim 1's searches of each hardware,
    every budget and seed), one panel per hardware, from the JSON alone; False (nothing drawn) until every claim-1
    search has finished.

    :param data: the collected JSON.
    :param path: the PNG to write.
    """
    if not bits_plot_ready(data):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    c = data["claims"]["1"]
    hws = c["settings"]["hardware"]
    fig, axes = plt.subplots(len(hws), 1, figsize=(12, 2.4 * len(hws)), sharex=True, squeeze=False)
    for ax, hw in zip(axes[:, 0], hws, strict=True):
        summaries = [r["summary"] for r in c["runs"] if r["target"] == hw]
        layers = summaries[0]["layers"]
        x = np.arange(len(layers))
        for i, layer in enumerate(layers):
            if layer["kind"] == "depthwise":
                ax.axvspan(i - 0.5, i + 0.5, color="0.88", lw=0)
        w = np.mean([[p[0] for p in s["chosen_policy"]] for s in summaries], axis=0)
        a = np.mean([[np.nan if p[1] is None else p[1] for p in s["chosen_policy"]] for s in summaries], axis=0)
        ax.step(x, w, where="mid", label="weight bits")
        ax.step(x, a, where="mid", label="activation bits")
        ax.set_ylim(0.5, 8.5)
        ax.set_ylabel("bits")
        ax.set_title(f"{HARDWARE_LABEL[hw]} (chosen bits, mean over {len(summaries)} searches; depthwise shaded)",
                     fontsize=10)  # fmt: skip
        ax.legend(loc="lower left", fontsize=8)
    axes[-1, 0].set_xlabel(f"layer of {HAQ_MODEL}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
