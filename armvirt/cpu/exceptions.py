"""Taking and returning from exceptions: AArch64.TakeException and AArch64.ExceptionReturn.

Everything here is jitted. Handlers raise architectural exceptions by calling the ``raise_*``
helpers, which work out the target EL (routing by HCR_EL2.TGE and the trap controls), build the
syndrome (ESR_ELx.EC/IL/ISS), and enter the vector. The instruction that raised the exception
then returns without further effect.

Preferred return addresses (Arm ARM D1.10.1): the faulting instruction itself for aborts,
UNDEFINED and traps; the next instruction for SVC/HVC/SMC (the handlers pass ``pc + 4``).
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.pstate import drop_cached_translations, get_psr, set_el_spsel, set_psr_fields
from armvirt.devices.pmu_counter import pmu_active, pmu_switch_el

# ESR_ELx.EC values and fields: armvirt/cpu/syndrome.py, the one table of them
from armvirt.cpu.syndrome import (EC_BRK64, EC_DABT_LOWER, EC_DABT_SAME,  # noqa: E402,F401
                                  EC_FP_ACCESS, EC_HVC64, EC_IABT_LOWER, EC_IABT_SAME,
                                  EC_ILLEGAL_STATE, EC_PC_ALIGN, EC_SERROR, EC_SMC64,
                                  EC_SP_ALIGN, EC_SVC64, EC_SYSREG, EC_UNKNOWN, EC_WFX, ESR_IL)

# Offsets within a vector group (D1.10.2)
VEC_SYNC = 0x000
VEC_IRQ = 0x080
VEC_FIQ = 0x100
VEC_SERROR = 0x180

# HCR_EL2 bits used for routing and trapping (D17.2.48)
HCR_VM = 1 << 0
HCR_SWIO = 1 << 1
HCR_FMO = 1 << 3
HCR_IMO = 1 << 4
HCR_AMO = 1 << 5
HCR_VF = 1 << 6
HCR_VI = 1 << 7
HCR_VSE = 1 << 8
HCR_FB = 1 << 9
HCR_DC = 1 << 12
HCR_TWI = 1 << 13
HCR_TWE = 1 << 14
HCR_TID0 = 1 << 15
HCR_TID1 = 1 << 16
HCR_TID2 = 1 << 17
HCR_TID3 = 1 << 18
HCR_TSC = 1 << 19
HCR_TIDCP = 1 << 20
HCR_TACR = 1 << 21
HCR_TSW = 1 << 22
HCR_TPC = 1 << 23
HCR_TPU = 1 << 24
HCR_TTLB = 1 << 25
HCR_TVM = 1 << 26
HCR_TGE = 1 << 27
HCR_TDZ = 1 << 28
HCR_HCD = 1 << 29
HCR_TRVM = 1 << 30
MDCR_TDE = 1 << 8

# Debug control bits (MDSCR_EL1, OSLSR_EL1, OSDLR_EL1, DBGPRCR_EL1) for the enables below
MDSCR_SS = 1 << 0
MDSCR_KDE = 1 << 13
MDSCR_MDE = 1 << 15
OSLSR_OSLK = 1 << 1
OSDLR_DLK = 1 << 0
DBGPRCR_CORENPDRQ = 1 << 0

# PSTATE.DAIF bits as kept in c[DAIF]
DAIF_D = 8
DAIF_A = 4
DAIF_I = 2
DAIF_F = 1

# Asynchronous exceptions (pending_async)
ASYNC_NONE = 0
ASYNC_IRQ = 1
ASYNC_FIQ = 2
ASYNC_VIRQ = 3
ASYNC_VFIQ = 4
ASYNC_VSERROR = 5

# Trace event kinds (rows of the S_TRACE ring)
TR_EXC_ENTRY = 1
TR_EXC_RETURN = 2


@njit(cache=True)
def trace_event(c, M, kind, from_el, to_el, esr, elr, far, target):
    """Append an event to the trace ring; a full ring makes the loop exit so Python drains it."""
    mach = M[L.M_MACH]
    n = mach[L.TRACE_COUNT]
    if n >= L.TRACE_CAP:
        return
    r = L.S_TRACE + n * L.TRACE_WIDTH
    mach[r + 0] = kind
    mach[r + 1] = c[L.PE_INDEX]
    mach[r + 2] = c[L.CYCLES]
    mach[r + 3] = from_el
    mach[r + 4] = to_el
    mach[r + 5] = esr
    mach[r + 6] = elr
    mach[r + 7] = far
    mach[r + 8] = target
    mach[r + 9] = c[L.INSTRET]
    # The world on the EL0/EL1 side of the event (the one left by an entry, entered by a
    # return): its stage 2 VMID when HCR_EL2.VM is set there, else -1 (EL2, a host, no VMs).
    lower = from_el if from_el < to_el else to_el
    mach[r + 10] = (c[SR.VTTBR_EL2] >> 48) & 0xFF if lower < 2 and c[SR.HCR_EL2] & 1 else -1
    mach[L.TRACE_COUNT] = n + 1
    if n + 1 >= L.TRACE_CAP and mach[L.EXIT_CODE] == L.EXIT_NONE:
        mach[L.EXIT_CODE] = L.EXIT_TRACE
        mach[L.EXIT_PE] = c[L.PE_INDEX]
        c[L.ATTN] = 1


@njit(cache=True)
def hook_check(c, M, kind, to_el, esr):
    """Hooks are data (``layout.S_HOOKS``): after an exception entry or return, a hook whose
    kind, EL mask (the EL entered / returned to) and EC (-1: any; -2: asynchronous, i.e. an
    interrupt) match makes the loop exit with EXIT_HOOK, so Python can call its callback."""
    S = M[L.M_MACH]
    ec = (esr >> 26) & 0x3F if esr >= 0 else -2
    for i in range(S[L.HOOK_COUNT]):
        r = L.S_HOOKS + i * L.HOOK_WIDTH
        if S[r] == kind and (S[r + 1] >> to_el) & 1 and (S[r + 2] == -1 or S[r + 2] == ec):
            if S[L.EXIT_CODE] == L.EXIT_NONE:
                S[L.EXIT_CODE] = L.EXIT_HOOK
                S[L.EXIT_PE] = c[L.PE_INDEX]
                S[L.EXIT_AUX] = i
                S[L.EXIT_VALUE] = esr
                S[L.EXIT_ADDR] = c[L.PC]
            c[L.ATTN] = 1
            return


# ---------------------------------------------------------------------------------------------
# Debug exceptions: routing and masking (the match logic is armvirt/cpu/debug.py's)
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def double_lock_status(c):
    """DoubleLockStatus: OSDLR_EL1.DLK set while DBGPRCR_EL1.CORENPDRQ is clear."""
    return (c[SR.OSDLR_EL1] & OSDLR_DLK) != 0 and (c[SR.DBGPRCR_EL1] & DBGPRCR_CORENPDRQ) == 0


@njit(cache=True)
def debug_target_el(c):
    """DebugTarget (Non-secure, no EL3): EL2 when HCR_EL2.TGE or MDCR_EL2.TDE is set, else
    EL1."""
    if (c[SR.HCR_EL2] & HCR_TGE) or (c[SR.MDCR_EL2] & MDCR_TDE):
        return 2
    return 1


@njit(cache=True)
def generate_debug_exceptions_from(c, from_el, mask):
    """AArch64.GenerateDebugExceptionsFrom(from, secure=FALSE, mask): none while the OS lock or
    the OS double lock is set; from the debug target EL only with MDSCR_EL1.KDE = 1 and the mask
    (PSTATE.D) clear; from a lower EL always; from a higher EL never."""
    if (c[SR.OSLSR_EL1] & OSLSR_OSLK) or double_lock_status(c):
        return False
    target = debug_target_el(c)
    if from_el == target:
        return (c[SR.MDSCR_EL1] & MDSCR_KDE) != 0 and mask == 0
    return target > from_el


@njit(cache=True)
def generate_debug_exceptions(c):
    """AArch64.GenerateDebugExceptions: from the current EL with PSTATE.D as the mask."""
    return generate_debug_exceptions_from(c, c[L.EL], (c[L.DAIF] >> 3) & 1)



@njit(cache=True, inline="always")
def debug_return_ss(c, spsr, dest_el):
    """DebugExceptionReturnSS: the PSTATE.SS an ERET restores. SPSR.SS only when MDSCR_EL1.SS is
    set, stepping is not enabled where the ERET executes, and it is enabled at the destination
    (with the destination's SPSR.D as the mask); otherwise 0."""
    if not (c[SR.MDSCR_EL1] & MDSCR_SS):
        return 0
    if generate_debug_exceptions(c):
        return 0
    if not generate_debug_exceptions_from(c, dest_el, (spsr >> 9) & 1):
        return 0
    return (spsr >> 21) & 1



@njit(cache=True)
def take_exception(c, M, target_el, vect_offset, esr, far, preferred_return):
    """AArch64.TakeException: enter ``target_el`` at VBAR_ELx + group offset + vect_offset.

    ``esr`` < 0 means the exception has no syndrome (IRQ, FIQ). FAR_ELx is written only for the
    exception classes that report a faulting address (aborts, PC alignment, watchpoints).
    """
    from_el = c[L.EL]
    if target_el > from_el:
        base = 0x400                      # lower EL, AArch64
    elif c[L.SPSEL] == 1:
        base = 0x200                      # current EL with SP_ELx
    else:
        base = 0x000                      # current EL with SP_EL0
    mark = c[L.DBG] >> L.DBG_MARK_SHIFT
    if mark:
        # An instruction was being stepped (armvirt/cpu/debug.py). SSAdvance if it completed
        # (an interrupt taken after it) or it is SVC/HVC/SMC (AArch64.CallSupervisor etc. call
        # SSAdvance before the exception); any other exception it took leaves PSTATE.SS = 1, so
        # that it is stepped again after the return.
        ec = (esr >> 26) & 0x3F if esr >= 0 else -1
        if (c[L.INSTRET] >= mark or ec == EC_SVC64 or ec == EC_HVC64 or ec == EC_SMC64) and \
                c[SR.MDSCR_EL1] & MDSCR_SS:
            c[L.PSTATE_SS] = 0
        c[L.DBG] &= (1 << L.DBG_MARK_SHIFT) - 1 - L.DBG_EX
    spsr = get_psr(c)
    if target_el == 2:
        c[SR.SPSR_EL2] = spsr
        c[SR.ELR_EL2] = preferred_return
        if esr >= 0:
            c[SR.ESR_EL2] = esr
        vbar = c[SR.VBAR_EL2]
        span = 1  # no SCTLR_EL2.SPAN without VHE: PAN is left unchanged at EL2
    else:
        c[SR.SPSR_EL1] = spsr
        c[SR.ELR_EL1] = preferred_return
        if esr >= 0:
            c[SR.ESR_EL1] = esr
        vbar = c[SR.VBAR_EL1]
        span = (c[SR.SCTLR_EL1] >> 23) & 1
    if esr >= 0 and _ec_has_far((esr >> 26) & 0x3F):
        if target_el == 2:
            c[SR.FAR_EL2] = far
        else:
            c[SR.FAR_EL1] = far
    set_el_spsel(c, target_el, 1)
    if pmu_active(c):
        pmu_switch_el(c, M, from_el, False)   # the PMU's filters count per EL; EXC_TAKEN
    c[L.DAIF] = 0xF
    c[L.PSTATE_SS] = 0
    c[L.PSTATE_IL] = 0
    if span == 0 and target_el == 1:
        c[L.PSTATE_PAN] = 1
    c[L.PC] = (vbar & ~0x7FF) + base + vect_offset
    c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_EXC_ENTRY]
    if M[L.M_MACH][L.TRACE_FLAGS] & L.TRACE_EXC:
        trace_event(c, M, TR_EXC_ENTRY, from_el, target_el, esr, preferred_return, far,
                    c[L.PC])
    if M[L.M_MACH][L.HOOK_COUNT]:
        hook_check(c, M, TR_EXC_ENTRY, target_el, esr)


