"""Validate the hardware cost models against published figures and print the comparisons.

Run: ``python benchmarks/hardware_validation.py`` (uses ``$HWENVS_REFERENCE_DATA`` or ../shared/reference-data for
HAQ's table when present, else fetches it). Sections:

1. Speed: building the 53 x 8 x 8 MobileNetV2 table (and others) on every target, from a fresh model (no cache).
2. BISMO cloud vs HAQ's published BISMO-cloud table: totals at uniform bits, Spearman rank correlation of the
   per-layer costs, per-layer ratios ours / theirs and the worst layers.
3. BitFusion: the throughput-factor rule; AlexNet and ResNet-18 at batch 16 beside the paper's figures.
4. HAQ's qualitative finding: which bits each layer's latency follows on the edge and the cloud BISMO.
5. Recalled MobileNetV1 latencies (unverified) beside ours.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import torchvision
from scipy.stats import spearmanr

from hwenvs.hardware import CostTable, LayerShape, haq_bismo_cloud_table, make_hardware, perf_factor
from hwenvs.models.shapes import layer_shapes
from hwenvs.models.zoo import build_architecture

LOCAL_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
PAPER_BITFUSION = {"alexnet": (4.71, 448.0), "resnet18": (6.13, 442.0)}
"""BitFusion paper, batch 16: ms per image and mW (hardware.md)."""
RECALLED_MOBILENET_V1 = {"bismo-edge": (45, 58, 71, 96), "bismo-cloud": (52, 67, 82, 116)}
"""HAQ's MobileNetV1 latencies (ms) at fixed 4/5/6/8 bits, recalled and unverified (hardware.md)."""


def models() -> dict[str, list[LayerShape]]:
    return {
        "mobilenet_v2": layer_shapes(torchvision.models.mobilenet_v2(), 224),
        "mobilenet_v1": layer_shapes(build_architecture("mobilenet_v1", 1000), 224),
        "resnet18": layer_shapes(torchvision.models.resnet18(), 224),
        "alexnet": layer_shapes(torchvision.models.alexnet(), 224),
    }


def uniform(table: CostTable, w: int, a: int, metric: str = "latency", image_bits: int = 8) -> float:
    """Total cost at W/A everywhere, the first layer's input at ``image_bits``."""
    values = table.metric(metric)
    return float(values[0, w - 1, image_bits - 1] + values[1:, w - 1, a - 1].sum())


def section_speed(nets: dict[str, list[LayerShape]]) -> None:
    print("\n== 1. Cost-table build time (fresh model each run, median of 5) ==")
    for target in ("bismo-edge", "bismo-cloud", "bitfusion", "haq-table"):
        for name, layers in nets.items():
            if target == "haq-table" and name != "mobilenet_v2":
                continue
            times = []
            for _ in range(5):
                hardware = make_hardware(target)
                start = time.perf_counter()
                hardware.cost_table(layers)
                times.append(time.perf_counter() - start)
            print(f"  {target:<12} {name:<13} {len(layers):>3} x 8 x 8: {statistics.median(times) * 1e3:8.1f} ms")


