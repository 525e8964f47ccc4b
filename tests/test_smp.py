"""Several PEs: the bare SMP guest (guests/smp_gic.S) on armvirt, twice for determinism, and
on qemu-system-aarch64 as a cross-check; and scheduling properties of the run loop.

The guest starts PE1 with PSCI CPU_ON, plays SGI ping-pong, sends an SGI to all but itself,
checks priority order and the EOImode = 1 split, takes periodic virtual-timer interrupts on
both PEs (sleeping in WFI), and increments a shared counter under a LDAXR/STLXR spinlock,
with LDADDAL and with a CASAL loop, both PEs at once.
"""
from __future__ import annotations

import subprocess

from armvirt import layout as L
from armvirt.loader import load_image
from armvirt.machine import Machine
from conftest import require_tool

EXPECTED = b"""smp_gic: 2 PEs, GICv3, virtual timer, PMU
gic: ctlr 0x53 itlines 7 iidr 0x43b pmr 0xf8 icc_ctlr 0x8c00 bpr 2 3
priority: 6 1023 5
eoimode1: rpr after eoi 0xff active 1 after dir 0
pmu: cycle counter runs 1
psci cpu_on: 0
sgi ping-pong: 50/50
sgi to all but self: 0 1
virtual timer irqs: 5 5
counter: ldaxr/stlxr lock 1000 ldaddal 1000 casal 1000
pe1 off
"""


def run_smp(guests_dir, **kw) -> Machine:
    m = Machine(ram_size=64 << 20, smp=2, **kw)
    load_image(m, guests_dir / "smp_gic.elf")
    info = m.run(max_insns=5_000_000)
    assert info.reason == "system_off", (info, m.console.decode())
    return m


def test_smp_guest(guests_dir):
    m = run_smp(guests_dir)
    assert bytes(m.console) == EXPECTED
    assert m.cpus[1][L.POWER] == L.POWER_OFF


def test_smp_guest_is_deterministic(guests_dir):
    """Same image twice: the same output, and every PE ends with the same cycle and
    instruction counts — timers, IPIs, sleeping and spinning included."""
    runs = [run_smp(guests_dir) for _ in range(2)]
    a, b = runs
    assert bytes(a.console) == bytes(b.console) == EXPECTED
    for pe in range(2):
        for what in ("cycles", "instret", "pc", "x0", "CNTVCT_EL0"):
            assert a.reg(what, pe) == b.reg(what, pe), (pe, what)


def test_smp_guest_is_deterministic_whatever_the_run_chunks(guests_dir):
    """Running in small pieces (as a debugger or a UART flush would make it) gives the same
    machine as one long run: the schedule depends on emulated time only."""
    whole = run_smp(guests_dir)
    m = Machine(ram_size=64 << 20, smp=2)
    load_image(m, guests_dir / "smp_gic.elf")
    while True:
        info = m.run(max_insns=777)
        if info.reason != "budget":
            break
    assert info.reason == "system_off"
    assert bytes(m.console) == EXPECTED
    for pe in range(2):
        assert m.reg("cycles", pe) == whole.reg("cycles", pe)
        assert m.reg("instret", pe) == whole.reg("instret", pe)


def test_same_output_as_qemu(guests_dir):
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,gic-version=3", "-cpu", "cortex-a76", "-smp", "2",
                        "-nographic", "-kernel", str(guests_dir / "smp_gic.elf")],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    ours = run_smp(guests_dir)
    assert q.stdout.replace(b"\r\n", b"\n") == bytes(ours.console) == EXPECTED


def test_pe_clocks_stay_within_a_quantum():
    """Two PEs spinning: at every stop their cycle counts are within one quantum (plus the
    cost of one instruction) of each other, so CNTPCT is one machine-wide time."""
    from armvirt.engine import QUANTUM
    from gicrig import CODE, GicRig
    r = GicRig(smp=2)
    r.code(CODE, "1: add x1, x1, #1\nb 1b\n")
    r.boot(1)
    r.boot(1, pe=1)
    for n in (1, 10, 999, 1001, 5000, 12345):
        r.run(n)
        assert abs(r.reg("cycles", 0) - r.reg("cycles", 1)) <= QUANTUM + 1
