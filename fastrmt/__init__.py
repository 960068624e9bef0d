"""fastrmt: compiled kernels for large deformed Wigner random matrices.

W = X / sqrt(n) + S, with X a symmetric Wigner matrix and S a deterministic signal.
See the README for the tour; every public function validates its input, then calls a
compiled kernel (Numba in ``fastrmt._kernels``, Cython in ``fastrmt._ext``).
"""
from __future__ import annotations

import importlib
import time

from . import freeprob, measures
from ._random import Key
from ._threads import resolve_n_threads, thread_limit
from .operators import DeformedWigner, deformed_wigner, dense_matmat
from .packed import PackedSymmetric
from .eigensolver import (EigshInfo, EigshNoConvergence, ThresholdNotReached, eigsh,
                          eigvals_above, top_eigenvalues)
from .experiment import ExperimentResult, experiment
from .freeprob import (EigenvaluePrediction, bulk_support, classical_locations, density,
                       outlier_threshold, phi, phi_inverse, phi_prime, predict_eigenvalues,
                       predict_outliers, spectrum_components, spikes_from_outliers, tail_mass,
                       tracy_widom_width)
from .sampling import DISTRIBUTIONS, wigner, wigner_spec
from .signals import Signal, bulk_law, bulk_quantiles, make_signal
from .pruning import prune_file, prune_sparse, prune_weights
from .weights import analyze_model, analyze_weights

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "analyze_model",
    "analyze_weights",
    "prune_file",
    "prune_sparse",
    "prune_weights",
    "DISTRIBUTIONS",
    "DeformedWigner",
    "EigshInfo",
    "EigshNoConvergence",
    "ExperimentResult",
    "Key",
    "PackedSymmetric",
    "Signal",
    "ThresholdNotReached",
    "bulk_law",
    "bulk_quantiles",
    "bulk_support",
    "classical_locations",
    "density",
    "EigenvaluePrediction",
    "eigsh",
    "eigvals_above",
    "experiment",
    "freeprob",
    "measures",
    "outlier_threshold",
    "phi",
    "phi_inverse",
    "phi_prime",
    "predict_eigenvalues",
    "predict_outliers",
    "spectrum_components",
    "tail_mass",
    "tracy_widom_width",
    "spikes_from_outliers",
    "deformed_wigner",
    "dense_matmat",
    "make_signal",
    "resolve_n_threads",
    "thread_limit",
    "top_eigenvalues",
    "warmup",
    "wigner",
    "wigner_spec",
]

# Modules whose ``_warmup()`` compiles their kernels; see :func:`warmup`.
_WARMUP_MODULES = ["fastrmt.sampling", "fastrmt.signals", "fastrmt.operators", "fastrmt.freeprob",
                   "fastrmt.eigensolver", "fastrmt.weights", "fastrmt.shrinkage",
                   "fastrmt.heavytail"]


def warmup(verbose: bool = False) -> None:
    """Compile (or load from Numba's cache) every kernel on tiny inputs.

    The first call of a Numba kernel on a new machine compiles it (seconds); the
    compiled code is then cached on disk (``cache=True``), so later processes only load
    it.  Call this once after installing, or at the start of a timed job.
    """
    for name in _WARMUP_MODULES:
        t0 = time.perf_counter()
        importlib.import_module(name)._warmup()
        if verbose:
            print(f"warmup {name}: {time.perf_counter() - t0:.2f} s")
