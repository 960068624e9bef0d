"""The Dask matrix-free operator: bit-identical to the single-process one, survives a
lost worker, validates before starting anything."""
import os
import signal
import threading
import time

import numpy as np
import pytest
from dask.distributed import Client, LocalCluster

import fastrmt
from fastrmt.distributed import DistributedWigner, distributed_wigner, product_traffic
from fastrmt.operators import deformed_wigner
from fastrmt.signals import make_signal


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.mark.parametrize("dist", ["gaussian", "rademacher"])
def test_products_bit_identical_to_single_process(client, dist, dtype):
    n = 1501
    S = make_signal(n, spikes=[3.0, 5.0], seed=2)
    ref = deformed_wigner(n, S, storage="matrix-free", dtype=dtype, seed=11, dist=dist)
    W = distributed_wigner(n, S, dtype=dtype, seed=11, dist=dist, client=client)
    assert isinstance(W, DistributedWigner) and not W.owns_cluster
    V = np.random.default_rng(0).standard_normal((n, 6))
    for b in (1, 2, 6):
        np.testing.assert_array_equal(W.matmat(V[:, :b]), ref.matmat(V[:, :b]))
    np.testing.assert_array_equal(W @ V[:, 0], ref @ V[:, 0])
    np.testing.assert_array_equal(W.matmat_single(V), ref.matmat_single(V))
    assert W.n_products == 5
    assert W.bytes_received > 0 and W.bytes_sent > 0
    # and the products are the matrix's (not just each other's)
    np.testing.assert_allclose(W.matmat(V), W.to_dense() @ V, rtol=0, atol=1e-12)


def test_eigsh_on_the_distributed_operator(client):
    n = 1200
    S = make_signal(n, spikes=[3.0, 4.0, 6.0], seed=0)
    W = distributed_wigner(n, S, seed=3, client=client)
    ref = deformed_wigner(n, S, storage="matrix-free", seed=3)
    w = fastrmt.eigsh(W, 3, which="LA", seed=0, return_eigenvectors=False)
    w_ref = fastrmt.eigsh(ref, 3, which="LA", seed=0, return_eigenvectors=False)
    np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_allclose(np.sort(w), np.linalg.eigvalsh(W.to_dense())[-3:], atol=1e-10)


def test_lost_worker_loses_nothing(client):
    """Kill one of the two workers (SIGKILL) while a product is running: its tasks are
    recomputed and the product is bit-identical."""
    n, b = 30000, 4
    W = distributed_wigner(n, seed=7, dtype=np.float32, client=client)
    V = np.random.default_rng(1).standard_normal((n, b))
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    result = {}

    def run():
        result["out"] = W.matmat(V)

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 120
    while not client.processing(workers=[victim]).get(victim) and time.monotonic() < deadline:
        time.sleep(0.002)
    assert t.is_alive(), "the product finished before the kill: make it longer"
    os.kill(pids[victim], signal.SIGKILL)
    t.join(timeout=300)
    assert not t.is_alive()
    assert pids[victim] not in client.run(os.getpid).values()      # the worker did die
    ref = deformed_wigner(n, storage="matrix-free", dtype=np.float32, seed=7)
    np.testing.assert_array_equal(result["out"], ref.matmat(V))
    client.wait_for_workers(2, timeout=60)


def test_refusals_come_before_any_cluster():
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        distributed_wigner(10, client="tcp://x")
    with pytest.raises(TypeError, match="scheduler must be an address"):
        distributed_wigner(10, scheduler=8786)
    with pytest.raises(ValueError, match="n_workers"):
        distributed_wigner(10, scheduler="tcp://127.0.0.1:1", n_workers=2)
    with pytest.raises(ValueError, match="n_workers"):
        distributed_wigner(10, n_workers=0)
    with pytest.raises(ValueError, match="signal must have order"):
        distributed_wigner(10, make_signal(11, spikes=[2.0]))
    with pytest.raises(ValueError, match="sigma"):
        distributed_wigner(10, sigma=-1.0)
    with pytest.raises(ValueError, match="not both"):
        distributed_wigner(10, client=Client.__new__(Client), scheduler="tcp://x")


def test_own_local_cluster_is_closed():
    W = distributed_wigner(300, seed=1, n_workers=1)
    assert W.owns_cluster and W.n_workers() == 1
    ref = deformed_wigner(300, storage="matrix-free", seed=1)
    v = np.ones(300)
    np.testing.assert_array_equal(W @ v, ref @ v)
    W.close()
    assert W.client.status == "closed"
    W.close()                                                   # twice is fine
    with pytest.raises(RuntimeError, match="running cluster"):
        W @ v                                                   # refused, not a Dask traceback


def test_user_client_is_left_open(client):
    with distributed_wigner(50, seed=0, client=client) as W:
        W @ np.ones(50)
    assert client.status == "running"


def test_product_traffic():
    t = product_traffic(100_000, 8, 4)
    assert t == {"chunks": 32, "to_workers": 4 * 100_000 * 8 * 8,
                 "from_workers": 32 * 100_000 * 8 * 8}
    with pytest.raises(ValueError, match="b"):
        product_traffic(10, 0, 1)


def test_experiment_distributed_matches_matrix_free(client):
    kw = dict(r=3, seed=4, solver="eigsh", dtype=np.float32)
    a = fastrmt.experiment(1500, storage="distributed", scheduler=client, **kw)
    b = fastrmt.experiment(1500, storage="matrix-free", **kw)
    assert [r["observed"] for r in a.eigenvalues] == [r["observed"] for r in b.eigenvalues]
    assert a.params["storage"] == "distributed" and "scheduler" not in a.params
    assert client.status == "running"


def test_experiment_distributed_refusals():
    with pytest.raises(ValueError, match="storage='distributed'"):
        fastrmt.experiment(100, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="storage='distributed'"):
        fastrmt.experiment(100, n_workers=2)
    with pytest.raises(TypeError, match="scheduler must be"):
        fastrmt.experiment(100, storage="distributed", scheduler=3)
    with pytest.raises(ValueError, match="n_workers"):
        fastrmt.experiment(100, storage="distributed", scheduler="tcp://x", n_workers=2)


def test_cli_demo_distributed(tmp_path):
    from fastrmt.cli import main_for_tests

    out = tmp_path / "d"
    rc = main_for_tests(["demo", "--n", "600", "--storage", "distributed", "--workers", "1",
                         "--no-spectrum", "--no-eigenvectors", "--out", str(out)])
    assert rc == 0
    assert (out / "demo.json").stat().st_size > 0


def test_cli_scheduler_needs_distributed(tmp_path, capsys):
    from fastrmt.cli import main_for_tests

    rc = main_for_tests(["demo", "--n", "600", "--scheduler", "tcp://127.0.0.1:1",
                         "--out", str(tmp_path / "d")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fastrmt demo: error: --scheduler and --workers need --storage distributed"]
