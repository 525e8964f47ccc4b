"""MRS/MSR: system-register accesses carried out from the table of ``sysreg_table.py``.

``build_tables()`` turns the records into two arrays the jitted code reads (``S_SR_INDEX``:
encoding → record, ``S_SR_INFO``: one row of columns ``layout.SRI_*`` per record; both are
regions of the machine state array).
``sysreg_read`` / ``sysreg_write`` then follow the order of the Arm ARM's per-register access
pseudocode: does the encoding exist at this EL (else UNDEFINED), the EL0 enable controls (trap
to EL1, or EL2 under HCR_EL2.TGE), the FP access traps for FPCR/FPSR, the EL2 trap controls
(HCR_EL2.{TVM,TRVM,TID1,TID2,TID3,TACR}, CPTR_EL2.TCPAC, MDCR_EL2.{TDA,TDOSA,TDRA,TDE}) with
EC 0x18, and finally the access itself.
"""
import numpy as np
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu import sysreg_table as T
from armvirt.cpu.exceptions import (EC_FP_ACCESS, HCR_IMO, HCR_FMO, HCR_AMO, HCR_TACR, HCR_TDZ,
                                    HCR_TGE, HCR_TID1, HCR_TID2, HCR_TID3, HCR_TRVM, HCR_TVM,
                                    HCR_VF, HCR_VI, HCR_VSE, default_target_el, raise_sync,
                                    raise_sysreg_trap, raise_undefined)
from armvirt.cpu.debug import debug_rearm
from armvirt.cpu.pstate import (drop_cached_translations, read_sp_el, set_el_spsel, set_pan,
                                write_sp_el)
from armvirt.devices.gic_sysregs import gic_sysreg_peek, gic_sysreg_read, gic_sysreg_write
from armvirt.devices.pmu import pmu_sysreg_read, pmu_sysreg_write
from armvirt.devices.pmu_counter import pmu_sync
from armvirt.devices.timer import counter_value, timer_sysreg_read, timer_sysreg_write
from armvirt.gen_layout import has_slot


def build_tables() -> tuple[np.ndarray, np.ndarray]:
    """(S_SR_INDEX, S_SR_INFO region contents) for the machine state."""
    index = np.full(1 << 16, -1, dtype=np.int16)
    info = np.zeros((len(T.SYSREGS), L.SRI_SIZE), dtype=np.int64)
    slot = T.SYSREG_BASE
    for i, r in enumerate(T.SYSREGS):
        index[r.encoding] = i
        row = info[i]
        if has_slot(r):
            row[L.SRI_SLOT] = slot
            slot += 1
        else:
            row[L.SRI_SLOT] = -1
        row[L.SRI_ENC] = r.encoding
        row[L.SRI_ACCESS] = r.access
        row[L.SRI_MIN_EL] = r.min_el
        row[L.SRI_EL0_CTL] = r.el0
        row[L.SRI_TRAPS] = r.traps
        row[L.SRI_KIND] = r.kind
        row[L.SRI_WMASK] = T._s64(r.wmask & ((1 << 64) - 1))
        row[L.SRI_FIXED] = T._s64(r.reset & ((1 << 64) - 1))
        row[L.SRI_FLAGS] = r.flags
    return index, info


def reset_values() -> list[tuple[int, int]]:
    """(slot, reset value) for every stored register."""
    out = []
    slot = T.SYSREG_BASE
    for r in T.SYSREGS:
        if has_slot(r):
            out.append((slot, T._s64(r.reset & ((1 << 64) - 1))))
            slot += 1
    return out


# Bits of the registers that gate accesses
SCTLR_UMA = 1 << 9
SCTLR_DZE = 1 << 14
SCTLR_UCT = 1 << 15
CPTR_TFP = 1 << 10
FP_ACCESS_ISS = (1 << 24) | (0xE << 20)  # CV = 1, COND = AL
CPTR_TCPAC = 1 << 31
MDCR_TDE = 1 << 8
MDCR_TDA = 1 << 9
MDCR_TDOSA = 1 << 10
MDCR_TDRA = 1 << 11
MDCR_TPMCR = 1 << 5
MDCR_TPM = 1 << 6
PMUSERENR_EN = 1 << 0
PMUSERENR_SW = 1 << 1
PMUSERENR_CR = 1 << 2
PMUSERENR_ER = 1 << 3
CNTKCTL_EL0PCTEN = 1 << 0
CNTKCTL_EL0VCTEN = 1 << 1
CNTKCTL_EL0VTEN = 1 << 8
CNTKCTL_EL0PTEN = 1 << 9
CNTHCTL_EL1PCTEN = 1 << 0
CNTHCTL_EL1PCEN = 1 << 1


