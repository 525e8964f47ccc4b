"""The debugger REPL: ``Debugger.command`` on small assembled kernels, and ``armvirt debug``
end to end (``-ex``/``--batch``, and an interactive session in a pseudo-terminal).

Expected values come from the programs below and the Arm ARM (vector offsets, ESR encodings),
not from the emulator: e.g. an SVC from EL0 enters VBAR_EL1 + 0x400 with ESR_EL1 = EC 0x15 <<
26 | IL | imm16, and its preferred return address is the next instruction.
"""
from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time

import pytest

from armvirt.build import assemble_file
from armvirt.build import board_defines
from armvirt.debug.repl import Debugger
from armvirt.debug.symbols import SymbolTable
from armvirt.machine import Machine
from conftest import ROOT

RAM = 1 << 20
STACK_TOP = 0x4008_0000

KERNEL = r"""
// An EL1 kernel with two nested calls, a loop, and an EL0 task that takes an UNDEFINED
// exception and then makes an SVC.
    .global _start
_start:
    ldr     x0, =vectors
    msr     vbar_el1, x0
    ldr     x0, =STACK_TOP
    mov     sp, x0
    mov     x29, #0
    mov     x0, #7
call_f1:
    bl      f1
after_f1:
    ldr     x1, =counter
    ldr     x2, [x1]
    mov     x3, #3
loop:
    add     x2, x2, #1
loop_store:
    str     x2, [x1]
    subs    x3, x3, #1
    b.ne    loop
    ldr     x0, =el0_task
    msr     elr_el1, x0
    msr     spsr_el1, xzr           // EL0t, nothing masked
    eret

f1:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    add     x0, x0, #1
call_f2:
    bl      f2
    ldp     x29, x30, [sp], #16
    ret

f2:
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
f2_body:
    ldr     x4, =counter
    ldr     x5, [x4]                // read of counter
    add     x5, x5, #10
    str     x5, [x4]                // write of counter
    ldp     x29, x30, [sp], #16
    ret

el0_task:
    mov     x6, #1
undef_here:
    .word   0                       // UDF #0: UNDEFINED, EC 0x00
svc_here:
    svc     #0x42
    b       .

lower_sync:
    mrs     x10, esr_el1
    lsr     x10, x10, #26
    cmp     x10, #0x15
    b.eq    1f
    mrs     x11, elr_el1            // skip the UNDEFINED instruction
    add     x11, x11, #4
    msr     elr_el1, x11
    eret
1:  ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .

    .balign 2048
vectors:
    .rept 8
    b       .
    .balign 0x80
    .endr
    b       lower_sync              // lower EL using AArch64, synchronous
    .balign 0x80
    .rept 7
    b       .
    .balign 0x80
    .endr

    .balign 8
counter:
    .quad   0
message:
    .asciz  "Hi!\n"
    .balign 8
negs:
    .byte   0xff, 0x80, 0x7f, 0x01
"""

ABORT = r"""
// A store to an address nothing claims: a synchronous External abort at EL1.
_start:
    ldr     x0, =vectors
    msr     vbar_el1, x0
    mov     x9, #0x0a800000         // after the virtio-mmio transports: nothing there
    mov     x1, #5
fault_here:
    str     x1, [x9, #8]
    b       .
    .balign 2048
vectors:
    .rept 16
    b       .
    .balign 0x80
    .endr
"""

TRAP = r"""
// Entered at EL2: call `common` at EL2, set HCR_EL2.TVM, drop to EL1, call `common` again,
// then write SCTLR_EL1, which TVM traps to EL2 (EC 0x18).
_start:
    ldr     x0, =vectors2
    msr     vbar_el2, x0
    bl      common
    ldr     x0, =0x84000000         // HCR_EL2.RW | HCR_EL2.TVM
    msr     hcr_el2, x0
    ldr     x0, =el1_entry
    msr     elr_el2, x0
    mov     x0, #0x3c5              // EL1h, DAIF masked
    msr     spsr_el2, x0
    eret
el1_entry:
    bl      common
    mov     x0, #0
trap_here:
    msr     sctlr_el1, x0
    b       .
common:
    add     x20, x20, #1
    ret
    .balign 2048
vectors2:
    .rept 16
    b       .
    .balign 0x80
    .endr
"""


def build(tmp_path, name: str, src: str, el: int = 1):
    path = tmp_path / name
    path.write_text(src)
    prog = assemble_file(path, defines={**board_defines(), "STACK_TOP": STACK_TOP})
    m = Machine(ram_size=RAM, psci_conduit="hvc" if el == 1 else "smc")
    m.write_phys(prog.base, prog.code)
    m.boot_pe(0, prog.entry, el=el)
    syms = SymbolTable()
    syms.add_program(prog, str(path))
    return Debugger(m, syms), prog, m


@pytest.fixture
def kernel(tmp_path):
    return build(tmp_path, "kernel.S", KERNEL)


def line_of(prog, label: str) -> int:
    """Source line of the statement at ``label``."""
    return prog.line_for(prog.symbols[label])[1]


def one_line(out: str) -> None:
    assert out and "\n" not in out and "Traceback" not in out, out


