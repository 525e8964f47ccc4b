"""The debugger under the hypervisor: every view in the world it belongs to (armvirt.worlds).

guests/hello.S's `strb w3, [x1]` is at guest VA = IPA 0x4000_0010, which
stage 2 maps to a PA in the VM's block above the hypervisor; at PA 0x4000_0010 is the
firmware's own code (firmware/boot.S). A view that reads the guest's address as a PA shows the
firmware's instruction: these tests fail that way.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from armvirt.debug.repl import Debugger
from armvirt.debug.symbols import SymbolTable
from armvirt.hv import abi
from armvirt.hv.launch import HvConfig, VMConfig, launch

# Lines of guests/hello.S, found in the source rather than typed: the strb, and _start's first
# instruction (where a breakpoint on _start is announced and stops, by the DWARF line table).
_HELLO = (Path(__file__).resolve().parent.parent / "guests" / "hello.S").read_text().splitlines()
_STRB = next(i for i, t in enumerate(_HELLO, 1) if t.strip().startswith("strb"))
_START = next(i for i, t in enumerate(_HELLO, 1) if t.startswith("_start:")) + 1
STRB_LINE = f"guests/hello.S:{_STRB}"
START_LINE = f"guests/hello.S:{_START}"


@pytest.fixture(params=["split", "direct"])
def hv(request, guests_dir):
    image = str(guests_dir / "hello.elf")
    m, run = launch(HvConfig([VMConfig(image)], mode=request.param, smp=1))
    symbols = SymbolTable()
    symbols.add_elf(run.firmware, space="hyp")
    symbols.add_elf(image, space="guest")
    return Debugger(m, symbols), request.param, image


def guest_strb(image: str) -> int:
    t = SymbolTable.from_elf(image)
    return t.lookup("_start") + 16


def test_guest_fault_explained_with_the_guests_instruction_and_line(hv):
    dbg, mode, image = hv
    out = dbg.command("catch exception el2 ec=dabt")
    out = dbg.command("continue")
    assert "[vm0 vcpu0] Catchpoint 1" in out, out
    assert "ELR_EL2 = 0x40000010 <_start+16>" in out, out
    out = dbg.command("explain fault el2")
    assert out.startswith("[vm0 vcpu0] ("), out
    assert "instruction in vm0 vcpu0" in out, out
    assert re.search(r"0x40000010 <_start\+16>:\tstrb\tw3, \[x1\]", out), out
    assert STRB_LINE in out, out
    assert "firmware/" not in out, out
    # While EL2 runs, the PE's own view is the hypervisor's: PA 0x4000_0010 is firmware code.
    assert "[hyp]" in dbg.command("stepi")


def test_split_host_part_explains_the_exit_it_handles(guests_dir):
    image = str(guests_dir / "hello.elf")
    m, run = launch(HvConfig([VMConfig(image)], mode="split", smp=1))
    symbols = SymbolTable()
    symbols.add_elf(run.firmware, space="hyp")
    symbols.add_elf(image, space="guest")
    dbg = Debugger(m, symbols)
    out = dbg.command("break handle_dabt el 1")
    assert out.startswith("[host] Breakpoint 1 at"), out
    out = dbg.command("continue")
    assert "[host] Breakpoint 1," in out and "<handle_dabt>" in out, out
    out = dbg.command("explain fault el2")
    assert "the host part is handling this exit" in out, out
    assert out.startswith("[vm0 vcpu0]"), out
    assert re.search(r"0x40000010 <_start\+16>:\tstrb\tw3, \[x1\]", out), out
    assert STRB_LINE in out, out


def test_breakpoint_on_a_guest_symbol_is_announced_and_hit_in_the_guest(hv):
    dbg, mode, image = hv
    out = dbg.command("break _start el 1")
    assert out.startswith("[vm0] Breakpoint 1 at 0x40000000 <_start> at guests/hello.S:"), out
    assert "firmware/" not in out, out
    out = dbg.command("continue")
    lines = out.splitlines()
    assert re.search(r"\[vm0 vcpu0\] Breakpoint 1, 0x40000000 <_start> at guests/hello.S:\d+",
                     out), out
    assert any(l.startswith(f"[vm0 vcpu0] {START_LINE}") for l in lines), out
    assert dbg.worlds.current(0).kind == "guest"
    assert dbg.m.reg("el") == 1
    # The guest's PC is an IPA; stage 2 put its page above the hypervisor's 2 MiB.
    pa = dbg.m.virt_to_phys(0x4000_0000)
    assert pa >= abi.VM_MEM_BASE
    out = dbg.command("info breakpoints")
    assert "breakpoint already hit 1 time" in out, out


def test_x_and_disas_of_a_guest_va(hv):
    dbg, mode, image = hv
    dbg.command("catch exception el2 ec=dabt")
    dbg.command("continue")
    assert dbg.m.reg("el") == 2
    # From EL2, `world vm0` looks at the guest's addresses through its regime.
    out = dbg.command("world vm0")
    assert out.startswith("Addresses are looked at in vm0 vcpu0"), out
    out = dbg.command("x/i 0x40000010")
    assert re.search(r"0x40000010 <_start\+16>:\tstrb\tw3, \[x1\]", out), out
    out = dbg.command("x/s message")
    assert '"Hello from armvirt!\\n"' in out, out
    out = dbg.command("disas _start")
    assert "Dump of assembler code for function _start:" in out, out
    assert STRB_LINE in out and "strb\tw3, [x1]" in out and "firmware/" not in out, out
    out = dbg.command("world hyp")
    out = dbg.command("x/i 0x40000010")
    assert "strb" not in out, out                          # the firmware's code at that PA
    dbg.command("world auto")
    # In the guest itself (the PE's own world), the same views need no `world`.
    dbg.command("delete")
    dbg.command("break _start+16 el 1")
    out = dbg.command("continue")
    assert "[vm0 vcpu0]" in out, out
    out = dbg.command("x/2i $pc")
    assert "strb\tw3, [x1]" in out, out
    out = dbg.command("bt")
    assert out.startswith(f"#0  0x40000010 in _start+16 at {STRB_LINE}"), out


def test_info_breakpoints_names_each_in_its_world(hv):
    dbg, mode, image = hv
    dbg.command("break _start el 1")
    dbg.command("break _start el 2")
    out = dbg.command("info breakpoints").splitlines()
    assert out[1].endswith(f"<_start> at {START_LINE} (EL1 only) [vm0]"), out
    assert "firmware/boot.S" in out[2] and out[2].endswith("(EL2 only) [hyp]"), out


# --------------------------------------------------------- gdb-multiarch, under the hypervisor
# `done` sits 128 KiB into the guest: its IPA is where the hypervisor has no code (its image
# ends well before), so a view that reads the guest's address as a PA reads other bytes. `at_c00`
# is at IPA 0x4000_0c00, the address of the hypervisor's vector for a guest's HVC: a breakpoint
# there stops in the hypervisor first, unless it is scoped to the guest's world.
GDB_GUEST = """
    .global _start
    .type   _start, %function
