import numpy as np
import numpy.typing as npt

def unpack(data: npt.NDArray[np.floating], n: int, out: npt.NDArray[np.floating],
           n_threads: int) -> None: ...