# ------------------------------------------------------------------------- breakpoints
def test_breakpoint_by_symbol_and_address(kernel):
    d, prog, m = kernel
    out = d.command("break f2")
    assert out == f"Breakpoint 1 at 0x{prog.symbols['f2']:x} <f2> at kernel.S:" \
                  f"{line_of(prog, 'f2')}"
    out = d.command("c")
    assert out.startswith(f"Breakpoint 1, 0x{prog.symbols['f2']:x} <f2>")
    assert f"=> 0x{prog.symbols['f2']:x} <f2>:\tstp\tx29, x30, [sp, #-0x10]!" in out
    assert m.reg("pc") == prog.symbols["f2"]
    assert m.reg("x0") == 8                 # _start set 7, f1 added 1
    d.command(f"break *0x{prog.symbols['after_f1']:x}")
    assert "Breakpoint 2, " in d.command("continue")
    assert m.reg("pc") == prog.symbols["after_f1"]
    out = d.command("info breakpoints")
    assert "breakpoint already hit 1 time" in out
    assert f"0x{prog.symbols['after_f1']:016x} <after_f1>" in out


def test_breakpoint_by_file_line_and_tbreak(kernel):
    d, prog, m = kernel
    line = line_of(prog, "loop_store")
    out = d.command(f"tbreak kernel.S:{line}")
    assert out.startswith(f"Temporary breakpoint 1 at 0x{prog.symbols['loop_store']:x}")
    out = d.command("c")
    assert out.startswith("Temporary breakpoint 1, ")
    assert f"kernel.S:{line}\tstr     x2, [x1]" in out
    assert d.command("info breakpoints") == "No breakpoints, watchpoints or catchpoints."
    d.command(f"b {line}")              # a bare number: a line of the current file
    d.command("c")
    assert m.reg("pc") == prog.symbols["loop_store"] and m.reg("x3") == 2


def test_breakpoint_scoped_to_an_exception_level(tmp_path):
    d, prog, m = build(tmp_path, "trap.S", TRAP, el=2)
    out = d.command("break common el1")
    assert "(EL1 only)" in out
    out = d.command("c")
    assert out.startswith("Breakpoint 1, ")
    assert m.reg("el") == 1 and m.reg("x20") == 1   # the EL2 call went by silently
    d.command("delete")
    d.command("b common hyp")
    assert d.command("rc").startswith("Breakpoint 2, ")  # back to the EL2 call
    assert m.reg("el") == 2 and m.reg("x20") == 0


# ------------------------------------------------------------------------- stepping
def test_stepi_next_and_step(kernel):
    d, prog, m = kernel
    d.command("break call_f1")
    d.command("c")
    out = d.command("ni")                     # over bl f1 (which calls f2)
    assert m.reg("pc") == prog.symbols["after_f1"]
    assert m.reg("x0") == 8 and m.read_u64(prog.symbols["counter"]) == 10
    assert f"=> 0x{prog.symbols['after_f1']:x} <after_f1>:\tldr\tx1, #0x" in out
    d.command("rsi")                          # the last instruction executed: f1's ret
    assert m.reg("pc") == prog.symbols["f1"] + 20
    d.command("rc")                           # back to the breakpoint at the call
    assert m.reg("pc") == prog.symbols["call_f1"]
    d.command("s")                            # step into the call
    assert m.reg("pc") == prog.symbols["f1"]
    d.command("si 2")
    assert m.reg("pc") == prog.symbols["f1"] + 8
    d.command("n")                            # add x0, x0, #1
    assert m.reg("pc") == prog.symbols["call_f2"]
    d.command("next")                         # over bl f2
    assert m.reg("pc") == prog.symbols["call_f2"] + 4
    assert m.read_u64(prog.symbols["counter"]) == 10


def test_next_steps_over_a_breakpoint_free_call_but_stops_inside_at_a_breakpoint(kernel):
    d, prog, m = kernel
    d.command("tbreak call_f1")
    d.command("c")
    d.command("b f2_body")
    assert d.command("ni").startswith("Breakpoint 2, ")
    assert m.reg("pc") == prog.symbols["f2_body"]
    d.command("finish")
    assert m.reg("pc") == prog.symbols["call_f2"] + 4


# ------------------------------------------------------------------------- data
def test_x_formats(kernel):
    d, prog, m = kernel
    m.write_phys(prog.symbols["counter"], (0x1122334455667788).to_bytes(8, "little"))
    c = prog.symbols["counter"]
    assert d.command("x/2xw counter") == f"0x{c:x} <counter>:\t0x55667788\t0x11223344"
    assert d.command("x/xg counter") == f"0x{c:x} <counter>:\t0x1122334455667788"
    assert d.command("x/2xh counter") == f"0x{c:x} <counter>:\t0x7788\t0x5566"
    assert d.command("x/s message") == \
        f"0x{prog.symbols['message']:x} <message>:\t\"Hi!\\n\""
    assert d.command("x/3c message") == \
        f"0x{prog.symbols['message']:x} <message>:\t72 'H'\t105 'i'\t33 '!'"
    n = prog.symbols["negs"]
    assert d.command("x/4db negs") == f"0x{n:x} <negs>:\t-1\t-128\t127\t1"
    assert d.command("x/4ub negs") == f"0x{n:x} <negs>:\t255\t128\t127\t1"
    assert d.command("x/2tb negs") == f"0x{n:x} <negs>:\t11111111\t10000000"
    assert d.command("x/2ob negs") == f"0x{n:x} <negs>:\t0377\t0200"
    assert d.command("x/dw negs") == f"0x{n:x} <negs>:\t{0x017f80ff}"
    out = d.command("x/3i $pc").splitlines()
    assert out[0] == f"=> 0x{prog.entry:x} <_start>:\tldr\tx0, #0x" + out[0].split("#0x")[1]
    assert out[1].startswith(f"   0x{prog.entry + 4:x} <_start+4>:\tmsr\tvbar_el1, x0")
    assert len(out) == 3
    # `x` with no address continues after the last dump, in the last format
    assert d.command("x").startswith(f"   0x{prog.entry + 12:x} <_start+12>:\t")