@njit(cache=True, inline="always")
def _ec_has_far(ec):
    return ec == EC_IABT_LOWER or ec == EC_IABT_SAME or ec == EC_DABT_LOWER \
        or ec == EC_DABT_SAME or ec == EC_PC_ALIGN or ec == 0x30 or ec == 0x31 \
        or ec == 0x34 or ec == 0x35


@njit(cache=True)
def default_target_el(c):
    """The EL a synchronous exception goes to when nothing routes it elsewhere:
    EL1 from EL0/EL1, EL2 from EL2, and EL2 from EL0 when HCR_EL2.TGE = 1."""
    el = c[L.EL]
    if el == 2:
        return 2
    if el == 0 and (c[SR.HCR_EL2] & HCR_TGE):
        return 2
    return 1


@njit(cache=True)
def raise_sync(c, M, target_el, ec, iss, preferred_return, far):
    """Take a synchronous exception with syndrome (EC, IL=1, ISS)."""
    esr = (ec << 26) | ESR_IL | (iss & 0x1FFFFFF)
    take_exception(c, M, target_el, VEC_SYNC, esr, far, preferred_return)


@njit(cache=True)
def raise_undefined(c, M, pc):
    """UNDEFINED: EC 0x00 to EL1 (or EL2 from EL2 / EL0 with TGE)."""
    raise_sync(c, M, default_target_el(c), EC_UNKNOWN, 0, pc, 0)


