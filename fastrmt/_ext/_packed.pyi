import numpy as np
import numpy.typing as npt

def unpack(data: npt.NDArray[np.floating], n: int, out: npt.NDArray[np.floating],
           n_threads: int) -> None: ...
def sym_matmat(data: npt.NDArray[np.floating], n: int, packed: bool,
               V: npt.NDArray[np.floating], bufs: npt.NDArray[np.floating],
               starts: npt.NDArray[np.intp], rows: npt.NDArray[np.intp], tile: int,
               n_threads: int, columns: bool = ...) -> None: ...
def sum_chunks(bufs: npt.NDArray[np.floating], out: npt.NDArray[np.floating],
               accumulate: bool, n_threads: int) -> None: ...
