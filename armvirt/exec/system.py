"""Exception generation, hints, barriers, PSTATE and system-register moves, SYS/SYSL (DC, IC, AT,
TLBI) and ERET: the non-branch handlers of ``armvirt/isa/branch_sys.decode``.

The handlers follow the contract of ``armvirt.exec.common``: ``c[PC]`` is ``pc + 4`` on entry;
an exception is taken by the ``raise_*`` helpers of ``armvirt.cpu.exceptions`` (which set PC to
the vector) and the handler returns at once, with no other architectural effect.

Order of checks. Where the Arm ARM's pseudocode for an instruction tests several conditions, the
handler tests them in the same order, because the first one that fires decides which exception
(and which EL, and which syndrome) the guest sees: UNDEFINED at the current EL first, then the
EL0 enables of SCTLR_EL1 (trapping to EL1, or to EL2 under HCR_EL2.TGE), then the HCR_EL2 traps
to EL2, then the operation and its memory faults.

Trapped SYS instructions are reported with EC 0x18 and the ISS of an MSR/MRS/System instruction
trap (D17.2.37): Op0 = 1, Op1, CRn, CRm, Op2, Rt, and Direction 0 (SYS behaves as a write; SYSL
would be a read, but no Armv8.0 SYSL encoding exists). MSR (immediate) traps report Op0 = 0,
CRn = 4 and Rt = 31.

Section numbers are those of the Arm ARM (DDI 0487) C5/C6 lists; they move between issues, the
instruction names do not.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.exceptions import (EC_BRK64, EC_HVC64, EC_SMC64, EC_SVC64, EC_WFX,
                                    HCR_DC, HCR_FB, HCR_HCD, HCR_TDZ, HCR_TGE,
                                    HCR_TPC, HCR_TPU, HCR_TSC, HCR_TSW, HCR_TTLB, HCR_TWE,
                                    HCR_TWI, HCR_VM, MDCR_TDE,
                                    default_target_el, exception_return, raise_sync,
                                    raise_sysreg_trap, raise_undefined, wfi_wakeup)
from armvirt.cpu import mmu
from armvirt.cpu.debug import watchpoint_check
from armvirt.cpu.memory import (ACC_CM, ACC_WRITE, mem_check_write, mem_write,
                                store_snoop, translate, translation_fault)
from armvirt.cpu.pstate import drop_cached_translations, set_el_spsel, set_pan
from armvirt.cpu.sysreg_table import DCZID_BS
from armvirt.cpu.sysregs import sysreg_read, sysreg_write
from armvirt.exec.branch import NO_CODE_PAGE, branch_addr
from armvirt.exec.common import set_x, undefined

# SCTLR_EL1 bits that gate EL0 (D19.2 SCTLR_EL1)
SCTLR_M = 1 << 0
SCTLR_UMA = 1 << 9
SCTLR_DZE = 1 << 14
SCTLR_NTWI = 1 << 16
SCTLR_NTWE = 1 << 18
SCTLR_UCI = 1 << 26

# ISS of a trapped WFI/WFE (D17.2.37, EC 0x01): CV = 1, COND = 0b1110 for A64, TI = 1 for WFE.
WFX_ISS = (1 << 24) | (0xE << 20)

# DC ZVA block: DCZID_EL0.BS is log2 of its size in words (4: 64 bytes).
ZVA_BYTES = 4 << DCZID_BS

# PAR_EL1 (D19.2 PAR_EL1), 64-bit format
PAR_F = 1 << 0
PAR_RES1 = 1 << 11          # bit 11 is RES1 in both the success and the fault format
PAR_NS = 1 << 9             # success: UNKNOWN for a Non-secure regime; reported as 1 (NS space)
PAR_SH_SHIFT = 7
PAR_ATTR_SHIFT = 56
PAR_PA_MASK = 0x0000FFFFFFFFF000   # PA[47:12]
PAR_FST_SHIFT = 1           # fault: FST, the fault status code
PAR_PTW = 1 << 8            # fault: a stage 2 fault on the stage 1 walk
PAR_S = 1 << 9              # fault: the fault was at stage 2


# ---------------------------------------------------------------------------------------------
# Exception generating instructions (C4.1.65 "Exception generation")
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def board_psci_exit(c, M, imm16):
    """Hand an HVC/SMC on the board's PSCI conduit to Python (``armvirt.psci``): an exit like
    KVM's KVM_EXIT_HYPERCALL. ``c[PC]`` already holds the return address (pc + 4), so the call
    completes when Python has written X0 and resumes the loop."""
    mach = M[L.M_MACH]
    mach[L.EXIT_CODE] = L.EXIT_PSCI
    mach[L.EXIT_PE] = c[L.PE_INDEX]
    mach[L.EXIT_AUX] = imm16
    c[L.ATTN] = 1


@njit(cache=True)
def trans_SVC(c, M, pc, imm16):
    """C6.2.329 SVC: AArch64.CallSupervisor(imm16). Supervisor Call exception, EC 0x15 with
    ISS = imm16, preferred return address pc + 4 (D1.10.1), taken to EL1 (EL2 from EL2, or from
    EL0 when HCR_EL2.TGE = 1)."""
    raise_sync(c, M, default_target_el(c), EC_SVC64, imm16, pc + 4, 0)


@njit(cache=True)
def trans_HVC(c, M, pc, imm16):
    """C6.2.112 HVC: UNDEFINED at EL0 and when HCR_EL2.HCD = 1 (no EL3, so HCD is the enable);
    otherwise AArch64.CallHypervisor(imm16): EC 0x16, ISS = imm16, return address pc + 4,
    always to EL2.

    Board PSCI: when the board's conduit is HVC and the call comes from EL1, the board plays the
    part of the firmware above the guest (like QEMU's built-in PSCI) and the call becomes an
    EXIT_PSCI for ``armvirt.psci``. HVC from EL2 always reaches our own EL2 vectors.
    """
    el = c[L.EL]
    if el == 0 or (c[SR.HCR_EL2] & HCR_HCD):
        raise_undefined(c, M, pc)
        return
    if el == 1 and M[L.M_MACH][L.PSCI_CONDUIT] == L.CONDUIT_HVC:
        board_psci_exit(c, M, imm16)
        return
    raise_sync(c, M, 2, EC_HVC64, imm16, pc + 4, 0)


@njit(cache=True)
def trans_SMC(c, M, pc, imm16):
    """C6.2.252 SMC with AArch64.CheckForSMCUndefOrTrap: UNDEFINED at EL0; at EL1 with
    HCR_EL2.TSC = 1 the instruction is trapped to EL2 (EC 0x17, ISS = imm16, preferred return
    address the SMC itself: a trap, not the Secure Monitor Call exception).

    There is no EL3. When the board's PSCI conduit is SMC, the board stands in for EL3 firmware
    and the call becomes an EXIT_PSCI; otherwise SMC is UNDEFINED. The TSC trap applies whatever
    the conduit: strictly, the Arm ARM makes SMC UNDEFINED without EL3 (and FEAT_NV) even when
    TSC = 1, but our hypervisor must be able to trap the SMC-conduit PSCI calls of guests built
    for QEMU `virt` with virtualization=on, as it could on hardware, where EL3 exists.
    """
    el = c[L.EL]
    if el == 0:
        raise_undefined(c, M, pc)
        return
    if el == 1 and (c[SR.HCR_EL2] & HCR_TSC):
        raise_sync(c, M, 2, EC_SMC64, imm16, pc, 0)
        return
    if M[L.M_MACH][L.PSCI_CONDUIT] == L.CONDUIT_SMC:
        board_psci_exit(c, M, imm16)
        return
    raise_undefined(c, M, pc)


@njit(cache=True)
def trans_BRK(c, M, pc, imm16):
    """C6.2.42 BRK: AArch64.SoftwareBreakpoint(imm16). Breakpoint Instruction exception, EC 0x3C,
    ISS = imm16, preferred return address the BRK itself. A debug exception: from EL0/EL1 it is
    routed to EL2 when HCR_EL2.TGE = 1 or MDCR_EL2.TDE = 1, else taken to EL1; from EL2, to EL2."""
    el = c[L.EL]
    if el == 2 or (c[SR.HCR_EL2] & HCR_TGE) or (c[SR.MDCR_EL2] & MDCR_TDE):
        target = 2
    else:
        target = 1
    raise_sync(c, M, target, EC_BRK64, imm16, pc, 0)


@njit(cache=True)
def trans_HLT(c, M, pc, imm16):
    """C6.2.110 HLT: ``if EDSCR.HDE == '0' || !HaltingAllowed() then UNDEFINED``. Halting debug
    is not implemented (no external debugger), so HLT is always UNDEFINED."""
    raise_undefined(c, M, pc)


@njit(cache=True)
def trans_DCPS(c, M, pc, imm16, LL):
    """C6.2.78-80 DCPS1/DCPS2/DCPS3: ``if !Halted() then UNDEFINED``. The PE is never in Debug
    state."""
    raise_undefined(c, M, pc)


@njit(cache=True)
def trans_DRPS(c, M, pc):
    """C6.2.89 DRPS: ``if !Halted() || PSTATE.EL == EL0 then UNDEFINED``. Never in Debug
    state."""
    raise_undefined(c, M, pc)


@njit(cache=True)
def trans_UDF(c, M, pc, imm16):
    """C6.2.386 UDF: permanently UNDEFINED (counted like an unallocated encoding)."""
    undefined(c, M, pc)


# ---------------------------------------------------------------------------------------------
# Hints (C6.2.111 HINT and the named hints)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_NOP(c, M, pc):
    """C6.2.203 NOP."""
    pass


@njit(cache=True)
def trans_YIELD(c, M, pc):
    """C6.2.400 YIELD: a hint that the thread may be swapped out; no effect on a round-robin,
    deterministic schedule."""
    pass


@njit(cache=True)
def trans_HINT(c, M, pc, CRm, op2):
    """C6.2.111 HINT #imm: hint numbers without an Armv8.0 meaning execute as NOP (ESB, PSB,
    CSDB, BTI, the PAuth hints ... are all NOPs on an Armv8.0 PE)."""
    pass


@njit(cache=True)
def trans_SEVL(c, M, pc):
    """C6.2.327 SEVL: SendEventLocal() sets this PE's Event Register."""
    c[L.EVENT_REG] = 1