def section_haq_table(layers: list[LayerShape]) -> None:
    print("\n== 2. BISMO cloud (ours) vs HAQ's published BISMO-cloud table, MobileNetV2 224x224 batch 16 ==")
    ours = make_hardware("bismo-cloud").cost_table(layers)
    theirs = haq_bismo_cloud_table().astype(np.float64)
    ok = True
    print("  bits  ours total    HAQ total   ratio   Spearman(per layer)")
    for bits in range(1, 9):
        b = bits - 1
        ratio = ours.cycles[:, b, b].sum() / theirs[:, b, b].sum()
        rho = spearmanr(ours.cycles[:, b, b], theirs[:, b, b]).statistic
        in_scope = bits >= 2
        ok &= not in_scope or (abs(ratio - 1) <= 0.10 and rho >= 0.9)
        note = "" if in_scope else "  (outside the 2..8 target)"
        print(
            f"  W{bits}A{bits} {ours.cycles[:, b, b].sum():12,.0f} {theirs[:, b, b].sum():12,.0f} {ratio:7.3f} "
            f"{rho:8.3f}{note}"
        )
    rho_all = spearmanr(ours.cycles.ravel(), theirs.ravel()).statistic
    ratio = ours.cycles / theirs
    print(f"  Spearman over all 53 x 64 entries: {rho_all:.4f}")
    print(
        f"  per-entry ratio ours / theirs: median {np.median(ratio):.3f}, 5-95% {np.percentile(ratio, 5):.2f}.."
        f"{np.percentile(ratio, 95):.2f}, min {ratio.min():.2f}, max {ratio.max():.2f}, "
        f"mean |log| {np.abs(np.log(ratio)).mean():.3f}"
    )
    print(f"  TARGETS (totals within 10%, Spearman >= 0.9 at uniform 2..8 bits): {'MET' if ok else 'MISSED'}")

    print("\n  per-layer ratio ours / theirs at uniform bits (and our bound at that point):")
    print(f"  {'#':>3} {'layer':<22} {'type':<9} {'W8A8':>11} {'W6A6':>11} {'W4A4':>11} {'W2A2':>11}")
    for i, layer in enumerate(layers):
        kind = "dw" if layer.depthwise else layer.kind + (f"{layer.kernel_size}x{layer.kernel_size}")
        cells = []
        for bits in (8, 6, 4, 2):
            b = bits - 1
            bound = "M" if ours.bound[i, b, b] else "C"
            cells.append(f"{ratio[i, b, b]:7.2f} ({bound})")
        print(f"  {i:>3} {layer.name[:22]:<22} {kind:<9} {' '.join(cells)}")

    worst = np.argsort(np.abs(np.log(ratio)).max(axis=(1, 2)))[::-1][:6]
    print("\n  worst layers (largest |log ratio| over all 64 bit pairs):")
    for i in worst:
        w, a = np.unravel_index(np.abs(np.log(ratio[i])).argmax(), (8, 8))
        print(
            f"    {i:>2} {layers[i].name:<22} W{w + 1}A{a + 1}: ours {ours.cycles[i, w, a]:9,.0f} "
            f"theirs {theirs[i, w, a]:9,.0f} ratio {ratio[i, w, a]:.2f}"
        )
    print(
        "  Why: (a) the 14x14 and 7x7 projection (1x1) layers at low activation bits, ratio ~0.74: there execution\n"
        "  and the per-image weight streaming are of similar length and HAQ's simulator charges close to their sum\n"
        "  (as if a weight reload were not hidden behind execution), while our stages overlap (a p=4 norm, near the\n"
        "  max). (b) The stem and the 56x56 projections at W8A8, ratio 1.18: execution and activation streaming are\n"
        "  exactly equal there, HAQ charges the plain max, the p-norm adds 2^(1/4). One global overlap law cannot\n"
        "  give both; variants tried (perfect overlap for activations, p-norm or sum for weights only) fit no better\n"
        "  overall (mean |log ratio| 0.047..0.15 vs 0.051), so the single documented p = 4 stays. Depthwise layers\n"
        "  and the classifier agree within 3% at uniform bits."
    )


