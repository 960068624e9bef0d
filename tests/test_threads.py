import numba
import pytest
from threadpoolctl import threadpool_info

from fastrmt import resolve_n_threads, thread_limit
from fastrmt._threads import max_threads


def test_resolve_semantics():
    cap = max_threads()
    assert resolve_n_threads(None) == cap
    assert resolve_n_threads(1) == 1
    assert resolve_n_threads(10**6) == cap
    assert resolve_n_threads(-1) == cap
    assert resolve_n_threads(-(cap + 5)) == 1


@pytest.mark.parametrize("bad,exc,match", [
    (0, ValueError, "n_threads must be a positive or negative integer or None, got 0"),
    (1.5, TypeError, "n_threads must be an integer, got 1.5"),
    ("2", TypeError, "n_threads must be an integer"),
    (True, TypeError, "n_threads must be an integer"),
])
def test_resolve_refuses(bad, exc, match):
    with pytest.raises(exc, match=match):
        resolve_n_threads(bad)


def test_context_manager_restores_on_exit_and_error():
    before = numba.get_num_threads()
    with thread_limit(1) as n:
        assert n == 1
        assert numba.get_num_threads() == 1
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert all(t == 1 for t in blas)
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with thread_limit(1):
            raise RuntimeError("boom")
    assert numba.get_num_threads() == before
