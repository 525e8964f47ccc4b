"""Page tables in a Machine's RAM, for tests that run code with translation on.

Builds on tests/pagetables.py (the tree builder the reference-walker tests use) by backing its
word memory with the machine's RAM, so the same builder feeds both oracles.
"""
from __future__ import annotations

from pagetables import Allocator, Tables, ttbr, vtcr

S2_DEVICE_nGnRE = 0b0001      # stage 2 MemAttr: Device-nGnRE
S2_NORMAL_WB = 0b1111         # Normal, Inner/Outer Write-Back


class RamWords:
    """The ``mem.write64`` interface of pagetables.Memory, writing into a Machine's RAM."""

    def __init__(self, machine):
        self.m = machine

    def write64(self, pa: int, value: int) -> None:
        self.m.write_phys(pa, value.to_bytes(8, "little"))

    def __call__(self, pa: int):
        try:
            return self.m.read_u64(pa)
        except Exception:
            return None


def identity_stage2(m, table_pa: int, *, vmid: int = 0, pe: int = 0) -> None:
    """Stage 2 = identity on a 32-bit IPA space with 1 GiB blocks (4K granule, start level
    1): the first GiB (devices) Device-nGnRE, the rest Normal Write-Back; all RW, executable.
    Sets VTCR_EL2 and VTTBR_EL2 (HCR_EL2 is the caller's)."""
    t = Tables(RamWords(m), Allocator(table_pa), granule=4096, inputsize=32, stage=2,
               start_level=1)
    t.map(0, 0, 1 << 30, level=1, memattr=S2_DEVICE_nGnRE)
    t.map(1 << 30, 1 << 30, 3 << 30, level=1, memattr=S2_NORMAL_WB)
    m.set_reg("VTCR_EL2", vtcr(t0sz=32, start_level=1), pe)
    m.set_reg("VTTBR_EL2", ttbr(t.root, vmid), pe)