def section_bitfusion(nets: dict[str, list[LayerShape]]) -> None:
    print("\n== 3. BitFusion ==")
    print("  throughput factor pf(w, a) (rows w = 1..8, columns a = 1..8):")
    for w in range(1, 9):
        print("   ", " ".join(f"{int(perf_factor(w, a)):>3}" for a in range(1, 9)))
    hardware = make_hardware("bitfusion")
    print(
        "\n  batch 16, 500 MHz. 'paper bits' = the paper's benchmark precisions approximated on torchvision's model\n"
        "  (its simulator's AlexNet: 4-bit weights and activations, 8-bit image, 8-bit last layer; its ResNet-18: a\n"
        "  4-bit variant with 8-bit stem weights), the setting its reported figures come from."
    )
    print(f"  {'model':<9} {'setting':<11} {'ms/image':>9} {'mW':>7} {'mJ/image':>9} {'ideal ms':>9}   paper")
    for name in ("alexnet", "resnet18"):
        layers = nets[name]
        table = hardware.cost_table(layers)
        n = len(layers)
        idx = np.arange(n)
        paper_ms, paper_mw = PAPER_BITFUSION[name]
        w_paper, a_paper = np.full(n, 4), np.full(n, 4)
        a_paper[0] = 8
        w_paper[-1] = a_paper[-1] = 8
        if name == "resnet18":
            w_paper[0] = 8
        settings = {"8-bit": (np.full(n, 8), np.full(n, 8)), "paper bits": (w_paper, a_paper)}
        for label, (w, a) in settings.items():
            latency = table.latency_s[idx, w - 1, a - 1].sum()
            energy = table.energy_j[idx, w - 1, a - 1].sum()
            pf = np.array([perf_factor(int(wi), int(ai)) for wi, ai in zip(w, a, strict=True)])
            ideal = sum(layer.macs / (512 * p) for layer, p in zip(layers, pf, strict=True)) / hardware.clock_hz
            ms, mw = latency / 16 * 1e3, energy / latency * 1e3
            print(
                f"  {name:<9} {label:<11} {ms:9.3f} {mw:7.0f} {energy / 16 * 1e3:9.3f} {ideal * 1e3:9.3f}   "
                f"{paper_ms} ms, {paper_mw:.0f} mW -> ours/paper: time {ms / paper_ms:.2f}x, "
                f"power {mw / paper_mw:.2f}x, energy {ms * mw / (paper_ms * paper_mw):.2f}x"
            )
    print(
        "  Reading: our latencies sit within 2-16% of the ideal bound MACs / (512 * pf) at 500 MHz. AlexNet has the\n"
        "  MAC count of the paper's two-tower model (~0.72 G), so the paper's 4.71 ms at 4 bits means ~17% array\n"
        "  utilisation: a model that keeps the array busy cannot reach it, and nothing here is tuned to it. The\n"
        "  paper's ResNet-18 is another network (its simulator's 1x1 + 3x3 variant), so that row compares different\n"
        "  MAC counts. Power comes out higher than the paper's because our latency is shorter; energy per image is\n"
        "  the fairer comparison (ratios above)."
    )
    layers = nets["mobilenet_v2"]
    table = hardware.cost_table(layers)
    for metric, unit, scale in (("latency", "ms/image", 1e3 / 16), ("energy", "mJ/image", 1e3 / 16)):
        hi, lo = uniform(table, 8, 8, metric), uniform(table, 2, 2, metric)
        print(
            f"  MobileNetV2 {metric}: W8A8 {hi * scale:.3f} {unit}, W2A2 {lo * scale:.3f} {unit}: {hi / lo:.2f}x "
            "(the simulator as-is: a few percent)"
        )
    dw = np.array([layer.depthwise for layer in layers])
    share = table.latency_s[dw, 7, 7].sum() / table.latency_s[:, 7, 7].sum()
    print(f"  MobileNetV2 depthwise share of W8A8 latency on BitFusion: {share:.0%}")


def sensitivities(table: CostTable) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of each layer's W8A8 latency saved by halving weight bits, and by halving activation bits."""
    lat = table.latency_s
    return 1 - lat[:, 3, 7] / lat[:, 7, 7], 1 - lat[:, 7, 3] / lat[:, 7, 7]


def classify(save_w: float, save_a: float) -> str:
    if save_a > 0.3 and save_w < 0.1:
        return "a"
    if save_a > 0.3 and save_w > 0.3:
        return "w x a"
    if save_w > 0.3 and save_a < 0.1:
        return "w"
    return "mixed"


