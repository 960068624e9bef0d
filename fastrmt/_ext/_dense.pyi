import numpy as np
import numpy.typing as npt

def dense_matmat(A: npt.NDArray[np.floating], V: npt.NDArray[np.floating],
                 out: npt.NDArray[np.floating], tr: int, n_threads: int) -> None: ...
def dense_matmat_widen(A: npt.NDArray[np.float32], V: npt.NDArray[np.float64],
                       out: npt.NDArray[np.float64], tr: int, tc: int,
                       n_threads: int) -> None: ...
def tall_tmm(A: npt.NDArray[np.float64], B: npt.NDArray[np.float64],
             parts: npt.NDArray[np.float64], bounds: npt.NDArray[np.intp],
             n_threads: int) -> None: ...
def tall_mm(A: npt.NDArray[np.float64], C: npt.NDArray[np.float64],
            out: npt.NDArray[np.float64], bounds: npt.NDArray[np.intp], alpha: float,
            beta: float, n_threads: int) -> None: ...
def tall_project_first(W: npt.NDArray[np.float64], V: npt.NDArray[np.float64],
                       C: npt.NDArray[np.float64], Wp: npt.NDArray[np.float64],
                       parts: npt.NDArray[np.float64], bounds: npt.NDArray[np.intp],
                       sub: int, n_threads: int) -> None: ...
def put_columns(V: npt.NDArray[np.float64], AV: npt.NDArray[np.float64],
                Q: npt.NDArray[np.float64], AQ: npt.NDArray[np.float64], c0: int,
                bounds: npt.NDArray[np.intp], n_threads: int) -> None: ...
