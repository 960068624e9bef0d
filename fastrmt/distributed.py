"""One matrix-free deformed Wigner operator spread over a Dask cluster.

W = X/sqrt(n) + S with X never stored anywhere: each block product ``X/sqrt(n) @ V``
is cut into the chunks of the single-process matrix-free product
(:func:`fastrmt._products.tile_schedule`: tile rows paired for balance, chunk k
accumulating its tiles into its own (n, b) buffer in a fixed order), and each chunk is
one Dask task.  A worker regenerates the tiles of its chunk from the counter-based
generator, so it needs only the seed (a few integers) and the block V, never the
matrix.  The client gathers the chunk buffers and sums them in chunk order with the
same kernel as the single-process operator, so the product is **bit-identical** to
``deformed_wigner(..., storage="matrix-free")`` for any number of workers, any
placement of the tasks and any worker lost on the way.  The signal term S V is applied
on the client.

What travels per product (b columns, K chunks; K = ``n_chunks(n, b, 256)``: 32 from
n = 8192 b to n = 262143, then n // 8192, e.g. 122 at n = 10^6): V once to each worker
(``client.scatter(broadcast=True)``, n b x 8 bytes per worker, 4 for float32 products)
and K buffers back (K n b x 8 bytes), fetched in chunk order and summed one at a time
(the client holds one buffer; a finished one waits on its worker).  At n = 100000,
b = 8: 6.4 MB out per worker and at most 205 MB back, against about 22 s of tile
generation per product on one 2-core machine — the split keeps every tile generated
once (a split into row blocks, each returning only its own rows, sends back only n b
values but generates every off-diagonal tile twice, doubling the dominant cost).

A lost worker loses nothing: its tasks are recomputed elsewhere by the scheduler (up to
Dask's ``allowed-failures`` times) and give the same buffers, so the product is
unchanged.  Each worker needs fastrmt installed (the same version as the client: the
kernels are regenerated from the same code) and at most one tile (256 x 256) plus one
(n, b) buffer per running task, plus the finished buffers its tasks hold until the
client fetches them.  Parallelism is at most K tasks per product.

Use :func:`distributed_wigner` (LocalCluster by default, ``scheduler=ADDRESS`` or
``client=`` for an existing cluster); the operator works with :func:`fastrmt.eigsh`,
:func:`fastrmt.experiment` (``storage="distributed"``) and ``fastrmt demo --storage
distributed``.
"""
from __future__ import annotations

import itertools
import logging
import uuid
import weakref
from typing import Any, Iterator

import numpy as np
from dask.distributed import Client, LocalCluster

from ._kernels import _matfree
from ._products import n_chunks, tile_schedule
from ._random import SeedLike
from ._threads import blas_limit, cpu_count
from ._validation import check_int
from .operators import MATFREE_TILE, DeformedWigner, deformed_wigner
from .signals import Signal

__all__ = ["DistributedWigner", "distributed_wigner", "product_traffic"]


def _chunk_task(n: int, tile: int, chunk: int, k: int, V: np.ndarray, round32: bool,
                kernel_args: tuple) -> np.ndarray:
    """Worker side: the (n, b) buffer of chunk ``chunk`` of the matrix-free product.

    The same tiles in the same order as chunk ``chunk`` of the single-process kernel
    (one thread, BLAS capped at one thread), so the same bits.
    """
    starts, rows = tile_schedule(n, tile, k)
    lo, hi = int(starts[chunk]), int(starts[chunk + 1])
    sub_starts = np.array([0, hi - lo], dtype=np.intp)
    sub_rows = np.ascontiguousarray(rows[lo:hi])
    b = V.shape[1]
    buf = np.zeros((1, n, b), dtype=V.dtype)
    T = np.empty(tile * tile, dtype=V.dtype)
    tmp = np.empty(tile * b, dtype=V.dtype)
    with blas_limit(1):
        _matfree._chunk_product(buf, 0, V, n, tile, sub_starts, sub_rows, round32,
                                *kernel_args, T, tmp)
    return buf[0]


