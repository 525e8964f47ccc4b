"""The debugger's views of the self-hosted debug registers (`info dbg`) and of a vCPU's extra
state (`vcpu`: its emulated physical timer, its PMU share, its debug registers), on
tests/images/dbg_views.S stopped at `stop`: bare, and two VMs built with different SEEDs on one
PE under both builds of the hypervisor — the one stopped read from the PE's registers, the other
from its record in the hypervisor's memory (PCPU.PMU_OWNER, VCPU.DBG_DIRTY). Every value
checked is one the image wrote (derived from its symbols and SEED here), decoded as the Arm ARM
lays out DBGBCR/DBGWCR/MDSCR_EL1/MDCR_EL2; `monitor info dbg` of the GDB stub is the same text.
"""
from __future__ import annotations

import re

import pytest

from armvirt.build import HV_MODES, assemble_file
from armvirt.debug import dbgregs as DR
from armvirt.debug.repl import Debugger
from armvirt.debug.symbols import SymbolTable
from armvirt.hv import abi
from armvirt.hv.launch import HvConfig, VMConfig, launch
from armvirt.loader import load_image
from armvirt.machine import Machine
from conftest import ROOT


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """dbg_views.S with SEED 1 and 2: {seed: (elf path, Program)}."""
    out = tmp_path_factory.mktemp("dbgviews")
    res = {}
    for seed in (1, 2):
        prog = assemble_file(ROOT / "tests" / "images" / "dbg_views.S", base=abi.GUEST_RAM_BASE,
                             defines={"SEED": seed})
        p = out / f"dbg_views{seed}.elf"
        prog.to_elf(p)
        res[seed] = (str(p), prog)
    return res


def expected_debug(prog, seed: int) -> list[str]:
    """What the image programs, in the words of `info dbg` (the values computed here)."""
    never, wdata = prog.symbols["never"], prog.symbols["wdata"]
    bcr0, bcr4 = (0xF << 5) | (3 << 1) | 1, (0b0010 << 20) | (0xF << 5) | (1 << 1) | 1
    wcr0 = (0x3C << 5) | (2 << 3) | (3 << 1) | 1
    wcr2 = (12 << 24) | (0xFF << 5) | (1 << 3) | (2 << 1) | 1
    w0, w2 = wdata + 8 * seed, 0x4010_0000 + 0x1000 * seed
    return [
        "MDSCR_EL1 0xa000: SS 0 KDE 1 MDE 1  OS lock unlocked",
        f"bp0: address 0x{never + 4 * seed:x} BAS 0b1111, EL1,EL0  [DBGBCR0 0x{bcr0:x} "
        f"DBGBVR0 0x{never + 4 * seed:x}]",
        f"bp4: CONTEXTIDR_EL1 match: CONTEXTIDR 0x{0x100 + seed:x}, EL1  [DBGBCR4 0x{bcr4:x} "
        f"DBGBVR4 0x{0x100 + seed:x}]",
        f"wp0: store 0x{w0 + 2:x}..0x{w0 + 5:x} (4 bytes) BAS 0b00111100, EL1,EL0  "
        f"[DBGWCR0 0x{wcr0:x} DBGWVR0 0x{w0:x}]",
        f"wp2: load 0x{w2:x}..0x{w2 + 0xFFF:x} (4096 bytes) MASK 12, EL0  [DBGWCR2 "
        f"0x{wcr2:x} DBGWVR2 0x{w2:x}]",
    ]


def test_decoders_against_the_arm_arm_layouts():
    """Fields the image does not cover: linked breakpoints, VMID context types, reserved
    MASK, word-aligned DBGWVR (BAS<3:0> of the word), SSC Secure-only."""
    # BT 0b0001 (linked address), LBN 5, HMC 1, PMC 0: EL2 only
    assert DR.bp_text(1, 0x1521e1, 0x1000) == \
        "bp1: address 0x1000 BAS 0b1111, linked to bp5, EL2  [DBGBCR1 0x1521e1 DBGBVR1 0x1000]"
    assert "linked to bp2 (not context-aware: never matches)" in \
        DR.bp_text(0, (0b0001 << 20) | (2 << 16) | 7, 0)
    assert DR.bp_text(5, (0b1010 << 20) | (3 << 1) | 1, (9 << 32) | 0x77).startswith(
        "bp5: VMID + CONTEXTIDR_EL1 match: VMID 9 CONTEXTIDR 0x77, EL1,EL0")
    assert "not context-aware" in DR.bp_text(0, (0b1000 << 20) | 7, 9 << 32)
    assert "no EL (SSC Secure only)" in DR.bp_text(0, (2 << 14) | 7, 0)
    assert DR.wp_range((1 << 24) | (0xFF << 5) | 1, 0x1000) is None        # MASK 1 reserved
    assert DR.wp_range((0xC << 5) | 1, 0x1004) == (0x1006, 0x1007)          # word: BAS<3:0>
    assert DR.wp_range((0x80 << 5) | 1, 0x1000) == (0x1007, 0x1007)
    # the generic timer (D11.2.4): ISTATUS = ENABLE && count >= CVAL; the line also needs ~IMASK
    assert DR.ptimer_text(3, 10, 10).startswith("CNTP_CTL 0x3 (ENABLE 1 IMASK 1 ISTATUS 1)")
    assert DR.ptimer_text(3, 10, 10).endswith("PPI 30 not pending")
    assert "ISTATUS 0" in DR.ptimer_text(1, 11, 10) and "ISTATUS 0" in DR.ptimer_text(0, 0, 10)
    assert DR.ptimer_text(1, 10, 10).endswith("PPI 30 pending")
    assert DR.mdcr_text((1 << 8) | (1 << 9) | 4) == \
        "MDCR_EL2 0x304: TDE 1 TDA 1 TDOSA 0 TDRA 0 HPME 0 HPMN 4"