@njit(cache=True)
def el2_trap_mask(c, is_read):
    """The TRAP_* groups that the current EL2 controls trap, for a read or a write."""
    hcr = c[SR.HCR_EL2]
    m = 0
    if is_read:
        if hcr & HCR_TRVM:
            m |= T.TRAP_TRVM
    elif hcr & HCR_TVM:
        m |= T.TRAP_TVM
    if hcr & HCR_TID1:
        m |= T.TRAP_TID1
    if hcr & HCR_TID2:
        m |= T.TRAP_TID2
    if hcr & HCR_TID3:
        m |= T.TRAP_TID3
    if hcr & HCR_TACR:
        m |= T.TRAP_TACR
    if c[SR.CPTR_EL2] & CPTR_TCPAC:
        m |= T.TRAP_TCPAC
    mdcr = c[SR.MDCR_EL2]
    if mdcr & (MDCR_TDA | MDCR_TDE):
        m |= T.TRAP_TDA
    if mdcr & (MDCR_TDOSA | MDCR_TDE):
        m |= T.TRAP_TDOSA
    if mdcr & (MDCR_TDRA | MDCR_TDE):
        m |= T.TRAP_TDRA
    if not c[SR.CNTHCTL_EL2] & CNTHCTL_EL1PCEN:
        m |= T.TRAP_CNTP
    if mdcr & MDCR_TPM:
        m |= T.TRAP_TPM
    if mdcr & MDCR_TPMCR:
        m |= T.TRAP_TPMCR
    return m


@njit(cache=True)
def fp_access_check(c, M, pc):
    """AArch64.CheckFPAdvSIMDEnabled: CPACR_EL1.FPEN at EL0/EL1, then CPTR_EL2.TFP.
    Takes the exception and returns False when FP/SIMD is disabled.

    CPACR_EL1 applies at EL0 even with HCR_EL2.TGE = 1 (only E2H, which armvirt does not
    implement, takes EL0 out of it); AArch64.AdvSIMDFPAccessTrap then routes to EL2 with EC
    0x00 instead of 0x07. The ISS of EC 0x07 is CV = 1, COND = 0b1110 for A64.
    """
    el = c[L.EL]
    if el < 2:
        fpen = (c[SR.CPACR_EL1] >> 20) & 3
        if fpen == 0 or fpen == 2 or (fpen == 1 and el == 0):
            if el == 0 and (c[SR.HCR_EL2] & HCR_TGE):
                raise_sync(c, M, 2, 0x00, 0, pc, 0)
            else:
                raise_sync(c, M, 1, EC_FP_ACCESS, FP_ACCESS_ISS, pc, 0)
            return False
    if c[SR.CPTR_EL2] & CPTR_TFP:
        raise_sync(c, M, 2, EC_FP_ACCESS, FP_ACCESS_ISS, pc, 0)
        return False
    return True


