"""Reading and writing weight files for :mod:`fastrmt.weights`.

Formats (chosen by the file extension):

===================  ===================================================================
``.npy``             one array; it is the single layer ``"array"``
``.npz``             a NumPy archive (``numpy.savez``), one entry per tensor
``.safetensors``     read and written with ``safetensors.numpy`` (``bfloat16`` is refused:
                     NumPy has no such dtype; convert the file to float32 first)
``.pt`` / ``.pth``   a PyTorch state dict (``torch.save(model.state_dict(), ...)``), read
                     with ``torch.load(..., weights_only=True)``; a ``{"state_dict": ...}``
                     or ``{"model": ...}`` wrapper is unwrapped.  PyTorch is optional and
                     imported only for these files.
===================  ===================================================================

Which tensors become layers:

* every 2-D tensor is a layer, as stored (PyTorch's ``nn.Linear`` keeps ``(out, in)``);
* a tensor with more than 2 dimensions is a convolution kernel ``(out, in, k1, k2, ...)``
  and becomes the 2-D matrix ``(out, in * k1 * k2 * ...)`` (C order: row ``o`` is the
  whole filter of output channel ``o``), which is the matrix the convolution applies to
  the unfolded (im2col) input; pruning reshapes the result back;
* 0-D and 1-D tensors (biases, norm scales, counters) are not analysed; they are listed
  in the report as skipped and written back unchanged by pruning.

Every problem with a file raises :class:`WeightsFileError` (a ``ValueError``) with a
one-line message; the command line turns it into exit status 2.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from ._files import atomic_path

__all__ = ["WeightsFileError", "WeightsFile", "FORMATS", "detect_format", "load_file",
           "from_mapping", "save_file"]

FORMATS = {".npy": "npy", ".npz": "npz", ".safetensors": "safetensors", ".pt": "torch",
           ".pth": "torch"}

TORCH_MISSING = "reading .pt files needs PyTorch: pip install torch"


class WeightsFileError(ValueError):
    """A weight file that cannot be used (missing, truncated, wrong format, no 2-D tensor...)."""


@dataclass
class WeightsFile:
    """The tensors of one weight file, in file order.

    ``tensors`` holds every tensor as a NumPy array (original dtype and shape);
    ``layers`` lists the names of the tensors analysed as matrices (2-D, or reshaped
    convolution kernels), ``skipped`` the others with a reason.
    """

    tensors: dict[str, np.ndarray]
    fmt: str
    source: str = "<memory>"
    layers: list[str] = field(default_factory=list)
    skipped: list[tuple[str, tuple[int, ...], str]] = field(default_factory=list)
    torch_dtypes: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] | None = None     # safetensors' __metadata__, kept on save

    def matrix(self, name: str) -> np.ndarray:
        """The 2-D matrix of layer ``name`` (a view; conv kernels flattened to (out, rest))."""
        t = self.tensors[name]
        return t if t.ndim == 2 else t.reshape(t.shape[0], -1)


def detect_format(path: str | os.PathLike) -> str:
    """Format name for ``path`` from its extension; WeightsFileError when unknown."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in FORMATS:
        raise WeightsFileError(
            f"unsupported weight file extension {ext or '(none)'!r} for {os.fspath(path)!r}: "
            f"use one of {', '.join(sorted(FORMATS))}")
    return FORMATS[ext]


def _classify(wf: WeightsFile) -> WeightsFile:
    for name, t in wf.tensors.items():
        if not np.issubdtype(t.dtype, np.floating):
            wf.skipped.append((name, tuple(t.shape), f"dtype {t.dtype} (not floating point)"))
        elif t.ndim < 2:
            wf.skipped.append((name, tuple(t.shape), f"{t.ndim}-D"))
        elif min(t.shape[0], int(np.prod(t.shape[1:]))) < 2:
            wf.skipped.append((name, tuple(t.shape), "fewer than 2 rows or columns"))
        else:
            wf.layers.append(name)
    if not wf.layers:
        raise WeightsFileError(f"no 2-D floating-point tensor to analyse in {wf.source}")
    return wf


def from_mapping(obj: Mapping[str, Any] | np.ndarray, source: str = "<memory>") -> WeightsFile:
    """Wrap an in-memory array or ``{name: array}`` mapping (NumPy or torch tensors)."""
    if isinstance(obj, np.ndarray):
        tensors = {"array": obj}
    elif isinstance(obj, Mapping):
        tensors = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"weights mapping keys must be str, got {k!r} (type "
                                f"{type(k).__name__})")
            tensors[k] = _to_numpy(v, k)
    else:
        raise TypeError("weights must be a path, a NumPy array or a mapping of name to array, "
                        f"got {type(obj).__name__}")
    return _classify(WeightsFile(tensors=tensors, fmt="memory", source=source))


