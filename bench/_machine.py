"""What the benchmarks report about the machine they ran on: the fp32 matmul ceiling of torch; peak memory."""

from __future__ import annotations

import resource
import time
from pathlib import Path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (servers and torchrun in benchmarks bind there only)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork + exec, so a child process would report its parent's peak if that was higher."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # not Linux


def matmul_ceiling(threads: int) -> dict:
    """fp32 GFLOP/s of torch matmul at a large square size and at the encoder's own shapes."""
    import torch

    torch.set_num_threads(threads)
    res = {}
    for name, (m, k, n) in {"1024x1024x1024": (1024, 1024, 1024), "ffn 4096x384x1536": (4096, 384, 1536),
                            "ffn 512x384x1536": (512, 384, 1536)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        reps, t = 0, time.perf_counter()
        while time.perf_counter() - t < 1.5:
            a @ b
            reps += 1
        res[name] = round(2 * m * k * n * reps / (time.perf_counter() - t) / 1e9, 1)
    return res