@njit(cache=True)
def trans_SEV(c, M, pc):
    """C6.2.326 SEV: SendEvent() signals an event to every PE of the system (D1.16.2 "The Event
    Register"). A PE asleep in WFE wakes, and its WFE completes consuming the event; the others
    have their Event Register set."""
    cpus = M[L.M_CPUS]
    for i in range(M[L.M_MACH][L.NUM_PES]):
        other = cpus[i]
        if other[L.POWER] == L.POWER_WFE:
            other[L.POWER] = L.POWER_ON
            other[L.EVENT_REG] = 0
        else:
            other[L.EVENT_REG] = 1


@njit(cache=True)
def wfx_trapped(c, M, pc, is_wfe):
    """The trap checks of WFI/WFE, in the order of the hint pseudocode: at EL0 AArch64.
    CheckForWFxTrap(EL1) on SCTLR_EL1.nTWI/nTWE (taken to EL1, or EL2 when HCR_EL2.TGE = 1:
    AArch64.WFxTrap), then at EL0/EL1 AArch64.CheckForWFxTrap(EL2) on HCR_EL2.TWI/TWE.
    EC 0x01 with ISS CV = 1, COND = 0xE, TI = is_wfe; preferred return: the instruction.
    Returns True when an exception was taken."""
    el = c[L.EL]
    iss = WFX_ISS | (1 if is_wfe else 0)
    if el == 0:
        enable = SCTLR_NTWE if is_wfe else SCTLR_NTWI
        if (c[SR.SCTLR_EL1] & enable) == 0:
            raise_sync(c, M, default_target_el(c), EC_WFX, iss, pc, 0)
            return True
    if el < 2:
        trap = HCR_TWE if is_wfe else HCR_TWI
        if c[SR.HCR_EL2] & trap:
            raise_sync(c, M, 2, EC_WFX, iss, pc, 0)
            return True
    return False