def test_print_and_set(kernel):
    d, prog, m = kernel
    assert d.command("p 6 * 7") == "$1 = 42"
    assert d.command("p/x 255") == "$2 = 0xff"
    assert d.command("p $1 + $2") == "$3 = 297"
    assert d.command("p $pc") == f"$4 = 0x{prog.entry:x} <_start>"
    assert d.command("p counter") == f"$5 = 0x{prog.symbols['counter']:x} <counter>"
    sctlr = m.reg("SCTLR_EL1")              # reset value: SPAN (bit 23) is set
    assert d.command("p $SCTLR_EL1") == f"$6 = 0x{sctlr:x} [ SPAN ]"
    assert d.command("p $CurrentEL") == "$7 = 0x4"         # EL1 << 2
    d.command("set $x0 = 5")
    assert m.reg("x0") == 5
    d.command("set $x1 = $x0 << 4 | 1")
    assert m.reg("x1") == 0x51
    assert d.command("p $x0 - 6") == "$8 = -1"
    assert d.command("p/x $x0 - 6") == "$9 = 0xffffffffffffffff"
    d.command(f"set *(u64*)0x{prog.symbols['counter']:x} = 0x1234")
    assert m.read_u64(prog.symbols["counter"]) == 0x1234
    d.command("set {u16}(counter + 2) = 0xabcd")
    assert m.read_u64(prog.symbols["counter"]) == 0xabcd1234
    assert d.command("p *(u32*)counter") == f"$10 = {0xabcd1234}"
    assert d.command("p/x {u8}counter") == "$11 = 0x34"
    assert d.command("p *(int*)negs") == f"$12 = {0x017f80ff}"
    assert d.command("p {s8}negs") == "$13 = -1"
    assert d.command("p $w1") == f"$14 = {0x51}"
    d.command("set $pc = f2")
    assert m.reg("pc") == prog.symbols["f2"]


def test_info_registers_el_and_sysregs(kernel):
    d, prog, m = kernel
    d.command("si 6")
    out = d.command("info registers")
    assert re.search(r"^x0 +0x7 +7$", out, re.M)
    assert re.search(rf"^sp +0x{STACK_TOP:x} +0x{STACK_TOP:x}$", out, re.M)
    assert re.search(r"^cpsr +0x3c5 +\[ EL1h D A I F \]$", out, re.M)
    out = d.command("info registers VBAR_EL1 x0")
    assert out.splitlines()[0].split()[:2] == ["VBAR_EL1", f"0x{prog.symbols['vectors']:x}"]
    out = d.command("info el")
    assert out.startswith(f"PE0: EL1h — PSTATE.EL = 1, PSTATE.SP = 1: SP is SP_EL1 = "
                          f"0x{STACK_TOP:x}")
    assert "DAIF  0b1111  D A I F masked" in out and "power: on" in out
    assert "translation: off (SCTLR_EL1.M = 0, HCR_EL2.VM = 0)" in out
    out = d.command("info sysregs el1")
    assert out.startswith("EL1:")
    assert re.search(rf"^  VBAR_EL1 +0x{prog.symbols['vectors']:016x} RW$", out, re.M)
    assert re.search(r"^  MIDR_EL1 +0x00000000410fd070 RO$", out, re.M)
    assert "HCR_EL2" not in out
    out = d.command("info sysregs el2")
    assert re.search(r"^  HCR_EL2 +0x0000000080000000 RW  \[ RW \]$", out, re.M)
    out = d.command("info sysregs CurrentEL DAIF")
    assert "CurrentEL            0x0000000000000004" in out
    assert "DAIF                 0x00000000000003c0" in out


def test_disassemble_with_symbols_and_source(kernel):
    d, prog, m = kernel
    d.command("tbreak f1")
    d.command("c")
    out = d.command("disassemble").splitlines()
    assert out[0] == "Dump of assembler code for function f1:"
    assert out[-1] == "End of assembler dump."
    assert f"kernel.S:{line_of(prog, 'f1')}\tstp     x29, x30, [sp, #-16]!" in out
    assert f"=> 0x{prog.symbols['f1']:x} <f1>:\tstp\tx29, x30, [sp, #-0x10]!" in out
    # without ELF sizes a symbol ends at the next one (here the label call_f2), as in gdb
    assert out[-2] == f"   0x{prog.symbols['f1'] + 8:x} <f1+8>:\tadd\tx0, x0, #1"
    out = d.command("disas f1,+24").splitlines()
    assert f"   0x{prog.symbols['call_f2']:x} <call_f2>:\tbl\t#0x{prog.symbols['f2']:x} " \
           f"<f2>" in out
    out = d.command(f"disas 0x{prog.symbols['after_f1']:x},+8").splitlines()
    assert out[0] == f"Dump of assembler code from 0x{prog.symbols['after_f1']:x} to " \
                     f"0x{prog.symbols['after_f1'] + 8:x}:"
    assert sum(1 for ln in out if ln.startswith("   0x")) == 2


