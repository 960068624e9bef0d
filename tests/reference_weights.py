"""Slow, obvious twins and test data for fastrmt.weights.

Randomness comes only from fastrmt's Philox sampler: an ``n x m`` block of i.i.d.
standard normal entries is the off-diagonal block of a Wigner matrix of order ``n + m``
(times ``sqrt(n + m)``).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize

import fastrmt


def gaussian_block(n: int, m: int, seed: int) -> np.ndarray:
    """n x m i.i.d. N(0, 1) entries (upper off-diagonal block of a Wigner matrix)."""
    X = fastrmt.wigner(n + m, seed=seed)
    return np.ascontiguousarray(X[:n, n:]) * math.sqrt(n + m)


def orthonormal(n: int, k: int, seed: int) -> np.ndarray:
    Q, R = np.linalg.qr(gaussian_block(n, k, seed))
    return Q * np.sign(np.diag(R))


def spiked(n: int, m: int, sigma: float, thetas, seed: int):
    """W = sigma Z + kappa sum_i t_i u_i v_i^T with kappa = sigma sqrt(max(n, m)).

    Returns (W, U, V, kappa); ``thetas`` are the normalised strengths t_i.
    """
    t = np.asarray(thetas, dtype=np.float64)
    kappa = sigma * math.sqrt(max(n, m))
    U = orthonormal(n, t.size, seed + 1)
    V = orthonormal(m, t.size, seed + 2)
    W = sigma * gaussian_block(n, m, seed) + (U * (kappa * t)) @ V.T
    return W, U, V, kappa


# --------------------------------------------------------------------- laws
def mp_pdf_ref(x: float, c: float) -> float:
    a, b = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    if x <= a or x >= b:
        return 0.0
    return math.sqrt((b - x) * (x - a)) / (2 * math.pi * c * x)


def mp_cdf_ref(x: float, c: float) -> float:
    a, b = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    if x <= a:
        return 0.0
    if x >= b:
        return 1.0
    val, _ = integrate.quad(mp_pdf_ref, a, x, args=(c,), limit=200, epsabs=1e-12)
    return val


def mp_quantile_ref(prob: float, c: float) -> float:
    a, b = (1 - math.sqrt(c)) ** 2, (1 + math.sqrt(c)) ** 2
    return optimize.brentq(lambda x: mp_cdf_ref(x, c) - prob, a, b, xtol=1e-13)


def sc_quantile_ref(prob: float) -> float:
    def cdf(x: float) -> float:
        return 0.5 + x * math.sqrt(4 - x * x) / (4 * math.pi) + math.asin(x / 2) / math.pi

    return optimize.brentq(lambda x: cdf(x) - prob, -2.0, 2.0, xtol=1e-13)


# ------------------------------------------------------------------- BGN
def bgn_outlier_ref(t: float, c: float) -> float:
    """MATH.md: sqrt((1 + t^2)(c + t^2)) / t for t > c^(1/4), else the edge 1 + sqrt(c)."""
    if t <= c ** 0.25:
        return 1 + math.sqrt(c)
    return math.sqrt((1 + t * t) * (c + t * t)) / t


def bgn_signal_ref(y: float, c: float) -> float:
    """Invert bgn_outlier_ref by bisection on t in (c^(1/4), infinity)."""
    lo = c ** 0.25
    hi = max(2.0 * y, 2.0)
    return optimize.brentq(lambda t: bgn_outlier_ref(t, c) - y, lo + 1e-15, hi, xtol=1e-14)


def bgn_overlaps_ref(t: float, c: float) -> tuple[float, float]:
    if t <= c ** 0.25:
        return 0.0, 0.0
    t2 = t * t
    return 1 - c * (1 + t2) / (t2 * (t2 + c)), 1 - (c + t2) / (t2 * (t2 + 1))


# --------------------------------------------------------------- sigma
def sigma_median_ref(W: np.ndarray) -> float:
    """Gavish-Donoho: median singular value over sqrt(q * MP median)."""
    p, q = sorted(W.shape)
    s = np.linalg.svd(W, compute_uv=False)
    return float(np.median(s)) / math.sqrt(q * mp_quantile_ref(0.5, p / q))


def sigma_bema_ref(W: np.ndarray, alpha: float = 0.2) -> float:
    p, q = sorted(W.shape)
    lam = sorted(float(v) ** 2 / q for v in np.linalg.svd(W, compute_uv=False))
    num = den = 0.0
    for i, v in enumerate(lam):
        pr = (i + 0.5) / p
        if alpha <= pr <= 1 - alpha:
            qq = mp_quantile_ref(pr, p / q)
            num += qq * v
            den += qq * qq
    return math.sqrt(num / den)


def tw_scale_ref(p: int, q: int, sigma: float) -> float:
    """Johnstone's TW scale for lambda_max(Z Z^T), mapped to singular-value units."""
    mu = (math.sqrt(q) + math.sqrt(p)) ** 2
    s = (math.sqrt(q) + math.sqrt(p)) * (1 / math.sqrt(q) + 1 / math.sqrt(p)) ** (1 / 3)
    return sigma * s / (2 * math.sqrt(mu))