def test_info_dbg_bare(images):
    elf, prog = images[1]
    m = Machine(ram_size=64 << 20)
    load_image(m, elf)
    d = Debugger(m, SymbolTable.from_elf(elf))
    d.command("break stop")
    assert "Breakpoint 1" in d.command("continue")
    out = d.command("info dbg").splitlines()
    assert out[0].startswith("PE0 MDCR_EL2 0x") and "TDE 0" in out[0], out
    assert out[0].endswith("(EL0/EL1 debug exceptions go to EL1)"), out
    assert [ln.strip() for ln in out[1:]] == expected_debug(prog, 1)
    assert d.command("info dbg 0") == "\n".join(out)
    assert d.command("info dbg 3").startswith("No PE 3")
    assert "MDSCR_EL1 (SS, KDE, MDE)" in d.command("help info dbg")
    # the same registers through `info sysregs` (raw) agree with the decoded ones
    assert re.search(r"MDSCR_EL1\s+0x000000000000a000", d.command("info sysregs MDSCR_EL1"))


def _vcpu_block(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith(f"{name} vcpu0 "))
    end = next((k for k in range(i + 1, len(lines)) if not lines[k].startswith(" ")),
               len(lines))
    return lines[i:end]


@pytest.mark.parametrize("mode", HV_MODES)
def test_vcpu_views_two_vms_on_one_pe(images, mode):
    """Stopped at `stop` the second time (the second VM done with its set-up; the first asleep
    in WFI, its PMU share and debug registers put away in its record): each VM's `vcpu` block
    shows its own values, the running one's from PE0 and the other's from memory; `info dbg`
    (the PE) shows the running one's."""
    (elf1, p1), (elf2, p2) = images[1], images[2]
    m, run = launch(HvConfig([VMConfig(elf1, name="a", pin=[0]),
                              VMConfig(elf2, name="b", pin=[0])], mode=mode, smp=1))
    symbols = SymbolTable()
    symbols.add_elf(run.firmware, space="hyp")
    symbols.add_elf(elf1, space="guest")
    d = Debugger(m, symbols)
    assert p1.symbols["stop"] == p2.symbols["stop"]
    d.command("break stop el 1")
    first = d.command("continue")
    second = d.command("continue")
    tags = [re.search(r"\[(a|b) vcpu0\] Breakpoint 1", t) for t in (first, second)]
    assert all(tags), (first, second)
    running = tags[1].group(1)
    asleep = "b" if running == "a" else "a"
    assert tags[0].group(1) == asleep
    seed = {"a": 1, "b": 2}
    prog = {"a": p1, "b": p2}
    out = d.command("vcpu")
    for vm, live in ((running, True), (asleep, False)):
        s = seed[vm]
        block = _vcpu_block(out, vm)
        # the emulated physical timer: enabled, CVAL = SEED, long past: PPI 30 pending
        assert f"CNTP_CTL 0x1 (ENABLE 1 IMASK 0 ISTATUS 1)  CNTP_CVAL 0x{s:x}" in block[1], block
        assert block[1].endswith("PPI 30 pending"), block
        where = "(in PE0, PMU_OWNER)" if live else "(in the record)"
        assert block[2].startswith(f"  pmu {where}: PMCR_EL0 0x"), block
        assert "(E 1)  enabled 0,1  overflow 1  interrupt-enabled 2" in block[2], block
        assert f"PMEVCNTR0 0x{s + 2:x} (event 0x0)  PMEVCNTR1 0x0 (event 0x0)" in block[3], block
        how = "switched in: PE0's registers" if live else "switched out: the record"
        assert block[4].startswith(f"  debug (loaded; {how}): "), block
        assert [block[4].split("): ", 1)[1]] + [ln.strip() for ln in block[5:]] == \
            expected_debug(prog[vm], s), block
    dbg = d.command("info dbg").splitlines()
    # while the guest runs: debug registers untrapped (used), HPMN = the guest's counters
    assert dbg[0].startswith(f"PE0 MDCR_EL2 0x{abi.MDCR_HOST:x}: TDE 0 TDA 0 TDOSA 0 TDRA 0 "
                             f"HPME 1 HPMN {abi.GUEST_PMU_COUNTERS}"), dbg
    assert [ln.strip() for ln in dbg[1:]] == expected_debug(prog[running], seed[running])


