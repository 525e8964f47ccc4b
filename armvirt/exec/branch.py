"""Branches: immediate, conditional, compare/test and branch, and branch to register.

Handlers of ``armvirt/isa/branch_sys.decode`` (Arm ARM C4.1.65 "Branches, Exception Generating
and System instructions"), following the contract of ``armvirt.exec.common``: on entry
``c[PC]`` already holds ``pc + 4`` (the not-taken path), so a handler only writes ``c[PC]`` when
it branches. A conditional branch that is taken adds the profile's COST_BRANCH_TAKEN to the cost
of its op (``armvirt/costs.py``); B, BL, BR, BLR and RET are always taken and cost that in their
op's entry.

Every handler here is a branch for the PMU's BR_RETIRED event, taken or not
(``pmu_br_retired``: one load and branch while no counter counts it).

The engine re-translates the code page whenever PC leaves the cached one, and its slow fetch
path is also where the PC alignment check lives (``engine.fetch_slow``). A branch to a register
can reach a misaligned address *inside* the cached page, so those handlers drop the cached page
(``c[CODE_VPAGE] = NO_CODE_PAGE``) when ``target<1:0> != 0``: the next fetch takes the PC
alignment fault (EC 0x22, D1.10.1 "PC alignment checking"). Immediate branches are always word
aligned.

Section numbers are those of the Arm ARM (DDI 0487) C6.2 list; they move between issues, the
instruction names do not.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.devices.pmu_counter import pmu_br_retired
from armvirt.exec.common import MASK32, condition_holds

# TCR_ELx top-byte-ignore controls (D19.2 TCR_EL1, TCR_EL2)
TCR_EL1_TBI0_SHIFT = 37
TCR_EL2_TBI_SHIFT = 20
TOP_BYTE = -0x0100000000000000  # bits [63:56] as an int64
# "No cached code page" (armvirt.layout: CODE_VPAGE); one name so the sentinel can change.
NO_CODE_PAGE = L.CODE_VPAGE_NONE


@njit(cache=True, inline="always")
def branch_addr(c, target):
    """AArch64.BranchAddr(vaddress): the PC a branch to ``target`` sets, with the top byte
    handled as AddrTop() says for the current translation regime.

    With TCR_ELx.TBI = 0 (the reset value, and what every guest without tagged pointers uses)
    the address is unchanged. Otherwise bits [63:56] are replaced by the sign extension of bit
    55 in the EL1&0 regime, and by zeros in the EL2 regime (non-VHE).
    """
    if c[L.EL] == 2:
        if (c[SR.TCR_EL2] >> TCR_EL2_TBI_SHIFT) & 1:
            return target & ~TOP_BYTE
        return target
    b55 = (target >> 55) & 1
    if (c[SR.TCR_EL1] >> (TCR_EL1_TBI0_SHIFT + b55)) & 1:
        # SignExtend(vaddress<55:0>), written without a shift pair so that it is also right on
        # Python ints under NUMBA_DISABLE_JIT.
        return target | TOP_BYTE if b55 else target & ~TOP_BYTE
    return target


@njit(cache=True, inline="always")
def branch_to_reg(c, target):
    """BranchTo(target, BranchType_INDIR/...) for a register value: set PC, and make the next
    fetch go through the slow path when the target is misaligned (PC alignment fault)."""
    t = branch_addr(c, target)
    c[L.PC] = t
    if t & 3:
        c[L.CODE_VPAGE] = NO_CODE_PAGE


@njit(cache=True)
def trans_B(c, M, pc, imm26):
    """C6.2.26 B: branch to PC + imm26 * 4."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    c[L.PC] = pc + (imm26 << 2)


@njit(cache=True)
def trans_BL(c, M, pc, imm26):
    """C6.2.35 BL: X30 = PC + 4, then branch to PC + imm26 * 4."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    c[30] = pc + 4
    c[L.PC] = pc + (imm26 << 2)


@njit(cache=True)
def trans_B_cond(c, M, pc, imm19, cond):
    """C6.2.27 B.cond: branch to PC + imm19 * 4 if ConditionHolds(cond) (cond = 1111 behaves
    as 1110, always)."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    if condition_holds(c, cond):
        c[L.PC] = pc + (imm19 << 2)
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_BRANCH_TAKEN]


@njit(cache=True)
def trans_CBZ(c, M, pc, sf, imm19, Rt):
    """C6.2.51 CBZ: branch to PC + imm19 * 4 if X[t] (sf = 1) or W[t] (sf = 0) is zero."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    v = c[Rt] if sf else c[Rt] & MASK32
    if v == 0:
        c[L.PC] = pc + (imm19 << 2)
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_BRANCH_TAKEN]


@njit(cache=True)
def trans_CBNZ(c, M, pc, sf, imm19, Rt):
    """C6.2.50 CBNZ: branch to PC + imm19 * 4 if X[t] (sf = 1) or W[t] (sf = 0) is not zero."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    v = c[Rt] if sf else c[Rt] & MASK32
    if v != 0:
        c[L.PC] = pc + (imm19 << 2)
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_BRANCH_TAKEN]


@njit(cache=True)
def trans_TBZ(c, M, pc, b5, b40, imm14, Rt):
    """C6.2.375 TBZ: branch to PC + imm14 * 4 if bit b5:b40 of X[t] is 0 (b5 = 0 names a W
    register; bit numbers below 32 are the same bit either way)."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    if (c[Rt] >> ((b5 << 5) | b40)) & 1 == 0:
        c[L.PC] = pc + (imm14 << 2)
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_BRANCH_TAKEN]


@njit(cache=True)
def trans_TBNZ(c, M, pc, b5, b40, imm14, Rt):
    """C6.2.374 TBNZ: branch to PC + imm14 * 4 if bit b5:b40 of X[t] is 1."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    if (c[Rt] >> ((b5 << 5) | b40)) & 1 != 0:
        c[L.PC] = pc + (imm14 << 2)
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_BRANCH_TAKEN]


@njit(cache=True)
def trans_BR(c, M, pc, Rn):
    """C6.2.38 BR: branch to X[n] (XZR for n = 31)."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    branch_to_reg(c, c[Rn])


@njit(cache=True)
def trans_BLR(c, M, pc, Rn):
    """C6.2.36 BLR: X30 = PC + 4, branch to X[n]. The target is read before X30 is written, so
    BLR X30 branches to the old X30."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    target = c[Rn]
    c[30] = pc + 4
    branch_to_reg(c, target)


@njit(cache=True)
def trans_RET(c, M, pc, Rn):
    """C6.2.254 RET: branch to X[n] (X30 when the operand is omitted), with a return hint."""
    pmu_br_retired(c, M)   # the PMU's BR_RETIRED: taken or not
    branch_to_reg(c, c[Rn])
