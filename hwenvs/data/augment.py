"""Augmentation for the in-memory embedded task (ImageFolder tasks bring their own torchvision transforms)."""

from __future__ import annotations

import torch


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """The whole batch translated by one random (dx, dy) in ``-max_shift..max_shift`` pixels, wrapping around.

    :param x: images, (N, C, H, W).
    :param max_shift: largest translation in pixels.
    :param generator: the random source, so training stays reproducible.
    """
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))
