"""Slow, obvious twins for the eigensolver tests (dense LAPACK on float64 copies)."""
from __future__ import annotations

import numpy as np


def dense64(A) -> np.ndarray:
    """The stored matrix as a float64 dense array (values exactly as stored)."""
    if hasattr(A, "to_dense"):
        return np.asarray(A.to_dense(), dtype=np.float64)
    return np.asarray(A, dtype=np.float64)


def wanted(lam: np.ndarray, k: int, which: str) -> np.ndarray:
    """The k wanted eigenvalues of the full spectrum ``lam`` (any order)."""
    lam = np.sort(lam)
    if which == "LA":
        return lam[-k:]
    if which == "SA":
        return lam[:k]
    if which == "LM":
        return lam[np.argsort(-np.abs(lam), kind="stable")[:k]]
    hi = k - k // 2
    return np.concatenate([lam[:k // 2], lam[lam.size - hi:]])


def scipy_order(w: np.ndarray, which: str, with_vectors: bool) -> np.ndarray:
    """Order scipy.sparse.linalg.eigsh returns: ascending, except without vectors
    descending for SA and ascending magnitude for LM."""
    if with_vectors or which in ("LA", "BE"):
        return np.sort(w)
    if which == "SA":
        return np.sort(w)[::-1]
    return w[np.argsort(np.abs(w), kind="stable")]


def eigsh_reference(A, k: int, which: str = "LA", return_eigenvectors: bool = False):
    """Dense twin of eigsh: eigenvalues (scipy's order) of the stored matrix."""
    D = dense64(A)
    lam = np.linalg.eigvalsh(D)
    return scipy_order(wanted(lam, k, which), which, return_eigenvectors)


def spiked_wigner(n: int, spikes, *, seed: int, dtype=np.float64, sigma: float = 1.0
                  ) -> np.ndarray:
    """X/sqrt(n) + diag(spikes, 0, ..., 0) with Gaussian X (numpy's Generator)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n)) * sigma
    W = (X + X.T) / np.sqrt(2.0 * n)
    s = np.asarray(spikes, dtype=np.float64)
    W[np.arange(s.size), np.arange(s.size)] += s
    return W.astype(dtype)


def with_spectrum(eigenvalues, *, seed: int) -> np.ndarray:
    """Q diag(eigenvalues) Q^T with a Haar-like orthogonal Q (QR of a Gaussian)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    n = lam.size
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((n, n)))
    Q *= np.sign(np.diag(R))
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T)


def residuals(A, w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """||A v_i - w_i v_i|| in float64 on the stored values."""
    D = dense64(A)
    return np.linalg.norm(D @ v - v * w, axis=0)