# ------------------------------------------------------------ digits MLP
def train_digits_mlp(X: np.ndarray, y: np.ndarray, hidden: int = 128, steps: int = 150,
                     lr: float = 3e-3, weight_decay: float = 0.0,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """A two-hidden-layer ReLU MLP trained by full-batch AdamW (deterministic).

    ``weight_decay`` is AdamW's decoupled decay (applied to the weight matrices only).

    Weights are stored as PyTorch's nn.Linear does: ``fcK.weight`` of shape (out, in).
    """
    d = X.shape[1]
    k = int(y.max()) + 1
    sizes = [(hidden, d), (hidden, hidden), (k, hidden)]
    params: dict[str, np.ndarray] = {}
    for i, (o, n_in) in enumerate(sizes, 1):
        params[f"fc{i}.weight"] = gaussian_block(o, n_in, seed + i) * math.sqrt(2.0 / n_in)
        params[f"fc{i}.bias"] = np.zeros(o)
    Y = np.eye(k)[y]
    m_ = {key: np.zeros_like(v) for key, v in params.items()}
    v_ = {key: np.zeros_like(v) for key, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        acts = [X]
        h = X
        for i in range(1, 4):
            z = h @ params[f"fc{i}.weight"].T + params[f"fc{i}.bias"]
            h = np.maximum(z, 0.0) if i < 3 else z
            acts.append(h)
        z = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        prob = np.exp(z)
        prob /= prob.sum(axis=1, keepdims=True)
        g = (prob - Y) / X.shape[0]
        grads = {}
        for i in range(3, 0, -1):
            grads[f"fc{i}.weight"] = g.T @ acts[i - 1]
            grads[f"fc{i}.bias"] = g.sum(axis=0)
            if i > 1:
                g = (g @ params[f"fc{i}.weight"]) * (acts[i - 1] > 0)
        for key in params:
            m_[key] = b1 * m_[key] + (1 - b1) * grads[key]
            v_[key] = b2 * v_[key] + (1 - b2) * grads[key] ** 2
            mh = m_[key] / (1 - b1 ** step)
            vh = v_[key] / (1 - b2 ** step)
            params[key] = params[key] - lr * mh / (np.sqrt(vh) + eps)
            if weight_decay and key.endswith("weight"):
                params[key] = params[key] * (1 - lr * weight_decay)
    return params


def mlp_accuracy(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    h = X
    for i in range(1, 4):
        h = h @ np.asarray(params[f"fc{i}.weight"], dtype=np.float64).T + params[f"fc{i}.bias"]
        if i < 3:
            h = np.maximum(h, 0.0)
    return float(np.mean(np.argmax(h, axis=1) == y))


def digits_split():
    """Digits (sklearn's bundled copy), scaled to [0, 1], split 75/25 deterministically."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data / 16.0
    y = d.target
    idx = np.arange(X.shape[0])
    test = idx % 4 == 0
    return X[~test], y[~test], X[test], y[test]


# ----------------------------------------------------------------------------------
# Shrinkage (fastrmt.shrinkage): the pair sums written as dense numpy matrices
# ----------------------------------------------------------------------------------
def rie_eigenvalues(lam, sigma, eta):
    lam = np.asarray(lam, dtype=np.float64)
    z = lam[:, None] - lam[None, :] - 1j * eta
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(np.eye(lam.size, dtype=bool), 0.0, 1.0 / z)
    return lam - 2 * sigma ** 2 * np.real(g).sum(axis=1)


def rie_singular_values(s, shape, sigma, eta):
    s = np.asarray(s, dtype=np.float64)
    p, q = min(shape), max(shape)
    off = ~np.eye(s.size, dtype=bool)
    d = s[:, None] - s[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        pv = np.where(off, d / (d * d + eta * eta), 0.0)
        mirror = np.where(off, 1.0 / (s[:, None] + s[None, :]), 0.0)
    xi = s - sigma ** 2 * ((q - p) / s + pv.sum(axis=1) + mirror.sum(axis=1))
    return np.maximum(xi, 0.0)


def magnitude_keep_ref(w: np.ndarray, density: float) -> np.ndarray:
    """The round(density * size) entries of largest |w| kept (ties: the later entry of a
    full sort loses), the others zero - by a full sort."""
    k = int(round(density * w.size))
    order = np.argsort(np.abs(w).ravel(), kind="stable")
    keep = np.zeros(w.size, dtype=bool)
    keep[order[w.size - k:]] = True
    return np.where(keep.reshape(w.shape), w, 0)


def sparse_densities_ref(alpha, sizes, fraction: float, spread: float) -> np.ndarray:
    """fraction + spread (2 x - 1) + c, x = alpha min-max scaled, c by a fine grid search
    then exact linear solve when nothing is clipped (the usual case)."""
    alpha = np.asarray(alpha, float)
    sizes = np.asarray(sizes, float)
    fin = np.isfinite(alpha)
    x = np.full(alpha.size, 0.5)
    if fin.sum() >= 2 and alpha[fin].max() > alpha[fin].min():
        x[fin] = (alpha[fin] - alpha[fin].min()) / (alpha[fin].max() - alpha[fin].min())
    base = fraction + spread * (2 * x - 1)
    c = (fraction * sizes.sum() - (base * sizes).sum()) / sizes.sum()
    d = base + c
    assert d.min() >= 0 and d.max() <= 1, "reference: clipping not covered"
    return d
