"""Benchmark: the papers' claims, one row each, reproduced on this package's tasks and hardware models (v2).

Five claims of HAQ (Wang et al., CVPR 2019) and ProxylessNAS (Cai et al., ICLR 2019), with the papers' figures as
``/work/shared/reference/haq.md`` and ``proxylessnas.md`` quote them, each tested so that the test can answer it
(issue 28): verdicts are *yes*, *partly*, *no* or *inconclusive*, the last where the effect is within the noise of
the test images (exact McNemar on per-image test outcomes, at ``hwenvs.benchmark.stats.SIGNIFICANCE``):

1. HAQ Table 1, hardware specialisation at matched accuracy: DDPG searches for BISMO edge, BISMO cloud and BitFusion
   at several latency budgets; on each hardware, the accuracy-latency front of the policies searched for it against
   each other hardware's (every policy's latency measured on every hardware model), on a grid of test accuracies
   over the range both fronts reach.
2. Latency and energy at iso-accuracy: on a grid of budget ratios of step 0.05, the iso ratio (chosen on
   validation) of the found policies and of the best uniform policy; the reduction against the paper's, and mixed
   precision credited only where the found policy beats the uniform one beyond the image noise.
3. Where the bits go: claim 1's edge and cloud searches, the bits the agent chose before HAQ's rollback (and how many
   layers the rollback changed).
4. Model size: k-means HAQ under the size of uniform 2, 3 and 4 bits against uniform k-means (Deep Compression, which
   is also the warm start), in the bit ranges 1..8 and HAQ's 2..8, with and without a short fine-tune.
5. ProxylessNAS specialisation at matched from-scratch accuracy (issue 29, section 4): searches of
   ProxylessNAS-<target> for Mobile, CPU, BISMO edge and BitFusion (GPU where CUDA is), each finalist (the
   architecture a search returns) also trained from scratch with the NAS reference set's recipe; on each target, the
   front of its own finalists (from-scratch test accuracy against latency there) against each other target's, by
   claim 1's rule, with the training seed's noise (the seed-to-seed sd of the reference set's twice-trained
   architectures, ``nas_pareto.seed_noise``) in place of the paired test.

Three modules: this one (command line, jobs, collecting the JSON), ``reproduction_analysis.py`` (the JSON in,
figures and verdicts out: pure functions, tested on synthetic data) and ``reproduction_render.py`` (the page and the
plot from the analysis).

Every search is a job keyed by (claim, hardware or target, setting, dataset, agent, episodes, seed; claim 5's
setting names the shipped supernet, so that searches through another one are not resumed). Its folder
``RUNS/<key>/`` holds the search pipeline's files (``history.csv``, ``policy.json``, ``checkpoint.pt``: a killed
job resumes from its checkpoint) and, once done, ``summary.json``: what the results need, with the per-image test
outcomes (``hwenvs.benchmark.outcomes``) of the found policy and of the baselines it is compared with (the only
file of the folder that git keeps, by the ``.gitignore`` pattern ``benchmarks/results/*_runs/*/*``). Jobs run in a
process pool (spawn, one torch thread each, ``--workers`` at a time), the seeds of one setting in one worker on one
environment, so that they share its reference points and measured accuracies (:func:`run_group`). The JSON
collects every finished job of the claims' settings (identical outcome records stored once, under
``"outcomes"``) and the page is rendered from it alone; a row whose jobs have not all finished says "not run yet"
with the command that runs it. Claims not named by ``--claims`` keep the settings of the previous JSON in ``--out``
(same dataset and seeds), so claims can be run one at a time.

Claim 5's from-scratch trainings run after its searches, in the same pool: one job per (finalist, training seed),
keyed by recipe, architecture and seed only (``RUNS/r2-c5-retrain-<dataset>-<recipe hash>-<architecture>-s<seed>/``,
its ``summary.json`` written when it finishes: a killed training starts again), so that a finalist several searches
return is trained once. A training the reference set (``results/nas_reference/fashion-mnist.jsonl``) already holds,
same architecture, recipe and seed, is not run: its row becomes the job's summary (``"source": "reference set"``).
The training is the reference set's own (:func:`hwenvs.lab.nas_reference_set.train_job` with
``benchmarks/nas_reference_set.py``'s ``DEFAULTS`` on the job's dataset), seed 0 by default (``--retrain-seeds``).

The full run (5 seeds, fashion-mnist: what the committed page needs)::

    python benchmarks/reproduction.py --workers 2

    python benchmarks/reproduction.py --claims 1 3 --workers 2        # claim 1's searches (claim 3 reads them)
    OMP_NUM_THREADS=1 python benchmarks/reproduction.py --claims 5 --workers 2   # claim 5: searches, then trainings
    python benchmarks/reproduction.py --report-only                   # the page from what has finished, mid-run
    python benchmarks/reproduction.py --claims 1 2 3 4 --dataset mnist --seeds 0 --episodes 2 --budgets 0.5 0.7 \\
        --grid 0.6 0.65 --finetune-steps 1 --size-bits 3 --workers 2 --out /tmp/repro --runs /tmp/repro/runs  # smoke

The smoke run (16 jobs on MNIST's 1,000 test images) took about 19 minutes of wall time on this 2-core machine while
two other long runs used it (the job time is mostly building each setting's environment and measuring its reference
points, every uniform policy within the budget); its page says *1 seed(s) only: a smoke run*.

Default episodes per job (``--episodes 1=N 2=N ...``, or one number for every claim): 150 for claim 1, 30 for claim 2
(with 5 fine-tune steps before every reward), 40 for claim 4, 1000 for claim 5. **Cost**, estimated from v1's
measured times on fashion-mnist (2,000 validation and 10,000 test images, ``--workers 2`` on this 2-core machine; a
job is its search, its final test evaluation, and for a setting's first seed building the environment and
measuring its reference points): v1 took 466 s a claim-1 job (2.91 s an episode), 192 s a claim-2 job (4.92 s an
episode), 89 s a claim-4 job without fine-tune and 204 s with 5 steps, 285 s a claim-5 search. A from-scratch
training on the reference set's recipe (57,872 images, one epoch, one thread) takes about 70-300 s: the reference
set's first 42 rows record 156 s on average (``train_seconds``; 51 s for the shallowest network, 524 s for the
deepest, all-k7e6 one). v2 adds up to three test evaluations per job (the per-image outcomes of the found policy,
and once per setting of fixed 8-bit and the best uniform policy; in claims 2 and 4 each after the same fine-tune as
its accuracy). So:

* claim 1 (and 3): 3 hardware x 4 budgets x 5 seeds = 60 jobs x 466 s = 7.8 core-hours;
* claim 2: 3 targets x 9 ratios (0.40..0.80) x 5 seeds = 135 jobs x 192 s = 7.2 core-hours;
* claim 4: 10 settings (range 1..8: 2, 3, 4 bits; range 2..8: 3, 4 bits, 2 bits admitting only the start and
  running nothing; each with 0 and 5 fine-tune steps) x 5 seeds = 50 jobs, 25 x 89 s + 25 x 204 s = 2.0 core-hours;
* claim 5: 4 targets x 5 seeds = 20 searches. v1's 285 s a search was through the stride-2 supernet; the
  Fashion-MNIST supernet shipped since (issue 29: stem stride 1, four times the work in its first stages) scores an
  architecture on 1,000 validation images in about 1.7 s on one thread (measured 1.67 s, against 0.21 s on MNIST),
  so a search of 1000 episodes takes up to 28 minutes (less as REINFORCE repeats architectures, whose accuracies
  are cached): at most 9.3 core-hours. The prefix cache (:mod:`hwenvs.nas.prefix_cache`: the stem and first
  block computed once per batch and choice) since halves each score (a median 2.06x faster, measured in
  ``results/proxylessnas_speed.md``), so at most about 4.5 core-hours. Then at most 20 trainings (one per
  distinct finalist; fewer where searches agree or the reference set holds the finalist) x about 156 s = 0.9
  core-hours (0.4 to 1.7 over the 70-300 s range; 2.9 if every finalist were the deepest network), so up to about
  5.4 core-hours, under 3 hours with ``--workers 2``;

up to about 22 core-hours, 11 hours with ``--workers 2``. The page states the time the finished jobs took. The committed
page needs at least five seeds.

Results: ``benchmarks/results/reproduction.json``, ``reproduction.md`` and ``reproduction_bits.png``. A JSON of v1's
format (``reproduction/1``) is not read by this version's ``render`` (it raises ``results_io.StaleResults``, so the
results test skips the v1 page until this version's run replaces it).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import hashlib
import json
import multiprocessing
import platform
import re
import time
from pathlib import Path
from typing import Any

import reproduction_analysis as analysis
import reproduction_render as rendering
import results_io
from nas_pareto import NOISE_SDS, seed_noise
from nas_reference_set import DEFAULT_OUT as REFERENCE_ROWS
from nas_reference_set import DEFAULTS as REFERENCE_REGIME
from proxylessnas_specialisation import LATENCY_EXPONENT

from hwenvs.data import EMBEDDED_TASKS
from hwenvs.lab.nas_reference_set import Regime, read_rows, row_key

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
NAME = rendering.NAME
SCRIPT = rendering.SCRIPT
FORMAT = analysis.FORMAT
PLOT_NAME = rendering.PLOT_NAME
MIN_COMMITTED_SEEDS = rendering.MIN_COMMITTED_SEEDS
CLAIMS = rendering.CLAIMS
render = rendering.render
plot_bits = rendering.plot_bits

JOB_CLAIMS = ("1", "2", "4", "5")
"""Claims that run searches (claim 3 reads claim 1's)."""
KEY_VERSION = "r2"
"""Prefix of v2's job folders: v1's summaries (without per-image outcomes) are never taken for v2's."""

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
DEFAULT_EPISODES = {"1": 150, "2": 30, "4": 40, "5": 1000}
"""Episodes per search, sized for a busy 2-core machine (see the module docstring for the measured costs)."""
DEFAULT_BUDGETS = (0.4, 0.5, 0.6, 0.7)
"""Claim 1's latency budgets (x each hardware's fixed 8-bit latency): the fronts' points."""
CLAIM1_GRID_POINTS = 11
"""Claim 1's test accuracies compared, spanning the range both fronts reach."""
DEFAULT_GRID = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
"""Claim 2's budget ratios (step 0.05 around v1's iso points, 0.6 on BISMO and 0.8 on BitFusion)."""
DEFAULT_FINETUNE_STEPS = 5
"""HAQ's short fine-tune before each reward (claim 2, claim 4's fine-tuned rows): SGD steps of batch 64."""
DEFAULT_NAS_TARGETS = ("Mobile", "CPU", "BISMO", "BitFusion")
DEFAULT_RETRAIN_SEEDS = (0,)
"""Claim 5's training seeds per finalist: the reference set's first seed, so that a finalist the reference set
already holds is read from it instead of trained again."""
CLAIM5_GRID_POINTS = CLAIM1_GRID_POINTS
"""Claim 5's from-scratch test accuracies compared (claim 1's rule on claim 5's fronts)."""
HAQ_MODEL = rendering.HAQ_MODEL
HAQ_HARDWARE = analysis.HAQ_HARDWARE
ISO_TARGETS = (("BISMO", "latency"), ("BISMO-Cloud", "latency"), ("BitFusion", "energy"))
ISO_TOLERANCE = 0.01
"""Iso-accuracy: validation accuracy at most this far (1 point) below fixed 8-bit's."""
DEFAULT_SIZE_BITS = (2, 3, 4)
SIZE_MIN_BITS = (1, 2)
"""Claim 4's bit ranges: 1..8 (k-means weights may take 1 bit: two centroids per layer) and HAQ's 2..8."""


# ============================================================================================== jobs (workers)


def slug(text: str) -> str:
    """``text`` safe as a folder name (an agent spec may hold ``:``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def job_key(claim: str, target: str, setting: str, dataset: str, agent: str, episodes: int, seed: int) -> str:
    """The folder name of one search."""
    return slug(f"{KEY_VERSION}-c{claim}-{target}-{setting}-{dataset}-{agent}-e{episodes}-s{seed}")


def claim_jobs(claim: str, settings: dict[str, Any], dataset: str, seeds: list[int]) -> list[dict[str, Any]]:
    """Every search of a claim: ``{key, claim, target, setting, seed, ...}`` with what its worker needs."""
    agent, episodes = settings["agent"], settings["episodes"]
    specs: list[tuple[str, str, dict[str, Any]]] = []  # (target, setting, extra job fields)
    if claim == "1":
        for hw in settings["hardware"]:
            for ratio in settings["budgets"]:
                kwargs = {"preserve_ratio": ratio, "constraint": "latency"}
                specs.append((hw, f"pr{ratio:.2f}", {"env_kwargs": kwargs, "ratio": ratio}))
    elif claim == "2":
        for hw, constraint in settings["targets"]:
            for ratio in settings["grid"]:
                kwargs = {
                    "preserve_ratio": ratio,
                    "constraint": constraint,
                    "finetune_steps": settings["finetune_steps"],
                }
                setting = f"{constraint}-pr{ratio:.2f}-ft{settings['finetune_steps']}"
                specs.append((hw, setting, {"env_kwargs": kwargs, "ratio": ratio, "constraint": constraint}))
    elif claim == "4":
        for min_bits in settings["min_bits"]:
            for bits in settings["bits"]:
                if not analysis.admits_others(bits, min_bits):
                    continue  # the budget admits only the start: nothing to search (the analysis says so)
                for steps in settings["finetune_steps"]:
                    kwargs = {
                        "constraint": "size",
                        "quantizer": "kmeans",
                        "finetune_steps": steps,
                        "min_bits": min_bits,
                    }
                    setting = f"b{bits}-min{min_bits}-ft{steps}"
                    extra = {"env_kwargs": kwargs, "bits": bits, "finetune": steps, "min_bits": min_bits}
                    specs.append(("size", setting, extra))
    elif claim == "5":
        # the shipped supernet in the key: one shipped later (issue 29) must not resume these searches
        specs = [(t, f"oneshot-{settings['supernet']}", {}) for t in settings["targets"]]
    else:
        raise ValueError(f"claim {claim} runs no searches")
    jobs = []
    for target, setting, extra in specs:
        for seed in seeds:
            key = job_key(claim, target, setting, dataset, agent, episodes, seed)
            job = {"key": key, "claim": claim, "target": target, "setting": setting, "seed": seed}
            jobs.append({**job, "dataset": dataset, "agent": agent, "episodes": episodes, **extra})
    return jobs


def job_groups(jobs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The jobs grouped by what their environment depends on (claim, target and setting), seeds in order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for job in jobs:
        groups.setdefault((job["claim"], job["target"], job["setting"]), []).append(job)
    return list(groups.values())


def run_group(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The searches of one group (:func:`job_groups`: one setting, every seed) in this worker process, with one
    torch thread, on one environment. The seeds share its reference points, remembered accuracies and the
    baselines' per-image outcomes, which are the same in every seed (a fine-tune's batch order is fixed), instead of
    measuring them again. Each search seeds its agent and its episodes itself, as on a fresh environment. Writes
    each job's summary and returns it, or ``{"key", "error"}`` for a job that failed (nothing is cached then: a
    rerun tries again)."""
    import torch

    torch.set_num_threads(1)  # one process per core: threads would only fight over the shared CPUs
    results_io.use_shared_reference_data()
    import hwenvs  # noqa: F401  (registers the environments: a spawned worker starts bare)

    start = time.perf_counter()
    try:
        setup = {"1": haq_env, "2": haq_env, "4": size_env, "5": nas_env}[jobs[0]["claim"]](jobs[0])
    except Exception as exc:  # a group's failure (missing weights, a bug) must not stop the others
        return [{"key": job["key"], "error": f"{type(exc).__name__}: {exc}"} for job in jobs]
    outs = []
    for job in jobs:
        try:
            outs.append(write_summary(job, summarise(job, setup), time.perf_counter() - start))
        except Exception as exc:
            outs.append({"key": job["key"], "error": f"{type(exc).__name__}: {exc}"})
        start = time.perf_counter()  # the first search's time includes building the environment
    if setup.env is not None:
        setup.env.close()
    return outs


def write_summary(job: dict[str, Any], summary: dict[str, Any], seconds: float) -> dict[str, Any]:
    """``job``'s ``summary.json``: what the search found, with the job's identity and time."""
    summary = {
        **{k: job[k] for k in ("key", "claim", "target", "setting", "seed", "dataset", "agent")},
        **summary,
        "job_time_s": seconds,
    }
    return write_json(Path(job["run_dir"]), summary)


def write_json(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Write ``summary`` as ``run_dir/summary.json`` (atomically: a killed job leaves none, and reruns) and return it.

    :param run_dir: the job's folder (made if missing: a skipped job ran no search that made it).
    :param summary: the job's summary.
    """
    from hwenvs.agents.pipeline import to_json
    from hwenvs.cache import atomic_write_bytes

    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(run_dir / "summary.json", (json.dumps(to_json(summary), indent=1) + "\n").encode())
    return summary


def search(env: Any, job: dict[str, Any]) -> Any:
    """The search of ``job`` through the pipeline, resumed from its folder's checkpoint if one is there; a folder
    that cannot be resumed (killed before its first checkpoint) is cleared and the search starts again."""
    from hwenvs.agents.base import ResumeError
    from hwenvs.agents.pipeline import build_agent, run_search, seed_everything

    run_dir = Path(job["run_dir"])
    seed_everything(job["seed"])
    agent = build_agent(job["agent"], env, seed=job["seed"])
    try:
        return run_search(env, agent, job["episodes"], run_dir, progress=False, resume=True, test_each_best=False)
    except ResumeError as exc:
        print(f"{job['key']}: cannot resume ({exc}); starting it again", flush=True)
        for name in ("history.csv", "policy.json", "checkpoint.pt", "plot.png"):
            (run_dir / name).unlink(missing_ok=True)
        seed_everything(job["seed"])
        agent = build_agent(job["agent"], env, seed=job["seed"])
        return run_search(env, agent, job["episodes"], run_dir, progress=False, test_each_best=False)


def chosen_bits_wrapper(env: Any) -> Any:
    """``env`` (a HAQ environment) wrapped so that each terminal ``info`` also says what the agent chose before
    HAQ's rollback: ``chosen_policy`` (``[w_bits, a_bits]`` per layer, the layer rules applied, as the agent's
    actions set them) and ``rollback_changed_layers`` (how many layers the rollback lowered). Agents step the
    wrapper as they would the environment; the environment itself is unchanged.

    :param env: the HAQ environment (made by ``gym.make``).
    """
    import gymnasium as gym
    import numpy as np

    class ChosenBits(gym.Wrapper):
        def reset(self, **kwargs: Any) -> Any:
            self._chosen: list[int] = []
            return self.env.reset(**kwargs)

        def step(self, action: Any) -> Any:
            obs, reward, terminated, truncated, info = self.env.step(action)  # refuses a bad action first
            u = self.env.unwrapped
            self._chosen.append(u.action_to_bits(float(np.asarray(action, dtype=np.float64).reshape(-1)[0])))
            if terminated or truncated:
                chosen = chosen_policy(u, self._chosen)
                changed = sum(c != list(p) for c, p in zip(chosen, info["policy"], strict=True))
                info = {**info, "chosen_policy": chosen, "rollback_changed_layers": changed}
            return obs, reward, terminated, truncated, info

    return ChosenBits(env)


def chosen_policy(env: Any, chosen: list[int]) -> list[list[int | None]]:
    """The policy an episode's chosen bits (one per step: weights, then activations where quantized, layer by
    layer) set before the rollback, with the layer rules (fixed first and last layers) applied as the environment
    applies them.

    :param env: the unwrapped HAQ environment.
    :param chosen: the bits of every step.
    """
    import numpy as np

    from hwenvs.envs.bit_budget import UNQUANTIZED
    from hwenvs.hardware.encoding import to_policy

    per = env.steps_per_layer
    w = np.asarray(chosen[0::per], dtype=np.int64)
    a = np.asarray(chosen[1::per], dtype=np.int64) if per == 2 else np.full(w.size, UNQUANTIZED, dtype=np.int64)
    return to_policy(*env.budget_model.apply_rules(w, a))


def test_outcomes(env: Any, policy: list[list[int | None]]) -> dict[str, Any]:
    """``policy``'s per-image test outcomes, packed (:func:`hwenvs.benchmark.outcomes.pack`), as the environment
    scores it: with its fine-tune (the same deterministic steps its accuracy was measured after) where it has one.

    :param env: the unwrapped HAQ environment.
    :param policy: ``[w_bits, a_bits]`` per layer.
    """
    from hwenvs.benchmark import outcomes
    from hwenvs.quant.finetune import finetune

    if not env.finetune_steps:
        return outcomes.pack(env.correct_on(policy, "test"))
    env.evaluate_solution(policy, "val")  # its checks, as correct_on makes them
    model = finetune(
        env.quantized.trainable_copy(policy), env.task, steps=env.finetune_steps, lr=env.finetune_lr, device=env.device
    )
    trained = copy.deepcopy(env.quantized)  # load_trained changes the float weights: never on the env's own model
    trained.load_trained(model)
    return outcomes.pack(trained.correct(env.task, split="test").numpy())


def references(result: Any, setup: Setup) -> list[dict[str, Any]]:
    """The search's reference points as plain dicts (no solutions: they are long), with the per-image test outcomes
    of fixed 8-bit and of the best uniform policy (the baselines claims compare with).

    :param result: the search's result.
    :param setup: the group's environment.
    """
    keys = ("name", "val_accuracy", "test_accuracy", "cost", "cost_ratio", "val_reward", "test_reward", "to_beat")
    out = []
    for r in result.references:
        point = {k: getattr(r, k) for k in keys}
        if r.solution is not None and setup.env is not None and hasattr(setup.env.unwrapped, "budget_model"):
            point["outcomes"] = setup.outcomes(r.solution)
        out.append(point)
    return out


def found_figures(result: Any, setup: Setup) -> dict[str, Any]:
    """What the search found (the best episode by validation reward), on validation and test.

    :param result: the search's result.
    :param setup: the group's environment.
    """
    found = result.summary_rows()[-1]
    return {
        "episodes": result.episodes,
        "search_time_s": result.wall_time_s,
        "best_episode": result.best.episode,
        "val_accuracy": found.val_accuracy,
        "test_accuracy": found.test_accuracy,
        "val_reward": found.val_reward,
        "test_reward": found.test_reward,
        "cost": found.cost,
        "cost_ratio": found.cost_ratio,
        "references": references(result, setup),
    }


def layer_kind(layer: Any) -> str:
    """``depthwise``, ``pointwise`` (1x1, ungrouped convolution) or ``other`` (the stem, full convolutions, linear)."""
    if layer.depthwise:
        return "depthwise"
    if layer.kind == "conv" and layer.kernel_size == 1 and layer.groups == 1:
        return "pointwise"
    return "other"


def costs_on_hardware(layers: list[Any], policy: list[list[int | None]], names: list[str]) -> dict[str, Any]:
    """Latency of ``policy`` on each named HAQ hardware (its default batch), absolute and over its fixed 8-bit."""
    import numpy as np

    from hwenvs.envs.bit_budget import UNQUANTIZED, BitBudget
    from hwenvs.hardware import make_hardware
    from hwenvs.registration import HAQ_HARDWARE as HARDWARE_NAMES

    w = np.array([p[0] for p in policy], dtype=np.int64)
    a = np.array([UNQUANTIZED if p[1] is None else p[1] for p in policy], dtype=np.int64)
    costs = {}
    for name in names:
        table = make_hardware(HARDWARE_NAMES[name]).cost_table(layers)
        budget = BitBudget(table.metric("latency"), preserve_ratio=1.0)  # the environments' default layer rules
        cost = budget.cost(w, a)
        costs[name] = {
            "ms": 1e3 * cost,
            "ratio": cost / budget.reference_cost,
            "fixed8_ms": 1e3 * budget.reference_cost,
            "batch": table.batch,
        }
    return costs


@dataclasses.dataclass
class Setup:
    """A group's environment (None where its budget is below the reachable floor) and what its summaries add."""

    env: Any
    fields: dict[str, Any]
    uniform: Any = None
    """Claim 4: the uniform k-means policy whose size is the budget (Deep Compression's)."""
    measured: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    """Per-image test outcomes already measured in this group, by policy (the baselines are every seed's)."""

    def outcomes(self, policy: list[list[int | None]]) -> dict[str, Any]:
        """:func:`test_outcomes` of ``policy`` on the group's environment, measured once per group."""
        key = json.dumps(policy)
        if key not in self.measured:
            self.measured[key] = test_outcomes(self.env.unwrapped, policy)
        return self.measured[key]


