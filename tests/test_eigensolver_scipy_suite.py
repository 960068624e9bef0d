"""scipy's own ARPACK tests (standard symmetric problem) run with fastrmt.eigsh.

The installed ``scipy/sparse/linalg/_eigen/arpack/tests/test_arpack.py`` is imported
and its module-level name ``eigsh`` (used by ``eval_evec`` and the test functions) is
replaced by :func:`fastrmt.eigsh`; then its symmetric standard-mode tests are called:

* ``test_symmetric_modes`` on the real standard case (``std-symmetric``), ``sigma=None``,
  ``mode="normal"``: every ``which`` (LM, SM, LA, SA, BE), dtype ('f', 'd') and matrix
  type (csr_array, aslinearoperator, ndarray);
* ``test_symmetric_starting_vector`` on the same case, k = 1..5, both dtypes;
* ``test_symmetric_no_convergence``: expected to fail (strict xfail) -- its matrix has
  order 30, which fastrmt solves by dense LAPACK (no restarts), so ``maxiter=5`` cannot
  end in ArpackNoConvergence.  ``test_no_convergence_carries_converged_pairs`` in
  test_eigensolver.py checks that behaviour on a matrix large enough for Lanczos.

The generalized (``M``), shift-invert (``sigma``) and complex-Hermitian cases are not
supported by fastrmt.eigsh (NotImplementedError / TypeError) and are not run.
"""
import numpy as np
import pytest

import fastrmt

arpack_tests = pytest.importorskip("scipy.sparse.linalg._eigen.arpack.tests.test_arpack")

_STD = [D for D in arpack_tests.SymmetricParams().real_test_cases if "bmat" not in D]
assert [D.name for D in _STD] == ["std-symmetric"]


@pytest.fixture(autouse=True)
def _fastrmt_eigsh(monkeypatch):
    monkeypatch.setattr(arpack_tests, "eigsh", fastrmt.eigsh)
    yield


def test_substitution_is_in_effect():
    assert arpack_tests.eigsh is fastrmt.eigsh


@pytest.mark.parametrize("mattype", ["csr_array", "aslinearoperator", "asarray"])
@pytest.mark.parametrize("which", ["LM", "SM", "LA", "SA", "BE"])
@pytest.mark.parametrize("typ", ["f", "d"])
@pytest.mark.parametrize("D", _STD, ids=lambda D: D.name)
def test_symmetric_modes_standard(D, typ, which, mattype):
    mt = {"csr_array": arpack_tests.csr_array,
          "aslinearoperator": arpack_tests.aslinearoperator,
          "asarray": np.asarray}[mattype]
    arpack_tests.test_symmetric_modes(D, typ, which, mt, None, "normal")


@pytest.mark.parametrize("typ", ["f", "d"])
@pytest.mark.parametrize("D", _STD, ids=lambda D: D.name)
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_symmetric_starting_vector_standard(k, D, typ):
    arpack_tests.test_symmetric_starting_vector(k, D, typ)


@pytest.mark.xfail(strict=True, reason="order 30 is solved by dense LAPACK: no restarts, "
                   "so maxiter=5 cannot raise ArpackNoConvergence")
def test_symmetric_no_convergence():
    arpack_tests.test_symmetric_no_convergence()