@njit(cache=True)
def interrupt_pending(c, M):
    """InterruptPending() for WFI: is there a WFI wake-up event, i.e. an interrupt signalled to
    the PE whether PSTATE masks it or not (D1.16.2): the GIC's physical IRQ/FIQ, or at EL0/EL1
    a virtual interrupt routed by HCR_EL2.IMO/FMO/AMO (from the GIC's list registers or
    HCR_EL2.VI/VF/VSE)."""
    return wfi_wakeup(c)


@njit(cache=True)
def trans_WFE(c, M, pc):
    """C6.2.397 WFE: if the Event Register is set, clear it and continue; else the WFx traps
    (``wfx_trapped``), then WaitForEvent(): the PE sleeps (POWER_WFE) until SEV or another
    wake-up event; the run loop stops running it at once."""
    if c[L.EVENT_REG]:
        c[L.EVENT_REG] = 0
        return
    if wfx_trapped(c, M, pc, True):
        return
    c[L.POWER] = L.POWER_WFE
    c[L.ATTN] = 1


@njit(cache=True)
def trans_WFI(c, M, pc):
    """C6.2.398 WFI: if no interrupt is pending, the WFx traps (``wfx_trapped``, TI = 0), then
    WaitForInterrupt(): the PE sleeps (POWER_WFI) until an interrupt, masked or not."""
    if interrupt_pending(c, M):
        return
    if wfx_trapped(c, M, pc, False):
        return
    c[L.POWER] = L.POWER_WFI
    c[L.ATTN] = 1


