"""Regression tests for the defects found by probing armvirt as a hostile user and a fuzzer would
(issue 10): illegal exception returns, breakpoints on upper-half addresses, unbounded exception
traces, large RAM, late checks of output paths, a damaged compile cache, and a GDB server that
took one session only.
"""
from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armvirt import layout as L
from armvirt.build import assemble
from armvirt.build import build_guest
from armvirt.cpu import _sysregs as SR
from armvirt.debug.gdbstub import GdbServer, GdbSession, checksum, frame
from armvirt.loader import load_image
from armvirt.machine import Machine, MachineError
from conftest import ROOT, require_tool

BASE = 0x4000_0000
ERET = 0xD69F03E0
IMAGES = Path(__file__).parent / "images"
KERNEL_VA = 0xFFFF_8000_0000_0000


# =============================================================================================
# 1. ERET legality: AArch64.ExceptionReturn / IllegalExceptionReturn / ELFromSPSR
# =============================================================================================
# The model below is the Arm ARM's pseudocode for this PE, written out independently of
# armvirt/cpu/exceptions.py: no EL3, EL2 implemented (so EL2Enabled() is always true and the
# PE is in Non-secure state), AArch64 only at every EL (HaveAArch32() false; HCR_EL2.RW is RAO so
# ELUsingAArch32K never differs), no VHE (HCR_EL2.E2H is RES0 here), FEAT_PAN.

def el_from_spsr(spsr: int) -> tuple[bool, int]:
    """ELFromSPSR(spsr) -> (valid, el)."""
    if spsr >> 4 & 1 == 0:                       # AArch64 state
        el = spsr >> 2 & 3
        if el == 3:                              # !HaveEL(EL3)
            return False, 0
        if spsr >> 1 & 1:                        # M[1] must be 0
            return False, 0
        if el == 0 and spsr & 1:                 # for EL0, M[0] must be 0
            return False, 0
        return True, el
    return False, 0                              # AArch32 state, but !HaveAArch32()


def illegal_exception_return(spsr: int, cur_el: int, hcr_tge: bool) -> bool:
    """IllegalExceptionReturn(spsr)."""
    valid, target = el_from_spsr(spsr)
    if not valid:
        return True
    if target > cur_el:                          # return to a higher Exception level
        return True
    # ELUsingAArch32K(target) is always (known, FALSE) and spsr<4> is 0 here: no mismatch.
    if target == 1 and hcr_tge:                  # EL2Enabled() && target == EL1 && TGE
        return True
    return False


def expected_pstate(spsr: int, elr: int, cur_el: int, cur_spsel: int, tge: bool) -> dict:
    """PSTATE and PC after the ERET (SetPSTATEFromPSR + BranchTo)."""
    illegal = illegal_exception_return(spsr, cur_el, tge)
    out = {"nzcv": spsr >> 28 & 0xF, "daif": spsr >> 6 & 0xF, "pan": spsr >> 22 & 1,
           "pc": elr}
    if illegal:
        out.update(el=cur_el, spsel=cur_spsel, il=1)
    else:
        out.update(el=spsr >> 2 & 3, spsel=spsr & 1, il=spsr >> 20 & 1)
    return out


@pytest.fixture(scope="module")
def eret_machine():
    m = Machine(ram_size=1 << 20)
    m.write_phys(BASE, ERET.to_bytes(4, "little"))
    return m


# The M field is where the rules live: draw it from all 32 values, and the rest of the SPSR
# at random (NZCV, SS, IL, PAN, DAIF and RES0 bits).
spsrs = st.builds(lambda m, rest: (rest & ~0x1F) | m, st.integers(0, 31),
                  st.integers(0, (1 << 64) - 1))


@settings(max_examples=400)
@given(spsr=spsrs, cur_el=st.sampled_from([1, 2]), cur_spsel=st.integers(0, 1),
       tge=st.booleans(), elr_word=st.integers(1, (1 << 18) - 1))
