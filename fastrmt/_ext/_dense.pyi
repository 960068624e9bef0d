import numpy as np
import numpy.typing as npt

def dense_matmat(A: npt.NDArray[np.floating], V: npt.NDArray[np.floating],
                 out: npt.NDArray[np.floating], tr: int, n_threads: int) -> None: ...
def dense_matmat_widen(A: npt.NDArray[np.float32], V: npt.NDArray[np.float64],
                       out: npt.NDArray[np.float64], tr: int, tc: int,
                       n_threads: int) -> None: ...