def haq_env(job: dict[str, Any]) -> Setup:
    """Claims 1 and 2: HAQ-MobileNetV2-<hardware> with the job's latency or energy budget."""
    import gymnasium as gym

    env_id = f"HAQ-{HAQ_MODEL}-{job['target']}"
    fields = {"env_id": env_id, "env_kwargs": job["env_kwargs"]}
    try:
        return Setup(chosen_bits_wrapper(gym.make(env_id, dataset=job["dataset"], **job["env_kwargs"])), fields)
    except ValueError as exc:
        if "below the reachable floor" not in str(exc):
            raise
        return Setup(None, {**fields, "skipped": str(exc)})  # deterministic: cached as every seed's summary


def size_env(job: dict[str, Any]) -> Setup:
    """Claim 4: k-means HAQ under the size of uniform ``bits`` (the hardware plays no part in a size budget)."""
    import gymnasium as gym

    env_id = f"HAQ-{HAQ_MODEL}-BISMO"
    probe = gym.make(env_id, dataset=job["dataset"], **job["env_kwargs"], preserve_ratio=1.0).unwrapped
    uniform = probe.uniform_policy(job["bits"])
    # the size of uniform `bits` (first and last layers at 8 bits, as the layer rules say); the margin, far below
    # one bit, keeps the rollback from lowering that very policy by float rounding
    ratio = probe.policy_cost(uniform) / probe.reference_cost * (1 + 1e-12)
    probe.close()
    kwargs = {**job["env_kwargs"], "preserve_ratio": ratio}
    env = chosen_bits_wrapper(gym.make(env_id, dataset=job["dataset"], **kwargs))
    return Setup(env, {"env_id": env_id, "env_kwargs": kwargs}, uniform)


