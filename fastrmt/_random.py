"""The one random-number design of fastrmt.

Every random quantity in the library comes from the counter-based generator
Philox4x32-10 (Salmon, Moraes, Dror & Shaw, SC'11), keyed by a 64-bit key derived from
the user's seed.  Entry (i, j), i <= j, of a Wigner matrix is a pure function of
(key, stream, i, j): it is computed from the Philox block at counter
``(j // 2, i, t, stream)`` (half ``j % 2`` of the 128 output bits, ``t`` = 0, 1, ... for
the rare rejections).  Consequences:

* the same seed gives bit-identical matrices whatever the number of threads;
* the full and the packed layouts hold the same values;
* any block of rows or any tile can be regenerated alone (the matrix-free operator
  relies on it).

``stream`` separates independent uses of one seed (the noise matrix, the Haar basis of
the signal, the sign flips of the fast basis, the solver's start block...).

Seeds
-----
``seed`` may be

* ``None``: fresh OS entropy (the entropy is recorded in :class:`Key`, so the run can be
  reproduced);
* an ``int`` >= 0: hashed by :class:`numpy.random.SeedSequence`;
* a :class:`numpy.random.SeedSequence`: its ``generate_state(2, uint32)`` is the key;
* a :class:`numpy.random.Generator`: one call ``seed.integers(0, 2**32, size=2,
  dtype=np.uint32)`` is consumed, so the generator advances by that one draw;
* a :class:`Key` (already resolved).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = ["Key", "SeedLike", "as_key", "STREAM_NOISE", "STREAM_BASIS", "STREAM_SOLVER",
           "STREAM_SIGNAL", "STREAM_NULL"]

# Stream identifiers: the 4th counter word of Philox.
STREAM_NOISE = 0
STREAM_BASIS = 1
STREAM_SOLVER = 2
STREAM_SIGNAL = 3
STREAM_NULL = 4  # pure-noise reference matrices (fastrmt.shrinkage.noise_floor)


@dataclass(frozen=True)
class Key:
    """A resolved seed: the Philox key and, when known, the entropy it came from."""

    k0: int
    k1: int
    entropy: int | None = None

    def to_seed(self) -> Any:
        """A value that, passed back as ``seed``, reproduces this key exactly."""
        return self.entropy if self.entropy is not None else self


SeedLike = Union[None, int, np.integer, np.random.SeedSequence, np.random.Generator, Key]


def as_key(seed: SeedLike, name: str = "seed") -> Key:
    """Resolve any accepted seed into a :class:`Key` (see the module docstring)."""
    if isinstance(seed, Key):
        return seed
    if seed is None:
        ss = np.random.SeedSequence()
        k = ss.generate_state(2, np.uint32)
        return Key(int(k[0]), int(k[1]), int(ss.entropy))
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, an int, a SeedSequence or a Generator, "
                        f"got {seed!r} (type bool)")
    if isinstance(seed, numbers.Integral):
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {seed}")
        k = np.random.SeedSequence(seed).generate_state(2, np.uint32)
        return Key(int(k[0]), int(k[1]), seed)
    if isinstance(seed, np.random.SeedSequence):
        k = seed.generate_state(2, np.uint32)
        ent = seed.entropy if not seed.spawn_key and isinstance(seed.entropy, int) else None
        return Key(int(k[0]), int(k[1]), ent)
    if isinstance(seed, np.random.Generator):
        k = seed.integers(0, 2**32, size=2, dtype=np.uint32)
        return Key(int(k[0]), int(k[1]), None)
    raise TypeError(f"{name} must be None, an int, a SeedSequence or a Generator, "
                    f"got {seed!r} (type {type(seed).__name__})")
