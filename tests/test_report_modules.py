"""The benchmark's report in modules named for what they are, the facade that keeps old imports working, the one
table renderer of the benchmark scripts and the one thread-limiting helper."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from hwenvs.benchmark import markdown, plots, report, results, summary
from hwenvs.threads import one_torch_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the scripts' shared helper

import results_io


def test_the_report_module_re_exports_the_split_modules_names() -> None:
    homes = {"collect": results, "combine": results, "accuracy_label": results, "RESULTS_FORMAT": results,
             "summarise": summary, "anchors": summary, "normalised": summary, "episodes_to_beat": summary,
             "best_so_far": summary, "variants": summary, "BOOTSTRAP_SEED": summary, "render": markdown,
             "plot": plots, "PLOTS": plots}  # fmt: skip
    for name, module in homes.items():
        assert getattr(report, name) is getattr(module, name), name
    assert set(homes) <= set(report.__all__) and {"write_results", "render_files"} <= set(report.__all__)


def test_one_table_renderer_writes_header_separator_and_rows() -> None:
    lines = results_io.table(["a", "b"], [[1, ""], ["x", 0.5]], align="lr")
    assert lines == ["| a | b |", "|---|---:|", "| 1 |  |", "| x | 0.5 |"]
    assert results_io.table(["a"], []) == ["| a |", "|---|"]
    # the spaced style, an empty column title (one space, as the committed files have it) and a whole-line row
    spaced = results_io.table(["", "b"], [["x", "y"], "| skipped ||"], align="lr", spaced=True)
    assert spaced == ["| | b |", "| --- | ---: |", "| x | y |", "| skipped ||"]
    with pytest.raises(ValueError, match="2 cells under 1 columns"):
        results_io.table(["a"], [[1, 2]])
    with pytest.raises(ValueError, match="one of l, r per column"):
        results_io.table(["a", "b"], [], align="l")


def test_one_torch_thread_restores_the_count_even_after_an_error() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError), one_torch_thread():
            assert torch.get_num_threads() == 1
            raise RuntimeError
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