@njit(cache=True)
def raise_sysreg_trap(c, M, target_el, op0, op1, crn, crm, op2, rt, is_read, pc):
    """Trapped MSR/MRS/SYS: EC 0x18 with the ISS of D17.2.37 (ISS encoding for EC 0x18)."""
    iss = ((op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1)
           | (1 if is_read else 0))
    raise_sync(c, M, target_el, EC_SYSREG, iss, pc, 0)


@njit(cache=True, inline="always")
def el_from_spsr(spsr):
    """ELFromSPSR on this PE (AArch64 at every EL, EL0-EL2, no EL3): (valid, target EL).

    Invalid: M[4] = 1 (AArch32, not implemented), EL3 (not implemented), M[1] = 1, and EL0
    with M[0] = 1 (EL0 has no SP_ELx). That leaves M = 0b0000, 0b0100, 0b0101, 0b1000, 0b1001.
    """
    el = (spsr >> 2) & 3
    if (spsr >> 4) & 1 or el == 3 or (spsr >> 1) & 1 or (el == 0 and spsr & 1):
        return False, 0
    return True, el


@njit(cache=True, inline="always")
def illegal_exception_return(c, spsr):
    """IllegalExceptionReturn: an invalid M (``el_from_spsr``), a return to a higher EL, or
    to EL1 while HCR_EL2.TGE = 1 (EL2Enabled() always holds without EL3, and there is no
    Secure EL1). The register-width checks (ELUsingAArch32K) never fire: HCR_EL2.RW is RAO."""
    valid, target = el_from_spsr(spsr)
    if not valid or target > c[L.EL]:
        return True
    return target == 1 and (c[SR.HCR_EL2] & HCR_TGE) != 0