# ---------------------------------------------------------------------------------------------
# Barriers and the exclusive monitor (C6.2.86 DSB, C6.2.84 DMB, C6.2.118 ISB, C6.2.57 CLREX)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_DSB(c, M, pc, CRm):
    """C6.2.86 DSB (and SSBB/PSSBB, CRm = 0/4): the emulator is sequentially consistent and
    completes every access, cache and TLB operation before the next instruction, so a DSB only
    costs time (the profile's cost of the DSB op, counted by the run loop)."""
    pass


@njit(cache=True)
def trans_DMB(c, M, pc, CRm):
    """C6.2.84 DMB: no effect in a sequentially consistent emulator."""
    pass


@njit(cache=True)
def trans_ISB(c, M, pc, CRm):
    """C6.2.118 ISB: a context synchronization event. System register writes take effect
    immediately here and stores invalidate decoded instructions, so only the cost remains
    (the profile's cost of the ISB op, counted by the run loop)."""
    pass


@njit(cache=True)
def trans_CLREX(c, M, pc, CRm):
    """C6.2.57 CLREX: ClearExclusiveLocal() — the local monitor goes to Open Access."""
    c[L.EXCL_VALID] = 0


# ---------------------------------------------------------------------------------------------
# PSTATE and system registers
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_MSR_imm(c, M, pc, op1, CRm, op2):
    """C6.2.195 MSR (immediate): write a PSTATE field with the 4-bit immediate CRm.

    * DAIFSet / DAIFClr (op1 = 011, op2 = 110 / 111): accessible from EL0 only when
      SCTLR_EL1.UMA = 1, else trapped (EC 0x18) to EL1, or to EL2 when HCR_EL2.TGE = 1.
    * SPSel (op1 = 000, op2 = 101): EL1 and up (op1 = 000), UNDEFINED at EL0.
    * PAN (op1 = 000, op2 = 100, Armv8.1 FEAT_PAN): EL1 and up.
    * UAO (Armv8.2) and every other field: UNDEFINED.
    Writing DAIF asks the run loop to look for interrupts that became deliverable.
    """
    el = c[L.EL]
    if op1 == 3 and (op2 == 6 or op2 == 7):
        if el == 0 and (c[SR.SCTLR_EL1] & SCTLR_UMA) == 0:
            raise_sysreg_trap(c, M, default_target_el(c), 0, op1, 4, CRm, op2, 31, False, pc)
            return
        if op2 == 6:
            c[L.DAIF] |= CRm
        else:
            c[L.DAIF] &= ~CRm
        c[L.ATTN] = 1
        return
    if op1 == 0 and (op2 == 5 or op2 == 4):
        if el == 0:
            raise_undefined(c, M, pc)
            return
        if op2 == 5:
            set_el_spsel(c, el, CRm & 1)
        else:
            set_pan(c, CRm & 1)
        return
    undefined(c, M, pc)


@njit(cache=True)
def trans_MSR_reg(c, M, pc, o0, op1, CRn, CRm, op2, Rt):
    """C6.2.196 MSR (register): ``AArch64.SysRegWrite(op0, op1, CRn, CRm, op2, X[t])``, op0 =
    2 + o0. ``sysreg_write`` does every access check, trap and side effect."""
    sysreg_write(c, M, 2 + o0, op1, CRn, CRm, op2, Rt, c[Rt], pc)


@njit(cache=True)
def trans_MRS(c, M, pc, o0, op1, CRn, CRm, op2, Rt):
    """C6.2.194 MRS: ``X[t] = AArch64.SysRegRead(op0, op1, CRn, CRm, op2)``, op0 = 2 + o0.
    Xt is written only when the access did not take an exception."""
    ok, v = sysreg_read(c, M, 2 + o0, op1, CRn, CRm, op2, Rt, pc)
    if ok:
        set_x(c, Rt, v)


