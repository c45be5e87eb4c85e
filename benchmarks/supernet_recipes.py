"""Compare supernet training recipes by how well their supernets order the from-scratch reference set on
Fashion-MNIST (issue 29, section 2; :mod:`hwenvs.lab.supernet_recipes`), and ship the best one.

    OMP_NUM_THREADS=1 python benchmarks/supernet_recipes.py run             # uniform and sandwich, resumable
    OMP_NUM_THREADS=1 python benchmarks/supernet_recipes.py run --recipes sandwich-e15   # a longer schedule
    python benchmarks/supernet_recipes.py status                            # epochs done per recipe
    OMP_NUM_THREADS=1 python benchmarks/supernet_recipes.py report          # results/supernet_recipes.{json,md}
    OMP_NUM_THREADS=1 python benchmarks/supernet_recipes.py ship --recipe sandwich   # dataset="fashion-mnist"'s

``run`` trains each named recipe that is not finished, on the reference set's training images and network (57,872
images, width 0.35, stem stride 1, residual candidates starting as the identity, its SGD recipe), with one torch
thread, into ``results/supernet_recipes_runs/NAME/`` (``checkpoint.pt`` after every epoch, so a killed run resumes
at the epoch it was in; ``summary.json`` with seconds and threads per epoch). A recipe is ``uniform`` or
``sandwich``, optionally ``-eN`` for N epochs instead of the rule's default.

``report`` scores every reference architecture's path through each finished supernet as the reward does and writes
the rank correlations beside the seed-to-seed ceiling; ``ship`` writes a reported, finished, full-regime recipe's
supernet into the package (``hwenvs/nas/weights``) with its manifest entry, after which
``ProxylessNASEnv(dataset="fashion-mnist")`` loads it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
from pathlib import Path
from typing import Any

import results_io
from nas_reference_set import DEFAULT_OUT as REFERENCE_FILE
from nas_reference_set import DEFAULTS as REFERENCE_REGIME

from hwenvs.lab.nas_reference_set import RESAMPLES, read_rows, seed_pairs
from hwenvs.lab.supernet_recipes import GOAL_MARGIN, GOAL_SPEARMAN, Recipe

RESULTS = Path(__file__).resolve().parent / "results"
JSON_PATH = RESULTS / "supernet_recipes.json"
MD_PATH = RESULTS / "supernet_recipes.md"
RUNS = RESULTS / "supernet_recipes_runs"
DEFAULT_RECIPES = ("uniform", "sandwich")
VAL_IMAGES = 1000
"""Validation images that score a path: ProxylessNASEnv's default ``val_batch_size``, so the score is the reward's."""
SCRIPT = "benchmarks/supernet_recipes.py"


def recipe(name: str, num_train: int = REFERENCE_REGIME.num_train) -> Recipe:
    """The recipe ``name`` on the reference set's images and network.

    :param name: ``uniform``, ``sandwich``, or either with ``-eN``.
    :param num_train: training images (fewer: a smoke run, which ``ship`` refuses).
    """
    return Recipe.parse(
        name, dataset=REFERENCE_REGIME.dataset, num_train=num_train, width_mult=REFERENCE_REGIME.width_mult,
        stem_stride=REFERENCE_REGIME.stem_stride,
    )  # fmt: skip


def commands(name: str = "NAME") -> dict[str, str]:
    """The commands that train, report and ship recipe ``name``."""
    return {
        "run": f"OMP_NUM_THREADS=1 python {SCRIPT} run --recipes {name}",
        "report": f"OMP_NUM_THREADS=1 python {SCRIPT} report",
        "ship": f"OMP_NUM_THREADS=1 python {SCRIPT} ship --recipe {name}",
    }


# ----------------------------------------------------------------------------------------------------------------
# run, status


def run(args: argparse.Namespace) -> None:
    """Train each recipe of ``args.recipes`` that is not finished."""
    import torch

    from hwenvs.data import load_task
    from hwenvs.lab.supernet_recipes import train_recipe

    torch.set_num_threads(args.threads)
    task = load_task(REFERENCE_REGIME.dataset, num_train=args.num_train)
    for name in args.recipes:
        chosen = recipe(name, args.num_train)
        info = train_recipe(chosen, task, args.runs / chosen.name, stop_after=args.stop_after, log=_log)
        _log(f"{chosen.name}: {info['epochs_done']}/{chosen.epochs} epochs, {info['train_seconds']:.0f} s")


def status(args: argparse.Namespace) -> None:
    """Print each trained recipe's progress."""
    from hwenvs.lab.supernet_recipes import read_summary

    for folder in sorted(p for p in args.runs.glob("*") if p.is_dir()):
        info = read_summary(folder)
        if info is not None:
            print(f"{folder.name}: {info['epochs_done']}/{info['recipe']['epochs']} epochs, "
                  f"{info['core_seconds']:.0f} core-seconds")  # fmt: skip