def _to_numpy(v: Any, name: str) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    if type(v).__module__.startswith("torch"):
        t = v.detach().cpu()
        if str(t.dtype) in ("torch.bfloat16", "torch.float16"):
            t = t.float()
        return t.numpy()
    try:
        arr = np.asarray(v)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"weights entry {name!r} is not array-like: {type(v).__name__}") from exc
    if arr.dtype == object:
        raise TypeError(f"weights entry {name!r} is not array-like: {type(v).__name__}")
    return arr


def _import_torch():
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise WeightsFileError(TORCH_MISSING) from exc
    return torch


def load_file(path: str | os.PathLike) -> WeightsFile:
    """Read every tensor of a weight file (see the module docstring)."""
    path = os.fspath(path)
    fmt = detect_format(path)
    if not os.path.exists(path):
        raise WeightsFileError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise WeightsFileError(f"{path!r} is a directory, not a weight file")
    torch_dtypes: dict[str, Any] = {}
    metadata: dict[str, str] | None = None
    try:
        if fmt == "npy":
            arr = np.load(path, allow_pickle=False)
            tensors = {"array": np.asarray(arr)}
        elif fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                tensors = {k: np.asarray(z[k]) for k in z.files}
        elif fmt == "safetensors":
            from safetensors import safe_open
            from safetensors.numpy import load_file as st_load
            tensors = dict(st_load(path))
            with safe_open(path, framework="np") as fh:
                metadata = fh.metadata()
        else:
            torch = _import_torch()
            obj = torch.load(path, map_location="cpu", weights_only=True)
            for key in ("state_dict", "model"):
                if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
                    obj = obj[key]
            if not isinstance(obj, Mapping):
                raise WeightsFileError(f"{path!r} does not hold a state dict "
                                       f"(got {type(obj).__name__})")
            tensors = {}
            for k, v in obj.items():
                if hasattr(v, "detach"):
                    torch_dtypes[str(k)] = v.dtype
                    tensors[str(k)] = _to_numpy(v, str(k))
    except WeightsFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError,
            TypeError) as exc:
        raise WeightsFileError(f"cannot read {path!r} as {fmt}: {_one_line(exc)}") from exc
    except Exception as exc:  # safetensors' own error type, pickle errors...
        raise WeightsFileError(f"cannot read {path!r} as {fmt}: {_one_line(exc)}") from exc
    wf = WeightsFile(tensors=tensors, fmt=fmt, source=path, torch_dtypes=torch_dtypes,
                     metadata=metadata)
    return _classify(wf)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else type(exc).__name__
    return msg if len(msg) <= 200 else msg[:197] + "..."


def save_file(path: str | os.PathLike, wf: WeightsFile, tensors: Mapping[str, np.ndarray], *,
              mode: int | None = None) -> None:
    """Write ``tensors`` in the format of ``path``'s extension, atomically.

    The data go to a temporary file in the same folder (fsynced), renamed over ``path``
    only once complete, so a failure never leaves a partial output file.  A replaced file
    keeps its mode; a new one gets ``mode`` (default ``0o666 & ~umask``).  safetensors
    output keeps ``wf.metadata``.
    """
    path = os.fspath(path)
    fmt = detect_format(path)
    with atomic_path(path, mode=mode) as tmp:
        if fmt == "npy":
            if len(tensors) != 1:
                raise WeightsFileError(".npy output holds one array; use .npz or .safetensors "
                                       f"for {len(tensors)} tensors")
            with open(tmp, "wb") as fh:
                np.save(fh, next(iter(tensors.values())), allow_pickle=False)
        elif fmt == "npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v, order="C") for k, v in tensors.items()})
        elif fmt == "safetensors":
            from safetensors.numpy import save_file as st_save
            st_save({k: np.asarray(v, order="C") for k, v in tensors.items()}, tmp,
                    metadata=wf.metadata)
        else:
            torch = _import_torch()
            out = {}
            for k, v in tensors.items():
                t = torch.from_numpy(np.asarray(v, order="C"))
                if k in wf.torch_dtypes:
                    t = t.to(wf.torch_dtypes[k])
                out[k] = t
            torch.save(out, tmp)
