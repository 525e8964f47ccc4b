"""The cost model as data (armvirt/costs.py, armvirt/profiles/*.toml).

The central test runs one straight-line block at EL1 on the bare board under each profile and
checks that the PMCCNTR_EL0 delta across it is exactly the sum of its events' costs, each
looked up in the profile *by the class this test gives the instruction* (from what the Arm ARM
says the instruction is: a multiply, a load, an MSR of an EL1 register, ...), not by the
emulator's own op-to-class table — so a wrong classification in armvirt/costs.py, or a cost
charged twice or never, fails here.

PMCCNTR_EL0 is read with MRS: the first read returns the count before its own instruction's
cost is added (the run loop counts an instruction after executing it) and the second read
returns the count with its own PMU-register read cost already added (the access costs before
the value is taken). So the delta is: first MRS (system) + the block + the second MRS's
sysreg.pmu.read.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from armvirt import costs, memmap
from armvirt.build import assemble
from armvirt.machine import Machine

CODE = 0x4000_0000
VBAR1 = 0x4000_1000
DATA = 0x4000_8000
STACK = 0x4000_F000
CUR_SPX_SYNC = 0x200
UARTFR = memmap.UART_BASE + 0x18

# The block under test, one instruction per line, with its events: (section, key[, rw]).
BLOCK = [
    ("mov x1, #3", [("instructions", "alu")]),
    ("add x1, x1, #1", [("instructions", "alu")]),
    ("mul x2, x1, x1", [("instructions", "multiply")]),
    ("madd x2, x1, x2, x1", [("instructions", "multiply")]),
    ("umulh x3, x1, x2", [("instructions", "multiply_high")]),
    ("udiv x4, x2, x1", [("instructions", "divide")]),
    ("sdiv x4, x2, x1", [("instructions", "divide")]),
    ("ldr x5, [x9]", [("instructions", "load_store")]),
    ("str x5, [x9, #8]", [("instructions", "load_store")]),
    ("ldp x5, x6, [x9]", [("instructions", "load_store")]),
    ("b 1f\n1:", [("instructions", "branch_taken")]),
    ("cbz x1, 2f", [("instructions", "branch")]),                # x1 = 4: not taken
    ("cbnz x1, 2f\n2:", [("instructions", "branch_taken")]),     # taken
    ("tbz x1, #2, 3f", [("instructions", "branch")]),            # bit 2 of 4 is set
    ("tbnz x1, #2, 3f\n3:", [("instructions", "branch_taken")]),
    ("cmp x1, #4", [("instructions", "alu")]),
    ("b.eq 4f\n4:", [("instructions", "branch_taken")]),
    ("b.ne 5f\n5:", [("instructions", "branch")]),
    ("bl 6f\n6:", [("instructions", "branch_taken")]),
    ("adr x12, 7f", [("instructions", "alu")]),
    ("br x12\n7:", [("instructions", "branch_taken")]),
    ("fadd d0, d1, d2", [("instructions", "fp_simd")]),
    ("add v3.4s, v1.4s, v2.4s", [("instructions", "fp_simd")]),
    ("dsb sy", [("instructions", "dsb")]),
    ("dmb ish", [("instructions", "dmb")]),
    ("isb", [("instructions", "isb")]),
    ("msr tpidr_el1, x1", [("instructions", "system"), ("sysreg", "el1", "write")]),
    ("mrs x6, tpidr_el1", [("instructions", "system"), ("sysreg", "el1", "read")]),
    ("mrs x6, sctlr_el1", [("instructions", "system"), ("sysreg", "el1", "read")]),
    ("mrs x7, cntvct_el0", [("instructions", "system"), ("sysreg", "timer", "read")]),
    ("mrs x7, cntv_ctl_el0", [("instructions", "system"), ("sysreg", "timer", "read")]),
    ("mrs x8, nzcv", [("instructions", "system"), ("sysreg", "pstate", "read")]),
    ("msr daifset, #2", [("instructions", "system")]),            # MSR (immediate): PSTATE only
    ("mrs x8, icc_pmr_el1", [("instructions", "system"), ("sysreg", "gic_cpu", "read")]),
    ("msr icc_pmr_el1, x8", [("instructions", "system"), ("sysreg", "gic_cpu", "write")]),
    ("mrs x8, pmcr_el0", [("instructions", "system"), ("sysreg", "pmu", "read")]),
    ("dc civac, x9", [("instructions", "system"), ("events", "cache_maintenance")]),
    ("tlbi vmalle1", [("instructions", "system"), ("events", "tlbi")]),
    ("ldr w10, [x11]", [("instructions", "load_store"), ("events", "mmio")]),   # PL011 UARTFR
    ("svc #0", [("instructions", "alu"), ("events", "exception_entry"),
                ("instructions", "alu"), ("events", "exception_return")]),    # vector: eret
]

PROLOGUE = f"""
    mov x0, #(3 << 20)
    msr cpacr_el1, x0           // FP/SIMD at EL1
    ldr x9, ={DATA:#x}
    ldr x11, ={UARTFR:#x}
    mov x0, #1
    msr pmcr_el0, x0
    mov x0, #(1 << 31)
    msr pmcntenset_el0, x0
    isb
    mrs x20, pmccntr_el0
"""
EPILOGUE = """
    mrs x21, pmccntr_el0
done:
    b .
"""


def expected(p: costs.Profile, block=BLOCK) -> int:
    total = p.insn["system"] + p.sysreg["pmu"][0]   # the two PMCCNTR reads (docstring)
    for _, events in block:
        for ev in events:
            if ev[0] == "instructions":
                total += p.insn[ev[1]]
            elif ev[0] == "events":
                total += p.events[ev[1]]
            else:
                total += p.sysreg[ev[1]][1 if ev[2] == "write" else 0]
    return total


def run_block(profile, block=BLOCK) -> Machine:
    m = Machine(ram_size=1 << 20, psci_conduit="none", profile=profile)
    src = PROLOGUE + "\n".join(line for line, _ in block) + EPILOGUE
    prog = assemble(src, CODE)
    m.write_phys(CODE, prog.code)
    m.done = prog.symbols["done"]
    m.write_phys(VBAR1 + CUR_SPX_SYNC, assemble("eret\n", VBAR1 + CUR_SPX_SYNC).code)
    m.boot_pe(0, CODE, el=1, sp=STACK)
    m.set_reg("VBAR_EL1", VBAR1)
    m.run(max_insns=len(block) + 40)
    return m


@pytest.mark.parametrize("name", costs.names())
def test_pmccntr_delta_is_the_sum_of_the_events_costs(name):
    p = costs.load(name)
    m = run_block(name)
    assert m.reg("x4") == (4 * 16 + 4) // 4 and m.reg("x1") == 4   # the block ran as written
    assert m.reg("pc") == m.done and m.reg("el") == 1             # ... to its end
    assert m.reg("x21") - m.reg("x20") == expected(p)


def test_profiles_differ_where_they_should():
    """The same block under each shipped profile: three different totals (the profiles are
    really applied, not just loaded)."""
    totals = {n: expected(costs.load(n)) for n in costs.names()}
    assert len(set(totals.values())) == len(totals)


def test_counter_follows_the_profile_clock():
    """CNTVCT = cycles // cycles_per_tick: the same instructions give a counter that moves
    slower on a faster clock (x-gene: 38 cycles per tick; simple: 16)."""
    for name in ("simple", "x-gene"):
        m = Machine(ram_size=1 << 20, psci_conduit="none", profile=name)
        src = "mov x3, #4000\n1: subs x3, x3, #1\nb.ne 1b\nmrs x4, cntvct_el0\nb .\n"
        m.write_phys(CODE, assemble(src, CODE).code)
        m.boot_pe(0, CODE, el=1, sp=STACK)
        m.run(max_insns=8002)                    # up to and including the MRS
        p = costs.load(name)
        # The MRS reads the counter before its own instruction's cost is counted.
        assert m.reg("x4") == (m.reg("cycles") - p.insn["system"]) // p.cycles_per_tick
        assert (m.reg("x4") + 1) * p.cycles_per_tick > 8000   # the loop ran
        assert m.reg("CNTFRQ_EL0") == costs.COUNTER_HZ


# --------------------------------------------------------------------------------- the files
def test_every_shipped_profile_loads_and_cites_its_sources():
    assert {"simple", "cortex-a15", "x-gene"} <= set(costs.names())
    for n in costs.names():
        p = costs.load(n)
        assert p.name == n and p.version >= 1
        assert len(p.op_costs()) > 100 and min(p.op_costs()) >= 1
        if n != "simple":
            text = (costs.PROFILE_DIR / f"{n}.toml").read_text()
            assert p.sources, n
            for key in p.sources:      # every source is cited somewhere in the file
                assert text.count(key) >= 2, (n, key)


def test_simple_is_the_teaching_model():
    """Today's figures: 1 cycle per instruction, DIV 9, UMULH/SMULH 3, DSB/ISB 3, exceptions
    +10/+10, a device access +20, a 1 GHz clock."""
    p = costs.load("simple")
    assert p.cpu_hz == 1_000_000_000 and p.cycles_per_tick == 16
    assert p.insn["divide"] == 9 and p.insn["multiply_high"] == 3 and p.insn["isb"] == 3
    assert (p.events["exception_entry"], p.events["exception_return"], p.events["mmio"]) == \
        (10, 10, 20)


def _write(tmp_path, text: str):
    f = tmp_path / "p.toml"
    f.write_text(text)
    return f


def _simple_text() -> str:
    return (costs.PROFILE_DIR / "simple.toml").read_text()


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("alu = 1", "alu = 0"), "instructions.alu must be at least 1"),
    (lambda t: t.replace("alu = 1", "alu = 1.5"), "must be an integer"),
    (lambda t: t.replace("alu = 1", "alu = 1\nmystery = 3"), "unknown key 'mystery'"),
    (lambda t: t.replace("mmio = 20", ""), "missing key 'mmio'"),
    (lambda t: t.replace("mmio = 20", "mmio = -1"), "events.mmio must be at least 0"),
    (lambda t: t.replace("[clock]", "[clocks]"), "unknown table [clocks]"),
    (lambda t: t.replace("el1      = { read = 0, write = 0 }", "el1 = { read = 0 }"),
     "missing key 'write'"),
    (lambda t: t + "\n[[", "not valid TOML"),
])
def test_bad_profile_is_one_clear_error(tmp_path, edit, message):
    f = _write(tmp_path, edit(_simple_text()))
    with pytest.raises(costs.ProfileError, match=message.replace("[", r"\[").replace(".", r"\.")):
        costs.load(str(f))


def test_a_profile_file_is_usable_by_path(tmp_path):
    f = _write(tmp_path, _simple_text().replace("divide = 9", "divide = 33"))
    p = costs.load(str(f))
    assert p.insn["divide"] == 33


@pytest.mark.parametrize("cmd", ["run", "debug"])
@pytest.mark.parametrize("spec", ["no-such-profile", "/nonexistent/p.toml"])
def test_cli_bad_profile_one_line_exit_2(cmd, spec):
    r = subprocess.run([sys.executable, "-m", "armvirt.cli", cmd, "--profile", spec, "x.elf"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "profile" in lines[0] and "Traceback" not in r.stderr


def test_every_op_and_sysreg_has_a_class():
    from armvirt.cpu.sysreg_table import SYSREGS
    from armvirt.isa._decoder import OP_FILES, OP_NAMES
    assert {costs.op_class(n, f) for n, f in zip(OP_NAMES, OP_FILES)} <= set(costs.INSN_CLASSES)
    classes = {r.name: costs.sysreg_class(r) for r in SYSREGS}
    assert set(classes.values()) <= set(costs.SYSREG_CLASSES)
    assert classes["ICH_LR0_EL2"] == "gic_virt" and classes["ICC_IAR1_EL1"] == "gic_cpu"
    assert classes["VTTBR_EL2"] == "el2_vm" and classes["HCR_EL2"] == "el2"
    assert classes["CNTV_CVAL_EL0"] == "timer" and classes["PMCCNTR_EL0"] == "pmu"
    assert classes["SCTLR_EL1"] == "el1" and classes["DAIF"] == "pstate"


# ------------------------------------------------------------------ costs that need a setting
def _profile_with(tmp_path, name: str, **events) -> str:
    text = _simple_text()
    for k, v in events.items():
        text, n = __import__("re").subn(rf"(?m)^{k} = \d+", f"{k} = {v}", text)
        assert n == 1, k
    f = tmp_path / f"{name}.toml"
    f.write_text(text)
    return str(f)


def test_each_descriptor_read_of_a_walk_costs_its_cycles(tmp_path):
    """A two-stage workload (stage 1 and stage 2, benchmarks/workloads): raising the
    descriptor_read cost by 7 raises its cycles by exactly 7 x the walk's descriptor reads the
    MMU counted."""
    from armvirt.loader import load_image
    from benchmarks.run import build
    elf = build("chase/s12", 200)

    def run(profile):
        m = Machine(ram_size=64 << 20, psci_conduit="smc", profile=profile)
        load_image(m, elf, el=2)
        assert m.run(max_insns=50_000_000).reason == "system_off"
        return m.reg("cycles"), m.tlb_stats(0)["descriptor_reads"]
    c0, reads0 = run("simple")
    c7, reads7 = run(_profile_with(tmp_path, "walk7", descriptor_read=7))
    assert reads0 == reads7 > 0
    assert c7 - c0 == 7 * reads0


def test_waking_from_wfi_costs_its_cycles(tmp_path):
    """A PE asleep in WFI until its virtual timer fires (interrupts masked: WFI just wakes):
    the wake-up adds exactly the profile's wfi_wakeup to what PMCCNTR reads after it."""
    from gicrig import GicRig, gic_on

    def run(profile):
        r = GicRig()
        r.m.set_profile(profile)
        r.code(0x4000_0000, gic_on(enable=1 << 27) + """
            mov x0, #1
            msr pmcr_el0, x0
            mov x0, #(1 << 31)
            msr pmcntenset_el0, x0
            mov x1, #2000
            msr cntv_tval_el0, x1
            mov x1, #1
            msr cntv_ctl_el0, x1
            wfi
            mrs x4, pmccntr_el0
            b .
        """)
        r.boot(1)
        r.run(200)
        return r["x4"]
    assert run(_profile_with(tmp_path, "wake50", wfi_wakeup=50)) - run("simple") == 50


def test_run_profile_changes_the_cycles_not_the_output(tmp_path):
    """`armvirt run --profile`: the same guest under the hypervisor prints the same thing and
    takes more cycles under x-gene than under simple (both deterministic)."""
    import json
    from armvirt.build import BUILD, build_guests
    build_guests()
    out = {}
    for p in ("simple", "x-gene", "x-gene"):
        j = tmp_path / f"{p}.json"
        r = subprocess.run([sys.executable, "-m", "armvirt.cli", "run", "--profile", p,
                            "--regs-json", str(j), str(BUILD / "guests" / "hello.elf")],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        snap = json.loads(j.read_text())
        cycles = snap["pes"][0]["cycles"] if "pes" in snap else snap["cycles"]
        out.setdefault(p, set()).add((r.stdout, cycles))
    assert len(out["x-gene"]) == 1                      # deterministic
    (s_out, s_cyc), = out["simple"]
    (x_out, x_cyc), = out["x-gene"]
    assert s_out == x_out and "Hello" in s_out
    assert x_cyc > 2 * s_cyc


def test_debug_takes_the_profile():
    """`armvirt debug --profile`: the same run, the profile's cycles."""
    from armvirt.build import BUILD, build_guests
    build_guests()
    seen = {}
    for p in ("simple", "x-gene"):
        r = subprocess.run([sys.executable, "-m", "armvirt.cli", "debug", "--profile", p,
                            "-ex", "continue", "-ex", "info registers cycles", "-ex", "quit",
                            str(BUILD / "guests" / "hello.elf")],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "Hello from armvirt!" in r.stdout
        line = next(ln for ln in r.stdout.splitlines() if ln.startswith("cycles"))
        seen[p] = int(line.split()[-1])
    assert seen["x-gene"] > 2 * seen["simple"] > 0