@njit(cache=True)
def exception_return(c, M):
    """ERET: AArch64.ExceptionReturn(ELR_ELx, SPSR_ELx).

    PSTATE.SS comes from ``debug_return_ss`` (DebugExceptionReturnSS), not SPSR.SS alone.
    An illegal return (``illegal_exception_return``) keeps EL and SP (SetPSTATEFromPSR with
    illegal_psr_state), still restores NZCV, DAIF, PAN and SS, sets PSTATE.IL and branches to
    ELR_ELx, so the next instruction takes an Illegal Execution state exception (EC 0x0E).
    """
    el = c[L.EL]
    if el == 2:
        spsr = c[SR.SPSR_EL2]
        elr = c[SR.ELR_EL2]
    else:
        spsr = c[SR.SPSR_EL1]
        elr = c[SR.ELR_EL1]
    target = (spsr >> 2) & 3
    illegal = illegal_exception_return(c, spsr)
    ss = debug_return_ss(c, spsr, el if illegal else target)
    set_psr_fields(c, spsr)
    c[L.PSTATE_SS] = ss
    if illegal:
        c[L.PSTATE_IL] = 1
        drop_cached_translations(c)  # force the fetch slow path, which checks PSTATE.IL
    else:
        c[L.PSTATE_IL] = (spsr >> 20) & 1
        set_el_spsel(c, target, spsr & 1)
        if c[L.PSTATE_IL]:
            drop_cached_translations(c)
        if pmu_active(c):
            pmu_switch_el(c, M, el, True)   # EXC_RETURN, BR_RETIRED
    c[L.EXCL_VALID] = 0  # ClearExclusiveLocal
    c[L.EVENT_REG] = 1   # SendEventLocal
    c[L.PC] = elr
    c[L.CYCLES] += M[L.M_MACH][L.S_COST + L.COST_EXC_RETURN]
    c[L.ATTN] = 1  # interrupts may have been unmasked
    if M[L.M_MACH][L.TRACE_FLAGS] & L.TRACE_EXC:
        trace_event(c, M, TR_EXC_RETURN, el, c[L.EL], -1, elr, 0, spsr)
    if M[L.M_MACH][L.HOOK_COUNT]:
        hook_check(c, M, TR_EXC_RETURN, c[L.EL], -1)