@njit(cache=True)
def _el0_allowed(c, M, rule, is_read, op0, op1, crn, crm, op2, rt, pc):
    """The EL0 enable controls. Returns True to continue, False after taking an exception."""
    if rule == T.EL0_RW:
        return True
    if rule == T.EL0_RO:
        if is_read:
            return True
        raise_undefined(c, M, pc)
        return False
    if rule == T.EL0_FP:
        return fp_access_check(c, M, pc)
    # These EL0 enables live in EL1 registers and still apply under HCR_EL2.TGE = 1: only
    # ELIsInHost(EL0), which needs E2H (not implemented), takes EL0 out of them. The trap then
    # goes to EL2 through default_target_el.
    ok = True
    if rule == T.EL0_UMA:
        ok = (c[SR.SCTLR_EL1] & SCTLR_UMA) != 0
    elif rule == T.EL0_UCT:
        ok = (c[SR.SCTLR_EL1] & SCTLR_UCT) != 0
    elif rule == T.EL0_CNTFRQ:
        ok = (c[SR.CNTKCTL_EL1] & (CNTKCTL_EL0PCTEN | CNTKCTL_EL0VCTEN)) != 0
    elif rule == T.EL0_CNTPCT:
        ok = (c[SR.CNTKCTL_EL1] & CNTKCTL_EL0PCTEN) != 0
    elif rule == T.EL0_CNTVCT:
        ok = (c[SR.CNTKCTL_EL1] & CNTKCTL_EL0VCTEN) != 0
    elif rule == T.EL0_CNTP:
        ok = (c[SR.CNTKCTL_EL1] & CNTKCTL_EL0PTEN) != 0
    elif rule == T.EL0_CNTV:
        ok = (c[SR.CNTKCTL_EL1] & CNTKCTL_EL0VTEN) != 0
    elif rule >= T.EL0_PMU and rule <= T.EL0_PMU_SEL:
        u = c[SR.PMUSERENR_EL0]
        ok = (u & PMUSERENR_EN) != 0
        if rule == T.EL0_PMU_CR and is_read:
            ok = ok or (u & PMUSERENR_CR) != 0
        elif rule == T.EL0_PMU_SW:
            ok = ok or (u & PMUSERENR_SW) != 0
        elif rule == T.EL0_PMU_ER and is_read:
            ok = ok or (u & PMUSERENR_ER) != 0
        elif rule == T.EL0_PMU_SEL:
            ok = ok or (u & PMUSERENR_ER) != 0
    else:
        raise_undefined(c, M, pc)
        return False
    if not ok:
        raise_sysreg_trap(c, M, default_target_el(c), op0, op1, crn, crm, op2, rt, is_read, pc)
    return ok


@njit(cache=True)
def _check_access(c, M, rec, is_read, op0, op1, crn, crm, op2, rt, pc):
    """Every check before the access. Returns True to go ahead."""
    S = M[L.M_MACH]
    r = L.S_SR_INFO + rec * L.SRI_SIZE  # this record's row
    el = c[L.EL]
    need = T.ACC_R if is_read else T.ACC_W
    if (S[r + L.SRI_ACCESS] & need) == 0 or el < S[r + L.SRI_MIN_EL]:
        raise_undefined(c, M, pc)
        return False
    if el == 0 and not _el0_allowed(c, M, S[r + L.SRI_EL0_CTL], is_read,
                                    op0, op1, crn, crm, op2, rt, pc):
        return False
    if S[r + L.SRI_EL0_CTL] == T.EL0_FP and el > 0 and not fp_access_check(c, M, pc):
        return False
    if el < 2:
        traps = S[r + L.SRI_TRAPS]
        if traps and (traps & el2_trap_mask(c, is_read)):
            raise_sysreg_trap(c, M, 2, op0, op1, crn, crm, op2, rt, is_read, pc)
            return False
        if (not is_read) and S[r + L.SRI_ENC] == SR.ENC_CNTFRQ_EL0:
            raise_undefined(c, M, pc)  # CNTFRQ_EL0 is writable only at the highest EL
            return False
        # CNTHCTL_EL2.EL1PCTEN = 0 traps EL0/EL1 reads of the physical counter (E2H = 0)
        if S[r + L.SRI_ENC] == SR.ENC_CNTPCT_EL0 and \
                not (c[SR.CNTHCTL_EL2] & CNTHCTL_EL1PCTEN):
            raise_sysreg_trap(c, M, 2, op0, op1, crn, crm, op2, rt, is_read, pc)
            return False
    return True


