"""Input validation shared by every public function.

Each helper raises ``TypeError`` for a wrong type and ``ValueError`` for a wrong value,
with a message that names the argument and shows what was received.  They run before
any large allocation.
"""
from __future__ import annotations

import numbers
import os
from typing import Any, Iterable

import numpy as np

__all__ = [
    "check_int",
    "check_real",
    "check_choice",
    "check_dtype",
    "check_bool",
    "available_memory",
    "check_memory",
    "format_bytes",
    "check_array",
    "check_points",
    "check_probabilities",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (type {type(value).__name__})"


def check_int(name: str, value: Any, *, min_value: int | None = None,
              max_value: int | None = None) -> int:
    """Return ``value`` as a Python int; bool and floats are refused (no silent casting)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_show(value)}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_real(name: str, value: Any, *, min_value: float | None = None,
               max_value: float | None = None, strict_min: bool = False,
               strict_max: bool = False) -> float:
    """Return ``value`` as a finite Python float within the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_show(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None:
        if (strict_min and value <= min_value) or (not strict_min and value < min_value):
            op = ">" if strict_min else ">="
            raise ValueError(f"{name} must be {op} {min_value}, got {value}")
    if max_value is not None:
        if (strict_max and value >= max_value) or (not strict_max and value > max_value):
            op = "<" if strict_max else "<="
            raise ValueError(f"{name} must be {op} {max_value}, got {value}")
    return value


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_show(value)}")
    return bool(value)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {choices}, got {_show(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_dtype(name: str, value: Any) -> np.dtype:
    """Accept float32 or float64 (as dtype, type or string); refuse anything else."""
    try:
        dt = np.dtype(value)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {_show(value)}") from exc
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def available_memory() -> int:
    """Bytes of memory this process can still allocate (MemAvailable, cgroup limit aware).

    ``FASTRMT_AVAILABLE_MEMORY`` (bytes) overrides the detection: for containers whose
    limits are not visible, and for tests that must not depend on the machine.
    """
    env = os.environ.get("FASTRMT_AVAILABLE_MEMORY")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"FASTRMT_AVAILABLE_MEMORY must be a number of bytes, got "
                             f"{env!r}") from None
        if value <= 0:
            raise ValueError(f"FASTRMT_AVAILABLE_MEMORY must be positive, got {env!r}")
        return value
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic OS
            avail = 2**63 - 1
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                raw = fh.read().strip()
            if raw and raw != "max":
                limit = int(raw)
                used = 0
                for upath in ("/sys/fs/cgroup/memory.current",
                              "/sys/fs/cgroup/memory/memory.usage_in_bytes"):
                    try:
                        with open(upath) as fh:
                            used = int(fh.read().strip())
                        break
                    except OSError:
                        continue
                avail = min(avail, max(limit - used, 0))
        except (OSError, ValueError):
            continue
    return int(avail)


def format_bytes(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"  # pragma: no cover


def check_memory(what: str, nbytes: int, *, hint: str = "") -> None:
    """Refuse an allocation of ``nbytes`` that would not fit in available memory."""
    avail = available_memory()
    if nbytes > 0.9 * avail:
        msg = (f"{what} needs {format_bytes(nbytes)} but only {format_bytes(avail)} "
               f"of memory is available")
        if hint:
            msg += f"; {hint}"
        raise ValueError(msg)


def check_array(name: str, value: Any, *, ndim: int | None = None,
                dtype: np.dtype | None = None, finite: bool = True) -> np.ndarray:
    """Convert to a float array, checking dimensions and finiteness."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be array-like of real numbers, got {_show(value)}")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be array-like of real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    arr = np.asarray(arr, dtype=dtype if dtype is not None else np.float64)
    if finite and arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def check_points(name: str, value: Any, *, allow_complex: bool = False) -> np.ndarray:
    """Array of finite real (or complex) points of any shape."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a number or array-like of numbers, got {_show(value)}")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a number or array-like of numbers, "
                        f"got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        if not allow_complex:
            raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
        arr = arr.astype(np.complex128)
    else:
        arr = arr.astype(np.float64)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def check_probabilities(name: str, value: Any) -> np.ndarray:
    """Array of probabilities in [0, 1] of any shape (float64)."""
    arr = check_points(name, value)
    if arr.size and (float(arr.min()) < 0.0 or float(arr.max()) > 1.0):
        raise ValueError(f"{name} must be in [0, 1], got values in "
                         f"[{float(arr.min())}, {float(arr.max())}]")
    return arr