# ---------------------------------------------------------------------------------------------
# Asynchronous exceptions: IRQ, FIQ and the virtual IRQ, FIQ and SError of HCR_EL2 / the GIC
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _physical_target(el, routed, masked):
    """Target EL of a physical IRQ/FIQ, or -1 while it is masked (Arm ARM D1.3.6, "Asynchronous
    exception routing"/"masking", no EL3): routed to EL2 (HCR_EL2.IMO/FMO or TGE) it is taken
    from EL0/EL1 whatever PSTATE says and from EL2 unless PSTATE masks it; routed to EL1 it is
    taken from EL0/EL1 unless masked, and never from EL2."""
    if routed:
        if el < 2 or not masked:
            return 2
        return -1
    if el < 2 and not masked:
        return 1
    return -1


@njit(cache=True)
def pending_async(c):
    """The asynchronous exception the PE takes before its next instruction, as (ASYNC_*,
    target EL); (ASYNC_NONE, 0) when none is pending and unmasked. Sources: the GIC's physical
    IRQ/FIQ and virtual IRQ/FIQ lines (c[IRQ_LINES]) and HCR_EL2.VI/VF/VSE. Virtual interrupts
    exist only at EL0/EL1 with HCR_EL2.TGE = 0 and their routing bit (IMO/FMO/AMO) set, and are
    masked by PSTATE.{I,F,A}. Physical interrupts come first, then virtual SError, FIQ, IRQ."""
    el = c[L.EL]
    hcr = c[SR.HCR_EL2]
    daif = c[L.DAIF]
    lines = c[L.IRQ_LINES]
    tge = (hcr & HCR_TGE) != 0
    if lines & L.LINE_FIQ:
        t = _physical_target(el, tge or (hcr & HCR_FMO) != 0, (daif & DAIF_F) != 0)
        if t >= 0:
            return ASYNC_FIQ, t
    if lines & L.LINE_IRQ:
        t = _physical_target(el, tge or (hcr & HCR_IMO) != 0, (daif & DAIF_I) != 0)
        if t >= 0:
            return ASYNC_IRQ, t
    if el < 2 and not tge:
        if (hcr & HCR_AMO) and (hcr & HCR_VSE) and not daif & DAIF_A:
            return ASYNC_VSERROR, 1
        if (hcr & HCR_FMO) and ((hcr & HCR_VF) or (lines & L.LINE_VFIQ)) and \
                not daif & DAIF_F:
            return ASYNC_VFIQ, 1
        if (hcr & HCR_IMO) and ((hcr & HCR_VI) or (lines & L.LINE_VIRQ)) and \
                not daif & DAIF_I:
            return ASYNC_VIRQ, 1
    return ASYNC_NONE, 0