def nas_env(job: dict[str, Any]) -> Setup:
    """Claim 5: ProxylessNAS-<target> on the job's dataset."""
    import gymnasium as gym

    env_id = f"ProxylessNAS-{job['target']}"
    return Setup(
        gym.make(env_id, dataset=job["dataset"]), {"env_id": env_id, "env_kwargs": {"dataset": job["dataset"]}}
    )


def summarise(job: dict[str, Any], setup: Setup) -> dict[str, Any]:
    """``job``'s search on the group's environment, and what its claim reads of the result."""
    if setup.env is None:
        return dict(setup.fields)
    result = search(setup.env, job)
    u = setup.env.unwrapped
    summary = {**setup.fields, **found_figures(result, setup)}
    if job["claim"] == "5":
        from hwenvs.benchmark import outcomes
        from hwenvs.nas.architecture import Architecture

        arch = result.best_info["architecture"]
        tables, targets = nas_targets_ms(job["all_targets"])
        summary["architecture"] = arch
        summary["outcomes"] = outcomes.measure(u, arch, "test")
        summary["own_target_ms"] = u.target_ms
        summary["latency_ms"] = {t: tables[t].latency_ms(Architecture.from_string(arch)) for t in tables}
        summary["targets_ms"] = targets
        return summary
    info = result.best_info
    summary["policy"] = info["policy"]
    summary["chosen_policy"] = info["chosen_policy"]
    summary["rollback_changed_layers"] = info["rollback_changed_layers"]
    summary["ends_on_start"] = info["policy"] == u.best_uniform_policy()
    summary["outcomes"] = setup.outcomes(info["policy"])
    if job["claim"] == "1":
        summary["layers"] = [{"name": layer.name, "kind": layer_kind(layer)} for layer in u.layers]
        summary["costs_on"] = costs_on_hardware(u.layers, summary["policy"], list(HAQ_HARDWARE))
    if job["claim"] in ("1", "2"):
        summary["unit"] = info["unit"]
    if job["claim"] == "4":
        val, test = u.evaluate_solution(setup.uniform, "val"), u.evaluate_solution(setup.uniform, "test")
        summary["size_mb"] = info["cost"] / 8e6
        summary["start_is_uniform"] = u.best_uniform_policy() == setup.uniform  # the warm start: Deep Compression's?
        summary["uniform"] = {
            "bits": job["bits"],
            "val_accuracy": val["accuracy"],
            "test_accuracy": test["accuracy"],
            "cost_ratio": val["cost_ratio"],
            "size_mb": val["cost"] / 8e6,
            "outcomes": setup.outcomes(setup.uniform),
        }
    return summary


