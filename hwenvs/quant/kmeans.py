"""k-means weight sharing ("Deep Compression"): one codebook of 2^b centroids per layer, weights replaced by their
nearest centroid. Used for the model-size budget, where only storage (weight bits) matters.

The k-means runs on a fine histogram of the layer's weights (sample-weighted by bin counts), which gives the same
centroids as running on every weight to within a bin width and keeps the cost independent of the layer size;
initialisation is k-means++ with a fixed seed, as in HAQ.
"""

from __future__ import annotations

import numpy as np
import torch

HISTOGRAM_BINS = 8192


def kmeans_codebook(w: torch.Tensor, bits: int, seed: int = 0) -> torch.Tensor:
    """The sorted 2^bits centroids of ``w``'s values (fewer if the layer has fewer distinct values)."""
    from sklearn.cluster import KMeans  # only the size budget needs it; keeps sklearn out of import time

    values = w.detach().flatten().double().cpu().numpy()
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    centers = (edges[:-1] + edges[1:]) / 2
    keep = counts > 0
    points, weights = centers[keep, None], counts[keep].astype(np.float64)
    k = min(2**bits, len(points))
    model = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed).fit(points, sample_weight=weights)
    return torch.from_numpy(np.sort(model.cluster_centers_[:, 0])).to(w.dtype)


def project(w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Each weight replaced by its nearest centroid."""
    codebook = codebook.to(w.device, w.dtype)
    boundaries = (codebook[1:] + codebook[:-1]) / 2
    return codebook[torch.bucketize(w.detach(), boundaries)]


def quantize_weight_kmeans(w: torch.Tensor, bits: int, seed: int = 0) -> torch.Tensor:
    """Fake-quantized weights under a ``bits``-bit k-means codebook."""
    return project(w, kmeans_codebook(w, bits, seed))