def test_backtrace_through_two_frames(kernel):
    d, prog, m = kernel
    d.command("break f2_body")
    d.command("c")
    out = d.command("bt").splitlines()
    assert out[0].startswith(f"#0  0x{prog.symbols['f2_body']:x} in f2_body")
    # a return address is named by the call before it (here the label on the bl)
    assert out[1] == f"#1  0x{prog.symbols['call_f2'] + 4:x} in call_f2+4 at " \
                     f"kernel.S:{line_of(prog, 'call_f2')}"
    assert out[2].startswith(f"#2  0x{prog.symbols['after_f1']:x} in ")
    assert out[3] == "(saved LR = 0: outermost frame)" or out[3].startswith("(")
    assert len(out) == 4
    # At a function's first instruction the caller is still in LR, not in a frame record.
    d.command("delete")
    d.command("rsi 2")                        # back to f2's entry (before its stp)
    assert m.reg("pc") == prog.symbols["f2"]
    out = d.command("bt").splitlines()
    assert out[0].startswith(f"#0  0x{prog.symbols['f2']:x} in f2")
    assert out[1].startswith(f"#1  0x{prog.symbols['call_f2'] + 4:x} in call_f2+4")
    assert out[2].startswith(f"#2  0x{prog.symbols['after_f1']:x} in ")


def test_list_source(kernel):
    d, prog, m = kernel
    out = d.command("list").splitlines()
    assert out[0].split("\t")[0] == "1" and len(out) == 10
    assert out[line_of(prog, "_start") - 1].endswith("ldr     x0, =vectors")
    assert d.command("list").splitlines()[0].startswith("11\t")


# ------------------------------------------------------------------------- watchpoints
def test_write_and_read_watchpoints(kernel):
    d, prog, m = kernel
    c = prog.symbols["counter"]
    out = d.command("watch counter")
    assert out == f"Hardware watchpoint 1: counter [0x{c:x}, 8 bytes]"
    out = d.command("c")
    assert out.startswith("Hardware watchpoint 1: counter")
    assert "Old value = 0x0 (0)\nNew value = 0xa (10)" in out
    assert f"by the instruction at 0x{prog.symbols['f2_body'] + 12:x} <f2_body+12>" in out
    assert m.reg("pc") == prog.symbols["f2_body"] + 16      # stops after the store
    d.command("delete")
    out = d.command(f"rwatch *(u32*)0x{c:x}")
    assert out == f"Hardware read watchpoint 2: *(u32*)0x{c:x} [0x{c:x}, 4 bytes]"
    out = d.command("c")
    assert out.startswith("Hardware read watchpoint 2: ")
    assert "Value = 0xa (10)" in out
    assert m.reg("pc") == prog.symbols["after_f1"] + 8     # after `ldr x2, [x1]`
    d.command("delete 2")
    d.command("awatch counter,4")
    out = d.command("c")
    assert "Old value = 0xa (10)\nNew value = 0xb (11)" in out   # the loop's first store


# ------------------------------------------------------------------------- exceptions
def test_catch_exception_with_ec_filter_stops_at_the_vector(kernel):
    d, prog, m = kernel
    out = d.command("catch exception el1 ec=svc")
    assert out == "Catchpoint 1 (exception entry to EL1, EC 0x15 (SVC))"
    out = d.command("c")
    vec = prog.symbols["vectors"] + 0x400
    esr = (0x15 << 26) | (1 << 25) | 0x42
    assert out.startswith(f"Catchpoint 1 (exception): EL0 -> EL1 SVC (EC 0x15), "
                          f"ESR_EL1 = 0x{esr:08x}, ELR_EL1 = 0x{prog.symbols['svc_here'] + 4:x}")
    assert f"vector 0x{vec:x} (synchronous, lower EL using AArch64" in out
    assert m.reg("pc") == vec and m.reg("el") == 1 and m.reg("ESR_EL1") == esr
    assert m.reg("x6") == 1                  # the UNDEFINED before it was passed over
    out = d.command("explain fault")
    assert "SVC (EC 0x15)" in out and "imm16    0x0042" in out
    assert f"0x{prog.symbols['svc_here']:x} <svc_here>:\tsvc\t#0x42" in out