# ---------------------------------------------------------------------------------------------
# SYS: cache maintenance, address translation, TLB maintenance (C5.3, C5.4, C5.5)
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _sys_trap(c, M, target_el, op1, CRn, CRm, op2, Rt, pc):
    """A trapped SYS instruction: EC 0x18, Op0 = 1, Direction = 0."""
    raise_sysreg_trap(c, M, target_el, 1, op1, CRn, CRm, op2, Rt, False, pc)


@njit(cache=True)
def _cmo_by_va(c, M, va):
    """The memory side of a cache maintenance instruction by VA: translate the address so that
    its faults are taken (Data Abort with ESR.CM = 1 and WnR = 1, FAR = the VA given). The
    maintenance itself has nothing to do: there are no caches, and stores already drop the
    decoded form of the words they change. True when no exception was taken."""
    return translate(c, M, va, ACC_CM, 1) >= 0


@njit(cache=True)
def dc_zva(c, M, pc, Rt):
    """C5.3.28 DC ZVA: zero the naturally aligned block of DCZID_EL0.BS (64 bytes) that holds
    X[t]. Traps first (EL0 with SCTLR_EL1.DZE = 0 → EL1, or EL2 under TGE; EL0/EL1 with
    HCR_EL2.TDZ = 1 → EL2; EC 0x18). For faults DC ZVA is a store (ESR.CM = 0, WnR = 1); on any
    Device memory it takes an Alignment fault (FAR = X[t]), which with stage 1 off is every data
    access (D8.2.11). Every check is made before the first byte changes."""
    el = c[L.EL]
    if el == 0 and (c[SR.SCTLR_EL1] & SCTLR_DZE) == 0:
        _sys_trap(c, M, default_target_el(c), 3, 7, 4, 1, Rt, pc)
        return
    if el < 2 and (c[SR.HCR_EL2] & HCR_TDZ):
        _sys_trap(c, M, 2, 3, 7, 4, 1, Rt, pc)
        return
    va = c[Rt]
    base = va & ~(ZVA_BYTES - 1)
    # The block never crosses a page, so one translation covers every chunk of it.
    if mem_check_write(c, M, base, 8, 0) < 0:
        return
    info = c[L.XLAT_INFO]
    if info & mmu.I_DEVICE:
        f = mmu.alignment_fault(info)
        translation_fault(c, M, va, ACC_WRITE, f,
                          translate_ipa_of(c, M, base) if f & mmu.F_STAGE2 else 0)
        return
    if c[L.DBG] & L.DBG_WP and not watchpoint_check(c, M, base, ZVA_BYTES, ACC_WRITE):
        return   # the guest's watchpoints on any byte of the block, before the first changes
    for i in range(ZVA_BYTES // 8):
        if not mem_write(c, M, base + 8 * i, 8, 0, 0):
            return
    store_snoop(c, M, base, ZVA_BYTES)  # a store too, for the other PEs' exclusive monitors


@njit(cache=True)
def cache_maintenance(c, M, pc, op1, CRm, op2, Rt):
    """DC and IC (CRn = 7, C5.3): the Armv8.0 operations, their EL0 rules and their EL2 traps::

        op           op1 CRm op2   at EL0                               EL2 trap (EL0/EL1)
        IC IALLUIS    0   1   0    UNDEFINED                            HCR_EL2.TPU
        IC IALLU      0   5   0    UNDEFINED                            HCR_EL2.TPU
        IC IVAU       3   5   1    SCTLR_EL1.UCI, else trap EL1 (TGE)   HCR_EL2.TPU
        DC IVAC       0   6   1    UNDEFINED                            HCR_EL2.TPC
        DC ISW        0   6   2    UNDEFINED                            HCR_EL2.TSW
        DC CSW        0  10   2    UNDEFINED                            HCR_EL2.TSW
        DC CISW       0  14   2    UNDEFINED                            HCR_EL2.TSW
        DC ZVA        3   4   1    SCTLR_EL1.DZE, else trap EL1 (TGE)   HCR_EL2.TDZ
        DC CVAC       3  10   1    SCTLR_EL1.UCI, else trap EL1 (TGE)   HCR_EL2.TPC
        DC CVAU       3  11   1    SCTLR_EL1.UCI, else trap EL1 (TGE)   HCR_EL2.TPU
        DC CIVAC      3  14   1    SCTLR_EL1.UCI, else trap EL1 (TGE)   HCR_EL2.TPC

    Anything else with CRn = 7 (DC CVAP, DC CVADP, the MTE DC ops, ...) is UNDEFINED.
    """
    el = c[L.EL]
    hcr = c[SR.HCR_EL2]
    if op1 == 0:
        if op2 == 0 and (CRm == 1 or CRm == 5):          # IC IALLUIS / IC IALLU
            trap = HCR_TPU
            by_va = False
        elif CRm == 6 and op2 == 1:                      # DC IVAC
            trap = HCR_TPC
            by_va = True
        elif op2 == 2 and (CRm == 6 or CRm == 10 or CRm == 14):   # DC ISW / CSW / CISW
            trap = HCR_TSW
            by_va = False
        else:
            undefined(c, M, pc)
            return
        if el == 0:
            raise_undefined(c, M, pc)
            return
        if el == 1 and (hcr & trap):
            _sys_trap(c, M, 2, op1, 7, CRm, op2, Rt, pc)
            return
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_CACHE_MAINT]
        if by_va:
            _cmo_by_va(c, M, c[Rt])
        return
    if op1 == 3 and op2 == 1:
        if CRm == 4:
            dc_zva(c, M, pc, Rt)
            return
        if CRm == 5 or CRm == 11:                        # IC IVAU / DC CVAU
            trap = HCR_TPU
        elif CRm == 10 or CRm == 14:                     # DC CVAC / DC CIVAC
            trap = HCR_TPC
        else:
            undefined(c, M, pc)
            return
        if el == 0 and (c[SR.SCTLR_EL1] & SCTLR_UCI) == 0:
            _sys_trap(c, M, default_target_el(c), op1, 7, CRm, op2, Rt, pc)
            return
        if el < 2 and (hcr & trap):
            _sys_trap(c, M, 2, op1, 7, CRm, op2, Rt, pc)
            return
        c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_CACHE_MAINT]
        _cmo_by_va(c, M, c[Rt])
        return
    undefined(c, M, pc)


