"""ProxylessNAS: the MobileNetV2 search space, its weight-sharing supernet, latency tables and exported networks.

Modules: :mod:`~hwenvs.nas.search_space` (blocks and candidates), :mod:`~hwenvs.nas.architecture` (an
architecture and its string / JSON forms), :mod:`~hwenvs.nas.supernet`, :mod:`~hwenvs.nas.train_supernet`
(warm-up and loading), :mod:`~hwenvs.nas.latency_tables` (one table type, keyed by layer shapes, for every target),
:mod:`~hwenvs.nas.latency_targets` (the targets by name and where each table comes from),
:mod:`~hwenvs.nas.measure_latency` (CPU / GPU tables) and :mod:`~hwenvs.nas.export` (standalone networks).
Training an exported architecture from scratch, building the shipped supernets and the reference set are the lab's
(:mod:`hwenvs.lab`).
"""

from hwenvs.nas.architecture import Architecture
from hwenvs.nas.latency_tables import LatencyTable, LayerKey
from hwenvs.nas.latency_targets import TARGETS, load_latency_table
from hwenvs.nas.search_space import OPS, SearchSpace

__all__ = ["OPS", "TARGETS", "Architecture", "LatencyTable", "LayerKey", "SearchSpace", "load_latency_table"]