def test_eret_follows_the_pseudocode(eret_machine, spsr, cur_el, cur_spsel, tge, elr_word):
    m = eret_machine
    m.reset_pe(0)
    m.boot_pe(0, BASE, el=2)
    elr = BASE + 4 * elr_word                    # any aligned pc in RAM: the ERET is the test
    m.set_reg("HCR_EL2", (1 << 31) | ((1 << 27) if tge else 0))
    m.set_reg(f"SPSR_EL{cur_el}", spsr)
    m.set_reg(f"ELR_EL{cur_el}", elr)
    m.set_reg("el", cur_el)
    m.set_reg("spsel", cur_spsel)
    sp_before = m.reg("sp")
    m.step(1)
    c = m.cpus[0]
    got = {"nzcv": int(c[L.NZCV]), "daif": int(c[L.DAIF]), "pan": int(c[L.PSTATE_PAN]),
           "pc": m.reg("pc"), "el": int(c[L.EL]), "spsel": int(c[L.SPSEL]),
           "il": int(c[L.PSTATE_IL])}
    want = expected_pstate(spsr, elr, cur_el, cur_spsel, tge)
    assert got == want, (hex(spsr), cur_el, cur_spsel, tge)
    if want["il"] and want["el"] == cur_el:
        assert m.reg("sp") == sp_before          # the SP is kept on an illegal return


def test_reported_case_eret_to_el0_with_sp_elx_is_illegal(eret_machine):
    """The reproducer of the issue: ERET at EL1 with SPSR_EL1.M = 0b0001 entered EL0 with
    SPSel = 1. The next instruction must take the Illegal Execution state exception to EL1
    (EC 0x0E, current EL with SP_ELx, preferred return = that instruction)."""
    m = eret_machine
    m.reset_pe(0)
    m.boot_pe(0, BASE, el=1)
    m.set_reg("VBAR_EL1", BASE + 0x800)
    m.set_reg("SPSR_EL1", 0x3C1)
    m.set_reg("ELR_EL1", BASE + 0x100)
    m.step(1)
    assert (m.reg("el"), m.reg("spsel"), int(m.cpus[0][L.PSTATE_IL])) == (1, 1, 1)
    m.step(1)
    assert m.reg("pc") == BASE + 0x800 + 0x200
    assert m.reg("ESR_EL1") == (0x0E << 26) | (1 << 25)
    assert m.reg("ELR_EL1") == BASE + 0x100
    assert m.reg("SPSR_EL1") & (1 << 20)         # PSTATE.IL was 1 when it was taken
    assert int(m.cpus[0][L.PSTATE_IL]) == 0       # and taking an exception clears it


# The image's cases (tests/images/illegal_eret.S: SPSR, HCR_EL2, ELR offset) and the report
# the Arm ARM predicts for each: (vector offset, ESR_EL2, SPSR_EL2 when taken, ELR - landing).
FLAGS = 0xA000_0140
HCR_RW, HCR_TGE = 1 << 31, 1 << 27
IL_BIT = 1 << 20
ESR_IL = 1 << 25
ILLEGAL = (0x200, 0x0E << 26 | ESR_IL, FLAGS | IL_BIT | 0x9, 0)
IMAGE_CASES = [
    (FLAGS | 0x01, HCR_RW, 0, ILLEGAL), (FLAGS | 0x02, HCR_RW, 0, ILLEGAL),
    (FLAGS | 0x03, HCR_RW, 0, ILLEGAL), (FLAGS | 0x06, HCR_RW, 0, ILLEGAL),
    (FLAGS | 0x07, HCR_RW, 0, ILLEGAL), (FLAGS | 0x0A, HCR_RW, 0, ILLEGAL),
    (FLAGS | 0x0B, HCR_RW, 0, ILLEGAL), (FLAGS | 0x0C, HCR_RW, 0, ILLEGAL),
    (FLAGS | 0x0D, HCR_RW, 0, ILLEGAL), (FLAGS | 0x0E, HCR_RW, 0, ILLEGAL),
    (FLAGS | 0x0F, HCR_RW, 0, ILLEGAL),
    (FLAGS | 0x05, HCR_RW | HCR_TGE, 0, ILLEGAL), (FLAGS | 0x04, HCR_RW | HCR_TGE, 0, ILLEGAL),
    # Illegal, to a misaligned pc: PC alignment has priority over Illegal Execution state
    (FLAGS | 0x01, HCR_RW, 2, (0x200, 0x22 << 26 | ESR_IL, FLAGS | IL_BIT | 0x9, 2)),
    # Legal to EL2h, with SPSR.IL = 1: IL is restored, the same exception follows
    (FLAGS | IL_BIT | 0x09, HCR_RW, 0, ILLEGAL),
    # Legal: the HVC at `landing` runs (EC 0x16; ELR = the next instruction)
    (FLAGS | 0x05, HCR_RW, 0, (0x400, 0x16 << 26 | ESR_IL, FLAGS | 0x05, 4)),
    (FLAGS | 0x04, HCR_RW, 0, (0x400, 0x16 << 26 | ESR_IL, FLAGS | 0x04, 4)),
    (FLAGS | 0x08, HCR_RW, 0, (0x000, 0x16 << 26 | ESR_IL, FLAGS | 0x08, 4)),
    # Legal: EL0 with TGE; HVC is UNDEFINED at EL0, routed to EL2 by TGE
    (FLAGS | 0x00, HCR_RW | HCR_TGE, 0, (0x400, ESR_IL, FLAGS | 0x00, 0)),
]