@njit(cache=True)
def translate_ipa_of(c, M, va):
    """The IPA the current EL1&0 stage 1 gives ``va`` (its TLB entry is fresh: the caller just
    translated it). Used for HPFAR_EL2 of a stage 2 fault found after translation."""
    el = c[L.EL]
    regime, s1on, s2on = mmu.regime_controls(c, el)
    f, pa, ipa, info = mmu.translate_mmu(c, M, va, 0, el, regime, s1on, s2on)
    return ipa


@njit(cache=True)
def at_par(c, M, va, regime_el, stage12, is_write, as_el0, pan):
    """The PAR_EL1 value of an address translation instruction (AArch64.AT, D8.15 / C5.5):
    ``regime_el`` 1 (EL1&0) or 2; ``stage12`` for the S12E* forms (the output of stage 1 is
    translated by stage 2 too); ``is_write``/``as_el0`` select the permission check; ``pan``
    is PSTATE.PAN for S1E1RP/WP and 0 otherwise. Faults are reported in PAR_EL1 (F = 1, FST,
    PTW, S), except a stage 2 fault on the stage 1 walk of an S1E0*/S1E1* instruction executed at
    EL1, which is taken to EL2 as a Data Abort (S1PTW = 1, CM = 1). Returns -1 after such an
    exception.

    Success: PA<47:12>, NS (1: the Non-secure PA space), SH and ATTR, the stage 1 attributes
    (with stage 1 off: Device-nGnRnE / Outer Shareable, or Normal Write-Back / Non-shareable
    under HCR_EL2.DC), made Device when stage 2 says Device."""
    if regime_el == 2:
        regime = mmu.REGIME_EL2
        s1on = (c[SR.SCTLR_EL2] & SCTLR_M) != 0
        s2on = False
    else:
        regime, s1on, s2on = mmu.regime_controls(c, 1)
    el = 0 if as_el0 else regime_el
    acc = mmu.ACC_WRITE if is_write else 0
    s2final = stage12 and s2on
    va_in = va
    if s1on:
        va = mmu.strip_tag(va, mmu.addr_top(c, va, regime))
    f, pa, ipa, info = mmu.full_translate(c, M, va, acc, el, regime, s1on, s2on, s2final,
                                          pan, False)
    if f:
        if (f & mmu.F_S1PTW) and not stage12 and c[L.EL] == 1:
            translation_fault(c, M, va_in, ACC_CM | ACC_WRITE, f, ipa)
            return -1
        par = PAR_F | PAR_RES1 | ((f & mmu.F_FSC_MASK) << PAR_FST_SHIFT)
        if f & mmu.F_S1PTW:
            par |= PAR_PTW
        if f & mmu.F_STAGE2:
            par |= PAR_S
        return par
    attr = (info >> mmu.I_ATTR_SHIFT) & 0xFF
    sh = (info >> mmu.I_SH_SHIFT) & 3
    if (info & mmu.I_S2) and ((info >> (mmu.I_S2MEMATTR_SHIFT + 2)) & 3) == 0 and \
            not mmu.mair_is_device(attr):
        attr = ((info >> mmu.I_S2MEMATTR_SHIFT) & 3) << 2   # Device-nGnRnE ... nGnRE/GRE
        sh = 2
    if mmu.mair_is_device(attr):
        sh = 2                              # Device memory is always Outer Shareable
    return (attr << PAR_ATTR_SHIFT) | (pa & PAR_PA_MASK) | PAR_RES1 | PAR_NS | \
        (sh << PAR_SH_SHIFT)