def product_traffic(n: int, b: int, n_workers: int, itemsize: int = 8) -> dict[str, int]:
    """Bytes that travel for one block product of b columns on ``n_workers`` workers.

    Returns ``{"chunks": K, "to_workers": ..., "from_workers": ...}``: V sent once to
    each worker, and K chunk buffers of (n, b) back to the client.
    """
    n = check_int("n", n, min_value=1)
    b = check_int("b", b, min_value=1)
    n_workers = check_int("n_workers", n_workers, min_value=1)
    k = n_chunks(n, b, MATFREE_TILE)
    return {"chunks": k, "to_workers": n_workers * n * b * itemsize,
            "from_workers": k * n * b * itemsize}


def check_cluster_args(client: Any, scheduler: Any, n_workers: Any) -> int | None:
    """Check the cluster arguments of :func:`distributed_wigner` (and of
    ``experiment(storage="distributed")``) before anything starts; returns n_workers."""
    if client is not None and not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    if scheduler is not None and not isinstance(scheduler, str):
        raise TypeError(f"scheduler must be an address string or a dask.distributed.Client, "
                        f"got {type(scheduler).__name__}")
    if client is not None and scheduler is not None:
        raise ValueError("give client or scheduler, not both")
    if n_workers is not None:
        n_workers = check_int("n_workers", n_workers, min_value=1)
        if client is not None or scheduler is not None:
            raise ValueError("n_workers is for the LocalCluster started for the products; "
                             "it cannot be used with an existing cluster (client or scheduler)")
    return n_workers


def _close(client: Client | None, cluster: LocalCluster | None) -> None:
    for obj in (client, cluster):
        if obj is not None:
            try:
                obj.close()
            except Exception:   # pragma: no cover - shutting down anyway
                pass