def expected_image_output() -> str:
    lines = ["illegal_eret: EL2"]
    for spsr, hcr, _off, (vec, esr, spsr_taken, elr_off) in IMAGE_CASES:
        lines += [f"eret SPSR {spsr:016x}", f"     HCR  {hcr:016x}", f"  vector {vec:016x}",
                  f"  ESR    {esr:016x}", f"  SPSR   {spsr_taken:016x}",
                  f"  ELR-landing {elr_off:016x}"]
    return "\n".join(lines + ["done"]) + "\n"


@pytest.fixture(scope="module")
def eret_image(tmp_path_factory) -> Path:
    return build_guest(IMAGES / "illegal_eret.S", tmp_path_factory.mktemp("eret"))


def run_bare_el2(elf: Path) -> str:
    out = bytearray()
    m = Machine(psci_conduit="smc", uart=out.extend)
    load_image(m, str(elf), el=2)
    info = m.run(max_insns=1_000_000)
    assert info.reason == "system_off", info
    return out.decode()


def test_illegal_eret_image_prints_what_the_arm_arm_says(eret_image):
    assert run_bare_el2(eret_image) == expected_image_output()


def test_illegal_eret_image_matches_qemu(eret_image):
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,virtualization=on,gic-version=3", "-cpu", "cortex-a57",
                        "-nographic", "-kernel", str(eret_image)], capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert q.stdout.decode().replace("\r\n", "\n") == run_bare_el2(eret_image)


# =============================================================================================
# 2. Breakpoints at VA >= 2^63: unsigned for people, int64 in the core
# =============================================================================================
@pytest.fixture
def plain_machine():
    m = Machine(ram_size=1 << 20)
    prog = assemble("nop\nnop\nb .\n", BASE)
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, BASE, el=1)
    return m


def test_machine_breakpoint_on_an_upper_half_address(plain_machine):
    m = plain_machine
    bp = m.add_breakpoint(KERNEL_VA)
    assert int(m.bp_table[0, 1]) == KERNEL_VA - (1 << 64)    # its int64 form in the core
    top = m.add_breakpoint((1 << 64) - 4)                     # the last instruction address
    low = m.add_breakpoint(BASE + 4)                          # later ones still work
    m.write_phys(BASE + 0x100, b"\0" * 8)                     # and so do writes
    m.remove_breakpoint(bp)
    m.remove_breakpoint(top)
    assert [b.addr for b in m.breakpoints] == [BASE + 4]
    assert m.run(100).reason == "breakpoint" and m.reg("pc") == BASE + 4
    m.remove_breakpoint(low)


@pytest.mark.parametrize("addr", [1 << 64, -4, KERNEL_VA + 2])
def test_machine_refuses_impossible_breakpoints_and_records_nothing(plain_machine, addr):
    m = plain_machine
    with pytest.raises(MachineError):
        m.add_breakpoint(addr)
    assert m.breakpoints == [] and int(m.mach[L.BP_COUNT]) == 0
    m.add_breakpoint(BASE + 4)                               # the machine is still fine