def test_catch_any_exception_stops_at_the_undefined_first(kernel):
    d, prog, m = kernel
    d.command("catch exception")
    out = d.command("c")
    assert out.startswith("Catchpoint 1 (exception): EL0 -> EL1 UNDEFINED (EC 0x00), "
                          f"ESR_EL1 = 0x{1 << 25:08x}, "
                          f"ELR_EL1 = 0x{prog.symbols['undef_here']:x} <undef_here>")
    assert m.reg("pc") == prog.symbols["vectors"] + 0x400
    out = d.command("c")                     # the handler skips it; then the SVC
    assert "EL0 -> EL1 SVC (EC 0x15)" in out
    assert m.reg("pc") == prog.symbols["vectors"] + 0x400
    d.command("rc")                          # no breakpoints: back to the start
    d.command("c")
    assert m.reg("ELR_EL1") == prog.symbols["undef_here"]
    d.command("rsi")                         # back at the UNDEFINED instruction, EL0
    assert m.reg("pc") == prog.symbols["undef_here"] and m.reg("el") == 0
    d.command("delete")
    assert d.command("catch eret el0") == "Catchpoint 2 (exception return to EL0)"
    out = d.command("c")
    assert out.startswith(f"Catchpoint 2 (exception return): ERET EL1 -> EL0 to "
                          f"0x{prog.symbols['svc_here']:x} <svc_here>")
    assert m.reg("pc") == prog.symbols["svc_here"] and m.reg("el") == 0


def test_trace_on_prints_exception_entries_and_returns(kernel):
    d, prog, m = kernel
    d.command("trace on")
    out = d.command("c")
    lines = out.splitlines()
    entries = [ln for ln in lines if "exception EL0->EL1" in ln]
    assert len(entries) == 2 and "UNDEFINED (EC 0x00)" in entries[0] and "SVC" in entries[1]
    assert any("eret EL1->EL0" in ln for ln in lines)
    assert "[the guest powered the machine off: PSCI SYSTEM_OFF]" in out


def test_explain_data_abort(tmp_path):
    d, prog, m = build(tmp_path, "abort.S", ABORT)
    d.command("catch exception ec=dabt")
    out = d.command("c")
    assert "EL1 -> EL1 data abort (same EL) (EC 0x25)" in out
    assert m.reg("pc") == prog.symbols["vectors"] + 0x200
    out = d.command("explain fault")
    esr = (0x25 << 26) | (1 << 25) | (1 << 6) | 0x10
    assert f"ESR_EL1 = 0x{esr:08x}: data abort (same EL) (EC 0x25)" in out
    assert "Data Abort taken without a change in Exception level" in out
    assert re.search(r"WnR +1 +write", out)
    assert re.search(r"DFSC +0x10 +Synchronous External abort, not on translation table "
                     r"walk", out)
    assert re.search(r"FAR +0xa800008 +faulting virtual address", out)
    assert re.search(r"ISV +0 ", out) and re.search(r"S1PTW +0 ", out)
    assert f"0x{prog.symbols['fault_here']:x} <fault_here>:\tstr\tx1, [x9, #8]" in out


def test_explain_trapped_msr(tmp_path):
    d, prog, m = build(tmp_path, "trap.S", TRAP, el=2)
    d.command("catch exception el2 ec=0x18")
    out = d.command("c")
    assert "EL1 -> EL2 MSR/MRS/SYS trap (EC 0x18)" in out
    out = d.command("explain fault")
    assert "(the last synchronous exception of PE0 was taken to EL2)" in out
    assert "= MSR SCTLR_EL1, x0" in out
    assert "HCR_EL2.TVM (writes)" in out
    assert re.search(r"Dir +0 +write \(MSR/SYS\)", out)
    assert f"<trap_here>:\tmsr\tsctlr_el1, x0" in out
    out = d.command("explain esr $ESR_EL2")
    assert out.startswith(f"ESR = 0x{m.reg('ESR_EL2'):08x}: MSR/MRS/SYS trap (EC 0x18)")


def test_reverse_stepi_across_an_exception_entry(kernel):
    d, prog, m = kernel
    d.command("catch exception ec=svc")
    d.command("c")
    assert m.reg("pc") == prog.symbols["vectors"] + 0x400 and m.reg("el") == 1
    out = d.command("rsi")
    assert m.reg("pc") == prog.symbols["svc_here"] and m.reg("el") == 0
    assert "[stepped back across: exception entry EL0 -> EL1, SVC" in out
    assert out.endswith(f"=> 0x{prog.symbols['svc_here']:x} <svc_here>:\tsvc\t#0x42")
    out = d.command("si")                     # forward again: the same exception
    assert m.reg("pc") == prog.symbols["vectors"] + 0x400 and m.reg("el") == 1
    out = d.command("rsi 2")           # back over the SVC, then the handler's eret (EL1)
    assert m.reg("pc") == prog.symbols["lower_sync"] + 28 and m.reg("el") == 1
    assert "[stepped back across: exception return EL1 -> EL0 to " in out


def test_reverse_continue_returns_to_the_previous_hit(kernel):
    d, prog, m = kernel
    d.command("break loop_store")
    for _ in range(3):
        assert d.command("c").startswith("Breakpoint 1, ")
    assert m.reg("x3") == 1
    assert m.reg("x2") == 13 and m.read_u64(prog.symbols["counter"]) == 12
    out = d.command("rc")
    assert out.startswith("Breakpoint 1, ")
    assert m.reg("x3") == 2 and m.reg("x2") == 12
    d.command("rc")
    assert m.reg("x3") == 3
    out = d.command("rc")
    assert out.startswith("No more reverse-execution history.")
    assert m.reg("pc") == prog.entry
    # and forward again from the start: the same execution
    d.command("c")
    assert m.reg("x3") == 3 and m.reg("x2") == 11


