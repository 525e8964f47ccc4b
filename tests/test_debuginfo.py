"""Debug information of built images (DWARF from clang -g, typed sized symbols) as its users see
it: gdb-multiarch (the oracle) breaks at ``FILE.S:LINE`` and at a symbol's first instruction and
shows the source line; the REPL's ``list``/``disas`` show the same source lines."""
from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import pytest

from armvirt import build
from armvirt.debug.gdbstub import GdbServer
from armvirt.debug.repl import Debugger
from armvirt.debug.symbols import SymbolTable
from armvirt.loader import load_image
from armvirt.machine import Machine
from conftest import require_tool

HELLO = build.GUESTS / "hello.S"


def line_no(text: str) -> int:
    """The 1-based line of hello.S that holds ``text``."""
    return next(i for i, ln in enumerate(HELLO.read_text().splitlines(), 1) if text in ln)


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    return build.build_guest(HELLO, tmp_path_factory.mktemp("g"),
                             defines=build.hv_guest_defines())


def boot(elf):
    m = Machine(ram_size=8 << 20)
    load_image(m, elf)
    return m


@pytest.mark.gdb
def test_gdb_breaks_at_file_line_and_at_a_symbols_first_instruction(hello):
    gdb = require_tool("gdb-multiarch")
    m = boot(hello)
    syms = SymbolTable.from_elf(hello)
    start = syms.lookup("_start")
    loop = line_no("cbz     w3, 2f")
    loop_addr = syms.resolve_line("hello.S", loop)[2]
    srv = GdbServer(m)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve()), daemon=True)
    t.start()
    cmds = ["set confirm off", "set pagination off", "set width 0", f"file {hello}",
            f"target remote 127.0.0.1:{srv.port}",
            "break _start", f"break hello.S:{loop}", "info symbol _start",
            "p/x $pc", "stepi", "p/x $pc", "continue", "p/x $pc", "detach"]
    r = subprocess.run([gdb, "--batch", "-nx"] + [a for c in cmds for a in ("-ex", c)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    t.join(30)
    srv.close()
    assert "No symbol table is loaded" not in out, out
    # the breakpoint on the function is at its first instruction, not past a "prologue"
    assert re.search(rf"Breakpoint 1 at 0x0*{start:x}: file .*hello\.S, line "
                     rf"{line_no('ldr     x1, =UART_BASE')}\.", out), out
    assert re.search(rf"Breakpoint 2 at 0x0*{loop_addr:x}: file .*hello\.S, line {loop}\.",
                     out), out
    assert f"$1 = {start:#x}" in out, out                     # the PE starts at _start
    # stepping shows the next source line's text (gdb reads hello.S through DWARF)
    assert re.search(r"\n12\s+adr\s+x2, message", out), out
    assert "Breakpoint 2, _start () at" in out, out
    assert re.search(rf"\n{loop}\s+cbz\s+w3, 2f", out), out
    assert f"$3 = {loop_addr:#x}" in out, out
    assert result["r"].reason == "detach"


def test_repl_list_and_disas_show_dwarf_source_lines(hello):
    m = boot(hello)
    syms = SymbolTable.from_elf(hello)
    d = Debugger(m, syms)
    start = syms.lookup("_start")
    first = line_no("ldr     x1, =UART_BASE")
    out = d.command("list _start").splitlines()
    assert any(ln.startswith(f"{first}\t") and "ldr     x1, =UART_BASE" in ln for ln in out), out
    out = d.command("disas").splitlines()
    assert out[0] == "Dump of assembler code for function _start:"
    assert f"hello.S:{first}\t    ldr     x1, =UART_BASE" in [o.strip(" ") for o in out] or \
        any(f"hello.S:{first}" in o and "ldr     x1, =UART_BASE" in o for o in out), out
    assert any(o.startswith(f"=> 0x{start:x} <_start>:") for o in out), out
    # _start's ELF size ends the dump at its last instruction (the `b .` after `smc`)
    size = syms.symbol("_start").size
    assert any(f"<_start+{size - 4}>" in o for o in out), out
    assert not any(f"<_start+{size}>" in o for o in out), out


@pytest.mark.gdb
def test_gdb_breaks_in_the_firmware_at_a_typed_symbol_with_its_source_line(hello):
    """With the hypervisor's ELF loaded, `break __guest_exit` stops at the function's first
    instruction, named with its source line (the issue: it used to stop `in ?? ()`)."""
    gdb = require_tool("gdb-multiarch")
    from armvirt.hv.launch import HvConfig, VMConfig, ensure_firmware, launch
    fw = ensure_firmware("split")
    m, _run = launch(HvConfig([VMConfig(str(hello))], mode="split"), uart=lambda b: None)
    syms = SymbolTable.from_elf(fw)
    exit_addr = syms.lookup("__guest_exit")
    file, line = syms.line_for(exit_addr)
    srv = GdbServer(m)
    srv.listen("tcp::0")
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", srv.serve()), daemon=True)
    t.start()
    cmds = ["set confirm off", "set pagination off", "set width 0", f"file {fw}",
            f"target remote 127.0.0.1:{srv.port}", "break __guest_exit", "continue",
            "p/x $pc", "info symbol $pc", "detach"]
    r = subprocess.run([gdb, "--batch", "-nx"] + [a for c in cmds for a in ("-ex", c)],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    t.join(30)
    srv.close()
    assert re.search(rf"Breakpoint 1 at 0x0*{exit_addr:x}: file .*switch\.S, line {line}\.",
                     out), out
    assert "Breakpoint 1, __guest_exit () at" in out, out
    assert f"$1 = {exit_addr:#x}" in out, out
    assert "__guest_exit in section .text" in out, out
    src = Path(file).read_text().splitlines()[line - 1].strip()
    assert re.search(rf"\n{line}\s+{re.escape(src)}", out), out
