"""Private Numba kernels.  Not part of the public API; import from :mod:`fastrmt`.

Numba's on-disk cache (``cache=True``) keys each compiled function by the timestamp of
*its own* source file only: a kernel that calls (and so inlines) a kernel of another
module keeps its stale machine code when only that other module changes — for example
after ``git pull`` in an editable install.  So, before any kernel module is imported,
the cache files of this package are dropped when the sources of the package as a whole
have changed (a digest of all of them is kept beside the cache).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _drop_stale_cache(here: Path | None = None) -> None:
    here = Path(__file__).resolve().parent if here is None else Path(here)
    cache = here / "__pycache__"
    try:
        digest = hashlib.sha256()
        for src in sorted(here.glob("*.py")):
            digest.update(src.name.encode())
            digest.update(src.read_bytes())
        stamp = digest.hexdigest()
        mark = cache / "fastrmt-kernels.sha256"
        if mark.is_file() and mark.read_text().strip() == stamp:
            return
        if cache.is_dir():
            for f in cache.iterdir():
                if f.suffix in (".nbi", ".nbc"):
                    try:
                        f.unlink()
                    except FileNotFoundError:       # another process got there first
                        pass
        cache.mkdir(exist_ok=True)
        tmp = cache / f"fastrmt-kernels.sha256.{os.getpid()}"
        tmp.write_text(stamp)
        os.replace(tmp, mark)
    except OSError:
        # a read-only install: Numba then caches elsewhere (or not at all); nothing to do
        pass


_drop_stale_cache()
