"""Benchmarks: run with ``python -m pytest benchmarks --benchmark-only``.

Sizes are chosen for the reference machine (2 cores, 24 GiB).  Set FASTRMT_BENCH_N to
override the large sizes (e.g. for a quick smoke run).
"""
import os

import pytest

import fastrmt


def bench_size(default: int) -> int:
    return int(os.environ.get("FASTRMT_BENCH_N", default))


@pytest.fixture(scope="session", autouse=True)
def _warm():
    fastrmt.warmup()
