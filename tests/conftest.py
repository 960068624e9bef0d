import os

import numpy as np
import pytest

# The memory refusals are tested against a fixed 16 GiB machine, not the one running the
# tests (subprocesses of the CLI tests inherit it); test_validation checks detection.
os.environ["FASTRMT_AVAILABLE_MEMORY"] = str(16 << 30)

# Per-dtype tolerances (relative), as in scikit-learn's tests.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)
