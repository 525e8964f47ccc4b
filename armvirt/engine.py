"""The run loop: one jitted function that runs the PEs until something needs Python.

It mirrors KVM_RUN: ``run(M, budget)`` executes instructions until an *exit* — the budget ran
out, a breakpoint, an access to a device modelled in Python, a PSCI call, a full output buffer,
every PE asleep or off, an internal limit — and returns its code (``layout.EXIT_*``) with the
details in the exit record (``mach[EXIT_*]``). Python handles it and calls ``run`` again.

Per instruction the fast path is: compare the pc's page with the cached code page, load one
decode-cache entry (``M_DCACHE``: ``(op << 32) | word`` per RAM word), execute it through the
generated dispatcher, count it, and test one attention flag. Everything rare — decoding a new
word, a breakpoint (a negated entry in the decode cache), a new code page, an
exit, an interrupt becoming deliverable — hides behind those tests, so unused features cost
nothing.

PEs are interleaved deterministically: each runs ``QUANTUM`` instructions in turn (fewer if it
sleeps or an exit intervenes), always in PE order.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.exceptions import (EC_ILLEGAL_STATE, EC_PC_ALIGN, default_target_el,
                                    raise_sync)
from armvirt.cpu.memory import fetch_translate
from armvirt.isa._decoder import decode
from armvirt.isa._dispatch import execute

QUANTUM = 1000  # instructions a PE runs before the next PE gets its turn (issue: SMP)


@njit(cache=True)
def _bp_lookup(M, pa):
    """Is there a breakpoint record for physical address pa? (Decode-time only.)"""
    S = M[L.M_MACH]
    for i in range(S[L.BP_COUNT]):
        if S[L.S_BP + i * L.BP_WIDTH] == pa:
            return True
    return False


@njit(cache=True)
def _bp_matches(c, M, pc, pa):
    """Does a breakpoint at pa apply in the current context: its VA, its ELs, and its VMID
    (column 3, -1 = any: "only in guest N" means EL0/EL1 with stage 2 on and that VMID)?"""
    S = M[L.M_MACH]
    for i in range(S[L.BP_COUNT]):
        r = L.S_BP + i * L.BP_WIDTH
        if S[r] == pa and (S[r + 1] == -1 or S[r + 1] == pc) and (S[r + 2] >> c[L.EL]) & 1:
            vmid = S[r + 3]
            if vmid == -1 or (c[L.EL] < 2 and (c[SR.HCR_EL2] & 1) and
                              ((c[SR.VTTBR_EL2] >> 48) & 0xFF) == vmid):
                return True
    return False


@njit(cache=True)
def fetch_slow(c, M, pc):
    """Instruction fetch when pc is not on the cached code page: Illegal Execution state and
    PC alignment checks (both only arise after a branch to a register or an ERET, which drop
    the cached page), then translation. False when an exception was taken or an exit is due."""
    if c[L.PSTATE_IL]:
        raise_sync(c, M, default_target_el(c), EC_ILLEGAL_STATE, 0, pc, 0)
        return False
    if pc & 3:
        raise_sync(c, M, default_target_el(c), EC_PC_ALIGN, 0, pc, pc)
        return False
    return fetch_translate(c, M, pc)


@njit(cache=True)
def run_pe(c, M, limit):
    """Run one PE for at most ``limit`` instructions. Returns the number executed."""
    mach = M[L.M_MACH]
    ram64 = M[L.M_RAM64]
    dcache = M[L.M_DCACHE]
    n = 0
    while n < limit:
        pc = c[L.PC]
        if (pc >> 12) != c[L.CODE_VPAGE]:  # PSTATE.IL = 1 always drops the page, so it lands here
            if not fetch_slow(c, M, pc):
                n += 1  # a fault on fetch is a step too: a bad vector table cannot spin forever
                if c[L.ATTN] and _attention(c, M, pc) != ATTN_CONTINUE:
                    break
                continue
        idx = (pc + c[L.CODE_DELTA]) >> 2
        e = dcache[idx]
        if e <= 0:
            if e == 0:
                w = (ram64[idx >> 1] >> ((idx & 1) << 5)) & 0xFFFFFFFF
                e = (decode(w) << 32) | w
                if mach[L.BP_COUNT] > 0 and _bp_lookup(M, idx * 4 + memmap.RAM_BASE):
                    e = -e  # a breakpoint word: check it now, not only from its next fetch
                dcache[idx] = e
            if e < 0:
                e = -e
                if mach[L.STEP_BREAK] == pc:
                    mach[L.STEP_BREAK] = -1  # resuming from this breakpoint: run it once
                elif _bp_matches(c, M, pc, idx * 4 + memmap.RAM_BASE):
                    mach[L.EXIT_CODE] = L.EXIT_BREAKPOINT
                    mach[L.EXIT_PE] = c[L.PE_INDEX]
                    mach[L.EXIT_ADDR] = pc
                    break
        c[L.PC] = pc + 4
        execute(e >> 32, e & 0xFFFFFFFF, c, M, pc)
        c[L.CYCLES] += 1
        c[L.INSTRET] += 1
        n += 1
        if c[L.ATTN]:
            a = _attention(c, M, pc)
            if a != ATTN_CONTINUE:
                if a == ATTN_REPLAY:
                    n -= 1  # the instruction will run again: it has not executed yet
                break
    return n


ATTN_CONTINUE = 0   # keep running this PE
ATTN_STOP = 1       # stop running this PE (an exit is due, or it went to sleep or off)
ATTN_REPLAY = 2     # stop, and the instruction did not complete: it runs again on resume


@njit(cache=True)
def _attention(c, M, pc):
    """Something asked the loop to look: an exit request, a Python-MMIO replay to finish, a
    change of power state. Returns one of ATTN_*."""
    c[L.ATTN] = 0
    mach = M[L.M_MACH]
    code = mach[L.EXIT_CODE]
    if code == L.EXIT_MMIO or code == L.EXIT_WATCHPOINT or \
            (code == L.EXIT_INTERNAL and mach[L.EXIT_AUX] == 2):
        # The instruction did not complete: rewind it, to be replayed once Python answered
        # (MMIO) or reported (a watchpoint stops *before* the access).
        c[L.PC] = pc
        c[L.MMIO_SEQ] = 0
        c[L.CYCLES] -= 1   # it will be counted when it completes
        c[L.INSTRET] -= 1
        return ATTN_REPLAY
    if c[L.MMIO_SEQ] != 0:  # a replay completed: its answers are used up
        c[L.MMIO_SEQ] = 0
        mach[L.MMIO_RESP_N] = 0
        mach[L.MMIO_RESP_ABORT] = 0
    if code != L.EXIT_NONE or c[L.POWER] != L.POWER_ON:
        return ATTN_STOP
    return ATTN_CONTINUE


@njit(cache=True)
def run(M, budget):
    """Run every powered-on PE, round robin, until an exit or ``budget`` instructions in all.
    Returns the exit code (also left in ``mach[EXIT_CODE]``).

    A PE interrupted by an exit resumes with the rest of its quantum (``QUANTUM_LEFT``), so
    the interleaving depends only on the instruction counts — never on how often Python was
    called (UART flushes, trace drains, a debugger stepping): same image, same schedule."""
    mach = M[L.M_MACH]
    cpus = M[L.M_CPUS]
    npe = mach[L.NUM_PES]
    done = 0
    while done < budget:
        ran_any = False
        for i in range(npe):
            pe = (mach[L.CUR_PE] + i) % npe
            c = cpus[pe]
            if c[L.POWER] != L.POWER_ON or (mach[L.ONLY_PE] >= 0 and pe != mach[L.ONLY_PE]):
                mach[L.QUANTUM_LEFT] = 0
                continue
            ran_any = True
            q = mach[L.QUANTUM_LEFT] if i == 0 and mach[L.QUANTUM_LEFT] > 0 else QUANTUM
            left = budget - done
            n = run_pe(c, M, q if q < left else left)
            done += n
            if mach[L.EXIT_CODE] != L.EXIT_NONE or n < q and c[L.POWER] == L.POWER_ON:
                # Stopped mid-quantum (an exit, or the budget): resume here with what is left.
                mach[L.CUR_PE] = pe
                mach[L.QUANTUM_LEFT] = q - n
                mach[L.RUN_DONE] = done
                if mach[L.EXIT_CODE] != L.EXIT_NONE:
                    return mach[L.EXIT_CODE]
                mach[L.EXIT_CODE] = L.EXIT_BUDGET
                return L.EXIT_BUDGET
            mach[L.QUANTUM_LEFT] = 0
            mach[L.CUR_PE] = (pe + 1) % npe
            break  # next PE, through the outer loop (so that CUR_PE is the one that runs)
        if not ran_any:
            mach[L.RUN_DONE] = done
            mach[L.EXIT_CODE] = L.EXIT_HALT
            for pe in range(npe):
                if cpus[pe][L.POWER] == L.POWER_WFI or cpus[pe][L.POWER] == L.POWER_WFE:
                    mach[L.EXIT_CODE] = L.EXIT_IDLE
            return mach[L.EXIT_CODE]
    mach[L.RUN_DONE] = done
    mach[L.EXIT_CODE] = L.EXIT_BUDGET
    return L.EXIT_BUDGET