@njit(cache=True)
def wfi_wakeup(c):
    """Is there a WFI wake-up event (Arm ARM D1.16.2)? A physical IRQ or FIQ signalled to the
    PE, whatever PSTATE's masks; at EL0/EL1 with TGE = 0, a virtual IRQ/FIQ/SError routed by
    IMO/FMO/AMO, whatever the masks."""
    lines = c[L.IRQ_LINES]
    if lines & (L.LINE_IRQ | L.LINE_FIQ):
        return True
    hcr = c[SR.HCR_EL2]
    if c[L.EL] == 2 or (hcr & HCR_TGE):
        return False
    return ((hcr & HCR_IMO) != 0 and ((hcr & HCR_VI) != 0 or (lines & L.LINE_VIRQ) != 0)) or \
        ((hcr & HCR_FMO) != 0 and ((hcr & HCR_VF) != 0 or (lines & L.LINE_VFIQ) != 0)) or \
        ((hcr & HCR_AMO) != 0 and (hcr & HCR_VSE) != 0)


@njit(cache=True)
def take_physical_irq_exception(c, M, target_el):
    """AArch64.TakePhysicalIRQException: vector offset 0x80, no syndrome, preferred return
    address the next instruction not executed."""
    take_exception(c, M, target_el, VEC_IRQ, -1, 0, c[L.PC])


@njit(cache=True)
def take_physical_fiq_exception(c, M, target_el):
    """AArch64.TakePhysicalFIQException: vector offset 0x100."""
    take_exception(c, M, target_el, VEC_FIQ, -1, 0, c[L.PC])


@njit(cache=True)
def take_virtual_irq_exception(c, M):
    """AArch64.TakeVirtualIRQException: always to EL1."""
    take_exception(c, M, 1, VEC_IRQ, -1, 0, c[L.PC])


@njit(cache=True)
def take_virtual_fiq_exception(c, M):
    """AArch64.TakeVirtualFIQException: always to EL1."""
    take_exception(c, M, 1, VEC_FIQ, -1, 0, c[L.PC])


@njit(cache=True)
def take_virtual_serror_exception(c, M):
    """AArch64.TakeVirtualSErrorException: to EL1 with EC 0x2F. Without FEAT_RAS the syndrome
    is IMPLEMENTATION DEFINED; ours is ISS = 0. Taking it clears HCR_EL2.VSE."""
    c[SR.HCR_EL2] &= ~HCR_VSE
    take_exception(c, M, 1, VEC_SERROR, (EC_SERROR << 26) | ESR_IL, 0, c[L.PC])


@njit(cache=True)
def take_interrupt(c, M):
    """Take the asynchronous exception ``pending_async`` finds, if any. True when taken."""
    kind, target = pending_async(c)
    if kind == ASYNC_NONE:
        return False
    if kind == ASYNC_IRQ:
        take_physical_irq_exception(c, M, target)
    elif kind == ASYNC_FIQ:
        take_physical_fiq_exception(c, M, target)
    elif kind == ASYNC_VIRQ:
        take_virtual_irq_exception(c, M)
    elif kind == ASYNC_VFIQ:
        take_virtual_fiq_exception(c, M)
    else:
        take_virtual_serror_exception(c, M)
    return True