@njit(cache=True)
def _read_special(c, M, enc):
    el = c[L.EL]
    if enc == SR.ENC_NZCV:
        return c[L.NZCV] << 28
    if enc == SR.ENC_DAIF:
        return c[L.DAIF] << 6
    if enc == SR.ENC_SPSel:
        return c[L.SPSEL]
    if enc == SR.ENC_CurrentEL:
        return el << 2
    if enc == SR.ENC_PAN:
        return c[L.PSTATE_PAN] << 22
    if enc == SR.ENC_FPCR:
        return c[SR.FPCR]
    if enc == SR.ENC_FPSR:
        return c[SR.FPSR]
    if enc == SR.ENC_SP_EL0:
        return read_sp_el(c, 0)
    if enc == SR.ENC_SP_EL1:
        return read_sp_el(c, 1)
    if enc == SR.ENC_MIDR_EL1:
        return c[SR.VPIDR_EL2] if el == 1 else c[SR.MIDR_EL1]
    if enc == SR.ENC_MPIDR_EL1:
        return c[SR.VMPIDR_EL2] if el == 1 else c[SR.MPIDR_EL1]
    if enc == SR.ENC_DCZID_EL0:
        dzp = 0
        if el == 0 and not (c[SR.SCTLR_EL1] & SCTLR_DZE):
            dzp = 1
        if el < 2 and (c[SR.HCR_EL2] & HCR_TDZ):
            dzp = 1
        return (dzp << 4) | T.DCZID_BS
    if enc == SR.ENC_CCSIDR_EL1:
        # (NumSets-1)<<13 | (Associativity-1)<<3 | (log2(linelen)-4): 32 KiB 2-way L1D,
        # 48 KiB 3-way L1I, 2 MiB 16-way L2, all with 64-byte lines (values of a Cortex-A57).
        sel = c[SR.CSSELR_EL1] & 0xF
        if sel == 0:
            return (255 << 13) | (1 << 3) | 2
        if sel == 1:
            return (255 << 13) | (2 << 3) | 2
        if sel == 2:
            return (2047 << 13) | (15 << 3) | 2
        return 0
    if enc == SR.ENC_ISR_EL1:
        # A, I, F pending: at EL1 with an interrupt routed to EL2 (HCR_EL2.AMO/IMO/FMO, TGE = 0)
        # its bit shows the virtual one (HCR_EL2.VSE/VI/VF or the GIC's vIRQ/vFIQ), otherwise
        # the physical one.
        hcr = c[SR.HCR_EL2]
        lines = c[L.IRQ_LINES]
        virt = el == 1 and not (hcr & HCR_TGE)
        v = 0
        if virt and (hcr & HCR_AMO) and (hcr & HCR_VSE):
            v |= 1 << 8
        if virt and (hcr & HCR_IMO):
            if (hcr & HCR_VI) or (lines & L.LINE_VIRQ):
                v |= 1 << 7
        elif lines & L.LINE_IRQ:
            v |= 1 << 7
        if virt and (hcr & HCR_FMO):
            if (hcr & HCR_VF) or (lines & L.LINE_VFIQ):
                v |= 1 << 6
        elif lines & L.LINE_FIQ:
            v |= 1 << 6
        return v
    if enc == SR.ENC_CNTFRQ_EL0:
        return c[SR.CNTFRQ_EL0]
    if enc == SR.ENC_CNTPCT_EL0:
        return counter_value(c)
    if enc == SR.ENC_CNTVCT_EL0:
        return counter_value(c) - c[SR.CNTVOFF_EL2]
    if enc == SR.ENC_OSLSR_EL1:
        return c[SR.OSLSR_EL1]
    if enc == SR.ENC_DBGCLAIMSET_EL1:
        return 0xFF  # eight claim tags implemented
    if enc == SR.ENC_DBGCLAIMCLR_EL1:
        return c[SR.DBGCLAIMSET_EL1]
    return 0


@njit(cache=True)
def _write_special(c, M, enc, v):
    if enc == SR.ENC_NZCV:
        c[L.NZCV] = (v >> 28) & 0xF
    elif enc == SR.ENC_DAIF:
        c[L.DAIF] = (v >> 6) & 0xF
        c[L.ATTN] = 1
    elif enc == SR.ENC_SPSel:
        set_el_spsel(c, c[L.EL], v & 1)
    elif enc == SR.ENC_PAN:
        set_pan(c, (v >> 22) & 1)
    elif enc == SR.ENC_FPCR:
        c[SR.FPCR] = v & 0x07FF9F00
    elif enc == SR.ENC_FPSR:
        c[SR.FPSR] = v & 0xF800009F
    elif enc == SR.ENC_SP_EL0:
        write_sp_el(c, 0, v)
    elif enc == SR.ENC_SP_EL1:
        write_sp_el(c, 1, v)
    elif enc == SR.ENC_CNTFRQ_EL0:
        c[SR.CNTFRQ_EL0] = v & 0xFFFFFFFF
    elif enc == SR.ENC_OSLAR_EL1:
        c[SR.OSLSR_EL1] = (c[SR.OSLSR_EL1] & ~2) | ((v & 1) << 1)
    elif enc == SR.ENC_DBGCLAIMSET_EL1:
        c[SR.DBGCLAIMSET_EL1] |= v & 0xFF
    elif enc == SR.ENC_DBGCLAIMCLR_EL1:
        c[SR.DBGCLAIMSET_EL1] &= ~(v & 0xFF)