def section_sensitivity(layers: list[LayerShape]) -> None:
    print("\n== 4. Which bits each MobileNetV2 layer's latency follows (halving w or a from W8A8) ==")
    targets = ("bismo-edge", "bismo-cloud", "bitfusion")
    tables = {t: make_hardware(t).cost_table(layers) for t in targets}
    saved = {t: sensitivities(tables[t]) for t in targets}
    header = "".join(f" | {t:<26}" for t in targets)
    print(f"  {'#':>3} {'layer':<21} {'kind':<4}{header}")
    print(f"  {'':>3} {'':<21} {'':<4}" + " | save_w save_a class bound" * len(targets))
    for i, layer in enumerate(layers):
        kind = "dw" if layer.depthwise else ("pw" if layer.kernel_size == 1 and layer.kind == "conv" else layer.kind)
        cells = []
        for t in targets:
            sw, sa = saved[t][0][i], saved[t][1][i]
            bound = "mem" if tables[t].bound[i, 7, 7] else "cmp"
            cells.append(f" | {sw:6.2f} {sa:6.2f} {classify(sw, sa):<5} {bound:<5}")
        print(f"  {i:>3} {layer.name[:21]:<21} {kind:<4}" + "".join(cells))
    dw = np.array([layer.depthwise for layer in layers])
    pw = np.array([layer.kind == "conv" and layer.kernel_size == 1 for layer in layers])
    print("\n  summary (mean fraction saved; class counts; share of the W8A8 latency; memory-bound layers):")
    for t in targets:
        sw, sa = saved[t]
        lat = tables[t].latency_s[:, 7, 7]
        for label, mask in (("depthwise", dw), ("pointwise", pw)):
            classes = [classify(w, a) for w, a in zip(sw[mask], sa[mask], strict=True)]
            counts = {c: classes.count(c) for c in ("a", "w x a", "w", "mixed") if classes.count(c)}
            print(
                f"    {t:<12} {label:<10} save_w {sw[mask].mean():.2f} save_a {sa[mask].mean():.2f} {counts} "
                f"share {lat[mask].sum() / lat.sum():.0%}, memory-bound {int(tables[t].bound[mask, 7, 7].sum())}"
                f"/{int(mask.sum())}"
            )
    edge_w, edge_a = saved["bismo-edge"]
    edge_dw = [classify(w, a) for w, a in zip(edge_w[dw], edge_a[dw], strict=True)]
    edge_pw = [classify(w, a) for w, a in zip(edge_w[pw], edge_a[pw], strict=True)]
    print(
        f"  HAQ's edge finding on our edge BISMO: depthwise latency follows activation bits only in "
        f"{edge_dw.count('a')}/{len(edge_dw)} depthwise layers\n  (the others: the 7x7 ones, where streaming the "
        "weights, padded to 256-bit rows, over the one 64-bit port adds a weight term);\n  pointwise latency follows "
        f"w x a in {edge_pw.count('w x a')}/{len(edge_pw)} pointwise layers (the rest stream padded activations over "
        "that port, so weights matter less)."
    )
    edge_share = tables["bismo-edge"].latency_s[dw, 7, 7].sum() / tables["bismo-edge"].latency_s[:, 7, 7].sum()
    cloud_share = tables["bismo-cloud"].latency_s[dw, 7, 7].sum() / tables["bismo-cloud"].latency_s[:, 7, 7].sum()
    cloud_late = [i for i, layer in enumerate(layers) if layer.out_hw[0] <= 7 and pw[i]]
    cloud_w = saved["bismo-cloud"][0][cloud_late].mean()
    cloud_a = saved["bismo-cloud"][1][cloud_late].mean()
    print(
        f"  The balance on the cloud: depthwise layers take {cloud_share:.0%} of the W8A8 latency there vs "
        f"{edge_share:.0%} on the edge\n  (a 16-row array gains 2x on depthwise but 4x on pointwise per image), and "
        f"the late 7x7 pointwise layers, whose weights are\n  streamed once per image of the batch, save {cloud_w:.2f} "
        f"from halving weights vs {cloud_a:.2f} from halving activations: on the cloud,\n  depthwise activation bits "
        "are a larger share of the cost and late pointwise weights weigh more than their activations."
    )


def section_recalled(nets: dict[str, list[LayerShape]]) -> None:
    print("\n== 5. MobileNetV1 at fixed bits vs HAQ's numbers as recalled (unverified) ==")
    for target, recalled in RECALLED_MOBILENET_V1.items():
        table = make_hardware(target).cost_table(nets["mobilenet_v1"])
        ours = [uniform(table, b, b) * 1e3 for b in (4, 5, 6, 8)]
        cells = ", ".join(f"{b}-bit {o:.1f} vs {r}" for b, o, r in zip((4, 5, 6, 8), ours, recalled, strict=True))
        shape = f"(ours 4/8-bit ratio {ours[0] / ours[3]:.2f} vs recalled {recalled[0] / recalled[3]:.2f})"
        print(f"  {target:<12} ms per batch of {table.batch}: {cells} {shape}")
    print(
        "  The cloud clock is not published (200 MHz assumed). The edge model is ~3x faster than the recalled\n"
        "  figures; nothing was tuned to them, they are unverified."
    )


def main() -> None:
    if "HWENVS_REFERENCE_DATA" not in os.environ and LOCAL_REFERENCE.is_dir():
        os.environ["HWENVS_REFERENCE_DATA"] = str(LOCAL_REFERENCE)
    nets = models()
    section_speed(nets)
    section_haq_table(nets["mobilenet_v2"])
    section_bitfusion(nets)
    section_sensitivity(nets["mobilenet_v2"])
    section_recalled(nets)


if __name__ == "__main__":
    main()