def nas_targets_ms(names: list[str]) -> tuple[dict[str, Any], dict[str, float]]:
    """Each named ProxylessNAS target's latency table and default latency target (as the environment sets it)."""
    from hwenvs.envs.proxylessnas_env import MOBILE_TARGET_MS, REFERENCE_FOR_TARGET
    from hwenvs.nas.architecture import uniform
    from hwenvs.nas.latency_targets import load_latency_table
    from hwenvs.registration import PROXYLESSNAS_HARDWARE

    tables = {t: load_latency_table(PROXYLESSNAS_HARDWARE[t]) for t in names}
    targets = {
        t: MOBILE_TARGET_MS
        if PROXYLESSNAS_HARDWARE[t] == "mobile"
        else tables[t].latency_ms(uniform(REFERENCE_FOR_TARGET))
        for t in names
    }
    return tables, targets


# ================================================================== claim 5's finalists, trained from scratch


def retrain_settings(dataset: str, seeds: list[int]) -> dict[str, Any]:
    """Claim 5's from-scratch recipe: the NAS reference set's (``benchmarks/nas_reference_set.py``), on ``dataset``.

    :param dataset: the task the searches ran on.
    :param seeds: the training seeds of every finalist.
    """
    return {
        "regime": dataclasses.replace(REFERENCE_REGIME, dataset=dataset).record(),
        "seeds": list(seeds),
        "noise_sds": NOISE_SDS,
        "reference": REFERENCE_ROWS.relative_to(ROOT.parent).as_posix(),
    }


