"""Self-hosted debug, Armv8.0 Debug architecture, AArch64: hardware breakpoints, watchpoints and
software step, as a Cortex-A57 (6 breakpoints of which the last 2 are context-aware, 4
watchpoints: ``ID_AA64DFR0_EL1`` in ``sysreg_table.py``).

Zero cost while unused. ``c[DBG]`` holds the *armed* bits (``layout.DBG_BP/WP/SS``), recomputed
by ``debug_rearm`` after every MSR to a debug register (MDSCR_EL1, DBGB*/DBGW*, the OS lock
registers), which also drops the cached code and data pages. With MDSCR_EL1.SS set, or on a
page where an enabled breakpoint could match (``breakpoint_on_page``), ``engine.fetch_slow``
does not keep the code page cached, so every instruction there comes through
``software_step_check`` and ``debug_fetched``; a page where an enabled watchpoint could match
(``watchpoint_on_page``) is kept out of the data-page caches, so its accesses take the slow
path of ``memory.py``, which calls ``watchpoint_check``. Elsewhere armed debug costs nothing
either.
Nothing in the hot loop looks at ``c[DBG]``. Whether an armed feature actually generates an
exception (EL, PSTATE.D, KDE, the OS lock, routing) is decided there, as the Arm ARM does, so the
armed bits need no update on exception entry, ERET or MSR DAIF.

Software step keeps the Arm ARM's state machine in PSTATE.SS (active-not-pending = 1,
active-pending = 0). Instead of clearing PSTATE.SS after every stepped instruction (which the run
loop would have to do), the fetch of a stepped instruction leaves a *mark* in ``c[DBG]``: the
value INSTRET will have once it completes. The next fetch (or exception entry) sees INSTRET
reach the mark and carries out SSAdvance then, so an instruction the run loop replays (Python
MMIO, an emulator breakpoint) is not counted as stepped until it really completes.

Names follow the Arm ARM's shared pseudocode (AArch64.CheckBreakpoint, AArch64.BreakpointMatch,
AArch64.BreakpointValueMatch, AArch64.StateMatch, AArch64.CheckWatchpoint,
AArch64.WatchpointMatch, AArch64.WatchpointByteMatch, AArch64.CheckSoftwareStep, SSAdvance,
AArch64.GenerateDebugExceptionsFrom, DebugTarget, DebugExceptionReturnSS), for this PE: no EL3
(Non-secure), EL2 implemented, no VHE, no Halting debug.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.exceptions import (MDSCR_MDE, MDSCR_SS, OSLSR_OSLK, debug_target_el,
                                    double_lock_status, generate_debug_exceptions,
                                    raise_sync)
from armvirt.cpu.mmu import (ACC_CM, ACC_UNPRIV, ACC_WRITE, REGIME_EL2, REGIME_EL10, addr_top,
                             current_vmid)
from armvirt.cpu.pstate import drop_cached_translations
from armvirt.cpu.syndrome import (EC_BREAKPT_LOWER, EC_BREAKPT_SAME, EC_SOFTSTP_LOWER,
                                  EC_SOFTSTP_SAME, EC_WATCHPT_LOWER, EC_WATCHPT_SAME)
from armvirt.cpu.sysreg_table import ID_AA64DFR0

NUM_BRPS = ((ID_AA64DFR0 >> 12) & 0xF) + 1
NUM_WRPS = ((ID_AA64DFR0 >> 20) & 0xF) + 1
NUM_CTX_CMPS = ((ID_AA64DFR0 >> 28) & 0xF) + 1
FIRST_CTX_CMP = NUM_BRPS - NUM_CTX_CMPS   # breakpoints FIRST_CTX_CMP.. are context-aware

# The registers of breakpoint n / watchpoint n: DBGBVRn at BVR0 + 2n, DBGBCRn right after it
# (sysreg_table.py lists them in that order, which these asserts pin).
_BVR0 = SR.DBGBVR0_EL1
_WVR0 = SR.DBGWVR0_EL1
assert SR.DBGBCR5_EL1 == _BVR0 + 11 and SR.DBGWCR3_EL1 == _WVR0 + 7

FSC_DEBUG = 0x22          # IFSC/DFSC "Debug exception"
ISS_SS_ISV = 1 << 24
ISS_SS_EX = 1 << 6
ISS_WNR = 1 << 6
ISS_CM = 1 << 8

# Access bit (memory.py's ``acc``, beside ACC_ATOMIC): an atomic read-modify-write (LSE
# LDADD/SWP/CAS...), which a watchpoint sees as both a read and a write.
ACC_RMW = 1 << 20

DBG_ARMED = L.DBG_BP | L.DBG_WP | L.DBG_SS
DBG_FLAGS = (1 << L.DBG_MARK_SHIFT) - 1


# ---------------------------------------------------------------------------------------------
# Enables and routing (AArch64.GenerateDebugExceptionsFrom, DebugTarget and
# DebugExceptionReturnSS are in exceptions.py, whose ERET needs them)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def debug_exception_el(c):
    """The EL a Breakpoint, Watchpoint or Software Step exception is taken to: EL2 from EL2, or
    from EL0/EL1 with HCR_EL2.TGE or MDCR_EL2.TDE set; else EL1."""
    if c[L.EL] == 2:
        return 2
    return debug_target_el(c)


@njit(cache=True)
def debug_rearm(c):
    """Recompute the armed bits of c[DBG] after a write to a debug register.

    DBG_BP / DBG_WP: MDSCR_EL1.MDE set, some DBGBCR/DBGWCR.E set, and neither the OS lock nor the
    double lock set (then no breakpoint or watchpoint can fire at any EL). DBG_SS: MDSCR_EL1.SS
    (SSAdvance applies even where no Software Step exception can be generated). Clearing DBG_SS
    drops a pending step mark: with MDSCR_EL1.SS = 0 SSAdvance does nothing. Arming drops the
    cached code and data pages so the next fetch and access take the slow paths."""
    v = c[L.DBG] & ~DBG_ARMED
    mdscr = c[SR.MDSCR_EL1]
    if (mdscr & MDSCR_MDE) and not (c[SR.OSLSR_EL1] & OSLSR_OSLK) and \
            not double_lock_status(c):
        for n in range(NUM_BRPS):
            if c[_BVR0 + 2 * n + 1] & 1:
                v |= L.DBG_BP
        for n in range(NUM_WRPS):
            if c[_WVR0 + 2 * n + 1] & 1:
                v |= L.DBG_WP
    if mdscr & MDSCR_SS:
        v |= L.DBG_SS
    else:
        v &= L.DBG_BP | L.DBG_WP
    c[L.DBG] = v
    if v & DBG_ARMED:
        drop_cached_translations(c)


# ---------------------------------------------------------------------------------------------
# Breakpoints
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def breakpoint_value_match(c, n, vaddress, linked_to):
    """AArch64.BreakpointValueMatch: breakpoint n's DBGBVR against the PC (address types) or the
    context (CONTEXTIDR_EL1, VMID). ``linked_to``: the call comes from StateMatch of another
    breakpoint or watchpoint linked to n, which only a linked context type satisfies.

    Types (DBGBCR.BT) this PE treats as reserved, and as disabled (a CONSTRAINED UNPREDICTABLE
    choice): address mismatch (0b010x, not in AArch64 before FEAT_BWE2), the VHE context types
    (0b011x, 0b11xx), and any context type on a breakpoint that is not context-aware."""
    if n >= NUM_BRPS:
        return False
    bcr = c[_BVR0 + 2 * n + 1]
    bvr = c[_BVR0 + 2 * n]
    if not (bcr & 1):
        return False
    bt = (bcr >> 20) & 0xF
    context_aware = n >= FIRST_CTX_CMP
    match_addr = (bt & 0b1110) == 0
    if (bt & 0b1110) == 0b0100 or (bt & 0b1110) == 0b0110 or (bt & 0b1100) == 0b1100 or \
            (not match_addr and not context_aware):
        return False
    linked = (bt & 1) != 0
    if linked_to and (not linked or match_addr):
        return False
    if not linked_to and linked and not match_addr:
        return False
    el = c[L.EL]
    if match_addr:
        # With AArch32 at EL0 (a Cortex-A57), BAS selects halfwords; an A64 instruction is
        # matched by BAS<0> (BAS = 0b1111 is the only value software uses for A64).
        if not (bcr >> 5) & 1:
            return False
        top = addr_top(c, vaddress, REGIME_EL2 if el == 2 else REGIME_EL10)
        sh = 63 - top
        return (((vaddress ^ bvr) << sh) >> (sh + 2)) == 0
    ok = True
    if (bt & 0b1110) == 0b0010 or (bt & 0b1110) == 0b1010:       # CONTEXTIDR_EL1
        ok = el < 2 and (c[SR.CONTEXTIDR_EL1] & 0xFFFFFFFF) == (bvr & 0xFFFFFFFF)
    if bt & 0b1000:                                                # VMID
        ok = ok and el < 2 and current_vmid(c) == ((bvr >> 32) & 0xFF)
    return ok


@njit(cache=True)
def state_match(c, ssc, hmc, pxc, linked, lbn, is_breakpoint, ispriv):
    """AArch64.StateMatch for a Non-secure PE without EL3: HMC selects EL2, PxC<0> EL1 and
    PxC<1> EL0 (an unprivileged access at EL1, LDTR/STTR, counts as EL0 for a watchpoint);
    SSC = 0b10 (Secure only) never matches. A linked breakpoint or watchpoint also needs its
    linked context breakpoint (LBN, which must be context-aware: any other number makes the
    link disabled) to match."""
    el = c[L.EL]
    if el == 2:
        priv = hmc != 0
    elif el == 1:
        priv = (pxc & 1) != 0 if (ispriv or is_breakpoint) else (pxc & 2) != 0
    else:
        priv = (pxc & 2) != 0
    if not priv or ssc == 2:
        return False
    if linked:
        if lbn < FIRST_CTX_CMP or lbn >= NUM_BRPS:
            return False
        return breakpoint_value_match(c, lbn, 0, True)
    return True


@njit(cache=True)
def breakpoint_match(c, n, vaddress):
    """AArch64.BreakpointMatch: breakpoint n, enabled, in its ELs, and its value (or a linked
    address breakpoint's context) matches."""
    bcr = c[_BVR0 + 2 * n + 1]
    if not (bcr & 1):
        return False
    bt = (bcr >> 20) & 0xF
    linked = (bt & 0b1011) == 0b0001
    if not state_match(c, (bcr >> 14) & 3, (bcr >> 13) & 1, (bcr >> 1) & 3, linked,
                       (bcr >> 16) & 0xF, True, c[L.EL] != 0):
        return False
    return breakpoint_value_match(c, n, vaddress, False)


@njit(cache=True)
def breakpoint_on_page(c, pc):
    """Could an enabled breakpoint match an instruction on pc's 4 KiB page? An address
    breakpoint only on its own page (bits 55:12 compared: a tag never hides one); an unlinked
    context breakpoint anywhere. While none can, the fetch keeps the page cached and runs at
    full speed."""
    for n in range(NUM_BRPS):
        bcr = c[_BVR0 + 2 * n + 1]
        if not (bcr & 1):
            continue
        bt = (bcr >> 20) & 0xF
        if (bt & 0b1110) == 0:
            if (((c[_BVR0 + 2 * n] ^ pc) << 8) >> 20) == 0:
                return True
        elif not (bt & 1):
            return True
    return False


@njit(cache=True)
def watchpoint_on_page(c, va):
    """Could an enabled watchpoint watch a byte of va's 4 KiB page (its doubleword, or its
    2^MASK-byte block, compared on bits 55 and down)? Only then is the page kept out of the
    data-page caches, so that its accesses come through ``watchpoint_check``."""
    for n in range(NUM_WRPS):
        wcr = c[_WVR0 + 2 * n + 1]
        if not (wcr & 1):
            continue
        sh = (wcr >> 24) & 0x1F
        if sh < 12:
            sh = 12
        if (((c[_WVR0 + 2 * n] ^ va) << 8) >> (8 + sh)) == 0:
            return True
    return False


@njit(cache=True, inline="always")
def is_load_exclusive(word):
    """LDXR/LDAXR/LDXP/LDAXP (any size): the Software Step syndrome's EX bit."""
    return (word & 0x3FC00000) == 0x08400000


@njit(cache=True)
def debug_fetched(c, M, pc, word):
    """After the fetch of ``word`` at ``pc`` translated, while c[DBG] is armed:
    AArch64.CheckBreakpoint (a Breakpoint exception, EC 0x30/0x31, ISS IFSC = 0x22, preferred
    return the instruction itself; FAR is UNKNOWN: 0 is written), and notes whether an
    instruction being stepped is a Load-Exclusive. False when an exception was taken."""
    v = c[L.DBG]
    if (v >> L.DBG_MARK_SHIFT) and is_load_exclusive(word):
        c[L.DBG] = v | L.DBG_EX
    if not (v & L.DBG_BP):
        return True
    if not (c[SR.MDSCR_EL1] & MDSCR_MDE) or not generate_debug_exceptions(c):
        return True
    for n in range(NUM_BRPS):
        if breakpoint_match(c, n, pc):
            target = debug_exception_el(c)
            ec = EC_BREAKPT_LOWER if target > c[L.EL] else EC_BREAKPT_SAME
            raise_sync(c, M, target, ec, FSC_DEBUG, pc, 0)
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Software step
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def software_step_check(c, M, pc):
    """Before the instruction at ``pc`` (fetch slow path, c[DBG] armed): first SSAdvance for the
    instruction stepped before it, if it completed (INSTRET reached the mark); then
    AArch64.CheckSoftwareStep: with stepping enabled here (MDSCR_EL1.SS and
    GenerateDebugExceptions), active-pending (PSTATE.SS = 0) takes the Software Step exception
    (EC 0x32/0x33; ISS.ISV = 1 and EX = Load-Exclusive when an instruction was stepped, ISV = 0
    when none was, e.g. straight after an ERET with SPSR.SS = 0), and active-not-pending marks
    this instruction as the one being stepped. False when the exception was taken."""
    v = c[L.DBG]
    mark = v >> L.DBG_MARK_SHIFT
    stepped = False
    ex = (v & L.DBG_EX) != 0
    v &= DBG_FLAGS & ~L.DBG_EX
    mdscr_ss = (c[SR.MDSCR_EL1] & MDSCR_SS) != 0
    if mark and c[L.INSTRET] >= mark and mdscr_ss and c[L.PSTATE_SS]:
        c[L.PSTATE_SS] = 0      # SSAdvance: the stepped instruction completed
        stepped = True
    c[L.DBG] = v
    if not mdscr_ss or not generate_debug_exceptions(c):
        return True
    if c[L.PSTATE_SS] == 0:
        iss = FSC_DEBUG
        if stepped:
            iss |= ISS_SS_ISV
            if ex:
                iss |= ISS_SS_EX
        target = debug_exception_el(c)
        ec = EC_SOFTSTP_LOWER if target > c[L.EL] else EC_SOFTSTP_SAME
        raise_sync(c, M, target, ec, iss, pc, 0)
        return False
    c[L.DBG] = v | ((c[L.INSTRET] + 1) << L.DBG_MARK_SHIFT)
    return True


# ---------------------------------------------------------------------------------------------
# Watchpoints
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def watchpoint_byte_match(c, n, vaddress, top):
    """AArch64.WatchpointByteMatch: does watchpoint n watch the byte at ``vaddress``? DBGWVR
    holds a doubleword-aligned address whose bytes BAS selects (a word-aligned one, bit 2 set,
    uses BAS<3:0>); a MASK of 3..31 watches the whole 2^MASK-byte block instead (BAS must then
    be all ones). CONSTRAINED UNPREDICTABLE choices: a reserved MASK (1, 2) disables the
    watchpoint; a MASK with BAS not all ones watches nothing; a non-contiguous BAS watches the
    bytes it selects."""
    wcr = c[_WVR0 + 2 * n + 1]
    wvr = c[_WVR0 + 2 * n]
    bas = (wcr >> 5) & 0xFF
    mask = (wcr >> 24) & 0x1F
    bottom = 2 if (wvr >> 2) & 1 else 3
    if mask == 1 or mask == 2:
        return False
    if mask > 0:
        if bas != 0xFF:
            return False
        lsb = mask
    else:
        if not (bas >> (vaddress & ((1 << bottom) - 1))) & 1:
            return False
        lsb = bottom
    sh = 63 - top
    return (((vaddress ^ wvr) << sh) >> (sh + lsb)) == 0


@njit(cache=True)
def watchpoint_check(c, M, va, size, acc):
    """AArch64.CheckWatchpoint for an access of ``size`` bytes at ``va`` (``acc``: memory.py's
    access bits), made after the access translated (MMU faults and alignment come first). A
    watchpoint matches when enabled, in its ELs (StateMatch, an LDTR/STTR at EL1 counting as
    EL0), for this kind of access (LSC<0> loads, LSC<1> stores) and watching any byte of it.
    With MDSCR_EL1.MDE set and debug exceptions enabled, a match takes the Watchpoint exception:
    EC 0x34/0x35, ISS WnR, CM, DFSC = 0x22; FAR the lowest address of the access that a matching
    watchpoint watches. An atomic read-modify-write (ACC_RMW) is matched by a watchpoint on
    loads or on stores, and reports WnR = 0 when a watchpoint on loads matches (ESR_ELx.WnR: 0
    when a read of the location would have generated the fault). True when the access may go
    ahead."""
    if not (c[SR.MDSCR_EL1] & MDSCR_MDE) or not generate_debug_exceptions(c):
        return True
    iswrite = (acc & ACC_WRITE) != 0
    rmw = (acc & ACC_RMW) != 0
    ispriv = c[L.EL] != 0 and not (acc & ACC_UNPRIV)
    top = addr_top(c, va, REGIME_EL2 if c[L.EL] == 2 else REGIME_EL10)
    hit = False
    far = 0
    read_hit = False   # a watchpoint on loads matches at far (an atomic then reports WnR = 0)
    for n in range(NUM_WRPS):
        wcr = c[_WVR0 + 2 * n + 1]
        if not (wcr & 1):
            continue
        lsc = (wcr >> 3) & 3
        if rmw:
            if lsc == 0:
                continue
        elif not (lsc >> (1 if iswrite else 0)) & 1:
            continue
        if not state_match(c, (wcr >> 14) & 3, (wcr >> 13) & 1, (wcr >> 1) & 3,
                           (wcr >> 20) & 1, (wcr >> 16) & 0xF, False, ispriv):
            continue
        for i in range(size):
            a = va + i
            if hit and a - far > 0:
                break
            if watchpoint_byte_match(c, n, a, top):
                if not hit or a != far:
                    read_hit = False
                hit = True
                far = a
                read_hit = read_hit or (lsc & 1) != 0
                break
    if not hit:
        return True
    iss = FSC_DEBUG
    if acc & ACC_CM:
        iss |= ISS_CM | ISS_WNR
    elif iswrite and not (rmw and read_hit):
        iss |= ISS_WNR
    target = debug_exception_el(c)
    ec = EC_WATCHPT_LOWER if target > c[L.EL] else EC_WATCHPT_SAME
    raise_sync(c, M, target, ec, iss, c[L.PC] - 4, far)
    return False
