"""The SIMD&FP register-file accessors (armvirt/exec/vreg.py) against Python integers."""
import numpy as np
from hypothesis import given, strategies as st

from armvirt import layout as L
from armvirt.exec import vreg

u64 = st.integers(0, 2**64 - 1)
esizes = st.sampled_from([8, 16, 32, 64])


def s64(x):
    return x - (1 << 64) if x >> 63 else x


def row(lo, hi, n=3):
    c = np.zeros(L.CPU_SIZE, dtype=np.int64)
    c[L.V_BASE + 2 * n] = s64(lo)
    c[L.V_BASE + 2 * n + 1] = s64(hi)
    return c


@given(u64, u64, esizes, st.data())
def test_elem_reads_the_lane(lo, hi, esize, data):
    e = data.draw(st.integers(0, 128 // esize - 1))
    want = ((hi << 64 | lo) >> (e * esize)) & ((1 << esize) - 1)
    got = vreg.elem(row(lo, hi), 3, e, esize)
    assert got & ((1 << 64) - 1) == want
    assert vreg.elem_of(s64(lo), s64(hi), e, esize) & ((1 << 64) - 1) == want


@given(u64, u64, u64, esizes, st.data())
def test_put_elem_writes_only_the_lane(lo, hi, v, esize, data):
    e = data.draw(st.integers(0, 128 // esize - 1))
    m = (1 << esize) - 1
    full = hi << 64 | lo
    want = (full & ~(m << (e * esize))) | ((v & m) << (e * esize))
    nlo, nhi = vreg.put_elem(s64(lo), s64(hi), e, esize, s64(v & m) if esize == 64 else v & m)
    assert ((nhi & (2**64 - 1)) << 64 | (nlo & (2**64 - 1))) == want


@given(u64, esizes)
def test_elem_sext(v, esize):
    x = v & ((1 << esize) - 1)
    want = x - (1 << esize) if x >> (esize - 1) else x
    assert vreg.elem_sext(s64(x) if esize == 64 else x, esize) == want


def test_scalar_write_zeroes_the_rest():
    c = row(2**64 - 1, 2**64 - 1)
    vreg.set_vscalar(c, 3, -1, 16)
    assert c[L.V_BASE + 6] == 0xFFFF and c[L.V_BASE + 7] == 0
    vreg.set_vq(c, 3, 5, 7, 0)
    assert (c[L.V_BASE + 6], c[L.V_BASE + 7]) == (5, 0)
    vreg.set_vq(c, 3, 5, 7, 1)
    assert (c[L.V_BASE + 6], c[L.V_BASE + 7]) == (5, 7)
