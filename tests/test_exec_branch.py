"""Branches: differential tests against unicorn (``tests/oracle.py``) and direct checks of what
unicorn cannot show (targets outside its one mapped code page, tagged addresses).

Unicorn maps a single 4 KiB page at CODE and faults on any fetch outside it, even as the very
next fetch after the last counted instruction, so every branch target compared with it lies
inside that page. Misaligned register targets are fine: both stop before fetching there.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from oracle import CODE, compare

U64 = (1 << 64) - 1
MID = 0x800                        # offset of the branch under test when targets go backwards


# Encoders (Arm ARM C4.1.65)
def b(imm26: int) -> int:
    return 0x1400_0000 | (imm26 & 0x3FF_FFFF)


def bl(imm26: int) -> int:
    return 0x9400_0000 | (imm26 & 0x3FF_FFFF)


def b_cond(cond: int, imm19: int) -> int:
    return 0x5400_0000 | ((imm19 & 0x7_FFFF) << 5) | cond


def cbz(sf: int, nz: int, imm19: int, rt: int) -> int:
    return (sf << 31) | 0x3400_0000 | (nz << 24) | ((imm19 & 0x7_FFFF) << 5) | rt


def tbz(nz: int, bit: int, imm14: int, rt: int) -> int:
    return ((bit >> 5) << 31) | 0x3600_0000 | (nz << 24) | ((bit & 31) << 19) \
        | ((imm14 & 0x3FFF) << 5) | rt


def br(opc: int, rn: int) -> int:
    """opc 0 = BR, 1 = BLR, 2 = RET."""
    return 0xD61F_0000 | (opc << 21) | (rn << 5)


regs = st.lists(st.one_of(st.integers(0, U64), st.sampled_from([0, 1, U64, 1 << 63, 1 << 31,
                                                                0xFFFF_FFFF, 0x1_0000_0000])),
                min_size=31, max_size=31)
nzcv = st.integers(0, 15).map(lambda f: f << 28)
# A word offset from MID that stays inside the code page.
page_offset = st.integers(-(MID // 4), (0x1000 - MID) // 4 - 1)


SPIN = 0x1400_0000                 # b .


def at_mid(word: int) -> list[int]:
    """A whole page: ``word`` at CODE + MID, reached by a B from CODE, and ``b .`` everywhere
    else. compare() runs one instruction per word, so after the branch under test both
    emulators spin wherever it went and the PCs can be compared."""
    return [b(MID // 4)] + [SPIN] * (MID // 4 - 1) + [word] + [SPIN] * ((0x1000 - MID) // 4 - 1)


# ---------------------------------------------------------------------------------------------
# One branch, both directions, against unicorn
# ---------------------------------------------------------------------------------------------
@settings(max_examples=150)
@given(off=page_offset, cond=st.integers(0, 15), flags=nzcv, x=regs)
def test_b_cond(off, cond, flags, x):
    compare(at_mid(b_cond(cond, off)), x, nzcv=flags)


@settings(max_examples=100)
@given(off=page_offset, link=st.booleans(), x=regs)
def test_b_bl(off, link, x):
    compare(at_mid(bl(off) if link else b(off)), x)


@settings(max_examples=200)
@given(off=page_offset, sf=st.integers(0, 1), nz=st.integers(0, 1), rt=st.integers(0, 31),
       zero=st.booleans(), x=regs)
def test_cbz_cbnz(off, sf, nz, rt, zero, x):
    if zero and rt < 31:
        x[rt] = 0 if sf else x[rt] & ~0xFFFF_FFFF   # a W register can be zero with X != 0
    compare(at_mid(cbz(sf, nz, off, rt)), x)


@settings(max_examples=200)
@given(off=page_offset, nz=st.integers(0, 1), bit=st.integers(0, 63), rt=st.integers(0, 31),
       x=regs)
def test_tbz_tbnz(off, nz, bit, rt, x):
    compare(at_mid(tbz(nz, bit, off, rt)), x)


@settings(max_examples=200)
@given(opc=st.integers(0, 2), rn=st.integers(0, 30), target=st.integers(0, 0xFFC), x=regs)
def test_br_blr_ret(opc, rn, target, x):
    # Any target inside the page, misaligned ones included (the PC alignment fault is only taken
    # by the next fetch, which neither side makes). Unicorn looks at the 4 bytes at the target
    # even so, and faults when they cross the end of its page: hence the bound 0xFFC.
    x[rn] = CODE + target
    compare([br(opc, rn)], x)


# ---------------------------------------------------------------------------------------------
# Chains of branches inside one block, against unicorn
# ---------------------------------------------------------------------------------------------
N = 16


@st.composite
def branch_block(draw):
    """N random branches whose targets all lie in the block, and registers that point into
    it; the last one is a B back so that execution never falls out of the block."""
    words = []
    targets = [CODE + 4 * draw(st.integers(0, N - 1)) for _ in range(8)]
    for i in range(N - 1):
        off = draw(st.integers(-i, N - 1 - i))
        kind = draw(st.integers(0, 8))
        rt = draw(st.integers(0, 31))
        if kind == 0:
            words.append(b(off))
        elif kind == 1:
            words.append(bl(off))
        elif kind == 2:
            words.append(b_cond(draw(st.integers(0, 15)), off))
        elif kind == 3:
            words.append(cbz(draw(st.integers(0, 1)), draw(st.integers(0, 1)), off, rt))
        elif kind == 4:
            words.append(tbz(draw(st.integers(0, 1)), draw(st.integers(0, 63)), off, rt))
        else:
            # register branches only through registers that hold block addresses
            rn = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 30]))
            words.append(br(draw(st.integers(0, 2)), rn))
    words.append(b(-draw(st.integers(0, N - 1))))
    x = draw(regs)
    x[:8] = targets
    x[30] = CODE + 4 * draw(st.integers(0, N - 1))
    return words, x


@settings(max_examples=150)
@given(block=branch_block(), flags=nzcv, pad=st.integers(0, 32))
def test_branch_chains(block, flags, pad):
    # compare() runs as many instructions as it is given words: NOPs after the block (never
    # reached: the block ends with a B back and every target lies inside it) make the chain
    # run for N + pad steps.
    words, x = block
    compare(words + [0xD503_201F] * pad, x, nzcv=flags)


# ---------------------------------------------------------------------------------------------
# Direct checks on armvirt (outside what unicorn can map)
# ---------------------------------------------------------------------------------------------
def _machine(words, el=1, **regs):
    from armvirt.machine import Machine
    m = Machine(ram_size=1 << 20)
    m.write_phys(CODE, b"".join(w.to_bytes(4, "little") for w in words))
    m.boot_pe(0, CODE, el=el)
    for k, v in regs.items():
        m.set_reg(k, v)
    return m


def test_immediate_offsets_at_their_extremes():
    cases = [
        (b(-(1 << 25)), CODE - (1 << 27)),
        (b((1 << 25) - 1), CODE + (1 << 27) - 4),
        (b_cond(0xE, -(1 << 18)), CODE - (1 << 20)),
        (b_cond(0xF, (1 << 18) - 1), CODE + (1 << 20) - 4),   # cond 1111 is "always" too
        (cbz(1, 0, -(1 << 18), 31), CODE - (1 << 20)),        # CBZ XZR: always taken
        (tbz(0, 63, (1 << 13) - 1, 31), CODE + (1 << 15) - 4),
        (tbz(0, 0, -(1 << 13), 31), CODE - (1 << 15)),
    ]
    for word, target in cases:
        m = _machine([word])
        m.step(1)
        assert m.reg("pc") == target, hex(word)
    m = _machine([bl(-(1 << 25))])
    m.step(1)
    assert m.reg("pc") == CODE - (1 << 27)
    assert m.reg("x30") == CODE + 4


def test_branch_to_any_64_bit_value():
    for v in (0, 0xFFFF_FFFF_FFFF_FFFC, 0x8000_0000_0000_0001, 0x1234_5678_9ABC_DEF3):
        m = _machine([br(0, 9)], x9=v)
        m.step(1)
        assert m.reg("pc") == v


def test_blr_x30_branches_to_the_old_x30():
    m = _machine([br(1, 30)], x30=CODE + 0x100)
    m.step(1)
    assert m.reg("pc") == CODE + 0x100
    assert m.reg("x30") == CODE + 4


def test_top_byte_ignore_on_register_branches():
    # AArch64.BranchAddr: with TCR_EL1.TBI0/TBI1 the top byte is replaced by the sign extension
    # of bit 55 (EL1&0 regime); with TCR_EL2.TBI it is cleared (EL2 regime).
    tbi0, tbi1 = 1 << 37, 1 << 38
    m = _machine([br(0, 1)], x1=0xAB00_0000_4000_0100, TCR_EL1=tbi0)
    m.step(1)
    assert m.reg("pc") == 0x0000_0000_4000_0100
    m = _machine([br(0, 1)], x1=0x12FF_FFFF_FFFF_F000, TCR_EL1=tbi1)
    m.step(1)
    assert m.reg("pc") == 0xFFFF_FFFF_FFFF_F000
    m = _machine([br(0, 1)], x1=0x12FF_FFFF_FFFF_F000, TCR_EL1=tbi0)   # TBI1 = 0: unchanged
    m.step(1)
    assert m.reg("pc") == 0x12FF_FFFF_FFFF_F000
    m = _machine([br(2, 1)], el=2, x1=0xAB80_0000_4000_0100, TCR_EL2=(1 << 31) | (1 << 23)
                 | (1 << 20))
    m.step(1)
    assert m.reg("pc") == 0x0080_0000_4000_0100