def test_reverse_continue_to_a_watchpoint(kernel):
    d, prog, m = kernel
    d.command("tbreak el0_task")
    d.command("c")
    d.command(f"watch counter")
    out = d.command("rc")
    assert out.startswith("Hardware watchpoint 2: counter")
    assert "Old value = 0xc (12)\nNew value = 0xd (13)" in out
    assert m.reg("pc") == prog.symbols["loop_store"] + 4
    assert m.read_u64(prog.symbols["counter"]) == 13


# ------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cmd, message", [
    ("print nosuch + 1", 'No symbol "nosuch" in current context.'),
    ("p $x99", "Invalid register `x99'"),
    ("info registers bogus", "Invalid register `bogus'"),
    ("x/4x 0x10", "Cannot access memory at address 0x10"),
    ("x/4x 0x50000000", "Cannot access memory at address 0x50000000"),
    ("frobnicate", 'Undefined command: "frobnicate".  Try "help".'),
    ("break nosuch", 'Function "nosuch" not defined.'),
    ("break *0x10", "Cannot insert breakpoint at 0x10: not in RAM"),
    ("break nosuch.S:3", "No source file named nosuch.S."),
    ("delete 42", "No breakpoint number 42."),
    ("info frobs", 'Undefined info command: "frobs".  Try "help info".'),
    ("p 1 +", "A syntax error in expression"),
    ("p 1 / 0", "Division by zero"),
    ("set $xzr = 1", "xzr always reads as zero and cannot be written"),
    ("catch exception ec=bogus", "bad exception class 'bogus'"),
    ("rsi", "No more reverse-execution history."),
    ("pe 3", "Invalid PE 3: the machine has PE0..PE0"),
    ("s 0", "the count must be positive"),
])
def test_user_errors_are_one_line_and_the_session_continues(kernel, cmd, message):
    d, prog, m = kernel
    out = d.command(cmd)
    one_line(out)
    assert out.startswith(message)
    assert d.command("p 1 + 1") == "$1 = 2"
    assert d.command("si").endswith("<_start+4>:\tmsr\tvbar_el1, x0")


def test_help_and_abbreviations(kernel):
    d, prog, m = kernel
    assert "reverse-stepi/rsi" in d.command("help")
    assert d.command("help x").startswith("x/NFU ADDR")
    assert d.command("help rc").startswith("reverse-continue|rc")
    assert d.command("i el").startswith("PE0: EL1h")
    assert d.command("dis").startswith('Ambiguous command "dis": disable, disassemble')
    assert d.command("tr on").startswith("Exception trace is on")
    out = d.command("con")
    assert "PE0 exception EL0->EL1 SVC (EC 0x15)" in out
    assert out.endswith("[the guest powered the machine off: PSCI SYSTEM_OFF]")


# ------------------------------------------------------------------------- the CLI
def armvirt(*args: str, **kw):
    return subprocess.run([sys.executable, "-m", "armvirt.cli", *args], capture_output=True,
                          timeout=300, cwd=ROOT, **kw)


def test_cli_batch_and_ex(guests_dir, tmp_path):
    script = tmp_path / "cmds.gdb"
    script.write_text("# a comment\nc\nx/s message\ninfo el\n")
    r = armvirt("debug", str(guests_dir / "hello.elf"), "--mem", "16M",
                "-ex", "break _start+16", "--batch", str(script), "-ex", "p/c $x3",
                "-ex", "bogus")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    first = next(i for i, ln in enumerate((ROOT / "guests/hello.S").read_text().splitlines(), 1)
                 if "ldr     x1, =UART_BASE" in ln)
    assert out.splitlines()[1] == f"guests/hello.S:{first}\tldr     x1, =UART_BASE"
    assert "(armvirt) break _start+16\nBreakpoint 1 at 0x40000010 <_start+16>" in out
    assert "(armvirt) c\nBreakpoint 1, 0x40000010 <_start+16>" in out
    assert '<message>:\t"Hello from armvirt!\\n"' in out
    assert "(armvirt) p/c $x3\n$1 = 72 'H'" in out
    assert '(armvirt) bogus\nUndefined command: "bogus".' in out
    assert out.index("info el") < out.index("p/c $x3")       # -ex/--batch in order


def test_cli_debug_bad_image(tmp_path):
    r = armvirt("debug", str(tmp_path / "nope.elf"))
    assert r.returncode == 2 and b"no such file" in r.stderr


