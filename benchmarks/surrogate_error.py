"""How well the surrogate predicts accuracy: both model families, fit on the training part of each shipped dataset and
scored on the held-out part (the split of :func:`hwenvs.surrogate.predictor.holdout_split`).

For each dataset and family: RMSE and MAE in accuracy points, Kendall tau, Spearman and the precision of the top 1%,
on validation accuracy (what rewards use) and test accuracy (what reports show), overall and per sampling source; the
fit time. The family with the lower validation RMSE is marked as the one to keep; the environments use
``hwenvs.surrogate.accuracy.FAMILY``, which a test checks against this file.

    python benchmarks/surrogate_error.py            # every shipped dataset
    python benchmarks/surrogate_error.py --datasets haq-mobilenet_v2-mnist

Writes results/surrogate_error.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import results_io
import torch

from hwenvs.surrogate import predictor
from hwenvs.surrogate.dataset import available_datasets, read_arrays, store

RESULTS = Path(__file__).parent / "results"
SPLIT_NAMES = {"val": "validation", "test": "test"}
MIN_SOURCE_ROWS = 20
"""Sources with fewer held-out rows get no row of their own: their metrics would be noise."""


def features_and_targets(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(features, (N, 2) val/test accuracy, source codes, source names) of a shipped dataset."""
    arrays = read_arrays(name)
    if name.startswith("haq-"):
        features = predictor.haq_features(arrays["w_bits"], arrays["a_bits"])
    else:
        features = predictor.nas_features(arrays["choices"])
    targets = np.stack([arrays["val_accuracy"], arrays["test_accuracy"]], axis=1).astype(np.float64)
    return features, targets, arrays["source"], [str(s) for s in arrays["source_names"]]


def score_family(family: str, features: np.ndarray, targets: np.ndarray, sources: np.ndarray, names: list[str]):
    """Fit ``family`` on the training rows and measure it on the held-out rows, overall and per source."""
    train, held_out = predictor.holdout_split(len(features))
    start = time.perf_counter()
    model = predictor.fit(family, features[train], targets[train])
    fit_seconds = time.perf_counter() - start
    predicted = predictor.clipped(model.predict(features[held_out]))
    result: dict[str, Any] = {"fit_seconds": fit_seconds, "train_rows": len(train), "held_out_rows": len(held_out)}
    for column, split in enumerate(SPLIT_NAMES):
        result[split] = predictor.error_metrics(predicted[:, column], targets[held_out, column])
        result[f"{split}_by_source"] = {
            names[code]: predictor.error_metrics(predicted[mask, column], targets[held_out][mask, column])
            for code in np.unique(sources[held_out])
            if (mask := sources[held_out] == code).sum() >= MIN_SOURCE_ROWS
        }
    return result


def measure(name: str) -> dict[str, Any]:
    """Both families on one dataset."""
    features, targets, sources, names = features_and_targets(name)
    families = {family: score_family(family, features, targets, sources, names) for family in predictor.FAMILIES}
    kept = min(families, key=lambda f: families[f]["val"]["rmse_points"])
    return {
        "rows": len(features),
        "sha256": store().entry(name)["sha256"],
        "features": features.shape[1],
        "families": families,
        "kept": kept,
    }


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("datasets", "holdout_fraction"), "surrogate_error.json", "benchmarks/surrogate_error.py")
    lines = [
        "# Surrogate error on held-out rows",
        "",
        f"Each predictor is fit on {1 - data['holdout_fraction']:.0%} of a dataset's rows and scored on the other "
        f"{data['holdout_fraction']:.0%} (fixed split, seed {data['split_seed']}). RMSE and MAE in accuracy points; "
        f"top-1% precision: the share of the best 1% of held-out rows (by measured accuracy) that the predictor also "
        "ranks in its best 1%. `gbm`: scikit-learn HistGradientBoosting, one model per split; `mlp`: a two-layer "
        "MLP with both splits as outputs. Kept: the lower validation RMSE.",
        "",
    ]
    for name, result in data["datasets"].items():
        lines += [f"## {name} ({result['rows']} rows, {result['features']} features)", ""]
        lines += _family_table(result)
        lines += ["", f"Kept: **{result['kept']}**.", ""]
        lines += _source_table(result["families"][result["kept"]])
    lines += ["", f"Machine: {data['machine']}; {data['date']}."]
    return "\n".join(lines) + "\n"


def _family_table(result: dict[str, Any]) -> list[str]:
    columns = ["family", "split", "RMSE (points)", "MAE (points)", "Kendall tau", "Spearman", "top-1% precision",
               "fit (s)"]  # fmt: skip
    rows = []
    for family, scores in result["families"].items():
        for split, label in SPLIT_NAMES.items():
            m = scores[split]
            rows.append([family, label, f"{m['rmse_points']:.2f}", f"{m['mae_points']:.2f}", f"{m['kendall_tau']:.3f}",
                         f"{m['spearman']:.3f}", f"{m['top_precision']:.2f} ({m['top_rows']} rows)",
                         f"{scores['fit_seconds']:.1f}"])  # fmt: skip
    return results_io.table(columns, rows)


def _source_table(scores: dict[str, Any]) -> list[str]:
    columns = ["source (held-out rows)", "val RMSE", "val Kendall tau", "test RMSE", "test Kendall tau"]
    rows = []
    for source, m in scores["val_by_source"].items():
        t = scores["test_by_source"][source]
        rows.append([f"{source} ({m['rows']})", f"{m['rmse_points']:.2f}", f"{m['kendall_tau']:.3f}",
                     f"{t['rmse_points']:.2f}", f"{t['kendall_tau']:.3f}"])  # fmt: skip
    return results_io.table(columns, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None, help="dataset names (default: every shipped one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = args.datasets or available_datasets()
    data = {
        "holdout_fraction": predictor.HOLDOUT_FRACTION,
        "split_seed": predictor.SPLIT_SEED,
        "datasets": {name: measure(name) for name in names},
        "machine": f"{platform.processor() or platform.machine()}, one torch thread",
        "date": datetime.date.today().isoformat(),
    }
    results_io.write(RESULTS / "surrogate_error.json", data, RESULTS / "surrogate_error.md", render(data))
    print(render(data))


if __name__ == "__main__":
    main()