def regime_from_record(record: dict[str, Any]) -> Regime:
    """The :class:`~hwenvs.lab.nas_reference_set.Regime` a settings record names.

    :param record: ``Regime.record()`` as the settings store it.
    :raises ValueError: this code's recipe for those fields differs (its training schedule changed since): training
        with it would not be the recipe the settings, and the cached trainings, are of.
    """
    regime = Regime(**{f.name: record[f.name] for f in dataclasses.fields(Regime)})
    if regime.record() != record:
        raise ValueError(f"the recipe {record} is no longer this code's ({regime.record()}): use a new --out")
    return regime


def retrain_key(regime: dict[str, Any], architecture: str, seed: int) -> str:
    """The folder name of one from-scratch training: by recipe, architecture and seed only, so that a finalist
    found by several searches (any target, any search seed) is trained once.

    :param regime: the recipe's record.
    :param architecture: the finalist.
    :param seed: the training seed.
    """
    recipe = hashlib.sha256(json.dumps(regime, sort_keys=True).encode()).hexdigest()[:10]
    return slug(f"{KEY_VERSION}-c5-retrain-{regime['dataset']}-{recipe}-{architecture}-s{seed}")


def finalists(searches: list[dict[str, Any]]) -> list[str]:
    """The architectures claim 5's finished searches returned, each once, in job order.

    :param searches: claim 5's search jobs (with ``run_dir``).
    """
    found: list[str] = []
    for job in searches:
        path = Path(job["run_dir"]) / "summary.json"
        if path.is_file():
            arch = json.loads(path.read_text())["architecture"]
            found += [arch] if arch not in found else []
    return found