def test_cli_interactive_session_in_a_pty(guests_dir, tmp_path):
    """Type at `armvirt debug` in a pseudo-terminal: readline prompt, tab completion of a
    command name, a breakpoint, continue (the guest's output appears), print, and quit."""
    master, slave = os.openpty()
    env = {**os.environ, "HOME": str(tmp_path), "TERM": "dumb"}
    proc = subprocess.Popen([sys.executable, "-m", "armvirt.cli", "debug",
                             str(guests_dir / "hello.elf"), "--mem", "16M"],
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                            close_fds=True)
    os.close(slave)
    buf = b""

    def read_until(token: bytes, timeout: float = 120) -> bytes:
        nonlocal buf
        end = time.time() + timeout
        while token not in buf:
            left = end - time.time()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {token!r}; got {buf[-2000:]!r}")
            r, _, _ = select.select([master], [], [], left)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"pty closed waiting for {token!r}; got {buf!r}")
                buf += chunk
        i = buf.index(token) + len(token)
        out, buf = buf[:i], buf[i:]
        return out

    try:
        read_until(b"(armvirt) ")
        os.write(master, b"b _start+16\n")
        assert b"Breakpoint 1 at 0x40000010" in read_until(b"(armvirt) ")
        os.write(master, b"c\n")
        out = read_until(b"(armvirt) ")
        assert b"Breakpoint 1, 0x40000010 <_start+16>" in out
        os.write(master, b"inf\t el\n")                 # tab completes "info"
        out = read_until(b"(armvirt) ")
        assert b"PE0: EL1h" in out
        os.write(master, b"p/x $x1\n")
        assert b"$1 = 0x9000000" in read_until(b"(armvirt) ")
        os.write(master, b"delete\n")
        read_until(b"(armvirt) ")
        os.write(master, b"c\n")
        out = read_until(b"(armvirt) ")
        assert b"ello from armvirt!" in out and b"PSCI SYSTEM_OFF" in out
        os.write(master, b"quit\n")
        assert proc.wait(timeout=60) == 0
        assert (tmp_path / ".armvirt_history").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


SMP = r"""
// PE0 starts PE1 with PSCI CPU_ON; then both count in their own loops.
_start:
    ldr     x0, =PSCI_CPU_ON_64
    mov     x1, #1                  // target: MPIDR Aff0 = 1
    ldr     x2, =pe1_entry
    mov     x3, #0
    hvc     #0
pe0_loop:
    add     x10, x10, #1
    b       pe0_loop
pe1_entry:
    add     x11, x11, #1
    add     x12, x12, #2
    b       pe1_entry
"""


def test_two_pes_select_step_and_reverse(tmp_path):
    path = tmp_path / "smp.S"
    path.write_text(SMP)
    prog = assemble_file(path, defines=board_defines())
    m = Machine(ram_size=RAM, smp=2)
    m.write_phys(prog.base, prog.code)
    m.boot_pe(0, prog.entry)
    syms = SymbolTable()
    syms.add_program(prog, str(path))
    d = Debugger(m, syms)
    d.command("break pe1_entry")
    out = d.command("c")
    assert out.startswith("[Switching to PE1]\nBreakpoint 1, ")
    assert d.pe == 1 and m.reg("pc", 1) == prog.symbols["pe1_entry"]
    out = d.command("info pes")
    assert "  0   on             EL1h  0x" in out and "* 1   on             EL1h" in out
    d.command("delete")
    x10 = m.reg("x10", 0)
    d.command("si 3")                         # three instructions of PE1 (PE0 runs too)
    assert m.reg("pc", 1) == prog.symbols["pe1_entry"] and m.reg("x11", 1) == 1
    assert m.reg("x12", 1) == 2
    assert m.reg("x10", 0) >= x10
    d.command("rsi")                          # PE1's previous instruction: the b
    assert m.reg("pc", 1) == prog.symbols["pe1_entry"] + 8 and m.reg("x12", 1) == 2
    d.command("rsi")
    assert m.reg("pc", 1) == prog.symbols["pe1_entry"] + 4 and m.reg("x12", 1) == 0
    assert d.command("pe 0").startswith("[Switching to PE0]\n[PE0 EL1] ")
    pc0 = m.reg("pc", 0)
    assert pc0 in (prog.symbols["pe0_loop"], prog.symbols["pe0_loop"] + 4)
    assert d.command("p $pc") == f"$1 = {d.describe_addr(pc0)}"


def test_interrupt_stops_a_running_continue(tmp_path):
    """`interrupt()` (what Ctrl-C and GDB's ^C call) stops `continue` at a chunk boundary."""
    import threading
    d, prog, m = build(tmp_path, "spin.S", "_start:\n    add x0, x0, #1\n    b _start\n")
    timer = threading.Timer(0.5, d.interrupt)
    timer.start()
    try:
        out = d.command("c")
    finally:
        timer.cancel()
    assert out.startswith("Interrupted.\n")
    assert m.reg("x0") > 1000
    d.command("rsi")                          # the history is intact
    assert m.reg("pc") in (prog.entry, prog.entry + 4)


SVC_LOOP = r"""
// An EL1 loop making an SVC per iteration; the handler returns at once.
_start:
    ldr     x0, =vectors
    msr     vbar_el1, x0
loop:
    add     x1, x1, #1
svc_here:
    svc     #1
    b       loop
    .balign 2048
vectors:
    .rept 4
    b       .
    .balign 0x80
    .endr
    eret                            // current EL with SP_ELx, synchronous
    .balign 0x80
    .rept 11
    b       .
    .balign 0x80
    .endr
"""


