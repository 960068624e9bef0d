import pytest

from fastrmt import wigner
from fastrmt._validation import available_memory


def test_available_memory_detected_without_override(monkeypatch):
    monkeypatch.delenv("FASTRMT_AVAILABLE_MEMORY", raising=False)
    got = available_memory()
    assert isinstance(got, int) and got > 0


def test_available_memory_override(monkeypatch):
    monkeypatch.setenv("FASTRMT_AVAILABLE_MEMORY", str(1 << 30))
    assert available_memory() == 1 << 30
    # the refusal uses it: a 20000 x 20000 float64 matrix (3 GiB) does not fit in 1 GiB
    with pytest.raises(ValueError, match=r"needs 3\.0 GiB but only 1\.0 GiB"):
        wigner(20000)


@pytest.mark.parametrize("bad", ["lots", "-5", "0"])
def test_available_memory_override_bad(monkeypatch, bad):
    monkeypatch.setenv("FASTRMT_AVAILABLE_MEMORY", bad)
    with pytest.raises(ValueError, match="FASTRMT_AVAILABLE_MEMORY must be"):
        available_memory()