def test_watchpoint_on_an_upper_half_address(plain_machine):
    m = plain_machine
    wp = m.add_watchpoint(KERNEL_VA, 8)
    assert int(m.wp_table[0, 0]) == KERNEL_VA - (1 << 64)
    m.remove_watchpoint(wp)
    m.add_watchpoint((1 << 64) - 8, 8)                       # up to the very end
    with pytest.raises(MachineError):
        m.add_watchpoint((1 << 64) - 4, 8)                   # past it


def test_breakpoint_hit_at_an_upper_half_address():
    """Code mapped at 0xffff_8000_0000_0000 through TTBR1_EL1: the breakpoint stops there."""
    from mmu_util import RamWords
    from pagetables import Allocator, Tables, tcr_el1, ttbr
    m = Machine(ram_size=1 << 20)
    code_pa = BASE + 0x1_0000
    m.write_phys(code_pa, assemble("nop\nnop\nnop\nb .\n", KERNEL_VA).code)
    t = Tables(RamWords(m), Allocator(BASE + 0x2_0000), granule=4096, inputsize=48, stage=1,
               start_level=0)
    t.map(KERNEL_VA, code_pa, 4096, level=3)
    m.set_reg("MAIR_EL1", 0xFF)                              # Attr0: Normal write-back
    m.set_reg("TCR_EL1", tcr_el1(t0sz=16, t1sz=16, epd0=1, ips=0b010))
    m.set_reg("TTBR1_EL1", ttbr(t.root))
    m.set_reg("SCTLR_EL1", m.reg("SCTLR_EL1") | 1)
    m.boot_pe(0, KERNEL_VA, el=1)
    m.add_breakpoint(KERNEL_VA + 8)
    info = m.run(100)
    assert (info.reason, info.pc, m.reg("pc")) == ("breakpoint", KERNEL_VA + 8, KERNEL_VA + 8)


def test_repl_breakpoint_on_an_upper_half_address(plain_machine):
    from armvirt.debug.repl import Debugger
    d = Debugger(plain_machine)
    out = d.command(f"break *0x{KERNEL_VA:x}")
    assert out.startswith("Breakpoint 1 at 0xffff800000000000") and "pending" in out
    out = d.command("stepi")                      # installs the breakpoint in the machine
    assert "error" not in out.lower(), out
    assert [b.addr for b in plain_machine.breakpoints] == [KERNEL_VA]
    assert "error" not in d.command(f"tbreak *0x{BASE + 8:x}").lower()
    assert "error" not in d.command("continue").lower()
    assert plain_machine.reg("pc") == BASE + 8
    d.command("delete 1")
    assert "error" not in d.command("stepi").lower()
    assert plain_machine.breakpoints == []


def test_gdb_breakpoints_and_memory_at_upper_half_addresses(plain_machine):
    m = plain_machine
    s = GdbSession(m)
    for addr in (KERNEL_VA, 0xFFFF_FFFF_FFFF_FFFC):
        assert s.handle_packet(f"Z0,{addr:x},4") == "OK"
    assert s.handle_packet(f"Z0,{BASE + 4:x},4") == "OK"        # later inserts still work
    assert s.handle_packet(f"M{BASE + 0x200:x},4:01020304") == "OK"   # and memory writes
    assert m.read_phys(BASE + 0x200, 4) == bytes([1, 2, 3, 4])
    # Not mapped (the MMU is off and it is beyond the PA size): an error, not E16 for all
    assert s.handle_packet(f"M{KERNEL_VA:x},4:01020304").startswith("E")
    for addr in (KERNEL_VA, 0xFFFF_FFFF_FFFF_FFFC):
        assert s.handle_packet(f"z0,{addr:x},4") == "OK"
    assert [b.addr for b in m.breakpoints] == [BASE + 4]
    assert s.handle_packet("c").startswith("T05")
    assert m.reg("pc") == BASE + 4


# =============================================================================================
# 3. Exception tracing stays bounded, and off when nobody needs it
# =============================================================================================
# EL1 drops to EL0, which loops on SVC; the EL1 handler returns to it: two events per loop.
SVC_LOOP = """
    adr  x0, vectors
    msr  vbar_el1, x0
    adr  x0, user
    msr  elr_el1, x0
    msr  spsr_el1, xzr
    eret
user:
    svc  #0
    add  x1, x1, #1
    b    user
    .balign 2048
vectors:
    .rept 0x400 / 4
    nop
    .endr
    eret                        // 0x400: SVC from EL0
"""