def test_long_histories_drop_old_events_but_keep_working(tmp_path, monkeypatch):
    """Small chunks and a tiny event budget: events are trimmed while running, catchpoints
    still land exactly, and going back past the trimmed ones still works."""
    import armvirt.debug.repl as repl
    import armvirt.debug.running as running
    monkeypatch.setattr(running, "CHUNK", 64)
    monkeypatch.setattr(running, "MAX_EVENTS", 8)     # the chunking
    monkeypatch.setattr(repl, "MAX_EVENTS", 8)        # the session's event ring
    d, prog, m = build(tmp_path, "svcloop.S", SVC_LOOP)
    d.command("si 1000")
    assert d.history.events_dropped > 0
    x1 = m.reg("x1")
    d.command("catch exception ec=svc")
    assert d.command("c").startswith("Catchpoint 1 (exception): EL1 -> EL1 SVC (EC 0x15)")
    assert m.reg("pc") == prog.symbols["vectors"] + 0x200
    assert m.reg("ELR_EL1") == prog.symbols["svc_here"] + 4
    assert m.reg("x1") in (x1, x1 + 1)
    out = d.command("rsi")
    assert "[stepped back across: exception entry EL1 -> EL1, SVC" in out
    assert m.reg("pc") == prog.symbols["svc_here"]
    x1 = m.reg("x1")
    d.command("rsi 600")
    assert m.reg("x1") == x1 - 150          # four instructions per iteration
    d.command("delete")
    d.command("si 600")
    assert m.reg("pc") == prog.symbols["svc_here"] and m.reg("x1") == x1


# ------------------------------------------------------------------------- issue 17: the REPL
def test_help_for_every_command_and_subcommand(kernel):
    from armvirt.debug.repl import HELP, SUBHELP
    d, prog, m = kernel
    for name in d._command_table():
        assert name in HELP, name
        out = d.command(f"help {name}")
        assert out and not out.startswith(("No help", "Undefined")), (name, out)
    for name, subs in SUBHELP.items():
        for sub in subs:
            out = d.command(f"help {name} {sub}")
            assert out.lower().startswith(f"{name} {sub}"), (name, sub, out)
    assert d.command("help info el").startswith("info el: the selected PE's exception level")
    assert d.command("help i r").startswith("info registers")      # aliases and prefixes
    assert "Subcommands: registers" in d.command("help info")
    one_line(d.command("help info nosuch"))


def test_display_until_frame_and_finish(kernel):
    d, prog, m = kernel
    out = d.command("display/x $x0")
    assert out == "1: /x $x0 = 0x0", out
    d.command("display $x3")
    out = d.command("stepi")
    assert "1: /x $x0 = 0x" in out and "2: $x3 = " in out, out
    assert d.command("info display").splitlines()[-1] == "2:   y  $x3"
    d.command("undisplay 1")
    assert "1:" not in d.command("stepi")
    d.command("undisplay")
    # frame / up / down inside f2 (called from f1, called from _start)
    d.command("break f2_body")
    d.command("continue")
    assert d.command("frame").startswith(f"#0  0x{prog.symbols['f2_body']:x} in f2_body")
    out = d.command("up")
    assert out.startswith(f"#1  0x{prog.symbols['call_f2'] + 4:x} in call_f2+4"), out
    assert "bl      f2" in out, out                        # the call's source line
    assert d.command("up").startswith("#2  ")
    assert d.command("down").startswith("#1  ")
    one_line(d.command("frame 9"))
    # finish: back in f1, with x0 shown
    out = d.command("finish")
    assert out.startswith("Run till exit from #0"), out
    assert m.reg("pc") == prog.symbols["call_f2"] + 4
    assert f"Value returned (x0) is $1 = {m.reg('x0')}" in out, out
    # until at the loop's backward branch runs the loop out
    d.command("delete")
    d.command("break loop")
    d.command("continue")
    d.command("until")                               # loop -> loop_store (forward: stops)
    assert m.reg("pc") == prog.symbols["loop_store"]
    d.command("next")
    d.command("next")                                # at b.ne loop
    pc = m.reg("pc")
    d.command("delete")
    d.command("until")
    assert m.reg("pc") > pc and m.reg("x3") == 0, hex(m.reg("pc"))


def test_register_names_in_any_case(kernel):
    d, prog, m = kernel
    d.command("stepi 2")
    assert d.command("p/x $VBAR_EL1") == d.command("p/x $vbar_el1").replace("$2", "$1")
    assert d.command("p $X0") == f"$3 = {m.reg('x0')}" and d.command("p $Sp").startswith("$4 = ")
    out = d.command("info registers VBAR_el1 $X1")
    assert out.startswith("VBAR_EL1") and "\nx1 " in out.replace("X1", "x1"), out


def test_guest_output_is_kept_apart_from_the_debuggers(tmp_path, monkeypatch):
    """A guest line left open is ended before the debugger speaks (and before the prompt)."""
    import builtins
    import io
    from armvirt.debug.repl import interact
    src = r"""
    _start:
        ldr     x1, =UART_BASE
        mov     w2, #'a'
        strb    w2, [x1]
        mov     w2, #'b'
        strb    w2, [x1]
        b       .
    """
    d, prog, m = build(tmp_path, "open.S", src)
    lines = iter(["stepi 5", "p 1", "quit"])
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(lines))
    out = io.StringIO()
    interact(d, history_file=None, stdout=out)
    text = out.getvalue()
    assert text.startswith("ab\n"), text                   # the guest's, then a line break
    assert "\n$1 = 1\n" in text, text