class DistributedWigner(DeformedWigner):
    """W = X/sqrt(n) + S with the noise products computed on a Dask cluster.

    A :class:`fastrmt.operators.DeformedWigner` (storage ``"matrix-free"``) whose noise
    products run as one Dask task per chunk (module docstring); every other method is
    the single-process operator's.  Build it with :func:`distributed_wigner`.

    Attributes
    ----------
    client : dask.distributed.Client
    owns_cluster : bool
        True when the operator started its own LocalCluster (closed by :meth:`close`,
        on leaving a ``with`` block, or when the operator is garbage-collected).
    n_products : int
        Block products computed so far.
    bytes_sent, bytes_received : int
        Bytes of V sent to the workers and of chunk buffers gathered, so far.
    """

    def __init__(self, spec, signal: Signal | None, storage_dtype: np.dtype,
                 n_threads: int | None, client: Client, owned_client: Client | None = None,
                 cluster: LocalCluster | None = None) -> None:
        super().__init__(spec, signal, "matrix-free", storage_dtype, n_threads, None)
        self.client = client
        self.owns_cluster = cluster is not None
        self.n_products = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._token = uuid.uuid4().hex[:12]
        self._counter = itertools.count()
        # what this operator opened (a LocalCluster and its client, or a client to a
        # user's scheduler) is closed with it; a client the user passed never is
        self._finalizer = weakref.finalize(self, _close, owned_client, cluster)

    def __repr__(self) -> str:
        return (f"DistributedWigner(n={self.n}, storage_dtype={self.storage_dtype}, "
                f"dist={self.spec.dist!r}, sigma={self.spec.sigma}, signal={self.signal!r}, "
                f"scheduler={self.client.scheduler.address!r})")

    def n_workers(self) -> int:
        """Workers the scheduler knows now."""
        return len(self.client.scheduler_info().get("workers", {}))

    def _matfree_chunks(self, V: np.ndarray, k: int, g: int, round32: bool
                        ) -> Iterator[np.ndarray]:
        """The k chunk buffers, one Dask task each, yielded one at a time in chunk order
        (the summing stays the base class's).  All tasks are submitted at once; a
        finished buffer waits on its worker until the client has summed the ones
        before it, so the client holds one buffer at a time (``g`` is not needed)."""
        if self.client.status != "running":
            raise RuntimeError(f"the operator's Dask client is {self.client.status}: products "
                               f"need a running cluster (build the operator again)")
        n = self.n
        args = tuple(self.spec.kernel_args())
        call = next(self._counter)
        workers = max(1, self.n_workers())
        Vf = self.client.scatter(V, broadcast=True, hash=False)
        futures = [self.client.submit(_chunk_task, n, MATFREE_TILE, c, k, Vf, round32, args,
                                      key=f"fastrmt-matfree-{self._token}-{call}-{c}",
                                      pure=False)
                   for c in range(k)]
        self.bytes_sent += workers * V.nbytes
        try:
            for c in range(k):
                buf = futures[c].result()
                futures[c].release()
                self.bytes_received += buf.nbytes
                yield buf[None]
            self.n_products += 1
        finally:
            for f in futures:
                f.release()
            Vf.release()

    def close(self) -> None:
        """Shut down what this operator opened: its LocalCluster, or its client to a
        scheduler given by address (a client passed by the user is left open)."""
        self._finalizer()

    def __enter__(self) -> "DistributedWigner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def distributed_wigner(n: int, signal: Signal | None = None, *, sigma: float = 1.0,
                       dist: str = "gaussian", p: float | None = None, df: float | None = None,
                       diag_var: float | str | None = None,
                       dtype: type | np.dtype | str = np.float64, seed: SeedLike = None,
                       n_threads: int | None = None, client: Client | None = None,
                       scheduler: str | None = None,
                       n_workers: int | None = None) -> DistributedWigner:
    """Build W = X/sqrt(n) + S whose noise products run on a Dask cluster.

    The same matrix as ``deformed_wigner(n, signal, storage="matrix-free", ...)`` with
    the same arguments, and bit-identical products (module docstring).

    Parameters
    ----------
    n, signal, sigma, dist, p, df, diag_var, dtype, seed
        As in :func:`fastrmt.operators.deformed_wigner`.
    n_threads : None or int
        Client-side threads (summing the chunk buffers, the signal term).
    client : dask.distributed.Client, optional
        An existing client; the operator never closes it.
    scheduler : str, optional
        Address of an existing scheduler (``"tcp://host:8786"``); a client is opened to
        it (and closed by :meth:`DistributedWigner.close`).
    n_workers : int, optional
        With neither ``client`` nor ``scheduler``: the workers of the LocalCluster the
        operator starts (one process and one thread each; default: the cores).

    Returns
    -------
    DistributedWigner
        Use it in a ``with`` block, or call ``close()``, to shut down a cluster it
        started.

    Raises
    ------
    TypeError, ValueError
        On invalid arguments, checked before any cluster is started or contacted.

    Examples
    --------
    >>> from fastrmt.distributed import distributed_wigner
    >>> with distributed_wigner(2000, seed=0, n_workers=2) as W:   # doctest: +SKIP
    ...     top = fastrmt.eigsh(W, 3, which="LA", return_eigenvectors=False)
    """
    # the single-process operator checks (and resolves) everything about the matrix;
    # matrix-free, it allocates nothing
    base = deformed_wigner(n, signal, sigma=sigma, dist=dist, p=p, df=df, diag_var=diag_var,
                           storage="matrix-free", dtype=dtype, seed=seed, n_threads=n_threads)
    n_workers = check_cluster_args(client, scheduler, n_workers)
    cluster = owned = None
    if client is None:
        if scheduler is None:
            cluster = LocalCluster(n_workers=n_workers or cpu_count(), threads_per_worker=1,
                                   processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            client = Client(scheduler)
        owned = client
    return DistributedWigner(base.spec, base.signal, base.storage_dtype, n_threads, client,
                             owned, cluster)
