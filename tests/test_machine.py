"""The Machine facade: breakpoints, watchpoints, Python-device MMIO by replay, snapshots,
stepping and self-modifying code, on small assembled programs."""
from __future__ import annotations

import pytest

from armvirt.build import assemble
from armvirt.machine import Machine, MachineError
from mmu_util import identity_stage2

BASE = 0x4000_0000
DEV = 0x0C00_0000     # nothing of the board's is mapped here: free for a test device


def machine(src: str, **kw) -> tuple[Machine, object]:
    prog = assemble(src, BASE)
    m = Machine(ram_size=2 << 20, **kw)
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, prog.entry, el=1)
    return m, prog


class Counter:
    """A Python device: reads return an incrementing counter, writes are logged."""

    def __init__(self):
        self.n = 0
        self.writes: list[tuple[int, int, int]] = []

    def read(self, offset: int, size: int) -> int:
        self.n += 1
        return 0x100 * self.n + offset

    def write(self, offset: int, size: int, value: int) -> None:
        self.writes.append((offset, size, value))


def test_python_device_loads_see_fresh_answers():
    """Back-to-back loads from a Python device each get their own answer (a replayed
    instruction's answers must not leak into the next one)."""
    m, _ = machine("""
        movz x1, #0x0C00, lsl #16
        ldr  w2, [x1]
        ldr  w3, [x1, #8]
        ldp  w4, w5, [x1, #16]
        str  w3, [x1, #4]
        hlt  #0
    """)
    dev = Counter()
    m.add_device(DEV, 0x200, dev)
    m.run(5)
    assert m.reg("x2") == 0x100
    assert m.reg("x3") == 0x208
    assert (m.reg("x4"), m.reg("x5")) == (0x310, 0x414)
    assert dev.writes == [(4, 4, 0x208)]


def test_step_counts_a_replayed_instruction_once():
    m, _ = machine("movz x1, #0x0C00, lsl #16\nldr x2, [x1]\nadd x3, x2, #1\n")
    m.add_device(DEV, 0x200, Counter())
    m.step(1)
    info = m.step(1)
    assert info.instructions == 1
    assert m.reg("pc") == BASE + 8 and m.reg("x2") == 0x100
    assert m.reg("instret") == 2


def test_unclaimed_address_is_an_external_abort():
    m, _ = machine("movz x1, #0x0C00, lsl #16\nldr x2, [x1]\n")
    m.set_reg("VBAR_EL1", BASE + 0x800)
    m.step(2)
    esr = m.reg("ESR_EL1")
    assert esr >> 26 == 0x25 and esr & 0x3F == 0x10   # data abort, same EL; external abort
    assert m.reg("FAR_EL1") == DEV and m.reg("ELR_EL1") == BASE + 4
    assert m.reg("pc") == BASE + 0x800 + 0x200


WATCHED = BASE + 0x1000


@pytest.mark.parametrize("kind", ["w", "rw"])
def test_write_watchpoint_stops_after_the_store(kind):
    m, prog = machine("""
        movz x1, #0x4000, lsl #16
        movk x1, #0x1000
        mov  x2, #7
        str  x2, [x1, #-8]      // next to, not on, the watched bytes
        str  x2, [x1]
    after:
        mov  x3, #1
    """)
    m.write_phys(WATCHED, (0x1122).to_bytes(8, "little"))
    wp = m.add_watchpoint(WATCHED, 8, kind)
    info = m.run(100)
    assert info.reason == "watchpoint" and info.watchpoint == wp
    assert info.addr == WATCHED and info.insn_pc == prog.symbols["after"] - 4
    assert m.reg("pc") == prog.symbols["after"]            # the store has completed
    assert m.read_u64(WATCHED) == 7
    m.remove_watchpoint(wp)
    assert m.step(1).reason == "budget" and m.reg("x3") == 1