def _log(line: str) -> None:
    print(line, flush=True)


# ----------------------------------------------------------------------------------------------------------------
# report


def _finite(values: list[float]) -> list[float | None]:
    # JSON has no NaN: a bound too few pairs could not give is stored as null
    return [None if math.isnan(v) else v for v in values]


def reference_record(path: Path, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the report says about the reference file it scored against."""
    _, _, twice = seed_pairs(rows)
    return {
        "file": path.relative_to(RESULTS).as_posix() if path.is_relative_to(RESULTS) else str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "trainings": len(rows),
        "architectures": len({r["architecture"] for r in rows}),
        "two_seeds": len(twice),
        "regime": rows[0]["regime"],
        "train_core_seconds": round(sum(r["train_seconds"] * r["threads"] for r in rows), 1),
    }


def score_recipe(folder: Path, rows: list[dict[str, Any]], task: Any, top: float, args: argparse.Namespace) -> dict:
    """One finished recipe's row of the report (or why it is not scored: ``{"name", "why"}``).

    :param folder: the recipe's folder.
    :param rows: the reference rows.
    :param task: the task whose validation images score the paths.
    :param top: the seed-to-seed Spearman (for the goal).
    :param args: ``val_images``, and ``smoke`` (score recipes trained on fewer images too).
    """
    from hwenvs.lab.supernet_recipes import (
        CHECKPOINT,
        compare,
        load_trained,
        read_summary,
        regime_differences,
        validation_batch,
    )

    if not (folder / CHECKPOINT).is_file():
        return _previous_score(folder, read_summary(folder), args)
    supernet, info = load_trained(folder, task)
    trained = Recipe(**{k: v for k, v in info["recipe"].items() if k not in ("name", "train")})
    differences = [d for d in regime_differences(trained, rows[0]["regime"]) if not (args.smoke and "num_train" in d)]
    if not info["finished"] or differences:
        why = f"{info['epochs_done']} of {trained.epochs} epochs trained" if not info["finished"] else ""
        return {"name": folder.name, "why": why or f"other images or network than the reference: {differences}"}
    result = compare(supernet, rows, validation_batch(task, args.val_images), top)
    keys = ("train_seconds", "core_seconds", "threads", "epochs_done", "checkpoint_sha256", "torch_version", "host")
    return {
        "name": trained.name,
        "recipe": info["recipe"],
        **{k: info[k] for k in keys},
        **result,
        "spearman": _finite(result["spearman"]),
        "kendall": _finite(result["kendall"]),
    }


def _previous_score(folder: Path, info: dict[str, Any] | None, args: argparse.Namespace) -> dict[str, Any]:
    """The previous report's row of a recipe whose checkpoint is not on this machine (git keeps the summaries, not
    the checkpoints), where that report scored the same checkpoint against the same reference on as many images;
    otherwise why it is not scored.

    :param folder: the recipe's folder.
    :param info: its summary (None: none).
    :param args: ``out`` (the previous report), ``reference`` and ``val_images``.
    """
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    row = next((r for r in previous.get("recipes", []) if r["name"] == folder.name), None)
    same = (
        row is not None
        and info is not None
        and row["checkpoint_sha256"] == info["checkpoint_sha256"]
        and previous["reference"]["sha256"] == hashlib.sha256(args.reference.read_bytes()).hexdigest()
        and previous["scoring"]["images"] == args.val_images
    )
    if not same:
        return {"name": folder.name, "why": "its checkpoint is not on this machine, and no report scored it as asked"}
    _log(f"{folder.name}: checkpoint not on this machine; its scores are the previous report's (same checkpoint)")
    return row


def report(args: argparse.Namespace) -> dict[str, Any]:
    """Score every finished recipe of ``args.runs`` against the reference set; write the JSON and its page."""
    import torch

    from hwenvs.data import load_task
    from hwenvs.lab.supernet_recipes import ceiling, proxy_correlations

    torch.set_num_threads(args.threads)
    rows = read_rows(args.reference).rows
    if not rows:
        raise SystemExit(f"{args.reference}: no reference row yet")
    top = ceiling(rows)
    task = load_task(REFERENCE_REGIME.dataset)  # the default training images: only validation is read
    scored, unscored = [], []
    for folder in sorted(p for p in args.runs.glob("*") if (p / "summary.json").is_file()):
        entry = score_recipe(folder, rows, task, top["spearman"][0], args)
        (unscored if "why" in entry else scored).append(entry)
        _log(f"{folder.name}: {entry.get('why') or 'Spearman ' + str(entry['spearman'][0])}")
    proxies = proxy_correlations(rows)
    best = _best(scored)
    data = {
        "reference": reference_record(args.reference, rows),
        "ceiling": {**top, "spearman": _finite(top["spearman"]), "kendall": _finite(top["kendall"])},
        "goal": {"spearman": GOAL_SPEARMAN, "margin": GOAL_MARGIN},
        "scoring": {
            "split": "val",
            "images": args.val_images,
            "weights": "float16",
            "resamples": RESAMPLES,
            "seed": 0,
            "smoke": args.smoke,
        },
        "scratch": _scratch(rows),
        "recipes": scored,
        "unscored": unscored,
        "best": best,
        "proxies": {
            k: {"spearman": _finite(v["spearman"]), "kendall": _finite(v["kendall"])} for k, v in proxies.items()
        },
        "best_against_proxy": _against_proxy(rows, proxies, next((r for r in scored if r["name"] == best), None)),
        "commands": commands(),
        "host": platform.node(),
        "threads": args.threads,
    }
    results_io.write(args.out, data, args.out.with_suffix(".md"), render(data))
    return data


def _best(scored: list[dict[str, Any]]) -> str | None:
    """The recipe with the highest Spearman (None: none scored, or none with a Spearman)."""
    ranked = [r for r in scored if r["spearman"][0] is not None]
    return max(ranked, key=lambda r: r["spearman"][0])["name"] if ranked else None


def _against_proxy(
    rows: list[dict[str, Any]], proxies: dict[str, dict[str, list[float]]], best: dict[str, Any] | None
) -> dict[str, Any] | None:
    """The best recipe against the zero-cost predictor with the highest Spearman: the paired difference of their
    Spearman correlations (None: no recipe scored)."""
    from hwenvs.lab.supernet_recipes import proxy_values, scratch_accuracy, spearman_difference

    if best is None:
        return None
    proxy = max(proxies, key=lambda k: proxies[k]["spearman"][0])
    scratch = scratch_accuracy(rows)
    paths = [best["path_val_accuracy"][a] for a in scratch]
    measured = [s["test_accuracy"] for s in scratch.values()]
    return {
        "recipe": best["name"],
        "proxy": proxy,
        "candidates": len(proxies),
        "difference": _finite(spearman_difference(proxy_values(rows)[proxy], paths, measured)),
    }


def _scratch(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from hwenvs.lab.supernet_recipes import scratch_accuracy

    return scratch_accuracy(rows)


# ----------------------------------------------------------------------------------------------------------------
# render


def _interval(values: list[float | None]) -> str:
    point, low, high = values
    if point is None:
        return "n/a"
    return f"{point:.3f}" if low is None or high is None else f"{point:.3f} [{low:.3f}, {high:.3f}]"


def render(data: dict[str, Any]) -> str:
    """The results page, from the report's JSON alone."""
    results_io.require(data, ("reference", "ceiling", "recipes", "scratch"), "supernet_recipes.json",
                       commands()["report"])  # fmt: skip
    lines = [
        "# Supernet recipes against the from-scratch reference set",
        "",
        f"Generated by `{SCRIPT} report` from `supernet_recipes.json`; every number below is computed from it.",
        "",
        *_reference_lines(data),
        *_recipe_table(data),
        *_unscored_lines(data),
        *_proxy_lines(data),
        *_architecture_table(data),
        "## Commands",
        "",
        "```bash",
        *data["commands"].values(),
        "```",
        "",
    ]
    return "\n".join(lines)