@pytest.fixture
def svc_machine():
    prog = assemble(SVC_LOOP, BASE)
    m = Machine(ram_size=1 << 20)
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, prog.entry, el=1)
    return m


def test_machine_trace_events_are_a_ring(monkeypatch):
    monkeypatch.setattr(Machine, "TRACE_KEEP", 1000)
    prog = assemble(SVC_LOOP, BASE)
    m = Machine(ram_size=1 << 20, trace={"exc"})
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, prog.entry, el=1)
    m.run(60_000)
    assert len(m.trace_events) == 1000               # the bound
    assert m.trace_events.total > 20 * 1000          # of many more events
    last = m.trace_events[-1]
    assert last[0] in (1, 2) and last[9] <= m.reg("instret")


def test_gdb_monitor_does_not_leave_tracing_on(svc_machine):
    """The reproducer: a monitor command that changes state starts the REPL's history; GDB's
    continue then recorded every exception into a list without bound."""
    m = svc_machine
    s = GdbSession(m, chunk=20_000)
    assert s.handle_packet("qRcmd," + "set $x2 = 7".encode().hex()) == "OK"   # no output
    assert m.reg("x2") == 7
    assert s._debugger.history.started
    assert int(m.mach[L.TRACE_FLAGS]) == 0            # off again once the command is done
    chunks = iter(range(15))
    s.interrupt_check = lambda: next(chunks, None) is None
    assert s.handle_packet("c").startswith("T02")     # ^C after 15 chunks of 20 000
    assert m.reg("instret") > 250_000
    assert len(m.trace_events) == 0 and int(m.mach[L.TRACE_FLAGS]) == 0
    assert len(s._debugger.events) == 0


def test_repl_history_events_are_bounded(svc_machine, monkeypatch):
    from armvirt.debug import repl
    monkeypatch.setattr(repl, "MAX_EVENTS", 1000)
    m = svc_machine
    d = repl.Debugger(m)
    d.command("catch exception el2")                  # never matches: scans every event
    out = d.command("stepi 60000")
    assert "error" not in out.lower(), out
    h = d.history
    assert len(d.events) <= 1000                      # the bound
    assert h.n_events() > 20 * 1000
    assert int(m.mach[L.TRACE_FLAGS]) == 0            # not recording outside commands
    # Reverse execution still works over the whole history, events dropped or not.
    before = m.reg("instret")
    assert "error" not in d.command("reverse-stepi").lower()
    assert m.reg("instret") == before - 1
    assert "error" not in d.command("reverse-stepi 5000").lower()
    assert m.reg("instret") == before - 5001


