"""Published reference files (latency tables), fetched from their upstream address on first use, cached and
sha256-verified. The project never ships copies of them.

Set ``HWENVS_REFERENCE_DATA`` to a folder holding the files (for example ``../shared/reference-data``) to use local
copies instead of the network; they are verified the same way.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hwenvs.cache import atomic_write_bytes, cache_dir


@dataclass(frozen=True)
class ReferenceFile:
    """One published file: where it lives upstream and what it must hash to."""

    name: str
    url: str
    sha256: str
    description: str


REFERENCE_FILES: dict[str, ReferenceFile] = {
    f.name: f
    for f in (
        ReferenceFile(
            name="haq_qmobilenetv2_imagenet100_batch16_latency_table.npy",
            url="https://raw.githubusercontent.com/mit-han-lab/haq/master/lib/simulator/lookup_tables/"
            "qmobilenetv2_imagenet100_batch16_latency_table.npy",
            sha256="41c377108ab97b62451afbc13cdb1ae8ea9f43b837446fd91c65c73f477c6529",
            description="HAQ's BISMO-cloud latency table for MobileNetV2, int64 (53, 8, 8), batch 16, 224x224",
        ),
        ReferenceFile(
            name="proxylessnas_mobile_trim.yaml",
            url="https://raw.githubusercontent.com/han-cai/files/master/proxylessnas/mobile_trim.yaml",
            sha256="087e855ea77f9b257e72f3637333a3e0938f6df77f579520f16d057ac45380aa",
            description="ProxylessNAS mobile (Pixel 1) latency table in ms, 72 entries",
        ),
    )
}


class ChecksumError(RuntimeError):
    """A reference file's content does not match its published checksum."""


def _verify(name: str, data: bytes, source: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    expected = REFERENCE_FILES[name].sha256
    if digest != expected:
        raise ChecksumError(f"{name} from {source}: sha256 {digest} does not match the published {expected}")


def reference_path(name: str, *, timeout: float = 30.0) -> Path:
    """Path to a verified copy of reference file ``name``, fetching it into the cache on first use.

    :param name: one of :data:`REFERENCE_FILES`.
    :param timeout: seconds to wait for the upstream server.
    """
    if name not in REFERENCE_FILES:
        raise KeyError(f"unknown reference file {name!r}; known: {sorted(REFERENCE_FILES)}")
    local_root = os.environ.get("HWENVS_REFERENCE_DATA")
    if local_root:
        local = Path(local_root, name)
        if local.is_file():
            _verify(name, local.read_bytes(), str(local))
            return local
    cached = cache_dir("reference") / name
    if cached.is_file():
        _verify(name, cached.read_bytes(), str(cached))
        return cached
    url = REFERENCE_FILES[name].url
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except OSError as exc:
        raise RuntimeError(
            f"could not fetch {name} from {url} ({exc}); place a copy in $HWENVS_REFERENCE_DATA or at {cached}"
        ) from exc
    _verify(name, data, url)
    atomic_write_bytes(cached, data)
    return cached
