"""The prefix cache scores a path exactly as the supernet does, and forgets its prefix when the weights change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_supernet

from hwenvs.nas.architecture import Architecture, shallowest, uniform
from hwenvs.nas.prefix_cache import PrefixCache
from hwenvs.nas.supernet import SuperNet
from hwenvs.nas.train_supernet import sample_architecture, weight_step


def _supernet() -> SuperNet:
    return random_supernet(0.35)


def _images(seed: int, count: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, 3, 32, 32, generator=generator).contiguous(memory_format=torch.channels_last)


def _architectures() -> list[Architecture]:
    rng = np.random.default_rng(1)
    return [uniform("k3e3"), uniform("k7e6"), shallowest()] + [sample_architecture(rng) for _ in range(12)]


def test_cached_logits_equal_the_supernets_to_the_bit() -> None:
    supernet, x = _supernet(), _images(0)
    cache = PrefixCache(supernet)
    with torch.inference_mode():
        for arch in _architectures() * 2:  # the second round reads every prefix from the cache
            assert torch.equal(cache(x, arch), supernet(x, arch)), arch.to_string()


def test_prefix_is_computed_once_per_batch_and_first_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    supernet, x = _supernet(), _images(0)
    stems: list[int] = []
    real = supernet.stem_forward
    monkeypatch.setattr(supernet, "stem_forward", lambda images: stems.append(1) or real(images))
    cache = PrefixCache(supernet)
    archs = _architectures()
    with torch.inference_mode():
        for arch in archs:
            cache(x, arch)
    assert len(stems) == 1
    assert len(cache._entries[id(x)][3]) == len({a.choices[0] for a in archs})


def test_a_weight_step_makes_the_prefix_computed_again() -> None:
    supernet, x = _supernet(), _images(0)
    cache, arch = PrefixCache(supernet), uniform("k5e3")
    with torch.inference_mode():
        before = cache(x, arch)
    supernet.train()
    weight_step(supernet, torch.optim.SGD(supernet.parameters(), lr=0.5), _images(1), torch.arange(16) % 10, arch)
    supernet.eval()
    with torch.inference_mode():
        after = cache(x, arch)
        assert torch.equal(after, supernet(x, arch))
    assert not torch.equal(after, before)


def test_load_state_dict_makes_the_prefix_computed_again() -> None:
    supernet, x, arch = _supernet(), _images(0), uniform("k3e6")
    cache = PrefixCache(supernet)
    with torch.inference_mode():
        cache(x, arch)
    torch.manual_seed(5)
    supernet.load_state_dict(SuperNet(supernet.space).state_dict())
    with torch.inference_mode():
        assert torch.equal(cache(x, arch), supernet(x, arch))


def test_batches_are_told_apart_and_the_oldest_is_forgotten() -> None:
    supernet, arch = _supernet(), uniform("k5e6")
    cache = PrefixCache(supernet, batches=2)
    batches = [_images(seed) for seed in range(3)]
    with torch.inference_mode():
        for x in batches:
            assert torch.equal(cache(x, arch), supernet(x, arch))
    assert list(cache._entries) == [id(batches[1]), id(batches[2])]


def test_with_gradients_the_supernet_runs_itself() -> None:
    supernet, x, arch = _supernet(), _images(0), uniform("k3e3")
    cache = PrefixCache(supernet)
    logits = cache(x, arch)
    assert logits.requires_grad and not cache._entries


def test_batches_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="batches must be at least 1, got 0"):
        PrefixCache(_supernet(), batches=0)


def test_blocks_forward_names_a_wrong_architecture_length() -> None:
    supernet = _supernet()
    with pytest.raises(ValueError, match="has 21 choices, got 3"):
        supernet.blocks_forward(_images(0), [0, 1, 2])
