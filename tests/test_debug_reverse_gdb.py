"""Reverse execution through the GDB stub (``bs``/``bc``), driven by the real client,
``gdb-multiarch --batch`` (skipped when it is not installed), and at the packet level."""
from __future__ import annotations

import re
import subprocess
import threading

import pytest

from armvirt.build import assemble
from armvirt.debug.gdbstub import GdbServer, GdbSession
from armvirt.machine import Machine

from conftest import require_tool

RAM_BASE = 0x4000_0000

# A loop that calls a function; x6 counts iterations, `func` stores x6 + 10 in `counter`.
GUEST = """
    .global _start
_start:
    ldr     x0, =stack_top
    mov     sp, x0
    mov     x29, #0
    ldr     x5, =counter
    mov     x6, #0
loop:
    add     x6, x6, #1
call:
    bl      func
    cmp     x6, #100
    b.ne    loop
    ldr     x0, =0x84000008         // PSCI SYSTEM_OFF
    hvc     #0
    b       .
    .global func
func:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    add     x7, x6, #10
    str     x7, [x5]
    ldp     x29, x30, [sp], #16
    ret
    .balign 16
counter:
    .quad   0
    .space  256
stack_top:
"""


@pytest.fixture(scope="module")
def prog():
    return assemble(GUEST, RAM_BASE)


def regs(reply_text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2), 16)
            for m in re.finditer(r"^(x\d+|pc|sp)\s+(0x[0-9a-f]+)", reply_text, re.M)}


def run_gdb(prog, tmp_path, cmds: list[str]) -> tuple[str, Machine]:
    gdb = require_tool("gdb-multiarch")
    elf = tmp_path / "guest.elf"
    prog.to_elf(elf)
    from armvirt.loader import load_image
    m = Machine(ram_size=8 << 20)
    load_image(m, elf)
    srv = GdbServer(m)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve()), daemon=True)
    t.start()
    head = ["set confirm off", "set pagination off", "set width 0", f"file {elf}",
            f"target remote 127.0.0.1:{srv.port}"]
    args = [gdb, "--batch", "-nx"] + [a for c in head + cmds + ["detach"] for a in ("-ex", c)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=240,
                       stdin=subprocess.DEVNULL)
    t.join(30)
    srv.close()
    out = r.stdout + r.stderr
    assert result["r"].reason == "detach", out
    return out, m


def sections(out: str, marker: str) -> list[str]:
    """The output between `echo MARKER` lines."""
    return out.split(marker)


def test_qsupported_advertises_reverse_execution(prog):
    m = Machine(ram_size=1 << 20)
    m.write_phys(prog.base, prog.code)
    m.boot_pe(0, prog.entry)
    s = GdbSession(m)
    feats = s.handle_packet("qSupported:swbreak+")
    assert "ReverseStep+" in feats and "ReverseContinue+" in feats
    # Nothing recorded yet: going back reports the beginning of the replay log.
    assert "replaylog:begin" in s.handle_packet("bs")
    s.handle_packet("vCont;s:1")
    pc1 = m.reg("pc")
    s.handle_packet("vCont;s:1")
    assert m.reg("pc") != pc1
    reply = s.handle_packet("bs")
    assert reply.startswith("T05") and m.reg("pc") == pc1
    reply = s.handle_packet("bs")
    assert "replaylog:begin" in reply and m.reg("pc") == prog.entry


def test_gdb_reverse_stepi_returns_to_the_same_registers(prog, tmp_path):
    n = 7
    out, m = run_gdb(prog, tmp_path, [
        "break *func", "continue", "continue", "delete",
        "echo @@A\\n", "info registers x5 x6 x7 x30 sp pc", "echo @@B\\n",
        f"stepi {n}",
        "echo @@C\\n", "info registers x5 x6 x7 x30 sp pc", "echo @@D\\n",
        f"reverse-stepi {n}",
        "echo @@E\\n", "info registers x5 x6 x7 x30 sp pc", "echo @@F\\n",
    ])
    before = regs(out.split("@@A")[1].split("@@B")[0])
    moved = regs(out.split("@@C")[1].split("@@D")[0])
    back = regs(out.split("@@E")[1].split("@@F")[0])
    assert set(before) == {"x5", "x6", "x7", "x30", "sp", "pc"}, out
    assert before["pc"] == prog.symbols["func"] and before["x6"] == 2, out
    assert moved != before, out
    assert back == before, out


def test_gdb_reverse_continue_stops_at_the_last_breakpoint_hit(prog, tmp_path):
    out, _ = run_gdb(prog, tmp_path, [
        "break *func", "continue", "continue", "continue",
        "p $x6",                              # $1 = 3: the third call
        "delete", "break loop", "stepi 4",    # on into the fourth iteration
        "delete", "break *func",
        "reverse-continue", "p $x6", "p/x $pc",   # back to the third call of func
        "reverse-continue", "p $x6",              # the second one
    ])
    func = prog.symbols["func"]
    assert "$1 = 3" in out, out
    assert "$2 = 3" in out and f"$3 = {func:#x}" in out, out
    assert "$4 = 2" in out, out
    # with DWARF lines gdb names the function and its line; without, the address
    assert re.search(r"Breakpoint \d+, (0x0*%x in )?func" % func, out), out


def test_gdb_reverse_finish_returns_to_the_call(prog, tmp_path):
    out, _ = run_gdb(prog, tmp_path, [
        "break *func", "continue", "continue", "delete",
        "stepi 4",                            # inside func, after the store
        "reverse-finish", "p/x $pc", "p $x6",
    ])
    call = prog.symbols["call"]
    assert f"$1 = {call:#x}" in out, out     # at the BL that called func
    assert "$2 = 2" in out, out


def test_gdb_accepts_system_register_names_in_both_cases(prog, tmp_path):
    out, m = run_gdb(prog, tmp_path, [
        "set $ESR_EL2 = 0x96000045", "p/x $ESR_EL2", "p/x $SCTLR_EL1", "p/x $sctlr_el1",
        "p $CurrentEL", "info registers esr_el2",
    ])
    assert "$1 = 0x96000045" in out, out
    sctlr = m.reg("SCTLR_EL1")
    assert f"$2 = {sctlr:#x}" in out and f"$3 = {sctlr:#x}" in out, out
    assert "$4 = 4" in out, out                           # CurrentEL: EL1
    assert m.reg("ESR_EL2") == 0x96000045
    assert re.search(r"esr_el2\s+0x96000045", out), out   # the other spelling, after a stop
