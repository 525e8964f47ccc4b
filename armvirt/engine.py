"""The run loop: one jitted function that runs the PEs until something needs Python.

It mirrors KVM_RUN: ``run(M, budget)`` executes instructions until an *exit* — the budget ran
out, a breakpoint, an access to a device modelled in Python, a PSCI call, a full output buffer,
every PE asleep or off, an internal limit — and returns its code (``layout.EXIT_*``) with the
details in the exit record (``mach[EXIT_*]``). Python handles it and calls ``run`` again.

Per instruction the fast path is: compare the pc's page with the cached code page, load one
decode-cache entry (``M_DCACHE``: ``(op << 32) | word`` per RAM word), execute it through the
generated dispatcher, count it (its cycles from the cost profile's per-op table, ``S_OPCOST``),
and test one attention flag. Everything rare — decoding a new
word, a breakpoint (a negated entry in the decode cache), a new code page, an
exit, an interrupt becoming deliverable — hides behind those tests, so unused features cost
nothing.

PEs are interleaved deterministically in rounds of machine time: each runs until its cycle
count reaches the round's end (``QUANTUM`` cycles per round), always in PE order; sleeping PEs'
clocks move with the round, and when every PE sleeps time skips to the next timer deadline.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.debug import breakpoint_on_page, debug_fetched, software_step_check
from armvirt.cpu.exceptions import (EC_ILLEGAL_STATE, EC_PC_ALIGN, HCR_VF, HCR_VI, HCR_VSE,
                                    default_target_el, raise_sync, take_interrupt)
from armvirt.cpu.memory import array_to_pa, fetch_translate
from armvirt.cpu.mmu import HCR_VM, current_vmid
from armvirt.devices.timer import pe_event
from armvirt.isa._decoder import decode
from armvirt.isa._dispatch import execute

QUANTUM = 1000  # cycles of machine time each PE runs per round before the next one's turn


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
            if vmid == -1 or (c[L.EL] < 2 and (c[SR.HCR_EL2] & HCR_VM) and
                              current_vmid(c) == vmid):
                return True
    return False


@njit(cache=True)
def fetch_slow(c, M, pc):
    """Instruction fetch when pc is not on the cached code page: the PC alignment check,
    translation, then the Illegal Execution state check (both checks only arise after a branch
    to a register or an ERET, which drop the cached page), in the Arm ARM's priority order of
    synchronous exceptions: Software Step, PC alignment, Instruction Abort, Breakpoint, ...,
    Illegal Execution state. While guest software step is armed, or on a page where a guest
    breakpoint could match (c[DBG], armvirt/cpu/debug.py), every fetch comes here. False when an exception was taken or an exit
    is due."""
    if c[L.DBG] & L.DBG_SS and not software_step_check(c, M, pc):
        return False
    if pc & 3:
        raise_sync(c, M, default_target_el(c), EC_PC_ALIGN, 0, pc, pc)
        return False
    if not fetch_translate(c, M, pc):
        return False
    dbg = c[L.DBG]
    if dbg & L.DBG_SS or (dbg & L.DBG_BP and breakpoint_on_page(c, pc)):
        # Guest self-hosted debug: software step, or a breakpoint that could match on this page.
        # Keep every fetch on this path (the page is forgotten; CODE_DELTA stays valid for this
        # instruction) and check the breakpoints.
        c[L.CODE_VPAGE] = L.CODE_VPAGE_NONE
        idx = (pc + c[L.CODE_DELTA]) >> 2
        word = (M[L.M_RAM64][idx >> 1] >> ((idx & 1) << 5)) & 0xFFFFFFFF
        if not debug_fetched(c, M, pc, word):
            return False
    if c[L.PSTATE_IL]:
        raise_sync(c, M, default_target_el(c), EC_ILLEGAL_STATE, 0, pc, 0)
        return False
    return True


@njit(cache=True, inline="always")
def run_pe(c, M, limit):
    """Run one PE for at most ``limit`` instructions. Returns (instructions executed, stopped):
    ``stopped`` when something other than the limit ended the slice (an exit, a change of
    power state, a deadline that moved)."""
    mach = M[L.M_MACH]
    ram64 = M[L.M_RAM64]
    dcache = M[L.M_DCACHE]
    if c[L.ATTN] and mach[L.MMIO_RESP_N] == 0:
        _interrupts(c, M)  # signalled while this PE was not running: take it before anything
    n = 0
    while n < limit:
        pc = c[L.PC]
        if (pc >> 12) != c[L.CODE_VPAGE]:  # PSTATE.IL = 1 always drops the page, so it lands here
            if not fetch_slow(c, M, pc):
                n += 1  # a fault on fetch is a step too: a bad vector table cannot spin forever
                if c[L.ATTN] and _attention(c, M, pc, 0) != ATTN_CONTINUE:
                    return n, True
                continue
        idx = (pc + c[L.CODE_DELTA]) >> 2
        e = dcache[idx]
        if e <= 0:
            if e == 0:
                w = (ram64[idx >> 1] >> ((idx & 1) << 5)) & 0xFFFFFFFF
                e = (decode(w) << 32) | w
                if mach[L.BP_COUNT] > 0 and _bp_lookup(M, array_to_pa(M, idx * 4)):
                    e = -e  # a breakpoint word: check it now, not only from its next fetch
                dcache[idx] = e
            if e < 0:
                e = -e
                if mach[L.STEP_BREAK] == pc:
                    mach[L.STEP_BREAK] = -1  # resuming from this breakpoint: run it once
                elif _bp_matches(c, M, pc, array_to_pa(M, idx * 4)):
                    mach[L.EXIT_CODE] = L.EXIT_BREAKPOINT
                    mach[L.EXIT_PE] = c[L.PE_INDEX]
                    mach[L.EXIT_ADDR] = pc
                    return n, True
        c[L.PC] = pc + 4
        op = e >> 32
        execute(op, e & 0xFFFFFFFF, c, M, pc)
        cost = mach[L.S_OPCOST + op]   # the cost profile's cycles for this op (armvirt/costs.py)
        c[L.CYCLES] += cost
        c[L.INSTRET] += 1
        n += 1
        if c[L.ATTN]:
            a = _attention(c, M, pc, cost)
            if a != ATTN_CONTINUE:
                if a == ATTN_REPLAY:
                    n -= 1  # the instruction will run again: it has not executed yet
                return n, True
    return n, False


ATTN_CONTINUE = 0   # keep running this PE
ATTN_STOP = 1       # stop running this PE (an exit is due, or it went to sleep or off)
ATTN_REPLAY = 2     # stop, and the instruction did not complete: it runs again on resume


@njit(cache=True)
def _attention(c, M, pc, cost):
    """Something asked the loop to look: an exit request, a Python-MMIO replay to finish, a
    change of power state. ``cost``: the cycles just counted for the instruction at pc (taken
    back if it is to be replayed). Returns one of ATTN_*."""
    c[L.ATTN] = 0
    mach = M[L.M_MACH]
    code = mach[L.EXIT_CODE]
    if code == L.EXIT_MMIO or code == L.EXIT_WATCHPOINT or \
            (code == L.EXIT_INTERNAL and mach[L.EXIT_AUX] == 2):
        # The instruction did not complete: rewind it, to be replayed once Python answered
        # (MMIO) or reported (a watchpoint stops *before* the access).
        c[L.PC] = pc
        c[L.MMIO_SEQ] = 0
        c[L.CYCLES] -= cost   # it will be counted when it completes
        c[L.INSTRET] -= 1
        return ATTN_REPLAY
    if c[L.MMIO_SEQ] != 0:  # a replay completed: its answers are used up
        c[L.MMIO_SEQ] = 0
        mach[L.MMIO_RESP_N] = 0
        mach[L.MMIO_RESP_ABORT] = 0
    if code != L.EXIT_NONE or c[L.POWER] != L.POWER_ON:
        return ATTN_STOP
    _interrupts(c, M)
    if mach[L.EXIT_CODE] != L.EXIT_NONE:
        return ATTN_STOP   # taking the interrupt asked for an exit (a hook, a full trace ring)
    if c[L.RESCHED]:
        c[L.RESCHED] = 0
        return ATTN_STOP   # a deadline moved: the run loop plans the slice again
    return ATTN_CONTINUE


@njit(cache=True, inline="always")
def _interrupts(c, M):
    """Take a pending, unmasked interrupt (a GIC line, or HCR_EL2.VI/VF/VSE) if there is one."""
    if c[L.IRQ_LINES] or (c[SR.HCR_EL2] & (HCR_VI | HCR_VF | HCR_VSE)):
        take_interrupt(c, M)


@njit(cache=True, inline="always")
def _turn(c, M, end, left):
    """Give PE ``c`` its turn of the round: run it until its clock (c[CYCLES]) reaches ``end``,
    ``left`` instructions are done, or an exit is due. Returns the instructions executed.

    The turn is cut into slices of instructions, each planned to end at the round's end or at
    the PE's next deadline (c[DEADLINE]), whichever comes first — so a timer fires at the end
    of the slice in which it became due, without any per-instruction test. (An instruction
    costs at least one cycle, so a slice of k instructions takes at least k cycles; it may
    overshoot the deadline by the extra cost of exceptions, divides, ...: deterministically.)
    A slice cut short by the budget is resumed as planned (c[SLICE_LEFT]), so that where the
    budget falls never changes what the guest sees.

    A sleeping PE's clock moves to ``end`` unless one of its deadlines comes first: then its
    clock moves to that deadline, the event is delivered, and if it woke the PE it runs the
    rest of its turn."""
    mach = M[L.M_MACH]
    n = 0
    while True:
        power = c[L.POWER]
        if power == L.POWER_OFF:
            c[L.SLICE_LEFT] = 0
            return n
        if power != L.POWER_ON:
            c[L.SLICE_LEFT] = 0
            d = c[L.DEADLINE]
            if d < end:
                if c[L.CYCLES] < d:
                    c[L.CYCLES] = d
                pe_event(c, M)
                continue
            if c[L.CYCLES] < end:
                c[L.CYCLES] = end
            return n
        plan = c[L.SLICE_LEFT]
        if plan == 0:
            if c[L.CYCLES] >= c[L.DEADLINE]:
                pe_event(c, M)
                continue
            if c[L.CYCLES] >= end:
                return n
            plan = end - c[L.CYCLES]
            d = c[L.DEADLINE] - c[L.CYCLES]
            if d < plan:
                plan = d
        if n >= left:
            return n
        lim = plan if plan < left - n else left - n
        k, stopped = run_pe(c, M, lim)
        n += k
        c[L.SLICE_LEFT] = 0 if stopped else plan - k
        if mach[L.EXIT_CODE] != L.EXIT_NONE:
            return n


@njit(cache=True)
def _next_round(M):
    """Plan the next round after every PE had its turn. Returns False when nothing can run
    again: every PE off (EXIT_HALT) or asleep with no deadline to wake it (EXIT_IDLE).

    While some PE runs, the next round ends QUANTUM cycles after the earliest running clock.
    When every PE sleeps, time skips: the next round starts at the earliest deadline."""
    mach = M[L.M_MACH]
    cpus = M[L.M_CPUS]
    slot = L.S_SCHED + L.SCHED_ROUND_END
    earliest_on = L.NEVER
    earliest_deadline = L.NEVER
    asleep = False
    for pe in range(mach[L.NUM_PES]):
        c = cpus[pe]
        if c[L.POWER] == L.POWER_ON:
            if c[L.CYCLES] < earliest_on:
                earliest_on = c[L.CYCLES]
        elif c[L.POWER] != L.POWER_OFF:
            asleep = True
            if c[L.DEADLINE] < earliest_deadline:
                earliest_deadline = c[L.DEADLINE]
    if earliest_on < L.NEVER:
        mach[slot] = max(mach[slot], earliest_on) + QUANTUM
        return True
    if earliest_deadline < L.NEVER:
        mach[slot] = max(mach[slot], earliest_deadline) + QUANTUM
        return True
    mach[L.EXIT_CODE] = L.EXIT_IDLE if asleep else L.EXIT_HALT
    return False


@njit(cache=True)
def run(M, budget):
    """Run the PEs until an exit or ``budget`` instructions in all. Returns the exit code (also
    left in ``mach[EXIT_CODE]``).

    Machine time advances in rounds: in each round every PE, in PE order, runs until its
    cycle count reaches the round's end (``S_SCHED + SCHED_ROUND_END``), so at every round
    boundary all clocks agree and the system counter is one machine-wide time. A PE that
    wakes (or is powered on) behind the round's start catches up to it. A run interrupted by
    an exit or the budget resumes exactly where it stopped (CUR_PE, and each PE's clock
    against the round's end), so the interleaving depends only on instruction costs, never on
    how often Python was called (UART flushes, trace drains, a debugger stepping).

    ONLY_PE: a debugger steps one PE while the others wait (their clocks stand still).

    This is the core's only entry point from Python, and the only function into which the run
    loop is compiled: ``_turn`` and ``run_pe`` are inlined by Numba (they have one call site
    each), since every jitted function of its own is optimised and code-generated again with
    everything it calls."""
    mach = M[L.M_MACH]
    cpus = M[L.M_CPUS]
    only = mach[L.ONLY_PE]
    npe = mach[L.NUM_PES]
    slot = L.S_SCHED + L.SCHED_ROUND_END
    done = 0
    while done < budget:
        if only >= 0:
            pe = only
            c = cpus[pe]
            if c[L.POWER] == L.POWER_ON:
                end = c[L.CYCLES] + QUANTUM
            elif c[L.POWER] != L.POWER_OFF and c[L.DEADLINE] < L.NEVER:
                end = c[L.DEADLINE] + 1
            else:
                mach[L.EXIT_CODE] = L.EXIT_HALT if c[L.POWER] == L.POWER_OFF else L.EXIT_IDLE
                mach[L.RUN_DONE] = done
                return mach[L.EXIT_CODE]
        else:
            pe = mach[L.CUR_PE]
            c = cpus[pe]
            end = mach[slot]
            if c[L.POWER] == L.POWER_ON and c[L.CYCLES] < end - QUANTUM:
                c[L.CYCLES] = end - QUANTUM
        done += _turn(c, M, end, budget - done)
        if mach[L.EXIT_CODE] != L.EXIT_NONE:
            mach[L.RUN_DONE] = done
            return mach[L.EXIT_CODE]
        if only >= 0:
            continue
        if c[L.POWER] == L.POWER_ON and (c[L.CYCLES] < end or c[L.SLICE_LEFT] > 0):
            break   # the budget ran out within this PE's turn: resume it here
        if pe + 1 < npe:
            mach[L.CUR_PE] = pe + 1
            continue
        mach[L.CUR_PE] = 0
        if not _next_round(M):
            mach[L.RUN_DONE] = done
            return mach[L.EXIT_CODE]
    mach[L.RUN_DONE] = done
    mach[L.EXIT_CODE] = L.EXIT_BUDGET
    return L.EXIT_BUDGET