# =============================================================================================
# 4. Large RAM: lazily committed, and a clean refusal of what cannot be had
# =============================================================================================
def armvirt(*args: str, limit_as: int | None = None, timeout: int = 600):
    def preexec():
        if limit_as is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_as, limit_as))
    return subprocess.run([sys.executable, "-m", "armvirt.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, preexec_fn=preexec)


@pytest.fixture(scope="module")
def hello(tmp_path_factory) -> Path:
    return build_guest(ROOT / "guests" / "hello.S", tmp_path_factory.mktemp("hello"))


def test_16g_of_ram_runs_and_costs_what_is_used(hello):
    r = armvirt("run", "--bare", "--mem", "16G", str(hello))
    assert r.returncode == 0, r.stderr
    assert r.stdout                                   # the guest's greeting
    # RAM (16 GiB) and its decode cache (32 GiB) are address space, not memory.
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 4 << 20   # KiB


def test_machine_with_16g_is_lazy():
    m = Machine(ram_size=16 << 30)
    assert m.dcache.size == (16 << 30) // 4 and m.ram.size == 16 << 30
    m.write_phys(BASE + (16 << 30) - 8, b"\x01" * 8)        # the last bytes are there
    assert m.read_u64(BASE + (16 << 30) - 8) == 0x0101010101010101


@pytest.mark.parametrize("mem, limit", [("17G", None), ("16G", 6 << 30)])
def test_ram_that_cannot_be_had_is_refused_in_one_line(hello, mem, limit):
    r = armvirt("run", "--bare", "--mem", mem, str(hello), limit_as=limit)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stdout == ""


# =============================================================================================
# 5. Output paths are checked before anything runs
# =============================================================================================
@pytest.mark.parametrize("option", ["--trace-file", "--regs-json"])
def test_unwritable_output_is_refused_before_the_run(hello, tmp_path, option):
    r = armvirt("run", "--bare", option, str(tmp_path / "no" / "such" / "dir.json"), str(hello))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and option in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""                          # the guest never ran


def test_an_output_is_not_left_behind_when_another_is_refused(hello, tmp_path):
    regs = tmp_path / "regs.json"
    r = armvirt("run", "--bare", "--regs-json", str(regs), "--trace-file", str(tmp_path),
                str(hello))
    assert r.returncode == 2 and not regs.exists()


def test_outputs_are_written_after_the_run(hello, tmp_path):
    regs, tr = tmp_path / "regs.json", tmp_path / "trace.json"
    r = armvirt("run", "--bare", "--regs-json", str(regs), "--trace-file", str(tr), str(hello))
    assert r.returncode == 0, r.stderr
    assert json.loads(regs.read_text())["pes"][0]["pc"]
    doc = json.loads(tr.read_text())                  # streamed, still one JSON document
    assert {e["args"]["name"] for e in doc["traceEvents"] if e.get("name") == "thread_name"} \
        == {"PE0"}
    assert doc["otherData"]["clock"].startswith("emulated cycles")


# =============================================================================================
# 6. A damaged Numba cache entry is discarded and recompiled
# =============================================================================================
TINY = textwrap.dedent("""
    import armvirt  # noqa: F401  (installs the guard on Numba's cache loads)
    from numba import njit

    @njit(cache=True)
    def triple_plus_one(x):
        return 3 * x + 1

    print(triple_plus_one(5))
""")


@pytest.mark.parametrize("victim", [".nbc", ".nbi"])
def test_damaged_cache_entry_is_recompiled(tmp_path, victim):
    (tmp_path / "tiny.py").write_text(TINY)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}

    def run():
        return subprocess.run([sys.executable, str(tmp_path / "tiny.py")], capture_output=True,
                              text=True, env=env, timeout=300)
    first = run()
    assert first.returncode == 0 and first.stdout == "16\n", first.stderr
    files = list((tmp_path / "cache").rglob(f"*{victim}"))
    assert len(files) == 1
    files[0].write_bytes(files[0].read_bytes()[:20])      # truncated, as by a full disk
    second = run()
    assert second.returncode == 0 and second.stdout == "16\n", second.stderr
    lines = second.stderr.splitlines()
    assert len(lines) == 1 and "discarded a damaged Numba cache entry" in lines[0]
    assert "triple_plus_one" in lines[0]
    third = run()                                          # rewritten: loads quietly
    assert third.returncode == 0 and third.stdout == "16\n" and third.stderr == ""


# =============================================================================================
# 7. The GDB server keeps listening until the run ends
# =============================================================================================
# Counts in `counter` until it equals `limit` (never while limit is 0), then powers off.
COUNTER = """
    ldr     x5, =counter
    ldr     x9, =limit
loop:
    ldr     x6, [x5]
    add     x6, x6, #1
    str     x6, [x5]
    ldr     x8, [x9]
    cmp     x6, x8
    b.ne    loop
    ldr     x0, =0x84000008         // PSCI SYSTEM_OFF
    hvc     #0
    b       .
    .balign 8
counter:
    .quad   0
limit:
    .quad   0
"""


class Client:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""

    def _read(self) -> bytes:
        while not self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "server closed the connection"
            self.buf += chunk
        b, self.buf = self.buf[:1], self.buf[1:]
        return b

    def cmd(self, payload: str) -> str:
        self.sock.sendall(frame(payload))
        assert self._read() == b"+"
        while self._read() != b"$":
            pass
        body = b""
        while (ch := self._read()) != b"#":
            body += ch
        assert int(self._read() + self._read(), 16) == checksum(body)
        self.sock.sendall(b"+")
        return body.decode()


def test_gdb_server_accepts_a_new_client_after_a_detach():
    prog = assemble(COUNTER, BASE)
    m = Machine(ram_size=1 << 20)
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, prog.entry)
    srv = GdbServer(m, chunk=5000)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve_run(wait=True)),
                         daemon=True)
    t.start()
    try:
        first = Client(srv.port)
        assert first.cmd("?").startswith("T05")
        assert first.cmd("D") == "OK"                     # the guest runs on, unwatched
        first.sock.close()
        time.sleep(1)                                      # (let it run a little)
        second = Client(srv.port)                          # and a new debugger can attach
        assert second.cmd("?").startswith("T05")
        counter = prog.symbols["counter"]
        got = second.cmd(f"m{counter:x},8")
        assert int.from_bytes(bytes.fromhex(got), "little") > 0   # it ran between sessions
        limit = int.from_bytes(bytes.fromhex(got), "little") + 1000
        assert second.cmd(f"M{prog.symbols['limit']:x},8:{limit.to_bytes(8, 'little').hex()}") \
            == "OK"
        assert second.cmd("c") == "W00"
        assert second.cmd("D") == "OK"
        t.join(60)
        assert result["r"].reason == "exited"
    finally:
        srv.close()