@njit(cache=True)
def address_translate(c, M, pc, op1, CRm, op2, Rt):
    """AT (CRn = 7, CRm = 8 or 9, C5.5): S1E1R/W, S1E0R/W (op1 = 0, CRm = 8, op2 = 0..3;
    EL1 and up), S1E1RP/WP (op1 = 0, CRm = 9, op2 = 0, 1: FEAT_PAN2, checked with PSTATE.PAN),
    and S1E2R/W, S12E1R/W, S12E0R/W (op1 = 4, CRm = 8, op2 = 0, 1, 4..7; EL2 only, UNDEFINED at
    EL1). Armv8.0 has no EL2 trap on AT. The result goes to PAR_EL1."""
    el = c[L.EL]
    pan = 0
    if op1 == 0 and (op2 <= 3 if CRm == 8 else op2 <= 1):
        if el == 0:
            raise_undefined(c, M, pc)
            return
        regime = 1
        s12 = False
        if CRm == 9:
            pan = c[L.PSTATE_PAN]
    elif op1 == 4 and CRm == 8 and (op2 <= 1 or op2 >= 4):
        if el < 2:
            raise_undefined(c, M, pc)
            return
        regime = 2 if op2 <= 1 else 1
        s12 = op2 >= 4
    else:
        undefined(c, M, pc)
        return
    is_write = (op2 & 1) == 1
    as_el0 = (op1 == 0 and CRm == 8 and op2 >= 2) or (op1 == 4 and op2 >= 6)
    par = at_par(c, M, c[Rt], regime, s12, is_write, as_el0, pan)
    if par == -1:
        return
    c[SR.PAR_EL1] = par


