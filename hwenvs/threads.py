"""One torch intra-op thread for a block of work, the thread count restored after.

The benchmark's trials (:mod:`hwenvs.benchmark.trials`) and the surrogate datasets' chunks
(:mod:`hwenvs.lab.surrogate_data.chunks`) run side by side in worker processes on shared cores, where more threads
per process only contend; one helper keeps the two from drifting apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block with one intra-op torch thread, restoring the previous count after (also on an exception).

    torch is imported here, not at the module's top, so that importing this module stays free of torch.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