def _reference_lines(data: dict[str, Any]) -> list[str]:
    ref, top, scoring = data["reference"], data["ceiling"], data["scoring"]
    regime = ref["regime"]
    return [
        f"Reference: `{ref['file']}` (sha256 `{ref['sha256']}`), {ref['trainings']} trainings of "
        f"{ref['architectures']} architectures, {ref['two_seeds']} with two seeds, on `{regime['dataset']}` with "
        f"{regime['num_train']:,} training images, width {regime['width_mult']:g}, stem stride "
        f"{regime['stem_stride']}{', residual blocks starting as the identity' if regime.get('zero_init') else ''} "
        f"({ref['train_core_seconds'] / 3600:.2f} core-hours of training).",
        "",
        f"Each finished recipe's supernet, rounded to float16 as shipped, scores every reference architecture's path "
        f"as the reward does: one forward pass over the first {scoring['images']} validation images, each batch norm "
        "normalising with the path's own statistics on them. The rank correlations are of that accuracy against the "
        "from-scratch test accuracy (the mean over seeds where there are two), with 95% percentile-bootstrap "
        f"intervals over the architectures ({scoring['resamples']} resamples, seed {scoring['seed']})."
        + (
            " Smoke report: recipes trained on fewer images than the reference are scored too."
            if scoring.get("smoke")
            else ""
        ),
        "",
        f"Seed-to-seed ceiling (from-scratch test accuracy, one seed against the other, {top['architectures']} "
        f"architectures): Spearman {_interval(top['spearman'])}, Kendall tau {_interval(top['kendall'])}.",
        "",
    ]