def test_read_watchpoint_and_page_cache():
    """A load from the watched page's *other* bytes does not stop, a load of the watched ones
    does — even after earlier loads put that page in the data-page cache."""
    m, prog = machine("""
        movz x1, #0x4000, lsl #16
        movk x1, #0x1000
        ldr  x2, [x1, #64]
        ldr  x2, [x1, #64]
        ldr  x3, [x1]
    after:
        nop
    """)
    m.step(5)                                   # the page is now cached for loads
    m.set_reg("pc", BASE)
    wp = m.add_watchpoint(WATCHED, 4, "r")
    info = m.run(100)
    assert info.reason == "watchpoint" and info.insn_pc == prog.symbols["after"] - 4
    assert info.detail.startswith("read")
    assert m.reg("instret") == 5 + 5


def test_breakpoint_stops_before_and_resumes_over_it():
    m, prog = machine("""
        mov x0, #1
    here:
        add x0, x0, #1
        add x0, x0, #1
        hlt #0
    """)
    bp = m.add_breakpoint(prog.symbols["here"])
    info = m.run(100)
    assert info.reason == "breakpoint" and info.pc == prog.symbols["here"]
    assert m.reg("x0") == 1
    m.run(2)                                      # resumes over the breakpoint
    assert m.reg("x0") == 3
    m.remove_breakpoint(bp)
    with pytest.raises(MachineError):
        m.remove_breakpoint(bp)


def test_breakpoint_scoped_to_an_exception_level():
    m, prog = machine("""
        mov x0, #0
    target:
        add x0, x0, #1
        b target
    """)
    m.add_breakpoint(prog.symbols["target"], el=2)
    assert m.run(50).reason == "budget"          # EL1 code: an EL2-only breakpoint is silent
    m.add_breakpoint(prog.symbols["target"], el=1)
    assert m.run(50).reason == "breakpoint"


def test_snapshot_restore_is_exact():
    m, _ = machine("""
    loop:
        add x0, x0, #3
        eor x1, x1, x0, lsl #2
        str x1, [sp, #-16]!
        b loop
    """)
    m.set_reg("sp", BASE + 0x100000)
    m.run(1000)
    snap = m.save()
    m.run(777)
    after = ([m.reg(f"x{i}") for i in range(4)], m.reg("sp"), m.reg("cycles"),
             m.read_phys(BASE + 0xF0000, 0x10000))
    m.restore(snap)
    m.run(777)
    again = ([m.reg(f"x{i}") for i in range(4)], m.reg("sp"), m.reg("cycles"),
             m.read_phys(BASE + 0xF0000, 0x10000))
    assert after == again


def test_self_modifying_code_runs_the_new_instruction():
    """A store over an already-decoded instruction drops its decoded form."""
    m, prog = machine("""
        adr  x1, patch
        ldr  w2, new_insn
        mov  x9, #0
    again:
    patch:
        mov  x0, #1
        str  w2, [x1]
        add  x9, x9, #1
        cmp  x9, #2
        b.ne again
        hlt  #0
    new_insn:
        mov  x0, #2
    """)
    m.run(14)
    assert m.reg("x9") == 2 and m.reg("x0") == 2


def test_bad_requests_are_machine_errors():
    m, _ = machine("nop")
    with pytest.raises(MachineError):
        m.read_phys(0x1000, 4)
    with pytest.raises(MachineError):
        m.reg("nonsense")
    with pytest.raises(MachineError):
        m.add_watchpoint(WATCHED, 4, "x")
    with pytest.raises(MachineError):
        Machine(smp=9)