@njit(cache=True)
def tlb_maintenance(c, M, pc, op1, CRm, op2, Rt):
    """TLBI (CRn = 8, C5.5): every Armv8.0 operation.

    EL1 operations (op1 = 0; CRm = 3 Inner Shareable, 7 local; op2 = 0 VMALLE1, 1 VAE1,
    2 ASIDE1, 3 VAAE1, 5 VALE1, 7 VAALE1): EL1 and up, UNDEFINED at EL0, trapped from EL1 by
    HCR_EL2.TTLB; at EL1 HCR_EL2.FB makes the local forms broadcast. EL2 operations (op1 = 4:
    IPAS2E1IS 0/1, IPAS2LE1IS 0/5, ALLE2IS 3/0, VAE2IS 3/1, ALLE1IS 3/4, VALE2IS 3/5,
    VMALLS12E1IS 3/6, IPAS2E1 4/1, IPAS2LE1 4/5, and the local 7/x forms of the CRm = 3 ones):
    EL2 only.

    Effect (armvirt.cpu.mmu.tlb_invalidate): the entries of the scope go from this PE's TLB, or
    every PE's for the Inner Shareable forms; the one-page translation caches of those PEs are
    dropped with them. The address operand is Xt<43:0> = VA<55:12> (sign-extended from bit 55)
    with the ASID in Xt<63:48>, or Xt<35:0> = IPA<47:12>.
    """
    el = c[L.EL]
    if op1 == 0:
        if not ((CRm == 3 or CRm == 7) and op2 != 4 and op2 != 6):
            undefined(c, M, pc)
            return
        if el == 0:
            raise_undefined(c, M, pc)
            return
        if el == 1 and (c[SR.HCR_EL2] & HCR_TTLB):
            _sys_trap(c, M, 2, op1, 8, CRm, op2, Rt, pc)
            return
        broadcast = CRm == 3 or (el == 1 and (c[SR.HCR_EL2] & HCR_FB) != 0)
        if op2 == 0:
            scope = mmu.TLBI_VMID            # VMALLE1
        elif op2 == 1 or op2 == 5:
            scope = mmu.TLBI_VA              # VAE1, VALE1
        elif op2 == 2:
            scope = mmu.TLBI_ASID            # ASIDE1
        else:
            scope = mmu.TLBI_VAA             # VAAE1, VAALE1
    elif op1 == 4:
        if CRm == 0 or CRm == 4:
            ok = op2 == 1 or op2 == 5
        elif CRm == 3 or CRm == 7:
            ok = op2 == 0 or op2 == 1 or op2 == 4 or op2 == 5 or op2 == 6
        else:
            ok = False
        if not ok:
            undefined(c, M, pc)
            return
        if el < 2:
            raise_undefined(c, M, pc)
            return
        broadcast = CRm == 0 or CRm == 3
        if CRm == 0 or CRm == 4:
            scope = mmu.TLBI_IPA             # IPAS2E1, IPAS2LE1
        elif op2 == 0:
            scope = mmu.TLBI_ALL_EL2         # ALLE2
        elif op2 == 1 or op2 == 5:
            scope = mmu.TLBI_VA_EL2          # VAE2, VALE2
        elif op2 == 4:
            scope = mmu.TLBI_ALL_EL10        # ALLE1
        else:
            scope = mmu.TLBI_VMID            # VMALLS12E1
    else:
        undefined(c, M, pc)
        return
    c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_TLBI]
    xt = c[Rt]
    if scope == mmu.TLBI_IPA:
        page = xt & ((1 << 36) - 1)
    else:
        page = (xt << 20) >> 20
    asid = (xt >> 48) & 0xFFFF
    if ((c[SR.TCR_EL1] >> 36) & 1) == 0:
        asid &= 0xFF
    vmid = mmu.current_vmid(c)
    if broadcast:
        cpus = M[L.M_CPUS]
        for i in range(M[L.M_MACH][L.NUM_PES]):
            mmu.tlb_invalidate(M, i, scope, vmid, asid, page)
            drop_cached_translations(cpus[i])
    else:
        mmu.tlb_invalidate(M, c[L.PE_INDEX], scope, vmid, asid, page)
        drop_cached_translations(c)


@njit(cache=True)
def trans_SYS(c, M, pc, op1, CRn, CRm, op2, Rt):
    """C6.2.372 SYS: the System instructions of op0 = 01 — DC and IC (CRn = 7), AT (CRn = 7,
    CRm = 8), TLBI (CRn = 8). Every other encoding is UNDEFINED (and counted, so that
    ``--trace unimp`` shows a guest using a later extension's operation)."""
    if CRn == 7:
        if CRm == 8 or (CRm == 9 and op1 == 0):
            address_translate(c, M, pc, op1, CRm, op2, Rt)
        else:
            cache_maintenance(c, M, pc, op1, CRm, op2, Rt)
    elif CRn == 8:
        tlb_maintenance(c, M, pc, op1, CRm, op2, Rt)
    else:
        undefined(c, M, pc)


@njit(cache=True)
def trans_SYSL(c, M, pc, op1, CRn, CRm, op2, Rt):
    """C6.2.373 SYSL: no Armv8.0 operation uses it (the first are FEAT_GCS's), so every
    encoding is UNDEFINED."""
    undefined(c, M, pc)


# ---------------------------------------------------------------------------------------------
# Exception return
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_ERET(c, M, pc):
    """C6.2.97 ERET: UNDEFINED at EL0; else AArch64.ExceptionReturn(ELR_ELx, SPSR_ELx) (D1.11),
    which also sends a local event (SendEventLocal: an exception return is a WFE wake-up event)
    and branches with BranchTo, i.e. through AArch64.BranchAddr in the new state. A misaligned
    ELR is caught by the PC alignment check of the next fetch."""
    if c[L.EL] == 0:
        raise_undefined(c, M, pc)
        return
    c[L.EVENT_REG] = 1
    exception_return(c, M)
    c[L.PC] = branch_addr(c, c[L.PC])