RECIPE_COLUMNS = (
    "recipe", "rule", "epochs", "paths per step", "Spearman", "Kendall tau", "ceiling - Spearman",
    "path val. accuracy", "training core-hours", "goal met",
)  # fmt: skip


def _recipe_table(data: dict[str, Any]) -> list[str]:
    goal, top = data["goal"], data["ceiling"]["spearman"][0]
    cells = []
    for r in data["recipes"]:
        accs = list(r["path_val_accuracy"].values())
        gap = f"{top - r['spearman'][0]:.3f}" if top is not None and r["spearman"][0] is not None else "n/a"
        cells.append([
            f"`{r['name']}`", r["recipe"]["rule"], r["recipe"]["epochs"],
            1 if r["recipe"]["rule"] == "uniform" else 2 + r["recipe"]["random_paths"],
            _interval(r["spearman"]), _interval(r["kendall"]), gap, f"{min(accs):.4f}-{max(accs):.4f}",
            f"{r['core_seconds'] / 3600:.2f}", "yes" if r["goal_met"] else "no",
        ])  # fmt: skip
    lines = [
        "## Recipes",
        "",
        *results_io.table(RECIPE_COLUMNS, cells, "lllrllrlrl"),
        "",
        f"Goal: Spearman at least {goal['spearman']:g}, or within {goal['margin']:g} of the ceiling. Training "
        "core-hours: wall seconds of the training epochs times the torch threads, without scoring.",
        "",
    ]
    if data["best"] is not None:
        best = next(r for r in data["recipes"] if r["name"] == data["best"])
        met = "meets" if best["goal_met"] else "does not meet"
        lines += [f"Best recipe: `{best['name']}` (Spearman {_interval(best['spearman'])}), which {met} the goal.", ""]
    return lines


def _proxy_lines(data: dict[str, Any]) -> list[str]:
    proxies, top = data.get("proxies"), data["ceiling"]["spearman"][0]
    if not proxies:
        return []
    ranked = sorted(proxies.items(), key=lambda item: -item[1]["spearman"][0])
    cells = [
        [f"`{name}`", _interval(v["spearman"]), _interval(v["kendall"]),
         "n/a" if top is None else f"{top - v['spearman'][0]:.3f}"]
        for name, v in ranked
    ]  # fmt: skip
    lines = [
        "## Zero-cost predictors",
        "",
        "What a supernet's ordering is worth against predictors that need no training: each architecture's shape "
        "(mean expansion ratio and kernel size over its kept blocks, depth), its parameter count and its latency on "
        "each target, ranked against the same from-scratch test accuracy with the same bootstrap.",
        "",
        *results_io.table(("predictor", "Spearman", "Kendall tau", "ceiling - Spearman"), cells, "lllr"),
        "",
    ]
    versus = data.get("best_against_proxy")
    if versus is not None:
        _, low, high = versus["difference"]
        verdict = (
            "inconclusive: the interval holds 0"
            if low is None or high is None or low <= 0 <= high
            else f"`{versus['proxy']}` orders them better"
            if low > 0
            else f"`{versus['recipe']}` orders them better"
        )
        lines += [
            f"The best recipe, `{versus['recipe']}`, against the best of these {versus['candidates']} predictors, "
            f"`{versus['proxy']}`: Spearman of the predictor minus the recipe's, {_interval(versus['difference'])} "
            f"(paired bootstrap over the architectures): {verdict}. The predictor is the best of "
            f"{versus['candidates']} on this same set, so its figure is optimistic.",
            "",
        ]
    return lines