def test_monitor_info_dbg_is_the_repl_view(images):
    from armvirt.debug.gdbstub import GdbSession
    elf, prog = images[2]
    m = Machine(ram_size=64 << 20)
    load_image(m, elf)
    m.add_breakpoint(prog.symbols["stop"])
    assert m.run(1_000_000).reason == "breakpoint"
    d = Debugger(m, SymbolTable.from_elf(elf))
    g = GdbSession(m, symbols=SymbolTable.from_elf(elf))
    text = bytes.fromhex(g.handle_packet("qRcmd," + b"info dbg".hex())).decode()
    assert text.rstrip("\n") == d.command("info dbg")
    assert "wp2: load" in text


@pytest.mark.parametrize("mode", HV_MODES)
def test_gdb_monitor_info_dbg_and_vcpu_under_the_hypervisor(images, mode):
    """Real gdb-multiarch stopped in the guest at `stop`: `monitor info dbg` and `monitor vcpu`
    print the guest's own debug registers and PMU share, decoded."""
    import subprocess
    import threading

    from armvirt.debug.gdbstub import GdbServer
    from conftest import require_tool
    gdb = require_tool("gdb-multiarch")
    elf, prog = images[1]
    m, run = launch(HvConfig([VMConfig(elf)], mode=mode, smp=1))
    symbols = SymbolTable()
    symbols.add_elf(run.firmware, space="hyp")
    symbols.add_elf(elf, space="guest")
    srv = GdbServer(m, symbols=symbols)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve()), daemon=True)
    t.start()
    cmds = ["set confirm off", "set pagination off", "set width 0", f"file {elf}",
            f"target remote 127.0.0.1:{srv.port}", "break stop",
            "continue", "monitor info dbg", "monitor vcpu", "detach"]
    r = subprocess.run([gdb, "--batch", "-nx"] + [a for c in cmds for a in ("-ex", c)],
                       capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    t.join(30)
    srv.close()
    out = r.stdout + r.stderr
    assert result["r"].reason == "detach", out
    # GDB prints the monitor's output on its own stream: found by content, not position
    lines = [ln.strip() for ln in out.splitlines()]
    lines = lines[next(i for i, ln in enumerate(lines) if ln.startswith("PE0 MDCR_EL2")):]
    vcpu = out
    assert lines[0].startswith(f"PE0 MDCR_EL2 0x{abi.MDCR_HOST:x}: TDE 0 TDA 0"), out
    assert lines[1:6] == expected_debug(prog, 1), out
    assert "vm0 vcpu0 (PE0, record 0x" in vcpu, out
    assert "pmu (in PE0, PMU_OWNER): PMCR_EL0 0x" in vcpu and "enabled 0,1  overflow 1" in vcpu
    assert "debug (loaded; switched in: PE0's registers)" in vcpu, out


@pytest.mark.parametrize("mode", HV_MODES)
def test_vcpu_view_while_the_hypervisor_handles_an_exit(images, mode):
    """Stopped in ptimer_access, handling the guest's first trapped CNTP_* write (the debug
    registers and the PMU are programmed by then): the PMU share stays in the PE (switched
    lazily, PCPU.PMU_OWNER); the debug registers are in the record in the split build (the
    host part runs after __debug_put) and still in the PE in the direct one (the vCPU stays
    loaded while EL2 handles its exit). Either way the values are the guest's."""
    elf, prog = images[1]
    m, run = launch(HvConfig([VMConfig(elf)], mode=mode, smp=1))
    symbols = SymbolTable()
    symbols.add_elf(run.firmware, space="hyp")
    symbols.add_elf(elf, space="guest")
    d = Debugger(m, symbols)
    d.command("break ptimer_access")
    out = d.command("continue")
    assert "Breakpoint 1" in out and "ptimer_access" in out, out
    block = _vcpu_block(d.command("vcpu"), "vm0")
    # CNTP_CVAL is being written: the record's timer is still off
    assert "CNTP_CTL 0x0 (ENABLE 0 IMASK 0 ISTATUS 0)  CNTP_CVAL 0x0" in block[1], block
    assert block[2].startswith("  pmu (in PE0, PMU_OWNER): "), block
    assert "enabled 0,1  overflow 1  interrupt-enabled 2" in block[2], block
    how = "switched out: the record" if mode == "split" else "switched in: PE0's registers"
    assert block[4].startswith(f"  debug (loaded; {how}): "), block
    assert [block[4].split("): ", 1)[1]] + [ln.strip() for ln in block[5:]] == \
        expected_debug(prog, 1), block
    if mode == "split":
        # the PE's own debug registers are off while the host part runs: nothing can fire
        assert d.command("info dbg").splitlines()[1:] == [
            "  MDSCR_EL1 0x0: SS 0 KDE 0 MDE 0  OS lock unlocked",
            "  no breakpoint enabled (of 6)", "  no watchpoint enabled (of 4)"]