def test_cli_gdb_server_keeps_listening(tmp_path):
    """``armvirt run --gdb``: a client detaches, the guest runs on, a second client attaches,
    lets the guest finish, and the run ends with the guest's status."""
    prog = assemble(COUNTER, BASE)
    image = tmp_path / "counter.bin"
    image.write_bytes(prog.code)
    gdb_port = _free_port()
    p = subprocess.Popen([sys.executable, "-m", "armvirt.cli", "run", "--bare", "--wait",
                          "--gdb", f"tcp::{gdb_port}", str(image), "--load-addr", hex(BASE)],
                         cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = _connect(gdb_port, p)
        assert first.cmd("?").startswith("T05")
        assert first.cmd("D") == "OK"
        first.sock.close()
        second = _connect(gdb_port, p)
        assert second.cmd("?").startswith("T05")
        limit = int.from_bytes(bytes.fromhex(second.cmd(f"m{prog.symbols['counter']:x},8")),
                               "little") + 1000
        assert second.cmd(f"M{prog.symbols['limit']:x},8:{limit.to_bytes(8, 'little').hex()}") \
            == "OK"
        assert second.cmd("c") == "W00"
        assert second.cmd("D") == "OK"
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if p.poll() is None:
            p.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect(port: int, proc) -> Client:
    for _ in range(600):
        try:
            return Client(port)
        except OSError:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
    raise AssertionError("the gdb server never listened")


def test_gdb_multiarch_attaches_twice(tmp_path):
    """The same with the real client: one gdb-multiarch detaches, a second one attaches to
    the running guest, lets it finish, and sees it exit."""
    gdb = require_tool("gdb-multiarch")
    prog = assemble(COUNTER, BASE)
    m = Machine(ram_size=1 << 20)
    m.write_phys(BASE, prog.code)
    m.boot_pe(0, prog.entry)
    srv = GdbServer(m, chunk=5000)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve_run(wait=True)),
                         daemon=True)
    t.start()
    counter, limit = prog.symbols["counter"], prog.symbols["limit"]

    def gdb_batch(*cmds: str) -> str:
        pre = ["set confirm off", "set pagination off", "set architecture aarch64",
               f"target remote 127.0.0.1:{srv.port}"]
        args = [gdb, "--batch", "-nx"] + [a for c in pre + list(cmds) for a in ("-ex", c)]
        r = subprocess.run(args, capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        return r.stdout + r.stderr
    try:
        out = gdb_batch("p/x $pc", "detach")
        assert f"= {prog.entry:#x}" in out, out
        time.sleep(1)
        out = gdb_batch(f"p *(long *){counter:#x} > 0",
                        f"set var *(long *){limit:#x} = *(long *){counter:#x} + 1000",
                        "continue")
        assert "$1 = 1" in out, out                      # it ran between the two sessions
        assert "exited normally" in out, out
        t.join(60)
        assert result["r"].reason == "exited"
    finally:
        srv.close()
