"""Benchmark: memory and episode time over long runs (does anything leak or slow down?).

Four runs, each in its own process with one torch thread: HAQ-MobileNetV2-BISMO for 2,000 episodes and
ProxylessNAS-Mobile for 10,000, each with the accuracy cache on and off (``cache_accuracy``). Every episode is
``reset(seed=episode)`` and uniformly random actions from ``action_space.seed(episode)``, so a run is the same
episodes however often it is interrupted. Every 100 episodes the run records its resident memory (``VmRSS``), the
mean episode time of those 100, and the cache's size, to ``results/long_run_runs/NAME/progress.json``.

A killed run resumes from its last record (``--runs`` picks which; finished runs are skipped). A resumed run is a new
process, so its memory starts again: each process is a *segment*, and growth is judged within segments. Warm-up is
the first :data:`WARMUP_SHARE` of a run's planned episodes (at least one record) in each segment; the requirement is
that memory grows less than :data:`GROWTH_LIMIT` from the end of warm-up to the segment's last record.

    python benchmarks/long_run.py [--runs haq-cache-on nas-cache-off ...] [--workers 2]

Linux only (reads ``/proc/self/status``). Results: ``benchmarks/results/long_run.json`` and ``.md``, rendered from
the JSON by :func:`render` once every run has finished.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import results_io

RESULTS = Path(__file__).resolve().parent / "results"
RUNS_DIR = RESULTS / "long_run_runs"
RECORD_EVERY = 100
"""Episodes between two records."""
WARMUP_SHARE = 0.1
"""Share of a run's planned episodes that each segment may spend warming up (caches, allocator) before growth
counts."""
GROWTH_LIMIT = 0.05
"""Largest allowed growth of resident memory after warm-up (issue 12)."""
RERUN = "python benchmarks/long_run.py --workers 2"


@dataclass(frozen=True)
class Run:
    """One long run."""

    env_id: str
    cache_accuracy: bool
    episodes: int


RUNS = {
    "haq-cache-on": Run("HAQ-MobileNetV2-BISMO", True, 2_000),
    "haq-cache-off": Run("HAQ-MobileNetV2-BISMO", False, 2_000),
    "nas-cache-on": Run("ProxylessNAS-Mobile", True, 10_000),
    "nas-cache-off": Run("ProxylessNAS-Mobile", False, 10_000),
}


def rss_mb() -> float:
    """This process's resident memory in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("/proc/self/status has no VmRSS: this benchmark needs Linux")


def load_progress(name: str) -> dict[str, Any]:
    path = RUNS_DIR / name / "progress.json"
    if path.is_file():
        return json.loads(path.read_text())
    run = RUNS[name]
    return {"env_id": run.env_id, "cache_accuracy": run.cache_accuracy, "episodes": run.episodes, "records": []}


def save_progress(name: str, progress: dict[str, Any]) -> None:
    """Write atomically: a kill mid-write leaves the previous record, never a torn file."""
    path = RUNS_DIR / name / "progress.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(progress, indent=1) + "\n")
    partial.replace(path)


def run_one(name: str) -> str:
    """Run (or resume) ``name`` to its planned episodes; returns a line saying what it did."""
    import torch

    torch.set_num_threads(1)
    results_io.use_shared_reference_data()  # the Mobile table: this machine cannot download it
    import gymnasium as gym

    import hwenvs  # noqa: F401  (registers the environments; a spawned worker starts bare)

    progress = load_progress(name)
    done = progress["records"][-1]["episode"] if progress["records"] else 0
    if done >= progress["episodes"]:
        return f"{name}: already finished"
    segment = 1 + max((r["segment"] for r in progress["records"]), default=-1)
    start = time.perf_counter()
    env = gym.make(progress["env_id"], cache_accuracy=progress["cache_accuracy"])
    make_s = time.perf_counter() - start
    cache = env.unwrapped._accuracy_cache
    times: list[float] = []
    first_record = True
    for episode in range(done, progress["episodes"]):
        t = time.perf_counter()
        env.reset(seed=episode)
        env.action_space.seed(episode)
        finished = False
        while not finished:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            finished = terminated or truncated
        times.append(time.perf_counter() - t)
        if (episode + 1) % RECORD_EVERY == 0:
            progress["records"].append(
                {
                    "episode": episode + 1,
                    "segment": segment,
                    "rss_mb": round(rss_mb(), 1),
                    "mean_episode_s": round(statistics.fmean(times), 4),
                    "cache_entries": len(cache),
                    "load_average": round(os.getloadavg()[0], 2),
                    "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    **({"make_s": round(make_s, 2)} if first_record else {}),
                }
            )
            save_progress(name, progress)
            times, first_record = [], False
    return f"{name}: episodes {done}..{progress['episodes']} (segment {segment})"