def _unscored_lines(data: dict[str, Any]) -> list[str]:
    if not data["unscored"]:
        return []
    return ["Not scored:", "", *(f"* `{u['name']}`: {u['why']}" for u in data["unscored"]), ""]


def _architecture_table(data: dict[str, Any]) -> list[str]:
    scored = data["recipes"]
    names = [r["name"] for r in scored]
    cells = []
    for arch, s in sorted(data["scratch"].items(), key=lambda item: -item[1]["test_accuracy"]):
        paths = [f"{r['path_val_accuracy'][arch]:.4f}" if arch in r["path_val_accuracy"] else "" for r in scored]
        cells.append([f"`{arch}`", s["depth"], s["seeds"], f"{s['test_accuracy']:.4f}", *paths])
    headers = ["architecture", "depth", "seeds", "from-scratch test acc.", *(f"`{n}` path val. acc." for n in names)]
    return [
        "## Per architecture",
        "",
        "Sorted by from-scratch test accuracy.",
        "",
        *results_io.table(headers, cells, "lrrr" + "r" * len(names)),
        "",
    ]


# ----------------------------------------------------------------------------------------------------------------
# ship


def shippable(data: dict[str, Any], name: str, runs: Path) -> dict[str, Any]:
    """The report's row of recipe ``name``, if that supernet may ship.

    :param data: the report's JSON.
    :param name: the recipe.
    :param runs: the runs folder.
    :raises SystemExit: not reported, trained on fewer images than the reference (a smoke run), or retrained since
        the report (its checkpoint is not the one scored).
    """
    from hwenvs.lab.supernet_recipes import read_summary

    row = next((r for r in data["recipes"] if r["name"] == name), None)
    if row is None:
        raise SystemExit(f"{name} is not in {JSON_PATH.name}'s scored recipes: run it, then `{commands()['report']}`")
    if row["recipe"] != recipe(name).record():
        raise SystemExit(f"{name} was trained as {row['recipe']}, not the reference regime: a smoke run never ships")
    info = read_summary(runs / name)
    if info is None or info["checkpoint_sha256"] != row["checkpoint_sha256"]:
        raise SystemExit(f"{runs / name} is not the checkpoint the report scored: rerun `{commands()['report']}`")
    return row


def ship(args: argparse.Namespace) -> dict[str, Any]:
    """Write recipe ``args.recipe``'s supernet as the shipped one of its task, with its rank correlation."""
    import torch

    from hwenvs.lab.supernet_recipes import ship as ship_supernet

    torch.set_num_threads(args.threads)
    if not JSON_PATH.is_file():
        raise SystemExit(f"no {JSON_PATH.name}: run `{commands()['report']}` first")
    data = json.loads(JSON_PATH.read_text())
    row = shippable(data, args.recipe, args.runs)
    fields = ("spearman", "kendall", "architectures")
    record = {
        "regenerate": " && ".join(commands(args.recipe).values()),
        "rank_correlation": {
            **{k: row[k] for k in fields},
            "ceiling_spearman": data["ceiling"]["spearman"],
            "goal_met": row["goal_met"],
            "reference_sha256": data["reference"]["sha256"],
            "val_images": data["scoring"]["images"],
        },
    }
    entry = ship_supernet(args.runs / args.recipe, record)
    print(json.dumps(entry, indent=2))
    return entry


# ----------------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "status", "report", "ship"))
    parser.add_argument("--recipes", nargs="+", default=list(DEFAULT_RECIPES), help="run: the recipes to train")
    parser.add_argument("--recipe", help="ship: the recipe to ship")
    parser.add_argument("--runs", type=Path, default=RUNS, help="the recipes' folders")
    parser.add_argument("--reference", type=Path, default=REFERENCE_FILE, help="report: the reference set")
    parser.add_argument("--out", type=Path, default=JSON_PATH, help="report: the JSON (its page: .md beside)")
    parser.add_argument("--val-images", type=int, default=VAL_IMAGES, help="report: images scoring a path")
    parser.add_argument("--smoke", action="store_true", help="report: score recipes trained on fewer images too")
    parser.add_argument("--num-train", type=int, default=REFERENCE_REGIME.num_train, help="run: smoke runs only")
    parser.add_argument("--stop-after", type=int, default=None, help="run: epochs per recipe in this call")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run one of the commands."""
    args = _parser().parse_args(argv)
    if args.command == "ship" and not args.recipe:
        raise SystemExit("ship needs --recipe NAME")
    {"run": run, "status": status, "report": report, "ship": ship}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