def test_dc_zva_by_another_pe_clears_the_exclusive_monitor():
    """DC ZVA is a store: on an SMP machine it clears the other PEs' exclusive monitors that
    cover the zeroed block, so a pending Store-Exclusive fails (Arm ARM B2.9, the global
    monitor)."""
    prog = assemble("""
    pe0:
        ldxr  x0, [x1]
        stxr  w2, x3, [x1]
        hlt   #0
    pe1:
        dc    zva, x1
        hlt   #0
    """, BASE)
    m = Machine(ram_size=2 << 20, smp=2)
    m.write_phys(BASE, prog.code)
    data = BASE + 0x10040
    m.write_phys(data, (0x1234).to_bytes(8, "little"))
    for pe, entry in ((0, "pe0"), (1, "pe1")):
        m.boot_pe(pe, prog.symbols[entry], el=1)
        m.set_reg("x1", data + 8 * pe, pe=pe)
        m.set_reg("x3", 0x55, pe=pe)
        m.set_reg("HCR_EL2", 1 << 12, pe=pe)   # DC: Normal memory with stage 1 off (DC ZVA)
        identity_stage2(m, BASE + 0x1_0000_0 + 0x1000 * pe, pe=pe)   # ... and stage 2 on
    m.step(1, pe=0)                             # LDXR marks the granule
    m.step(1, pe=1)                             # DC ZVA zeroes the 64-byte block holding it
    m.step(1, pe=0)                             # STXR must fail
    assert m.reg("x0", pe=0) == 0x1234
    assert m.reg("x2", pe=0) == 1
    assert m.read_u64(data) == 0


def test_stp_on_device_memory_with_another_pe_monitoring():
    """STP of two X registers is two 8-byte accesses: 8-byte alignment is enough, also on
    Device memory (stage 1 off) — including the bookkeeping for the other PEs' exclusive
    monitors, which runs after the store on an SMP machine."""
    prog = assemble("""
    pe0:
        stp   x3, x4, [x1]
        hlt   #0
    pe1:
        ldaxr x0, [x1]
        hlt   #0
    """, BASE)
    m = Machine(ram_size=2 << 20, smp=2)
    m.write_phys(BASE, prog.code)
    data = BASE + 0x10008                       # 8-byte aligned, not 16
    for pe, entry in ((0, "pe0"), (1, "pe1")):
        m.boot_pe(pe, prog.symbols[entry], el=1)
        m.set_reg("x1", data, pe=pe)
    m.set_reg("x3", 0x33, pe=0)
    m.set_reg("x4", 0x44, pe=0)
    m.step(1, pe=1)                             # PE 1's monitor marks the granule
    m.step(1, pe=0)
    assert m.reg("pc", pe=0) == prog.symbols["pe0"] + 4 and m.reg("ESR_EL1", pe=0) == 0
    assert (m.read_u64(data), m.read_u64(data + 8)) == (0x33, 0x44)


def test_hooks_are_data_and_call_back_on_exceptions():
    """Machine.add_hook: the core checks a small table on exception entry/return and exits
    only on a match; the callback sees the event and decides whether the run stops."""
    m = Machine(ram_size=1 << 20)
    code = assemble("""
        adr   x0, vectors
        msr   vbar_el1, x0
        svc   #1
        svc   #2
        svc   #3
        b     .
        .balign 2048
    vectors:
        .rept 4
        b .
        .balign 128
        .endr
        eret                // current EL with SP_ELx, synchronous (0x200)
    """, BASE)
    m.write_phys(BASE, code.code)
    m.boot_pe(0, BASE, el=1)
    seen = []

    def on_svc(machine, ev):
        seen.append((ev.el, ev.esr & 0xFFFF, machine.reg("pc") == ev.pc))
        return ev.esr & 0xFFFF == 2                     # stop at the second SVC
    h = m.add_hook("exception", on_svc, el=1, ec=0x15)
    erets = []
    m.add_hook("eret", lambda machine, ev: erets.append(ev.pc))
    info = m.run(max_insns=100)
    assert info.reason == "hook" and info.pc == code.symbols["vectors"] + 0x200
    assert seen == [(1, 1, True), (1, 2, True)]
    assert erets == [BASE + 12]                          # the first SVC's return
    m.remove_hook(h)
    info = m.run(max_insns=20)
    assert info.reason == "budget" and len(seen) == 2 and len(erets) == 3
    with pytest.raises(MachineError):
        m.add_hook("syscall", on_svc)
    with pytest.raises(MachineError):
        m.add_hook("exception", on_svc, ec="hvc")