def segment_growth(records: list[dict[str, Any]], warmup: int) -> list[dict[str, Any]]:
    """Per segment: resident memory at the end of its warm-up and at its last record, and the growth between."""
    out = []
    for segment in sorted({r["segment"] for r in records}):
        rows = [r for r in records if r["segment"] == segment]
        first = rows[0]["episode"] - RECORD_EVERY
        warm = [r for r in rows if r["episode"] - first >= warmup] or rows[-1:]
        base, last = warm[0], rows[-1]
        out.append(
            {
                "segment": segment,
                "episodes": f"{first + 1}..{last['episode']}",
                "warm_episode": base["episode"],
                "rss_warm_mb": base["rss_mb"],
                "rss_last_mb": last["rss_mb"],
                "rss_peak_mb": max(r["rss_mb"] for r in rows),
                "growth": (last["rss_mb"] - base["rss_mb"]) / base["rss_mb"],
            }
        )
    return out


def summarise(progress: dict[str, Any]) -> dict[str, Any]:
    records = progress["records"]
    warmup = max(RECORD_EVERY, round(WARMUP_SHARE * progress["episodes"]))
    segments = segment_growth(records, warmup)
    times = [r["mean_episode_s"] for r in records]
    return {
        "env_id": progress["env_id"],
        "cache_accuracy": progress["cache_accuracy"],
        "episodes": progress["episodes"],
        "warmup_episodes": warmup,
        "segments": segments,
        "max_growth": max(s["growth"] for s in segments),
        "episode_s_first": times[0],
        "episode_s_last": times[-1],
        "episode_s_median": statistics.median(times),
        "final_cache_entries": records[-1]["cache_entries"],
        "load_average_median": statistics.median(r["load_average"] for r in records),
        "records": records,
    }


def render(data: dict[str, Any]) -> str:
    """The results markdown, from the JSON alone."""
    results_io.require(data, ("settings", "runs"), "long_run.json", RERUN)
    s = data["settings"]
    limit = s["growth_limit"]
    lines = [
        f"# Long runs: resident memory and episode time, every {s['record_every']} episodes",
        "",
        f"Uniformly random actions, `reset(seed=episode)`, one torch thread per run, {s['cpu']}. Warm-up: the first "
        f"{s['warmup_share']:.0%} of a run's episodes in each process (segment); growth is resident memory from the "
        f"end of warm-up to the segment's last record; the requirement is under {limit:.0%}. Episode times were taken "
        "on a shared 2-core machine (median load average per run in the table), so they show trends, not speed.",
        "",
    ]
    columns = ["run", "env", "cache", "episodes", "segments", "RSS after warm-up (MiB)", "last RSS (MiB)",
               "peak RSS (MiB)", "growth", "under limit", "episode s: first / median / last record",
               "cache entries at end", "load average"]  # fmt: skip
    rows = []
    for name, r in data["runs"].items():
        worst = max(r["segments"], key=lambda seg: seg["growth"])
        rows.append([name, r["env_id"], "on" if r["cache_accuracy"] else "off", r["episodes"], len(r["segments"]),
                     f"{worst['rss_warm_mb']:.1f}", f"{worst['rss_last_mb']:.1f}", f"{worst['rss_peak_mb']:.1f}",
                     f"{r['max_growth']:+.2%}", "yes" if r["max_growth"] < limit else "NO",
                     f"{r['episode_s_first']:.3f} / {r['episode_s_median']:.3f} / {r['episode_s_last']:.3f}",
                     r["final_cache_entries"], f"{r['load_average_median']:.2f}"])  # fmt: skip
    lines += results_io.table(columns, rows, spaced=True)
    lines += ["", "Where a run has more than one segment (it was resumed), the table shows its worst segment."]
    for name, r in data["runs"].items():
        step = 10 if len(r["records"]) > 20 else 1
        lines += ["", f"## {name}: every {s['record_every'] * step} episodes", ""]
        columns = ["episode", "segment", "RSS (MiB)", f"mean episode s (last {s['record_every']})", "cache entries"]
        records = [
            [rec["episode"], rec["segment"], f"{rec['rss_mb']:.1f}", f"{rec['mean_episode_s']:.3f}",
             rec["cache_entries"]]
            for rec in r["records"][step - 1 :: step]
        ]  # fmt: skip
        lines += results_io.table(columns, records, spaced=True)
    return "\n".join(lines) + "\n"


def write_results(out: Path) -> bool:
    """Render the results if every run has finished; returns whether it did."""
    progress = {name: load_progress(name) for name in RUNS}
    unfinished = [n for n, p in progress.items() if not p["records"] or p["records"][-1]["episode"] < p["episodes"]]
    if unfinished:
        print(f"not finished yet: {', '.join(unfinished)} (rerun `{RERUN}` to resume)")
        return False
    from haq_env_speed import cpu_model

    data = {
        "settings": {
            "record_every": RECORD_EVERY,
            "warmup_share": WARMUP_SHARE,
            "growth_limit": GROWTH_LIMIT,
            "cpu": cpu_model(),
        },
        "runs": {name: summarise(p) for name, p in progress.items()},
    }
    results_io.write(out / "long_run.json", data, out / "long_run.md", render(data))
    print(render(data))
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--workers", type=int, default=1, help="runs at a time, each in its own process")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for long_run.json / .md")
    args = parser.parse_args()
    # spawn: each run starts bare, so its memory is its own and not a copy of this process's
    with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
        for line in pool.map(run_one, args.runs):
            print(line, flush=True)
    write_results(args.out)


if __name__ == "__main__":
    main()