@njit(cache=True)
def device_sysreg_peek(c, M, enc, kind):
    """A device-backed register's value for a debugger: no access checks, no side effects
    (reading ICC_IAR1_EL1 this way acknowledges nothing)."""
    if kind == T.KIND_GIC:
        return gic_sysreg_peek(c, M, enc)
    if kind == T.KIND_TIMER:
        return timer_sysreg_read(c, M, enc)
    if kind == T.KIND_PMU:
        el = c[L.EL]
        pmu_sync(c, M, el)   # count up to now at the PE's EL; the read below adds nothing
        c[L.EL] = 2          # EL2's view: every counter, nothing UNDEFINED, for a debugger
        ok, v = pmu_sysreg_read(c, M, enc, c[L.PC])
        c[L.EL] = el
        return v
    return 0


@njit(cache=True, inline="always")
def _sp_el0_is_current(c, enc):
    return enc == SR.ENC_SP_EL0 and c[L.SPSEL] == 0


@njit(cache=True)
def sysreg_read(c, M, op0, op1, crn, crm, op2, rt, pc):
    """MRS Xt, <sysreg>. Returns (ok, value); on False an exception was taken."""
    enc = (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
    rec = M[L.M_MACH][L.S_SR_INDEX + enc]
    if rec < 0 or _sp_el0_is_current(c, enc):
        raise_undefined(c, M, pc)
        return False, 0
    if not _check_access(c, M, rec, True, op0, op1, crn, crm, op2, rt, pc):
        return False, 0
    S = M[L.M_MACH]
    r = L.S_SR_INFO + rec * L.SRI_SIZE  # this record's row
    kind = S[r + L.SRI_KIND]
    c[L.CYCLES] += S[r + L.SRI_RCOST]  # the profile's cost of this register's class
    if kind == T.KIND_PLAIN:
        return True, c[S[r + L.SRI_SLOT]]
    if kind == T.KIND_CONST:
        return True, S[r + L.SRI_FIXED]
    if kind == T.KIND_GIC:
        return gic_sysreg_read(c, M, enc, op0, op1, crn, crm, op2, rt, pc)
    if kind == T.KIND_TIMER:
        return True, timer_sysreg_read(c, M, enc)
    if kind == T.KIND_PMU:
        return pmu_sysreg_read(c, M, enc, pc)
    return True, _read_special(c, M, enc)


@njit(cache=True)
def sysreg_write(c, M, op0, op1, crn, crm, op2, rt, value, pc):
    """MSR <sysreg>, Xt. Returns ok; on False an exception was taken."""
    enc = (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
    rec = M[L.M_MACH][L.S_SR_INDEX + enc]
    if rec < 0 or _sp_el0_is_current(c, enc):
        raise_undefined(c, M, pc)
        return False
    if not _check_access(c, M, rec, False, op0, op1, crn, crm, op2, rt, pc):
        return False
    S = M[L.M_MACH]
    r = L.S_SR_INFO + rec * L.SRI_SIZE  # this record's row
    kind = S[r + L.SRI_KIND]
    c[L.CYCLES] += S[r + L.SRI_WCOST]
    if kind == T.KIND_PLAIN:
        wm = S[r + L.SRI_WMASK]
        slot = S[r + L.SRI_SLOT]
        c[slot] = (value & wm) | (c[slot] & ~wm)
    elif kind == T.KIND_SPECIAL:
        _write_special(c, M, enc, value)
    elif kind == T.KIND_GIC:
        if not gic_sysreg_write(c, M, enc, op0, op1, crn, crm, op2, rt, value, pc):
            return False
    elif kind == T.KIND_TIMER:
        timer_sysreg_write(c, M, enc, value)
    elif kind == T.KIND_PMU:
        if not pmu_sysreg_write(c, M, enc, value, pc):
            return False
    if S[r + L.SRI_TRAPS] & (T.TRAP_TDA | T.TRAP_TDOSA):
        debug_rearm(c)   # a debug register: which debug features are armed may have changed
    flags = S[r + L.SRI_FLAGS]
    if flags & T.SRF_REGIME:
        drop_cached_translations(c)
    if flags & T.SRF_ATTN:
        c[L.ATTN] = 1
    return True