def retrain_jobs(settings: dict[str, Any], architectures: list[str], runs_dir: Path) -> list[dict[str, Any]]:
    """One from-scratch training per finalist and training seed.

    :param settings: claim 5's settings (``retrain``).
    :param architectures: the finalists (:func:`finalists`).
    :param runs_dir: where job folders go.
    """
    regime = settings["retrain"]["regime"]
    jobs = []
    for arch in architectures:
        for seed in settings["retrain"]["seeds"]:
            key = retrain_key(regime, arch, seed)
            jobs.append({"key": key, "architecture": arch, "seed": seed, "regime": regime,
                         "run_dir": str(runs_dir / key)})  # fmt: skip
    return jobs


def reference_rows(path: Path, regime: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    """The reference set's rows trained with ``regime``, by (architecture, seed).

    :param path: the reference set's JSON Lines file (none: no rows).
    :param regime: the recipe's record (rows of another recipe are another experiment).
    """
    return {row_key(row): row for row in read_rows(path).rows if row.get("regime") == regime}


def reuse_reference(
    jobs: list[dict[str, Any]], reference: dict[tuple[str, int], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Write the summary of every unfinished training the reference set already holds (same architecture, recipe
    and seed: training it again would repeat that row); return the trainings still to run.

    :param jobs: claim 5's training jobs.
    :param reference: :func:`reference_rows` of their recipe.
    """
    todo = []
    for job in jobs:
        if (Path(job["run_dir"]) / "summary.json").is_file():
            continue
        row = reference.get((job["architecture"], job["seed"]))
        if row is None:
            todo.append(job)
            continue
        fields = {k: row[k] for k in ("test_accuracy", "val_accuracy", "train_seconds", "params")}
        summary = {**retrain_identity(job), "source": "reference set", **fields, "reference_job": row["job"],
                   "reference_finished": row["finished"]}  # fmt: skip
        write_json(Path(job["run_dir"]), summary)
    return todo


def retrain_identity(job: dict[str, Any]) -> dict[str, Any]:
    """What a training's summary says it is."""
    return {"key": job["key"], "claim": "5", "architecture": job["architecture"], "seed": job["seed"]}


def run_retrain(job: dict[str, Any]) -> dict[str, Any]:
    """One finalist trained from scratch in this worker process, with one torch thread, by the reference set's
    own training function (:func:`hwenvs.lab.nas_reference_set.train_job`); writes its summary and returns it, or
    ``{"key", "error"}`` (nothing cached: a rerun tries again).

    :param job: a job of :func:`retrain_jobs`.
    """
    import torch

    torch.set_num_threads(1)  # one process per core, as the searches
    results_io.use_shared_reference_data()  # the task's files, wherever the searches read them
    start = time.perf_counter()
    try:
        from hwenvs.lab.nas_reference_set import Job, train_job
        from hwenvs.nas.architecture import Architecture

        regime = regime_from_record(job["regime"])
        arch = Architecture.from_string(job["architecture"])
        measured = train_job(Job(0, arch, job["seed"], "reproduction claim 5"), regime.load_task(), regime)
    except Exception as exc:  # one failed training must not stop the others
        return {"key": job["key"], "error": f"{type(exc).__name__}: {exc}"}
    summary = {**retrain_identity(job), "source": "retrained", **measured, "job_time_s": time.perf_counter() - start}
    return write_json(Path(job["run_dir"]), summary)


def retrain_noise(reference: dict[tuple[str, int], dict[str, Any]], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """The seed-to-seed sd of one from-scratch training's test accuracy under the recipe, by the NAS Pareto page's
    rule (:func:`nas_pareto.seed_noise`) over every architecture trained with two seeds: the reference set's rows of
    the recipe, and the finalists trained here with several ``--retrain-seeds``.

    :param reference: :func:`reference_rows` of the recipe.
    :param jobs: claim 5's training jobs (finished ones count).
    """
    by_arch: dict[str, dict[int, float]] = {}
    for (arch, seed), row in reference.items():
        by_arch.setdefault(arch, {})[seed] = float(row["test_accuracy"])
    for job in jobs:
        path = Path(job["run_dir"]) / "summary.json"
        if path.is_file():  # a reused reference row gives the same value under the same key
            by_arch.setdefault(job["architecture"], {})[job["seed"]] = json.loads(path.read_text())["test_accuracy"]
    records = [{"test_by_seed": [seeds[k] for k in sorted(seeds)]} for seeds in by_arch.values()]
    return {**seed_noise(records, "test_by_seed"), "reference_rows": len(reference)}


# ============================================================================================ collecting the JSON


def intern_outcomes(node: Any, store: dict[str, Any]) -> Any:
    """``node`` with every packed outcome record replaced by an id into ``store`` (a content hash), so that the
    baselines every seed of a setting records, and policies several searches found, are stored once.

    :param node: a JSON value.
    :param store: the records by id (filled in).
    """
    if isinstance(node, dict):
        if node.get("format") == "packbits-base64" and "bits" in node:
            ref = hashlib.sha256(json.dumps(node, sort_keys=True).encode()).hexdigest()[:16]
            store[ref] = node
            return ref
        return {k: intern_outcomes(v, store) for k, v in node.items()}
    if isinstance(node, list):
        return [intern_outcomes(v, store) for v in node]
    return node


def collect(claims: dict[str, Any], dataset: str, seeds: list[int], machine: str) -> dict[str, Any]:
    """The JSON of every job's summary (None where not finished), its settings and the outcome records.

    :param claims: per claim, its settings and jobs (claim 5 also its trainings, ``retrains``, and their
        ``noise``).
    :param dataset: the task.
    :param seeds: the seeds.
    :param machine: where it ran, in words.
    """
    from hwenvs.benchmark.stats import SIGNIFICANCE

    data: dict[str, Any] = {
        "format": FORMAT,
        "dataset": dataset,
        "seeds": seeds,
        "date": datetime.date.today().isoformat(),
        "machine": machine,
        "significance": SIGNIFICANCE,
        "claims": {},
        "outcomes": {},
    }
    fields = ("key", "target", "setting", "seed", "ratio", "constraint", "bits", "finetune", "min_bits")
    for claim, c in claims.items():
        data["claims"][claim] = {"settings": c["settings"], "runs": read_summaries(c["jobs"], fields)}
        if "retrains" in c:
            data["claims"][claim]["retrains"] = read_summaries(c["retrains"], ("key", "architecture", "seed"))
            data["claims"][claim]["noise"] = c["noise"]
    data["claims"] = intern_outcomes(data["claims"], data["outcomes"])
    return data


def read_summaries(jobs: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Each job's ``fields`` and its summary (None until it has finished).

    :param jobs: the jobs (with ``run_dir``).
    :param fields: what the JSON keeps of each job.
    """
    runs = []
    for job in jobs:
        path = Path(job["run_dir"]) / "summary.json"
        summary = json.loads(path.read_text()) if path.is_file() else None
        runs.append({**{k: job[k] for k in fields if k in job}, "summary": summary})
    return runs


# ======================================================================================================== main


def parse_episodes(values: list[str] | None, claims: list[str]) -> dict[str, int]:
    """``--episodes``: one number for every claim, or ``CLAIM=N`` items."""
    episodes = dict(DEFAULT_EPISODES)
    for value in values or []:
        claim, sep, number = value.rpartition("=")
        running = sorted({"1" if c == "3" else c for c in claims})  # claim 3 runs claim 1's searches
        targets = [claim] if sep else running
        if any(t not in JOB_CLAIMS for t in targets) or not number.isdigit() or int(number) < 1:
            raise argparse.ArgumentTypeError(f"--episodes {value}: expected N or CLAIM=N with CLAIM in {JOB_CLAIMS}")
        for t in targets:
            episodes[t] = int(number)
    return episodes


def claim_settings(claim: str, args: argparse.Namespace, episodes: dict[str, int]) -> dict[str, Any]:
    """A claim's settings from the command line."""
    haq = {"agent": args.agent, "episodes": episodes[claim]}
    if claim == "1":
        return {**haq, "model": HAQ_MODEL, "budgets": [round(b, 4) for b in args.budgets],
                "hardware": list(HAQ_HARDWARE), "grid_points": CLAIM1_GRID_POINTS}  # fmt: skip
    if claim == "2":
        return {**haq, "finetune_steps": args.finetune_steps, "grid": [round(g, 4) for g in args.grid],
                "tolerance": ISO_TOLERANCE, "targets": [list(t) for t in ISO_TARGETS]}  # fmt: skip
    if claim == "4":
        return {**haq, "bits": list(args.size_bits), "finetune_steps": [0, args.finetune_steps], "quantizer": "kmeans",
                "min_bits": list(SIZE_MIN_BITS)}  # fmt: skip
    return {
        "agent": args.nas_agent,
        "episodes": episodes[claim],
        "targets": list(args.nas_targets),
        "latency_exponent": LATENCY_EXPONENT,
        "supernet": supernet_id(args.dataset),
        "grid_points": CLAIM5_GRID_POINTS,
        "retrain": retrain_settings(args.dataset, args.retrain_seeds),
    }


def supernet_id(dataset: str) -> str:
    """The first 12 hex digits of the sha256 of the supernet shipped for ``dataset`` (``warmed-up`` where none
    ships: one is warmed up on first use).

    :param dataset: the task's name.
    """
    from hwenvs.nas.train_supernet import DEFAULT_WIDTH, shipped_manifest

    entry = shipped_manifest().get(f"{dataset}/w{DEFAULT_WIDTH:g}")  # the manifest's "task/w<width>" key
    return entry["sha256"][:12] if entry else "warmed-up"


def previous_data(path: Path, dataset: str, seeds: list[int]) -> dict[str, Any]:
    """The claims of the JSON already in ``--out`` if it is this format, for the same dataset and seeds, else
    nothing (only their settings are read: the runs come from the job folders)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if data.get("format") != FORMAT or data.get("dataset") != dataset or data.get("seeds") != seeds:
        return {}
    return data.get("claims", {})


def prepare_nas(dataset: str, targets: list[str]) -> None:
    """Before the workers start: measure (or load) the latency tables and warm up (or load) the supernet once, so
    that parallel workers never build the same cached file at the same time."""
    from hwenvs.data import load_task
    from hwenvs.nas.train_supernet import load_supernet

    print(f"loading the latency tables of {', '.join(targets)} and the {dataset} supernet", flush=True)
    nas_targets_ms(targets)
    load_supernet(load_task(dataset))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claims", nargs="+", default=list(CLAIMS), choices=CLAIMS)
    p.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS))
    p.add_argument("--episodes", nargs="+", help=f"N, or CLAIM=N (defaults {DEFAULT_EPISODES})")
    p.add_argument("--workers", type=int, default=1, help="searches at a time (processes, one torch thread each)")
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(EMBEDDED_TASKS), help="the named task")
    p.add_argument("--agent", default="ddpg-warm", help="HAQ searches' agent (claims 1, 2, 4)")
    p.add_argument("--nas-agent", default="reinforce", help="ProxylessNAS searches' agent (claim 5)")
    p.add_argument("--nas-targets", nargs="+", default=list(DEFAULT_NAS_TARGETS),
                   help="ProxylessNAS targets of claim 5 (GPU needs CUDA)")  # fmt: skip
    p.add_argument("--retrain-seeds", nargs="+", type=int, default=list(DEFAULT_RETRAIN_SEEDS),
                   help="claim 5: training seeds of each finalist trained from scratch")  # fmt: skip
    p.add_argument("--budgets", nargs="+", type=float, default=list(DEFAULT_BUDGETS),
                   help="claim 1's latency budget ratios (the fronts' points)")  # fmt: skip
    p.add_argument("--grid", nargs="+", type=float, default=list(DEFAULT_GRID), help="claim 2's budget ratios")
    p.add_argument("--size-bits", nargs="+", type=int, default=list(DEFAULT_SIZE_BITS),
                   help="claim 4's budgets: the sizes of uniform b-bit weights")  # fmt: skip
    p.add_argument("--finetune-steps", type=int, default=DEFAULT_FINETUNE_STEPS,
                   help="fine-tune steps before each reward (claim 2; claim 4's fine-tuned rows)")  # fmt: skip
    p.add_argument("--out", type=Path, default=RESULTS, help=f"where {NAME}.json / .md / _bits.png go")
    p.add_argument("--runs", type=Path, default=None, help=f"job folders (default OUT/{NAME}_runs)")
    p.add_argument("--report-only", action="store_true", help="run nothing: the page from the finished searches")
    return p


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    if args.out.resolve() == RESULTS.resolve() and len(args.seeds) < MIN_COMMITTED_SEEDS:
        cli.error(f"the committed page needs at least {MIN_COMMITTED_SEEDS} seeds; give --out for a smaller run")
    if args.finetune_steps < 1:
        cli.error("--finetune-steps must be at least 1 (claim 4 runs 0 and this)")
    if any(not 0 < r <= 1 for r in [*args.budgets, *args.grid]):
        cli.error("--budgets and --grid take ratios in (0, 1]")
    try:
        episodes = parse_episodes(args.episodes, args.claims)
    except argparse.ArgumentTypeError as exc:
        cli.error(str(exc))
    if "GPU" in args.nas_targets:
        import torch

        if not torch.cuda.is_available():
            cli.error("--nas-targets GPU needs CUDA, which this machine lacks")
    runs_dir = args.runs or args.out / f"{NAME}_runs"
    selected = set(args.claims) | ({"1"} if "3" in args.claims else set())
    previous = previous_data(args.out / f"{NAME}.json", args.dataset, args.seeds)

    claims: dict[str, Any] = {}
    todo: list[dict[str, Any]] = []
    for claim in JOB_CLAIMS:
        # a v2 JSON written before claim 5 trained its finalists has no recipe to resume them with
        keep = (
            claim not in selected and claim in previous and (claim != "5" or "retrain" in previous[claim]["settings"])
        )
        settings = previous[claim]["settings"] if keep else claim_settings(claim, args, episodes)
        jobs = claim_jobs(claim, settings, args.dataset, args.seeds)
        for job in jobs:
            job["run_dir"] = str(runs_dir / job["key"])
            if claim == "5":
                job["all_targets"] = settings["targets"]
            if claim in selected and not args.report_only and not (Path(job["run_dir"]) / "summary.json").is_file():
                todo.append(job)
        claims[claim] = {"settings": settings, "jobs": jobs}

    groups = job_groups(todo)
    print(f"{len(todo)} searches to run in {len(groups)} groups, {args.workers} at a time (runs in {runs_dir})",
          flush=True)  # fmt: skip
    import torch

    torch.set_num_threads(1)
    results_io.use_shared_reference_data()
    if any(j["claim"] == "5" for j in todo):
        prepare_nas(args.dataset, claims["5"]["settings"]["targets"])
    failed = run_pool(args.workers, run_group, groups, search_line)
    failed += finalists_from_scratch(claims["5"], runs_dir, args.workers, "5" in selected and not args.report_only)

    machine = f"{platform.machine()}, {multiprocessing.cpu_count()} cores"
    machine += "" if args.report_only else f", {args.workers} workers"
    data = collect(claims, args.dataset, args.seeds, machine)
    text = render(data)
    results_io.write(args.out / f"{NAME}.json", data, args.out / f"{NAME}.md", text)
    if plot_bits(data, args.out / PLOT_NAME):
        print(f"wrote {args.out / PLOT_NAME}")
    print(text)
    if failed:
        raise SystemExit(f"{len(failed)} job(s) failed: {', '.join(f['key'] for f in failed)}")


def finalists_from_scratch(c5: dict[str, Any], runs_dir: Path, workers: int, train: bool) -> list[dict[str, Any]]:
    """Claim 5's trainings of the finalists its finished searches returned: those the reference set holds are
    taken from it, the others trained (``train``), then their jobs and noise are added to ``c5`` for the JSON;
    returns the trainings that failed.

    :param c5: claim 5's settings and search jobs (``retrains`` and ``noise`` are added).
    :param runs_dir: where job folders go.
    :param workers: trainings at a time.
    :param train: whether to train (claim 5 selected, not ``--report-only``), or only read what has finished.
    """
    settings = c5["settings"]
    c5["retrains"] = retrain_jobs(settings, finalists(c5["jobs"]), runs_dir)
    reference = reference_rows(REFERENCE_ROWS, settings["retrain"]["regime"])
    failed = []
    if train:
        todo = reuse_reference(c5["retrains"], reference)
        print(f"{len(c5['retrains'])} from-scratch trainings of claim 5's finalists, {len(todo)} to run "
              f"({len(reference)} rows of the recipe in {settings['retrain']['reference']})", flush=True)  # fmt: skip
        failed = run_pool(workers, run_retrain, todo, retrain_line)
    c5["noise"] = retrain_noise(reference, c5["retrains"])
    return failed


def run_pool(workers: int, function: Any, items: list[Any], describe: Any) -> list[dict[str, Any]]:
    """``function`` over ``items`` in a process pool (spawn: a fresh interpreter per worker), printing each result
    as it lands; returns the failed ones.

    :param workers: processes.
    :param function: a picklable function of one item, returning a summary or a list of them.
    :param items: the work.
    :param describe: a finished summary in words.
    """
    failed: list[dict[str, Any]] = []
    if not items:
        return failed
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for result in pool.imap_unordered(function, items):
            for out in result if isinstance(result, list) else [result]:
                if "error" in out:
                    failed.append(out)
                    print(f"{out['key']}: FAILED: {out['error']}", flush=True)
                else:
                    print(f"{out['key']}: {describe(out)}", flush=True)
    return failed


def search_line(out: dict[str, Any]) -> str:
    """A finished search in words."""
    if "skipped" in out:
        return f"skipped: {out['skipped']}"
    return f"test accuracy {out['test_accuracy']:.4f}, cost ratio {out['cost_ratio']:.3f}, {out['job_time_s']:.0f} s"


def retrain_line(out: dict[str, Any]) -> str:
    """A finished training in words."""
    return f"from scratch: test accuracy {out['test_accuracy']:.4f}, {out['train_seconds']:.0f} s training"


if __name__ == "__main__":
    main()