_start:
    ldr     x5, =counter
    mov     x6, #0
1:  add     x6, x6, #1
    str     x6, [x5]
    cmp     x6, #5
    b.ne    1b
    b       done
    .ltorg
    .size   _start, . - _start
    .org    0xc00
    .global at_c00
    .type   at_c00, %function
at_c00:
    movz    x0, #0x0008
    movk    x0, #0x8400, lsl #16    // PSCI SYSTEM_OFF
    hvc     #0
    b       .
    .size   at_c00, . - at_c00
    .balign 0x20000
    .global done
    .type   done, %function
done:
    movz    x0, #0
    movk    x0, #0xC600, lsl #16    // ARMVIRT_HC_NOP
    hvc     #0
    b       at_c00
    .size   done, . - done
    .balign 8
    .global counter
    .type   counter, %object
counter:
    .quad   0
    .size   counter, 8
"""


@pytest.mark.parametrize("mode", ["split", "direct"])
def test_gdb_reads_guest_memory_in_the_guests_world(mode, tmp_path):
    """GDB's memory packets go through Worlds.va_to_pa, as the REPL's views do: stopped in the
    guest, `x/i $pc` and a guest variable read through the guest's stage 1 and its VM's stage
    2; stopped in the hypervisor the same address is the hypervisor's, until `monitor world
    vm0` chooses the guest's world again. With that world chosen, a breakpoint stops only in
    the guest, not in the hypervisor's code at the same address."""
    import subprocess
    import threading

    from armvirt.build import assemble
    from armvirt.debug.gdbstub import GdbServer
    from conftest import require_tool

    gdb = require_tool("gdb-multiarch")
    prog = assemble(GDB_GUEST, abi.GUEST_RAM_BASE)
    elf = tmp_path / "guest.elf"
    prog.to_elf(elf)
    done, at_c00 = prog.symbols["done"], prog.symbols["at_c00"]
    assert at_c00 == 0x4000_0c00
    m, run = launch(HvConfig([VMConfig(str(elf))], mode=mode, smp=1))
    symbols = SymbolTable()
    symbols.add_elf(run.firmware, space="hyp")
    symbols.add_elf(str(elf), space="guest")
    assert symbols.images[0].symbols["__guest_vectors"].addr + 0x400 == at_c00
    srv = GdbServer(m, symbols=symbols)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve()), daemon=True)
    t.start()
    cmds = ["set confirm off", "set pagination off", "set width 0", "set code-cache off",
            "set stack-cache off", f"file {elf}", f"target remote 127.0.0.1:{srv.port}",
            "break done", "continue",
            "echo @@GUEST\\n", "info threads", "x/i $pc", "print/x *(long *)&counter",
            "print $CurrentEL",
            "monitor world vm0", "delete", "break *0x40000c00", "continue",
            "echo @@SCOPED\\n", "info threads", "print $CurrentEL", "x/i $pc",
            "monitor world auto", "delete", "stepi 3",
            "echo @@HYP\\n", "info threads", "print $CurrentEL", f"x/i 0x{done:x}",
            "monitor world vm0", "echo @@VIEW\\n", f"x/i 0x{done:x}",
            "print/x *(long *)&counter", "set var *(long *)&counter = 0x77",
            "print/x *(long *)&counter", "monitor world auto", "detach"]
    r = subprocess.run([gdb, "--batch", "-nx"] + [a for c in cmds for a in ("-ex", c)],
                       capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    t.join(30)
    srv.close()
    out = r.stdout + r.stderr
    assert result["r"].reason == "detach", out
    guest, rest = out.split("@@GUEST")[1].split("@@SCOPED")
    scoped, rest = rest.split("@@HYP")
    hyp, view = rest.split("@@VIEW")
    guest_done = rf"0x{done:x} <done>:\s+mov\s+x0, #0x0\b"
    assert re.search("=> " + guest_done, guest), out
    assert "= 0x5" in guest and "= 4" in guest, out          # counter; CurrentEL = EL1
    assert "PE0 [vm0 vcpu0] MPIDR" in guest, out             # info threads names the world
    assert "PE0 [vm0 vcpu0] MPIDR" in scoped and "= 4" in scoped, out
    assert re.search(r"=> 0x40000c00 <at_c00>:\s+mov\s+x0, #0x8", scoped), out
    assert "PE0 [hyp] MPIDR" in hyp and "= 8" in hyp, out    # the HVC taken: EL2
    assert not re.search(guest_done, hyp), out               # the PA: not the guest's
    assert re.search(guest_done, view), out
    assert "= 0x5" in view and "= 0x77" in view, out
    # The write went to the guest's RAM: its VM's block, behind stage 2.
    pa = run.plan.vms[0].pa_base + prog.symbols["counter"] - abi.GUEST_RAM_BASE
    assert int.from_bytes(m.read_phys(pa, 8), "little") == 0x77
    assert int.from_bytes(m.read_phys(prog.symbols["counter"], 8), "little") != 0x77
