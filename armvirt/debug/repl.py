"""The armvirt debugger: gdb's commands, plus what only an emulator can show.

:class:`Debugger` wraps a :class:`~armvirt.machine.Machine` and a
:class:`~armvirt.debug.symbols.SymbolTable`; ``Debugger.command(line) -> str`` runs one command
and returns its output. User errors (bad register, bad address, unknown symbol or command) come
back as a one-line message and never raise, so a session — the interactive loop of
:func:`interact`, a ``--batch`` script, or the GDB stub's ``monitor`` command — keeps going::

    dbg = Debugger(machine, SymbolTable.from_elf("build/guests/hello.elf"))
    print(dbg.command("break _start"))
    print(dbg.command("continue"))
    print(dbg.command("info el"))

Everything that changes the machine goes through :class:`~armvirt.debug.history.History`, which
records it, so ``reverse-stepi`` and ``reverse-continue`` can restore a checkpoint and replay.
Exception catchpoints and ``trace on`` use the core's exception trace (``Machine(trace={"exc"})``;
the debugger turns it on when it first runs the machine): the machine runs in chunks, and when a
chunk contains a matching exception entry the debugger replays the chunk up to exactly the step
that took it, so the stop is at the vector with ESR/ELR/FAR just written.
"""
from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import sysreg_table as T
from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
from armvirt.cpu.syndrome import CALL_ECS, EC_KEYWORDS
from armvirt.debug import explain as X
from armvirt.debug.disasm import Insn, annotate, disassemble_one
from armvirt.debug.expr import ExprError, M64, Val, evaluate, split_top, wrap
from armvirt.debug.history import (History, ReplayError, install_config, machine_config,
                                   run_call, steps_of)
from armvirt.debug.symbols import SymbolError, SymbolTable
from armvirt.machine import ExitInfo, MachineError
from armvirt.trace import EventRing
from armvirt.worlds import EventNamer, World, Worlds, describe_in

CHUNK = 1_000_000          # steps per run call while continuing (Ctrl-C and catch latency)
STEP_LINE_LIMIT = 10_000   # instructions `step`/`next` try before giving up on a line change
MAX_FRAMES = 64
MAX_EVENTS = 100_000       # exception trace events kept (a ring: older ones drop off)
PROMPT = "(armvirt) "
HISTORY_FILE = "~/.armvirt_history"

POWER_NAMES = {L.POWER_ON: "on", L.POWER_OFF: "off", L.POWER_WFI: "asleep in WFI",
               L.POWER_WFE: "asleep in WFE"}
VECTOR_GROUPS = {0x000: "current EL with SP_EL0", 0x200: "current EL with SP_ELx",
                 0x400: "lower EL using AArch64", 0x600: "lower EL using AArch32"}
VECTOR_KINDS = {0x000: "synchronous", 0x080: "IRQ", 0x100: "FIQ", 0x180: "SError"}
_SYSREG_UPPER = {r.name.upper(): r for r in T.SYSREGS}
# Names accepted by `catch exception ec=NAME` (ESR_ELx.EC values): the syndrome table's
# keywords, and a few synonyms.
_EC_BY_NAME: dict[str, tuple[int, ...]] = {
    **EC_KEYWORDS, "undefined": EC_KEYWORDS["undef"], "msr": EC_KEYWORDS["sysreg"],
    "mrs": EC_KEYWORDS["sysreg"]}


class DebugError(Exception):
    """A user error; ``str()`` is the one-line message shown."""


@dataclass
class Point:
    """A breakpoint, watchpoint or catchpoint, numbered like gdb's."""

    num: int
    kind: str                       # "breakpoint" | "watchpoint" | "catchpoint"
    addr: int = 0
    el_mask: int = 0b111
    temporary: bool = False
    what: str = ""                  # the location or expression as the user gave it
    size: int = 8                   # watchpoints
    access: str = "w"               # "w" | "r" | "rw"
    value: bytes | None = None      # last value seen (write watchpoints)
    catch: str = "exception"        # catchpoints: "exception" | "eret"
    catch_el: int | None = None
    catch_ec: tuple[int, ...] | None = None
    vmid: int = -1                  # breakpoints: only in this VM (stage 2 VMID)
    world: World | None = None      # breakpoints: the world its address belongs to
    enabled: bool = True
    hits: int = 0

    def machine_item(self) -> tuple:
        if self.kind == "breakpoint":
            return ("b", self.addr, self.el_mask, False, self.vmid)
        return ("w", self.addr, self.size, self.access, self.el_mask)


@dataclass
class Stop:
    kind: str       # done | breakpoint | watchpoint | catch | interrupted | system_off | ...
    info: Any = None
    point: Point | None = None
    event: tuple | None = None
    detail: str = ""
    old: bytes | None = None
    new: bytes | None = None


@dataclass
class _Internal:
    """A breakpoint the debugger itself uses (``next``, ``finish``, ``advance``)."""

    addr: int
    el_mask: int
    pe: int
    sp: int         # stop only when the PE's SP is at or above this (deeper recursion: no)


def _els_text(mask: int) -> str:
    els = [e for e in range(3) if mask >> e & 1]
    return "EL" + "/".join(str(e) for e in els)


def _hex(v: int) -> str:
    return f"0x{v & M64:x}"


class Debugger:
    """A debugging session on one machine. See the module docstring."""

    def __init__(self, machine: Any, symbols: Any = None, *,
                 stream: Callable[[str], None] | None = None) -> None:
        self.m = machine
        self.symbols = _as_symbol_table(symbols)
        self.symbols.space_of = self._space
        self.stream = stream
        self.pe = 0
        self.points: list[Point] = []
        self._next_num = 1
        self.events = EventRing(MAX_EVENTS)
        self.history = History(machine, self.events)
        self.trace_on = False
        self.values: list[Val] = []
        self._x_next: int | None = None
        self._x_fmt = ("x", "w")
        self._list_next: tuple[str, int] | None = None
        self._out: list[str] = []
        self._fmt = ""
        self._interrupt = False
        self._fingerprint: Any = None
        self._console_seen = len(machine.console)
        self.quit_requested = False
        self.displays: list[tuple[int, str, str]] = []    # (number, format, expression)
        self._next_display = 1
        self._frame = 0                     # the frame `frame`/`up`/`down` selected
        self._view: World | None = None     # `world NAME`: the world addresses belong to
        self._ctx: World | None = None      # a command's own world (explain fault, ...)
        self._worlds: Worlds | None = None
        self._commands = self._command_table()

    # ================================================================== public API
    def command(self, line: str) -> str:
        """Run one command; returns its output (no trailing newline). Never raises for user
        errors: they come back as a one-line message."""
        self._out = []
        line = line.strip()
        if not line or line.startswith("#"):
            return ""
        outer_sink = self.m.trace_sink
        try:
            self._check_outside_changes()
            if self.history.started:
                self.m.trace_sink = self.events.append
                self.m.trace_exceptions(True)
            self._dispatch(line)
        except (DebugError, ExprError, SymbolError, MachineError) as e:
            self._out.append(str(e).splitlines()[0] if str(e) else "error")
        except ReplayError as e:
            self.history.reset()
            self._out.append(f"{e}; execution history restarted here")
        except KeyboardInterrupt:
            self._out.append("Interrupted.")
        except Exception as e:  # noqa: BLE001 - the session must survive anything
            self._out.append(f"internal debugger error: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}")
        finally:
            # Exceptions taken outside our commands (GDB's continue) are not ours: no sink,
            # and no recording at all unless the machine's owner asked for it.
            self.m.trace_sink = outer_sink
            self.m.trace_exceptions(False)
            self._remember_machine()
        return "\n".join(self._out)

    def interrupt(self) -> None:
        """Ask a running command to stop at the next chunk boundary (Ctrl-C, GDB's ^C)."""
        self._interrupt = True

    def where(self) -> str:
        """The current location of the selected PE (as shown after a stop)."""
        return "\n".join(self._location_lines(self.pe))

    def command_names(self) -> list[str]:
        return sorted(set(self._commands) | set(self._aliases()))

    def register_names(self) -> list[str]:
        gprs = [f"x{i}" for i in range(31)] + [f"w{i}" for i in range(31)]
        return gprs + ["sp", "pc", "lr", "fp", "cpsr", "nzcv", "el", "spsel", "daif",
                       "sp_el0", "sp_el1", "sp_el2", "cycles", "instret"] + \
            [f"q{i}" for i in range(32)] + [f"d{i}" for i in range(32)] + \
            [r.name for r in T.SYSREGS]

    # ================================================================== dispatch
    def _command_table(self) -> dict[str, Callable[[str], None]]:
        return {
            "help": self.cmd_help, "step": self.cmd_step, "stepi": self.cmd_stepi,
            "next": self.cmd_next, "nexti": self.cmd_nexti, "continue": self.cmd_continue,
            "finish": self.cmd_finish, "advance": self.cmd_advance, "break": self.cmd_break,
            "tbreak": self.cmd_tbreak, "delete": self.cmd_delete, "enable": self.cmd_enable,
            "disable": self.cmd_disable, "watch": self.cmd_watch, "rwatch": self.cmd_rwatch,
            "awatch": self.cmd_awatch, "catch": self.cmd_catch, "x": self.cmd_x,
            "print": self.cmd_print, "set": self.cmd_set, "info": self.cmd_info,
            "disassemble": self.cmd_disas, "backtrace": self.cmd_bt, "list": self.cmd_list,
            "pe": self.cmd_pe, "explain": self.cmd_explain, "trace": self.cmd_trace,
            "reverse-stepi": self.cmd_rsi, "reverse-continue": self.cmd_rc,
            "pt": self.cmd_pt, "vcpu": self.cmd_vcpu, "world": self.cmd_world,
            "display": self.cmd_display, "undisplay": self.cmd_undisplay,
            "until": self.cmd_until, "frame": self.cmd_frame, "up": self.cmd_up,
            "down": self.cmd_down,
            "quit": self.cmd_quit,
        }

    @staticmethod
    def _aliases() -> dict[str, str]:
        return {"s": "step", "si": "stepi", "n": "next", "ni": "nexti", "c": "continue",
                "cont": "continue", "fin": "finish", "b": "break", "br": "break",
                "tb": "tbreak", "d": "delete", "p": "print", "inspect": "print",
                "i": "info", "disas": "disassemble", "bt": "backtrace", "where": "backtrace",
                "l": "list", "rsi": "reverse-stepi", "rc": "reverse-continue",
                "q": "quit", "exit": "quit", "h": "help", "thread": "pe", "u": "until",
                "f": "frame", "disp": "display"}

    def _resolve_command(self, word: str) -> str:
        w = word.lower()
        aliases = self._aliases()
        if w in aliases:
            return aliases[w]
        if w in self._commands:
            return w
        matches = [c for c in self._commands if c.startswith(w)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise DebugError(f'Ambiguous command "{word}": {", ".join(sorted(matches))}.')
        raise DebugError(f'Undefined command: "{word}".  Try "help".')

    def _dispatch(self, line: str) -> None:
        m = re.match(r"([A-Za-z][\w-]*)(/\S*)?\s*(.*)$", line)
        if not m:
            raise DebugError(f'Undefined command: "{line.split()[0]}".  Try "help".')
        name = self._resolve_command(m.group(1))
        fmt, rest = m.group(2), m.group(3)
        if fmt and name not in ("x", "print", "disassemble", "display"):
            raise DebugError(f'"{name}" takes no /FMT modifier.')
        self._fmt = (fmt or "/")[1:]
        self._commands[name](rest.strip())

    def _say(self, text: str) -> None:
        self._out.append(text)

    # ================================================================== machine access
    def _cpu(self, pe: int | None = None) -> Any:
        return self.m.cpus[self.pe if pe is None else pe]

    @property
    def worlds(self) -> Worlds:
        """The machine's worlds; under armvirt's hypervisor (its ``pcpus`` symbol known) the
        firmware's records name them."""
        pcpus = self._firmware_symbol("pcpus")
        if self._worlds is None or self._worlds.pcpus != pcpus:
            self._worlds = Worlds(self.m, pcpus)
        return self._worlds

    def _firmware_symbol(self, name: str) -> int | None:
        for img in self.symbols.images:
            if img.space in (None, "hyp") and name in img.symbols:
                return img.symbols[name].addr
        return None

    def world(self, pe: int | None = None) -> World:
        """The world addresses are looked at in: a command's own (``explain fault``), the one
        chosen with ``world``, else the one the PE executes in."""
        if pe is None or pe == self.pe:
            if self._ctx is not None:
                return self._ctx
            if self._view is not None:
                return self._view
        return self.worlds.current(self.pe if pe is None else pe)

    def _tag(self, w: World | None = None) -> str:
        """``[vm0 vcpu0] `` before a message about world ``w`` (nothing on a bare board)."""
        w = self.world() if w is None else w
        return f"{w.tag} " if w.tag else ""

    def _space(self) -> str:
        """The address space looked at, for overlapping symbol tables: a guest's (EL0/EL1
        under stage 2, or a guest world chosen or being explained), else the hypervisor's."""
        w = self.world()
        if w.space is not None:
            return w.space
        pe = self.pe
        if self._el(pe) < 2 and self.m.reg("HCR_EL2", pe) & 1:
            return "guest"
        return "hyp"

    def _el(self, pe: int | None = None) -> int:
        return int(self.m.reg("el", self.pe if pe is None else pe))

    def _pc(self, pe: int | None = None) -> int:
        return int(self.m.reg("pc", self.pe if pe is None else pe))

    def _sp(self, pe: int | None = None) -> int:
        return int(self.m.reg("sp", self.pe if pe is None else pe))

    def _translation_state(self, pe: int, el: int | None = None) -> tuple[bool, str]:
        """(translation on?, the control bits that decide it) for the EL's regime."""
        el = self._el(pe) if el is None else el
        if el == 2:
            m = self.m.reg("SCTLR_EL2", pe) & 1
            return bool(m), f"SCTLR_EL2.M = {m}"
        s1 = self.m.reg("SCTLR_EL1", pe) & 1
        s2 = self.m.reg("HCR_EL2", pe) & 1
        return bool(s1 or s2), f"SCTLR_EL1.M = {s1}, HCR_EL2.VM = {s2}"

    def _va_to_pa(self, va: int, pe: int | None = None) -> int:
        """The PA of ``va`` in the regime of the world looked at (privileged read, PAN
        ignored: the debugger's view of memory): a guest VA through the guest's stage 1 and its
        VM's stage 2, even while the hypervisor runs; on a bare board the PE's current regime
        (``Machine.virt_to_phys``)."""
        pe = self.pe if pe is None else pe
        w = self.world(pe)
        try:
            if w.kind == "bare":
                return self.m.virt_to_phys(va & M64, pe=pe)
            walk = self.worlds.translate(w, va)
        except MachineError as e:
            raise DebugError(f"Cannot access memory at address 0x{va & M64:x}: {e}") from None
        if walk.fault is not None:
            raise DebugError(f"Cannot access memory at address 0x{va & M64:x}: cannot "
                             f"translate 0x{va & M64:x} in {w.name or 'this world'}: "
                             f"{walk.fault}")
        return walk.pa

    def _in_ram(self, pa: int, size: int = 1) -> bool:
        return memmap.RAM_BASE <= pa and pa + size <= memmap.RAM_BASE + self.m.ram_size

    def _spans(self, va: int, size: int) -> list[tuple[int, int, int]]:
        """(pa, offset, length) for each page of [va, va + size), all translated and in RAM."""
        out, off = [], 0
        while off < size:
            n = min(size - off, 4096 - ((va + off) & 0xFFF))
            pa = self._va_to_pa(va + off)
            if not self._in_ram(pa, n):
                raise DebugError(f"Cannot access memory at address 0x{(va + off) & M64:x}"
                                 + ("" if self._in_ram(pa) else
                                    f" ({_region(pa, self.m.ram_size)}: the debugger reads "
                                    f"RAM only)"))
            out.append((pa, off, n))
            off += n
        return out

    def read_memory(self, va: int, size: int) -> bytes:
        return b"".join(self.m.read_phys(pa, n) for pa, _, n in self._spans(va, size))

    def write_memory(self, va: int, data: bytes) -> None:
        spans = self._spans(va, len(data))
        self._start_history()
        for pa, off, n in spans:
            self.history.write_phys(pa, data[off:off + n])

    # ---------------------------------------------------------------- registers
    def _sysreg_value(self, r: T.SysReg, pe: int) -> int | None:
        """The architectural value of a system register (None: write-only)."""
        if r.access == T.ACC_W:
            return None
        if r.kind == T.KIND_SPECIAL and r.name not in ("MIDR_EL1", "MPIDR_EL1", "SP_EL0",
                                                        "SP_EL1", "SP_EL2"):
            # Computed registers (CurrentEL, DAIF, PAN, CNTPCT_EL0, ISR_EL1, CCSIDR_EL1, ...):
            # ask the core's own MRS read path, the one source of truth for their values.
            from armvirt.cpu.sysregs import _read_special
            return int(_read_special(self.m.cpus[pe], self.m.M, r.encoding)) & M64
        return int(self.m.reg(r.name, pe)) & M64

    def read_register(self, name: str, pe: int | None = None) -> Val:
        pe = self.pe if pe is None else pe
        n = name.lower()
        n = {"lr": "x30", "fp": "x29", "ip0": "x16", "ip1": "x17", "cpsr": "pstate"}.get(n, n)
        if n in ("xzr", "wzr"):
            return Val(0, 8 if n == "xzr" else 4, True, lval=("reg", n))
        m = re.fullmatch(r"([xw])(\d+)", n)
        if m and int(m.group(2)) <= 30:
            v = self.m.reg(n, pe)
            size = 8 if m.group(1) == "x" else 4
            addrish = n in ("x29", "x30")
            return Val(wrap(v, size, not addrish), size, not addrish, lval=("reg", n),
                       is_addr=addrish)
        m = re.fullmatch(r"([vqd])(\d+)", n)
        if m and int(m.group(2)) <= 31:
            size = 8 if m.group(1) == "d" else 16
            return Val(self.m.reg(n, pe), size, False, lval=("reg", n))
        if n in ("sp", "pc"):
            return Val(self.m.reg(n, pe), 8, False, lval=("reg", n), is_addr=True)
        if n in ("el", "spsel", "cycles", "instret"):
            return Val(self.m.reg(n, pe), 8, False, lval=("reg", n))
        if n in ("sp_el0", "sp_el1", "sp_el2"):
            return Val(self.m.reg(n, pe), 8, False, lval=("reg", n), is_addr=True)
        if n == "pstate":
            return Val(self.m.reg(n, pe), 8, False, lval=("reg", n), prefer_hex=True)
        r = _SYSREG_UPPER.get(name.upper())
        if r is not None:
            v = self._sysreg_value(r, pe)
            if v is None:
                raise DebugError(f"{r.name} is write-only")
            return Val(v, 8, False, lval=("reg", r.name), prefer_hex=True)
        raise DebugError(f"Invalid register `{name}'")

    def write_register(self, name: str, value: int, pe: int | None = None) -> None:
        pe = self.pe if pe is None else pe
        n = name.lower()
        n = {"lr": "x30", "fp": "x29", "ip0": "x16", "ip1": "x17"}.get(n, n)
        if n in ("xzr", "wzr"):
            raise DebugError(f"{n} always reads as zero and cannot be written")
        if n in ("cpsr", "pstate", "currentel", "cycles", "instret"):
            raise DebugError(f"{name} cannot be written by the debugger (set el, spsel, nzcv "
                             f"or daif instead)")
        target = n
        if n == "daif":
            value = (value >> 6) & 0xF     # DAIF as MRS/MSR format: bits [9:6]
        elif n in ("spsel", "nzcv", "el", "sp", "pc", "sp_el0", "sp_el1", "sp_el2") or \
                re.fullmatch(r"[xwvqd]\d+", n):
            pass
        else:
            r = _SYSREG_UPPER.get(name.upper())
            if r is None:
                raise DebugError(f"Invalid register `{name}'")
            if r.kind == T.KIND_CONST or r.access == T.ACC_R or r.flags & T.SRF_NOSLOT:
                raise DebugError(f"{r.name} is not writable (read-only, constant or computed)")
            target = r.name
        self._start_history()
        self.history.set_reg(target, value & ((1 << 128) - 1) if n[:1] in "vq" else
                             value & M64, pe)

    # ---------------------------------------------------------------- expression env
    def lookup_symbol(self, name: str) -> int | None:
        return self.symbols.lookup(name)

    def history_value(self, index: int | None, back: int) -> Val:
        if not self.values:
            raise DebugError("History is empty.")
        if index is None:
            i = len(self.values) - 1 - back
        else:
            i = index - 1
        if not 0 <= i < len(self.values):
            raise DebugError(f"History has not yet reached ${index if index else ''}.")
        return self.values[i]

    def _eval(self, text: str, *, allow_assign: bool = False) -> Val:
        return evaluate(text, self, allow_assign=allow_assign)

    def _addr(self, text: str) -> int:
        return self._eval(text).u

    # ================================================================== formatting
    def describe_addr(self, addr: int) -> str:
        name = self.symbols.describe(addr)
        return f"0x{addr:x} <{name}>" if name else f"0x{addr:x}"

    @staticmethod
    def _short_file(f: str) -> str:
        """A source path as shown: relative to the current directory when below it, else
        its base name (as gdb shows ``file.S:12``)."""
        try:
            rel = os.path.relpath(f)
        except ValueError:
            rel = f
        return Path(f).name if rel.startswith("..") else rel

    def _loc_suffix(self, addr: int) -> str:
        loc = self.symbols.line_for(addr)
        return f" at {self._short_file(loc[0])}:{loc[1]}" if loc else ""

    def _insn_at(self, addr: int) -> Insn | None:
        try:
            word = int.from_bytes(self.read_memory(addr, 4), "little")
        except DebugError:
            return None
        return disassemble_one(word, addr)

    def format_insn_line(self, addr: int, marker: bool = False, raw: bool = False) -> str:
        head = ("=> " if marker else "   ") + self.describe_addr(addr) + ":\t"
        insn = self._insn_at(addr)
        if insn is None:
            return head + f"Cannot access memory at address 0x{addr:x}"
        body = annotate(insn, self.symbols.describe)
        return head + (f"{insn.word:08x}\t" if raw else "") + body

    def _source_line_text(self, addr: int) -> str | None:
        loc = self.symbols.line_for(addr)
        if loc is None:
            return None
        text = self.symbols.source_line(*loc)
        return f"{self._short_file(loc[0])}:{loc[1]}\t{text.strip() if text else ''}".rstrip()

    @contextmanager
    def _in(self, w: World | None) -> Iterator[None]:
        """Look at addresses in world ``w`` for the duration (symbols, memory)."""
        saved, self._ctx = self._ctx, w
        try:
            yield
        finally:
            self._ctx = saved

    def _location_lines(self, pe: int) -> list[str]:
        c = self._cpu(pe)
        if c[L.POWER] == L.POWER_OFF and self.m.smp > 1:
            return [f"[PE{pe} is powered off]"]
        w = self.worlds.current(pe)
        pe_saved, self.pe = self.pe, pe
        try:
            with self._in(w):
                pc = self._pc(pe)
                out = []
                src = self._source_line_text(pc)
                prefix = f"[PE{pe} EL{self._el(pe)}] " if self.m.smp > 1 else ""
                prefix += self._tag(w)
                if src:
                    out.append(prefix + src)
                    prefix = ""
                out.append(prefix + self.format_insn_line(pc, marker=True))
        finally:
            self.pe = pe_saved
        return out

    # ================================================================== history plumbing
    def _start_history(self) -> None:
        """Take the first checkpoint (first run/change) and record exception events into
        ``self.events`` (a bounded ring) — only while a command of ours runs the machine."""
        if self.history.started:
            return
        self.m.trace_sink = self.events.append
        self.m.trace_exceptions(True)
        self.history.reset()

    def _arch_state(self) -> tuple:
        c = self.m.cpus
        return (c[:, :L.EXCL_VALID].tobytes(), c[:, L.V_BASE:].tobytes(), len(self.m.console))

    def _remember_machine(self) -> None:
        if self.history.started:
            self._fingerprint = self._arch_state()

    def _check_outside_changes(self) -> None:
        """Someone else (a GDB client, a script) changed the machine: the recorded history no
        longer leads here, so start it afresh."""
        if self.history.started and self._fingerprint is not None and \
                self._arch_state() != self._fingerprint:
            self.history.reset()
            self._console_seen = min(self._console_seen, len(self.m.console))

    # ================================================================== running
    def _user_config(self) -> tuple:
        items = []
        for p in self.points:
            if p.enabled and p.kind in ("breakpoint", "watchpoint"):
                it = p.machine_item()
                if it not in items:
                    items.append(it)
        return tuple(items)

    def _next_pe_to_run(self) -> int | None:
        cur = int(self.m.mach[L.CUR_PE])
        for i in range(self.m.smp):
            p = (cur + i) % self.m.smp
            if self.m.cpus[p][L.POWER] == L.POWER_ON:
                return p
        return None

    def _emit_running_output(self, ev_from: int, ev_to: int | None = None) -> None:
        """Guest console output and (with ``trace on``) exception events ``ev_from`` up to
        ``ev_to`` (history numbering), as they happen."""
        from armvirt.trace import format_event
        parts: list[str] = []
        if self.trace_on:
            d = self.history.events_dropped
            for ev in self.events[max(0, ev_from - d):None if ev_to is None else
                                  max(0, ev_to - d)]:
                parts.append(format_event(ev, EventNamer(self.worlds, self.symbols)))
        con = bytes(self.m.console[self._console_seen:])
        self._console_seen = len(self.m.console)
        text = con.decode("utf-8", errors="replace")
        if self.stream is not None:
            if text:
                self.stream(text)
            for p in parts:
                self.stream(p + "\n")
            return
        if text:
            self._out.append(text[:-1] if text.endswith("\n") else text)
        self._out.extend(parts)

    def _catch_matches(self, ev: tuple) -> Point | None:
        kind, _pe, _cyc, _from, to_el, esr = ev[:6]
        for p in self.points:
            if p.kind != "catchpoint" or not p.enabled:
                continue
            if p.catch == "exception" and kind != TR_EXC_ENTRY:
                continue
            if p.catch == "eret" and kind != TR_EXC_RETURN:
                continue
            if p.catch_el is not None and to_el != p.catch_el:
                continue
            if p.catch_ec is not None and (esr < 0 or (esr >> 26) & 0x3F not in p.catch_ec):
                continue
            return p
        return None

    def _land_on_event(self, k: int, pos0: int, instret0: list[int]) -> None:
        """The chunk that started at ``pos0`` produced event number ``k`` (counting from the
        start of the history, ``History.n_events``): go back to the first
        position at which it exists, i.e. right after the step that took the exception.

        The trace records the PE's INSTRET *before* the excepting instruction retires, and a
        step retires at most one instruction of that PE, so the event cannot exist before
        position ``pos0 + (instret - instret0)``; with one PE and no fetch faults it appears
        one step later. That guess is tried first, then a binary search over replays."""
        h = self.history
        ev = self.events[k - h.events_dropped]
        base = pos0 + max(0, ev[9] - instret0[ev[1]])
        a, b = max(pos0, base - 1), h.pos     # the event: not yet at a, there at b

        def happened(p: int) -> bool:
            h.goto(p, commit=False)
            return h.n_events() > k

        guess = base + 1
        if a < guess < b:
            if happened(guess):
                b = guess
            else:
                a = guess
        step = 1
        while a + step < b:
            if happened(a + step):
                b = a + step
                break
            a += step
            step *= 2
        while b - a > 1:
            mid = (a + b) // 2
            if happened(mid):
                b = mid
            else:
                a = mid
        h.goto(b, commit=True)

    def _go(self, limit: int | None = None, internal: list[_Internal] | None = None) -> Stop:
        """Run (recorded) until a stop: a breakpoint, watchpoint or catchpoint, the step
        ``limit``, the machine halting, or an interrupt."""
        self._start_history()
        h = self.history
        internal = internal or []
        remaining = limit
        resume_pcs = [self._pc(p) for p in range(self.m.smp)]
        first = True
        self._interrupt = False
        while True:
            if self._interrupt:
                self._interrupt = False
                return Stop("interrupted")
            config = self._user_config() + tuple(
                ("b", i.addr, i.el_mask, False, -1) for i in internal
                if ("b", i.addr, i.el_mask, False, -1) not in self._user_config())
            install_config(self.m, config)
            # Events are scanned after each chunk: while something looks at them, a chunk
            # must not take more than the ring holds (a step takes at most a few).
            watching = self.trace_on or any(p.kind == "catchpoint" and p.enabled
                                            for p in self.points)
            chunk = min(CHUNK, MAX_EVENTS // 4) if watching else CHUNK
            chunk = chunk if remaining is None else min(chunk, remaining)
            ev0, pos0 = h.n_events(), h.pos
            instret0 = [int(self.m.reg("instret", p)) for p in range(self.m.smp)]
            info = h.run(chunk)
            steps = h.pos - pos0
            for k in range(max(ev0, h.events_dropped), h.n_events()):
                ev = self.events[k - h.events_dropped]
                point = self._catch_matches(ev)
                if point is not None:
                    self._land_on_event(k, pos0, instret0)
                    self._emit_running_output(ev0, k + 1)
                    point.hits += 1
                    return Stop("catch", point=point, event=ev)
            self._emit_running_output(ev0)
            if remaining is not None:
                remaining -= steps
            if info.reason == "breakpoint":
                pe, pc = info.pe, info.pc
                el = self._el(pe)
                if steps == 0 and first and pc == resume_pcs[pe]:
                    first = False
                    continue        # a breakpoint where we resumed: step over it
                users = [p for p in self.points if p.kind == "breakpoint" and p.enabled and
                         p.addr == pc and p.el_mask >> el & 1 and self._point_world_ok(p, pe)]
                if users:
                    for p in users:
                        p.hits += 1
                    return Stop("breakpoint", info=info, point=users[0])
                mine = [i for i in internal if i.addr == pc and i.el_mask >> el & 1]
                if mine and any(i.pe == pe and self._sp(pe) >= i.sp for i in mine):
                    return Stop("done", info=info)
                theirs = [p for p in self.points if p.kind == "breakpoint" and p.enabled and
                          p.addr == pc and p.el_mask >> el & 1]
                if not mine and not theirs:
                    return Stop("breakpoint", info=info)
                first = False
                continue            # our breakpoint, but another PE or a deeper frame
            if info.reason == "watchpoint":
                wp = info.watchpoint
                matches = [p for p in self.points if p.kind == "watchpoint" and p.enabled and
                           p.machine_item() == ("w", wp.addr, wp.size, wp.kind, wp.el_mask)]
                point = matches[0] if matches else None
                if point is not None:
                    old = point.value
                    new = self._watch_value(point)
                    point.value = new
                    if point.access == "w" and old is not None and old == new:
                        first = False
                        continue    # as gdb: a write watchpoint reports changes only
                    point.hits += 1
                    return Stop("watchpoint", info=info, point=point, old=old, new=new)
                return Stop("watchpoint", info=info)
            if info.reason == "budget":
                if remaining is not None and remaining <= 0:
                    return Stop("done", info=info)
                h.checkpoint_if_due()
                first = False
                if steps == 0:
                    return Stop("halt", info=info)
                continue
            return Stop(info.reason, info=info, detail=info.detail)

    def _watch_value(self, p: Point) -> bytes | None:
        try:
            return self.read_memory(p.addr, p.size)
        except DebugError:
            return None

    def _refresh_watch_values(self) -> None:
        for p in self.points:
            if p.kind == "watchpoint":
                p.value = self._watch_value(p)

    def _report(self, stop: Stop, show_location: bool = True) -> None:
        """Say why the machine stopped, gdb-style, then where (and the displays)."""
        self._frame = 0
        with self._in(None):
            self._report_in_world(stop, show_location)
        self._show_displays()

    def _report_in_world(self, stop: Stop, show_location: bool) -> None:
        info = stop.info
        if info is not None and info.pe != self.pe and stop.kind in ("breakpoint",
                                                                    "watchpoint"):
            self.pe = info.pe
            self._say(f"[Switching to PE{self.pe}]")
        if stop.kind == "catch" and stop.event is not None and stop.event[1] != self.pe:
            self.pe = stop.event[1]
            self._say(f"[Switching to PE{self.pe}]")
        k = stop.kind
        here = self.worlds.current(self.pe)
        self._ctx = here    # the stop is reported in the world the PE stopped in
        if k == "breakpoint":
            p = stop.point
            pc = self._pc()
            if p is None:
                self._say(f"{self._tag(here)}Stopped at a breakpoint at "
                          f"{self.describe_addr(pc)}")
            else:
                kind = "Temporary breakpoint" if p.temporary else "Breakpoint"
                self._say(f"{self._tag(here)}{kind} {p.num}, {self.describe_addr(pc)}"
                          f"{self._loc_suffix(pc)}")
                if p.temporary:
                    self.points.remove(p)
        elif k == "watchpoint":
            p = stop.point
            if p is not None:
                label = {"w": "Hardware watchpoint", "r": "Hardware read watchpoint",
                         "rw": "Hardware access (read/write) watchpoint"}[p.access]
                self._say(f"{label} {p.num}: {p.what}")
                self._say("")
                if p.access == "w" or (p.access == "rw" and stop.old != stop.new):
                    self._say(f"Old value = {self._fmt_watch(stop.old)}")
                    self._say(f"New value = {self._fmt_watch(stop.new)}")
                else:
                    self._say(f"Value = {self._fmt_watch(stop.new)}")
            if info is not None and info.insn_pc is not None:
                self._say(f"(accessed 0x{info.addr:x} by the instruction at "
                          f"{self.describe_addr(info.insn_pc)}: {info.detail})")
        elif k == "catch":
            self._say(self._describe_catch(stop.point, stop.event))
        elif k == "interrupted":
            self._say("Interrupted.")
        elif k == "system_off":
            self._say("[the guest powered the machine off: PSCI SYSTEM_OFF]")
            show_location = False
        elif k == "system_reset":
            self._say("[the guest asked for a system reset: PSCI SYSTEM_RESET; stopped]")
            show_location = False
        elif k == "halt":
            self._say("[the machine is halted: every PE is off]")
            show_location = False
        elif k == "idle":
            self._say("[every running PE waits in WFI/WFE and nothing can wake it]")
        elif k == "internal":
            self._say(f"[emulator stopped: {stop.detail}]")
        if show_location:
            self._out.extend(self._location_lines(self.pe))

    def _fmt_watch(self, b: bytes | None) -> str:
        if b is None:
            return "<unreadable>"
        v = int.from_bytes(b, "little")
        return f"0x{v:x} ({v})"

    def _describe_catch(self, p: Point | None, ev: tuple) -> str:
        kind, pe, cyc, from_el, to_el, esr, elr, far, target = ev[:9]
        lower = self.worlds.of_event(ev)
        num = f"{self._tag(lower)}Catchpoint {p.num}" if p is not None else \
            f"{self._tag(lower)}Catchpoint"
        elr_world = lower if (from_el < 2 if kind != TR_EXC_RETURN else to_el < 2) else \
            World("hyp" if self.worlds.hypervisor else "bare", pe)
        with self._in(elr_world):
            elr_text = self.describe_addr(elr & M64)
        if kind == TR_EXC_RETURN:
            return (f"{num} (exception return): ERET EL{from_el} -> EL{to_el} to "
                    f"{elr_text}, SPSR_EL{from_el} = 0x{target & M64:x} "
                    f"(cycle {cyc})")
        vbar = self.m.reg(f"VBAR_EL{to_el}", pe)
        off = ((target & M64) - (vbar & ~0x7FF)) & 0x780
        vec = (f"{VECTOR_KINDS[off & 0x180]}, {VECTOR_GROUPS[off & 0x600]}"
               if (target & M64) - (vbar & ~0x7FF) < 0x800 else "")
        if esr >= 0:
            ec = (esr >> 26) & 0x3F
            what = f"{X.ec_short(ec)} (EC 0x{ec:02x})"
            regs = f", ESR_EL{to_el} = 0x{esr & M64:08x}"
            if ec in X.FAR_ECS:
                regs += f", FAR_EL{to_el} = 0x{far & M64:x}"
        else:
            what, regs = "asynchronous exception", ""
        return (f"{num} (exception): EL{from_el} -> EL{to_el} {what}{regs}, "
                f"ELR_EL{to_el} = {elr_text}\n"
                f"  vector 0x{target & M64:x} ({vec}; VBAR_EL{to_el} = 0x{vbar:x}), "
                f"cycle {cyc}")

    # ================================================================== stepping
    def _only_selected_runs(self) -> bool:
        return all(self.m.cpus[p][L.POWER] != L.POWER_ON for p in range(self.m.smp)
                   if p != self.pe)

    def _stepi(self, n: int) -> Stop:
        """``n`` instructions of the selected PE (other running PEs run in between, as they
        would: the scheduler is round robin)."""
        if self.m.smp == 1 or self._only_selected_runs():
            return self._go(limit=n)
        if self._cpu()[L.POWER] == L.POWER_OFF:
            raise DebugError(f"PE{self.pe} is powered off: nothing to step (pe N selects "
                             f"another)")
        stop = Stop("done")
        for _ in range(n):
            for _attempt in range(64 * 1024):
                nxt = self._next_pe_to_run()
                stop = self._go(limit=1)
                if stop.kind != "done":
                    return stop
                if nxt == self.pe:
                    break
            else:
                return Stop("done", detail=f"PE{self.pe} did not run (asleep?)")
        return stop

    def _step_over_call(self) -> Stop:
        """``nexti``: a BL/BLR runs to its return (breakpoint at pc + 4 in this EL, taken
        only by this PE at this stack depth); anything else is one ``stepi``."""
        pc = self._pc()
        insn = self._insn_at(pc)
        if insn is None or not insn.is_call:
            return self._stepi(1)
        el = self._el()
        return self._go(internal=[_Internal(pc + 4, 1 << el, self.pe, self._sp())])

    def _line_step(self, over_calls: bool) -> Stop:
        start = self.symbols.line_for(self._pc())
        stop = Stop("done")
        for _ in range(STEP_LINE_LIMIT):
            stop = self._step_over_call() if over_calls else self._stepi(1)
            if stop.kind != "done" or start is None:
                return stop
            if self.symbols.line_for(self._pc()) != start:
                return stop
        return Stop("done", detail=f"still on {start[0]}:{start[1]} after {STEP_LINE_LIMIT} "
                                   f"instructions")

    def _count(self, arg: str) -> int:
        if not arg.strip():
            return 1
        n = self._eval(arg).value
        if n < 1:
            raise DebugError("the count must be positive")
        return n

    def cmd_stepi(self, arg: str) -> None:
        self._finish_step(self._stepi(self._count(arg)))

    def cmd_nexti(self, arg: str) -> None:
        stop = Stop("done")
        for _ in range(self._count(arg)):
            stop = self._step_over_call()
            if stop.kind != "done":
                break
        self._finish_step(stop)

    def cmd_step(self, arg: str) -> None:
        stop = Stop("done")
        for _ in range(self._count(arg)):
            stop = self._line_step(False)
            if stop.kind != "done":
                break
        self._finish_step(stop)

    def cmd_next(self, arg: str) -> None:
        stop = Stop("done")
        for _ in range(self._count(arg)):
            stop = self._line_step(True)
            if stop.kind != "done":
                break
        self._finish_step(stop)

    def _finish_step(self, stop: Stop) -> None:
        if stop.detail and stop.kind == "done":
            self._say(stop.detail)
        self._report(stop)

    def cmd_continue(self, arg: str) -> None:
        if arg:
            raise DebugError("continue takes no argument")
        self._report(self._go())

    def cmd_finish(self, arg: str) -> None:
        frames = self._frames(limit=2)
        if len(frames) < 2:
            raise DebugError('"finish" not meaningful in the outermost frame.')
        ret = frames[1][0]
        self._say(f"Run till exit from #0  {self.describe_addr(self._pc())}")
        el = self._el()
        stop = self._go(internal=[_Internal(ret, 1 << el, self.pe, self._sp())])
        self._report(stop)
        if stop.kind == "done":
            v = self.read_register("x0")
            self.values.append(v)
            self._say(f"Value returned (x0) is ${len(self.values)} = {v.value}")

    def cmd_advance(self, arg: str) -> None:
        if not arg.strip():
            raise DebugError("Argument required (a location).")
        addr, _ = self._parse_location(arg)
        stop = self._go(internal=[_Internal(addr, 0b111, self.pe, 0)])
        self._report(stop)

    # ================================================================== breakpoints
    def _parse_els(self, words: list[str]) -> tuple[list[str], int | None]:
        """Strip a trailing ``el N [M]``, ``elN``, ``el2``/``hyp`` scope off ``words``."""
        els: set[int] = set()
        while words:
            w = words[-1].lower()
            if re.fullmatch(r"el[0-2]", w) or w == "hyp":
                els.add(2 if w == "hyp" else int(w[2]))
                words = words[:-1]
            elif re.fullmatch(r"[0-2]", w) and len(words) >= 2 and \
                    (words[-2].lower() == "el" or re.fullmatch(r"[0-2]", words[-2])):
                els.add(int(w))
                words = words[:-1]
            elif w == "el" and els:
                words = words[:-1]
            else:
                break
        return words, (sum(1 << e for e in els) if els else None)

    def _current_file(self) -> str | None:
        loc = self.symbols.line_for(self._pc())
        if loc:
            return loc[0]
        files = self.symbols.files()
        return files[0] if len(files) == 1 else None

    def _parse_location(self, text: str) -> tuple[int, str]:
        """``*EXPR``, ``0xADDR``, ``symbol[+off]``, ``file:line`` or ``line`` → address."""
        t = text.strip()
        if not t:
            raise DebugError("Argument required (a location).")
        if t.startswith("*"):
            return self._eval(t[1:]).u, t
        m = re.fullmatch(r"(.+?):(\d+)", t)
        if m and not t.startswith(("0x", "0X", "$")):
            file, line = m.group(1), int(m.group(2))
            if not self.symbols.has_file(file):
                raise DebugError(f'No source file named {file}.')
            r = self.symbols.resolve_line(file, line)
            if r is None:
                raise DebugError(f"Line {line} of \"{file}\" has no code (nor any line after "
                                 f"it).")
            return r[2], f"{self._short_file(r[0])}:{r[1]}"
        if re.fullmatch(r"\d+", t):
            cur = self._current_file()
            if cur is None:
                raise DebugError(f"No source line information to find line {t} in (use "
                                 f"*{t} for an address).")
            r = self.symbols.resolve_line(cur, int(t))
            if r is None:
                raise DebugError(f'Line {t} of "{self._short_file(cur)}" has no code.')
            return r[2], f"{self._short_file(r[0])}:{r[1]}"
        try:
            return self._eval(t).u, t
        except ExprError as e:
            if re.fullmatch(r"[A-Za-z_.][\w.]*", t):
                raise DebugError(f'Function "{t}" not defined.') from None
            raise DebugError(str(e)) from None

    def _new_num(self) -> int:
        n = self._next_num
        self._next_num += 1
        return n

    def _guest_world(self, vmid: int = -1) -> World:
        """The guest world a guest-scoped location belongs to: vCPU 0 of the VM with that
        VMID, of the only VM, or of the VM the selected PE runs; a VM not created yet is named
        from the manifest but has no registers (its addresses cannot be translated yet)."""
        cur = self.worlds.current(self.pe)
        if cur.kind == "guest" and vmid in (-1, cur.vmid):
            return cur
        vms = self.worlds.vms()
        pick = [v for v in vms if vmid >= 0 and v["vmid"] == vmid] or \
            (vms if len(vms) == 1 and vmid < 0 else [])
        if pick:
            try:
                return self.worlds.guest(pick[0]["name"], 0)
            except ValueError:
                return World("guest", self.pe, vm=pick[0]["name"] or None)
        return World("guest", self.pe, vmid=vmid if vmid >= 0 else None)

    def _location_world(self, mask: int | None, vmid: int) -> World:
        """The world in which a location given with this scope is looked up: scoped to EL0/EL1
        (or to a VMID) under the hypervisor, a guest's; otherwise the world looked at now."""
        if self.worlds.hypervisor and (vmid >= 0 or (mask is not None and not mask & 4)):
            return self._guest_world(vmid)
        if self.worlds.hypervisor and mask == 4:
            return World("hyp", self.pe)
        return self.world()

    def _in_space_image(self, addr: int, space: str | None) -> bool:
        return any(img.space == space and img.contains(addr) for img in self.symbols.images)

    def _add_break(self, arg: str, temporary: bool) -> None:
        words = arg.split()
        vmid = -1
        if len(words) >= 2 and words[-2].lower() == "vmid":
            try:
                vmid = int(words[-1], 0)
            except ValueError:
                raise DebugError(f"Bad VMID '{words[-1]}'") from None
            if not 0 <= vmid <= 0xFF:
                raise DebugError(f"VMIDs are 8 bits: {vmid}")
            words = words[:-2]
        words, mask = self._parse_els(words)
        w = self._location_world(mask, vmid)
        with self._in(w):
            if not words:
                words = [f"*0x{self._pc():x}"]
            addr, what = self._parse_location(" ".join(words))
        if w.kind == "guest" and not words[0].startswith("*") and \
                not self._in_space_image(addr, "guest") and \
                self._in_space_image(addr, "hyp"):
            w = World("host" if mask is not None and not mask & 4 else "hyp", self.pe)
        if addr & 3:
            raise DebugError(f"Cannot insert breakpoint at 0x{addr:x}: A64 instructions are "
                             f"4-byte aligned")
        pending = ""
        with self._in(w):
            try:
                if w.kind == "guest" and not w.vcpu_addr and self.worlds.hypervisor:
                    raise DebugError(f"cannot translate: {w.name} is not created yet")
                pa = self._va_to_pa(addr)
                if not self._in_ram(pa, 4):
                    raise DebugError(f"Cannot insert breakpoint at 0x{addr:x}: not in RAM "
                                     f"(0x{memmap.RAM_BASE:x}..0x"
                                     f"{memmap.RAM_BASE + self.m.ram_size:x})")
            except DebugError as e:
                if "cannot translate" not in str(e):
                    raise
                pending = " (pending: not mapped now; bound when its page is first executed)"
            if w.kind == "guest" and vmid < 0 and w.vmid:
                vmid = w.vmid       # the VM exists: only its stage 2 context matches
            p = Point(self._new_num(), "breakpoint", addr=addr, el_mask=mask or 0b111,
                      temporary=temporary, what=what, vmid=vmid,
                      world=w if w.kind != "bare" else None)
            self.points.append(p)
            kind = "Temporary breakpoint" if temporary else "Breakpoint"
            scope = f" ({_els_text(p.el_mask)} only)" if mask else ""
            scope += f" (VMID {vmid} only)" if vmid >= 0 else ""
            scope += pending
            self._say(f"{self._point_tag(p)}{kind} {p.num} at {self.describe_addr(addr)}"
                      f"{self._loc_suffix(addr)}{scope}")

    @staticmethod
    def _point_tag(p: Point) -> str:
        """``[vm0] `` — the world of a breakpoint, by VM (any of its vCPUs stops there)."""
        w = p.world
        if w is None:
            return ""
        if w.kind == "guest":
            return f"[{w.vm or (f'VMID {w.vmid}' if w.vmid else 'guest')}] "
        return f"{w.tag} "

    def _point_world_ok(self, p: Point, pe: int) -> bool:
        """Is PE ``pe`` in the world of breakpoint ``p`` (a guest's breakpoint does not stop
        the hypervisor or the host part at the same address, nor another VM)?"""
        if p.world is None:
            return True
        cur = self.worlds.current(pe)
        if p.world.kind == "guest":
            return cur.kind == "guest" and (p.world.vm is None or cur.vm is None or
                                            cur.vm == p.world.vm)
        return cur.kind in ("hyp", "host", "bare")

    def cmd_break(self, arg: str) -> None:
        self._add_break(arg, False)

    def cmd_tbreak(self, arg: str) -> None:
        self._add_break(arg, True)

    def _points_by_numbers(self, arg: str) -> list[Point]:
        out = []
        for w in arg.replace(",", " ").split():
            rng = re.fullmatch(r"(\d+)-(\d+)", w)
            nums = range(int(rng.group(1)), int(rng.group(2)) + 1) if rng else None
            if nums is None:
                if not w.isdigit():
                    raise DebugError(f"Bad breakpoint argument: '{w}'")
                nums = [int(w)]
            for n in nums:
                p = next((p for p in self.points if p.num == n), None)
                if p is None:
                    raise DebugError(f"No breakpoint number {n}.")
                out.append(p)
        return out

    def cmd_delete(self, arg: str) -> None:
        words = arg.split()
        if words and words[0] in ("breakpoints", "br", "b"):
            words = words[1:]
        if not words:
            self.points.clear()
            return
        for p in self._points_by_numbers(" ".join(words)):
            self.points.remove(p)

    def cmd_enable(self, arg: str) -> None:
        for p in (self._points_by_numbers(arg) if arg.strip() else self.points):
            p.enabled = True

    def cmd_disable(self, arg: str) -> None:
        for p in (self._points_by_numbers(arg) if arg.strip() else self.points):
            p.enabled = False

    def _add_watch(self, arg: str, access: str) -> None:
        words, mask = self._parse_els(arg.split())
        text = " ".join(words)
        if not text:
            raise DebugError("Argument required (expression to compute).")
        parts = split_top(text)
        if len(parts) > 2:
            raise DebugError("watch EXPR[,SIZE]: too many commas")
        v = self._eval(parts[0])
        if v.lval is not None and v.lval[0] == "mem":
            addr, size = v.lval[1], v.lval[2]
        elif v.lval is not None and v.lval[0] == "reg":
            raise DebugError("Cannot watch a register: watchpoints watch memory (use "
                             "*ADDR or a symbol)")
        else:
            addr, size = v.u, 8
        if len(parts) == 2:
            size = self._eval(parts[1]).value
            if not 1 <= size <= 4096:
                raise DebugError("watchpoint size must be between 1 and 4096 bytes")
        p = Point(self._new_num(), "watchpoint", addr=addr, size=size, access=access,
                  el_mask=mask or 0b111, what=f"{parts[0].strip()} [0x{addr:x}, {size} "
                                                 f"bytes]")
        if len([q for q in self.points if q.kind == "watchpoint"]) >= L.WP_CAP:
            raise DebugError(f"at most {L.WP_CAP} watchpoints")
        p.value = self._watch_value(p)
        self.points.append(p)
        label = {"w": "Hardware watchpoint", "r": "Hardware read watchpoint",
                 "rw": "Hardware access (read/write) watchpoint"}[access]
        scope = f" ({_els_text(p.el_mask)} only)" if mask else ""
        self._say(f"{label} {p.num}: {p.what}{scope}")

    def cmd_watch(self, arg: str) -> None:
        self._add_watch(arg, "w")

    def cmd_rwatch(self, arg: str) -> None:
        self._add_watch(arg, "r")

    def cmd_awatch(self, arg: str) -> None:
        self._add_watch(arg, "rw")

    def cmd_catch(self, arg: str) -> None:
        words = arg.lower().split()
        if not words or words[0] not in ("exception", "exc", "eret"):
            raise DebugError("usage: catch exception [elN] [ec=0xNN|ec=svc|...] | catch eret "
                             "[elN]")
        what = "eret" if words[0] == "eret" else "exception"
        el = ec = None
        for w in words[1:]:
            if re.fullmatch(r"el[0-2]", w) or w == "hyp":
                el = 2 if w == "hyp" else int(w[2])
            elif w.startswith("ec=") and what == "exception":
                v = w[3:]
                if v in _EC_BY_NAME:
                    ec = _EC_BY_NAME[v]
                else:
                    try:
                        n = int(v, 0)
                    except ValueError:
                        raise DebugError(f"bad exception class {v!r}: a number (ec=0x15) or "
                                         f"one of {', '.join(sorted(_EC_BY_NAME))}") from None
                    if not 0 <= n <= 0x3F:
                        raise DebugError(f"exception class 0x{n:x} is not a 6-bit EC")
                    ec = (n,)
            else:
                raise DebugError(f"catch {what}: unexpected {w!r} (expected elN"
                                 f"{' or ec=...' if what == 'exception' else ''})")
        p = Point(self._new_num(), "catchpoint", catch=what, catch_el=el, catch_ec=ec)
        self.points.append(p)
        self._say(f"Catchpoint {p.num} ({self._catch_text(p)})")

    @staticmethod
    def _catch_text(p: Point) -> str:
        s = "exception entry" if p.catch == "exception" else "exception return"
        if p.catch_el is not None:
            s += f" to EL{p.catch_el}"
        if p.catch_ec is not None:
            s += ", " + " or ".join(f"EC 0x{e:02x} ({X.ec_short(e)})" for e in p.catch_ec)
        return s

    def _info_breakpoints(self, arg: str) -> None:
        pts = self.points
        if arg.strip():
            pts = self._points_by_numbers(arg)
        if not pts:
            self._say("No breakpoints, watchpoints or catchpoints.")
            return
        self._say("Num     Type            Disp Enb Address            What")
        for p in pts:
            disp = "del " if p.temporary else "keep"
            enb = "y" if p.enabled else "n"
            if p.kind == "breakpoint":
                what = self.describe_addr(p.addr).split(" ", 1)[1] if \
                    self.symbols.describe(p.addr) else ""
                loc = self._loc_suffix(p.addr)
                scope = f" ({_els_text(p.el_mask)} only)" if p.el_mask != 0b111 else ""
                scope += f" (VMID {p.vmid} only)" if p.vmid >= 0 else ""
                self._say(f"{p.num:<7} {'breakpoint':<15} {disp} {enb}   "
                          f"0x{p.addr:016x} {what}{loc}{scope}".rstrip())
            elif p.kind == "watchpoint":
                typ = {"w": "hw watchpoint", "r": "read watchpoint",
                       "rw": "acc watchpoint"}[p.access]
                scope = f" ({_els_text(p.el_mask)} only)" if p.el_mask != 0b111 else ""
                self._say(f"{p.num:<7} {typ:<15} {disp} {enb}   {'':<18} {p.what}{scope}")
            else:
                self._say(f"{p.num:<7} {'catchpoint':<15} {disp} {enb}   {'':<18} "
                          f"{self._catch_text(p)}")
            if p.hits:
                self._say(f"\t{'catchpoint' if p.kind == 'catchpoint' else 'breakpoint'} "
                          f"already hit {p.hits} time{'s' if p.hits != 1 else ''}")

    # ================================================================== data
    def cmd_print(self, arg: str) -> None:
        fmt, text = self._fmt, arg
        if not text:
            v = self.history_value(None, 0)
        else:
            v = self._eval(text, allow_assign=True)
        self.values.append(v)
        self._say(f"${len(self.values)} = {self._format_value(v, fmt)}")

    def _format_value(self, v: Val, fmt: str) -> str:
        f = fmt[:1] if fmt else ""
        bits = 8 * v.size
        u = v.value & ((1 << bits) - 1)
        if f == "x":
            return f"0x{u:x}"
        if f == "d":
            return str(wrap(u, v.size, True))
        if f == "u":
            return str(u)
        if f == "o":
            return f"0{u:o}" if u else "0"
        if f == "t":
            return f"{u:b}"
        if f == "c":
            b = u & 0xFF
            return f"{wrap(b, 1, True)} {_char_repr(b)}"
        if f == "a":
            return self.describe_addr(u)
        if f == "z":
            return f"0x{u:0{2 * v.size}x}"
        if f == "s":
            return self._read_cstring(u)
        if f:
            raise DebugError(f'Undefined output format "{f}".')
        if v.is_addr:
            return self.describe_addr(u)
        if v.prefer_hex:
            extra = _fields_text(v.lval[1].lower(), u) if v.lval else ""
            return f"0x{u:x}" + (f" {extra}" if extra else "")
        return str(v.value)

    def cmd_set(self, arg: str) -> None:
        text = arg.strip()
        if text.startswith("var "):
            text = text[4:]
        if not text:
            raise DebugError("Argument required (expression to compute).")
        if "=" not in text.replace("==", "").replace("!=", "").replace("<=", "") \
                .replace(">=", ""):
            raise DebugError("set: expected an assignment, like set $x0 = 5 or "
                             "set *(u64*)ADDR = 1")
        self._eval(text, allow_assign=True)

    def _read_cstring(self, addr: int, limit: int = 200) -> str:
        out = bytearray()
        a = addr
        while len(out) < limit:
            try:
                b = self.read_memory(a, 1)[0]
            except DebugError:
                if not out:
                    raise
                break
            if b == 0:
                break
            out.append(b)
            a += 1
        s = "".join(_char_escape(c) for c in out)
        return f'"{s}"' + ("..." if len(out) >= limit else "")

    def cmd_x(self, arg: str) -> None:
        fmt, text = self._fmt, arg
        m = re.fullmatch(r"(\d*)([xduotacisz]?)([bhwg]?)([xduotacisz]?)", fmt)
        if not m:
            raise DebugError(f"Invalid number \"{fmt}\" or format letter.")
        count = int(m.group(1)) if m.group(1) else 1
        f = m.group(2) or m.group(4) or self._x_fmt[0]
        unit = m.group(3) or (self._x_fmt[1] if f not in ("c", "a") else "")
        if f == "c":
            unit = m.group(3) or "b"
        if f == "a":
            unit = "g"
        if text:
            addr = self._addr(text)
        elif self._x_next is not None:
            addr = self._x_next
        else:
            raise DebugError("Argument required (starting display address).")
        if count > 4096:
            raise DebugError("x: at most 4096 units at a time")
        if f == "i":
            for i in range(count):
                a = addr + 4 * i
                self._say(self.format_insn_line(a, marker=(a == self._pc())))
            self._x_next = addr + 4 * count
            self._x_fmt = ("i", self._x_fmt[1])
            return
        if f == "s":
            a = addr
            for _ in range(count):
                s = self._read_cstring(a)
                self._say(f"{self.describe_addr(a)}:\t{s}")
                a += self._cstring_len(a) + 1
            self._x_next = a
            self._x_fmt = ("s", self._x_fmt[1])
            return
        size = {"b": 1, "h": 2, "w": 4, "g": 8}[unit or "w"]
        per_line = {1: 8, 2: 8, 4: 4, 8: 2}[size]
        data = self.read_memory(addr, size * count)
        for row in range(0, count, per_line):
            a = addr + row * size
            items = []
            for i in range(row, min(count, row + per_line)):
                v = int.from_bytes(data[i * size:(i + 1) * size], "little")
                items.append(self._x_item(v, size, f))
            self._say(f"{self.describe_addr(a)}:\t" + "\t".join(items))
        self._x_next = addr + size * count
        self._x_fmt = (f, unit or self._x_fmt[1])

    def _cstring_len(self, addr: int) -> int:
        n = 0
        while n < 4096:
            try:
                if self.read_memory(addr + n, 1)[0] == 0:
                    return n
            except DebugError:
                return n
            n += 1
        return n

    def _x_item(self, v: int, size: int, f: str) -> str:
        if f == "x":
            return f"0x{v:0{2 * size}x}"
        if f == "z":
            return f"0x{v:0{2 * size}x}"
        if f == "d":
            return str(wrap(v, size, True))
        if f == "u":
            return str(v)
        if f == "o":
            return f"0{v:o}" if v else "0"
        if f == "t":
            return f"{v:0{8 * size}b}"
        if f == "c":
            return f"{wrap(v & 0xFF, 1, True)} {_char_repr(v & 0xFF)}"
        if f == "a":
            return self.describe_addr(v)
        raise DebugError(f'Undefined output format "{f}".')

    # ================================================================== info
    def cmd_info(self, arg: str) -> None:
        words = arg.split(None, 1)
        if not words:
            raise DebugError('"info" must be followed by the name of an info command: '
                             + ", ".join(sorted(self._info_table())) + ".")
        sub, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
        table = self._info_table()
        sub = INFO_ALIASES.get(sub, sub)
        if sub not in table:
            matches = [k for k in table if k.startswith(sub)]
            if len(matches) != 1:
                raise DebugError(f'Undefined info command: "{words[0]}".  Try "help info".')
            sub = matches[0]
        table[sub](rest)

    def _info_table(self) -> dict[str, Callable[[str], None]]:
        return {"registers": self._info_registers, "all-registers": self._info_all_registers,
                "breakpoints": self._info_breakpoints, "el": self._info_el,
                "sysregs": self._info_sysregs, "pes": self._info_pes,
                "symbol": self._info_symbol, "line": self._info_line,
                "record": self._info_record, "tlb": self._info_tlb, "gic": self._info_gic,
                "lr": self._info_lr, "timer": self._info_timer, "display": self._info_display,
                "frame": self._info_frame}

    def _info_frame(self, arg: str) -> None:
        frames = self._frames()
        n = min(self._frame, len(frames) - 1)
        self._say(f"Stack level {n}, frame at {self._frame_line(n, frames[n][0])[4:]}")
        self._say(f"  (frame-pointer chain: x29 = 0x{self.read_register('x29').u:x}, "
                  f"sp = 0x{self._sp():x}, {len(frames)} frame{'s' if len(frames) != 1 else ''})")

    def _info_gic(self, arg: str) -> None:
        """The distributor, every enabled/pending/active interrupt, each PE's CPU interface."""
        g = self.m.gic_info()
        d = g["distributor"]
        self._say(f"GICD_CTLR 0x{d['ctlr']:x}: group 0 {'on' if d['enable_grp0'] else 'off'}, "
                  f"group 1 {'on' if d['enable_grp1'] else 'off'} (ARE, DS)")
        if g["interrupts"]:
            self._say("  INTID  where   grp prio  trigger  state")
        for r in g["interrupts"]:
            where = f"PE{r['pe']}" if "pe" in r else \
                (f"->PE{r['target_pe']}" if r.get("target_pe") is not None else "->none")
            state = " ".join(k for k in ("enabled", "pending", "active") if r[k]) + \
                (" line-high" if r["line"] else "")
            self._say(f"  {r['intid']:<6} {where:<7} {r['group']:<3} 0x{r['priority']:02x}  "
                      f"{r['trigger']:<8} {state}")
        for p in g["pes"]:
            hppi = "none" if p["hppi"] is None else \
                f"{p['hppi']} (prio 0x{p['hppi_priority']:02x})"
            self._say(f"PE{p['pe']} CPU interface: PMR 0x{p['pmr']:02x} RPR 0x{p['rpr']:02x} "
                      f"HPPI {hppi} IGRPEN0 {p['igrpen0']} IGRPEN1 {p['igrpen1']} EOImode "
                      f"{p['eoimode']} BPR0/1 {p['bpr0']}/{p['bpr1']} AP0R0 0x{p['ap0r0']:x} "
                      f"AP1R0 0x{p['ap1r0']:x} lines [{' '.join(p['lines']) or '-'}]")

    def _info_lr(self, arg: str) -> None:
        """The selected PE's virtual CPU interface: ICH_HCR/VMCR and the list registers."""
        v = self.m.vgic_info(self.pe)
        vm = v["vmcr"]
        self._say(f"PE{self.pe} ICH_HCR_EL2 0x{v['ich_hcr']:x} (En {int(v['enabled'])}, "
                  f"EOIcount {v['eoicount']})  ICH_VMCR_EL2: VENG0 {vm['veng0']} VENG1 "
                  f"{vm['veng1']} VEOIM {vm['veoim']} VPMR 0x{vm['vpmr']:02x} VBPR0/1 "
                  f"{vm['vbpr0']}/{vm['vbpr1']}")
        self._say(f"  MISR 0x{v['misr']:x} EISR 0x{v['eisr']:x} ELRSR 0x{v['elrsr']:x} "
                  f"AP0R0 0x{v['ap0r0']:x} AP1R0 0x{v['ap1r0']:x}  virtual lines: "
                  f"{'vIRQ ' if v['virq'] else ''}{'vFIQ' if v['vfiq'] else ''}".rstrip())
        for lr in v["lrs"]:
            if lr["state"] == "invalid" and not lr["value"]:
                self._say(f"  LR{lr['index']}  empty")
                continue
            hw = f" HW pINTID {lr['pintid']}" if lr["hw"] else \
                (" EOI maintenance" if lr["eoi_maintenance"] else "")
            self._say(f"  LR{lr['index']}  vINTID {lr['vintid']:<5} {lr['state']:<14} group "
                      f"{lr['group']} prio 0x{lr['priority']:02x}{hw}")

    def _info_timer(self, arg: str) -> None:
        """The selected PE's generic timers and counter."""
        t = self.m.timer_info(self.pe)
        nd = "none" if t["next_deadline"] is None else f"cycle {t['next_deadline']:,}"
        self._say(f"PE{self.pe} CNTPCT {t['cntpct']:,}  CNTVCT {t['cntvct']:,}  CNTVOFF "
                  f"{t['cntvoff']:,}  CNTFRQ {t['frequency']:,} Hz  (cycle {t['cycles']:,}; next "
                  f"deadline {nd})")
        for name, x in t["timers"].items():
            fires = "never" if x["fires_in_ticks"] is None else \
                ("now" if x["fires_in_ticks"] == 0 else f"in {x['fires_in_ticks']:,} ticks")
            self._say(f"  {name:<5} PPI {x['ppi']}  ENABLE {int(x['enable'])} IMASK "
                      f"{int(x['imask'])} ISTATUS {int(x['istatus'])}  CVAL 0x{x['cval']:x}  "
                      f"output {'asserted' if x['asserted'] else 'low'}, fires {fires}")

    def _info_tlb(self, arg: str) -> None:
        """The selected PE's software TLB: one line per cached 4 KiB piece, then statistics."""
        entries = self.m.tlb_entries(self.pe)
        st = self.m.tlb_stats(self.pe)
        self._say(f"PE{self.pe} TLB: {len(entries)} valid entries; {st['hits']:,} hits, "
                  f"{st['misses']:,} misses, {st['reads_per_miss']:.2f} descriptor reads per "
                  f"miss")
        for e in entries:
            tag = e["regime"] + ("" if e["vmid"] is None else f" VMID {e['vmid']}") + \
                ("" if e["regime"] == "EL2" else
                 " global" if e["asid"] is None else f" ASID {e['asid']}")
            perms = " ".join(f"{k}={e[k]}" for k in ("priv", "user", "s2") if k in e)
            size = e.get("s1_size") or e.get("s2_size") or 4096
            ipa = f" IPA 0x{e['ipa']:x}" if e["stage2"] else ""
            self._say(f"  VA 0x{e['va']:016x} -> PA 0x{e['pa']:x}{ipa}  [{tag}] "
                      f"{'Device' if e['device'] else 'Normal'} leaf {size >> 10} KiB {perms}")

    def _reg_row(self, name: str, v: Val) -> str:
        n = name.lower()
        if n in ("pc", "sp", "x29", "x30", "lr", "fp"):
            natural = self.describe_addr(v.u)
        elif n in ("cpsr", "pstate"):
            natural = _psr_text(v.u)
        elif name in _SYSREG_UPPER_NAMES:
            natural = _fields_text(n, v.u)
        else:
            natural = str(v.value)
        return f"{name:<15}{'0x%x' % (v.value & ((1 << 8 * v.size) - 1)):<19}{natural}".rstrip()

    def _info_registers(self, arg: str) -> None:
        names = arg.replace(",", " ").split()
        if not names:
            names = [f"x{i}" for i in range(31)] + ["sp", "pc", "cpsr", "fpsr", "fpcr"]
        for n in names:
            n = n.lstrip("$")
            self._say(self._reg_row(n if not _SYSREG_UPPER.get(n.upper()) else
                                    _SYSREG_UPPER[n.upper()].name, self.read_register(n)))

    def _info_all_registers(self, arg: str) -> None:
        self._info_registers("")
        for i in range(32):
            self._say(self._reg_row(f"q{i}", self.read_register(f"q{i}")))
        self._say("(system registers: info sysregs)")

    def _info_el(self, arg: str) -> None:
        pe = self.pe
        c = self._cpu(pe)
        el, spsel = int(c[L.EL]), int(c[L.SPSEL])
        sp_name = "SP_EL0" if spsel == 0 or el == 0 else f"SP_EL{el}"
        self._say(f"PE{pe}: EL{el}{'h' if spsel and el else 't'} — PSTATE.EL = {el}, "
                  f"PSTATE.SP = {spsel}: SP is {sp_name} = 0x{self._sp(pe):x}")
        daif = int(c[L.DAIF])
        masked = " ".join(ch for ch, bit in zip("DAIF", (8, 4, 2, 1)) if daif & bit)
        self._say(f"  DAIF  0b{daif:04b}  {masked + ' masked' if masked else 'nothing masked'}")
        nzcv = int(c[L.NZCV])
        flags = "".join(ch if nzcv & bit else ch.lower() for ch, bit in
                        zip("NZCV", (8, 4, 2, 1)))
        self._say(f"  NZCV  0b{nzcv:04b}  {flags}")
        self._say(f"  PAN {int(c[L.PSTATE_PAN])}   IL {int(c[L.PSTATE_IL])}   "
                  f"SS {int(c[L.PSTATE_SS])}")
        self._say(f"  power: {POWER_NAMES.get(int(c[L.POWER]), str(int(c[L.POWER])))}")
        on, why = self._translation_state(pe)
        self._say(f"  translation: {'on' if on else 'off'} ({why})")
        if el >= 1:
            spsr = self.m.reg(f"SPSR_EL{el}", pe)
            self._say(f"  ELR_EL{el} = {self.describe_addr(self.m.reg(f'ELR_EL{el}', pe))}   "
                      f"SPSR_EL{el} = 0x{spsr:x} {_psr_text(spsr)}")
        last = next((ev for ev in reversed(self.events) if ev[1] == pe and
                     ev[0] == TR_EXC_ENTRY), None)
        if last is not None:
            ec = f"{X.ec_short((last[5] >> 26) & 0x3F)}" if last[5] >= 0 else "asynchronous"
            self._say(f"  last exception: EL{last[3]} -> EL{last[4]} {ec} at cycle {last[2]}")
        self._say(f"  cycles {int(c[L.CYCLES])}   instructions retired {int(c[L.INSTRET])}")

    @staticmethod
    def _sysreg_el(r: T.SysReg) -> int:
        m = re.search(r"_EL([0-3])$", r.name)
        return int(m.group(1)) if m else min(r.min_el, 2)

    def _info_sysregs(self, arg: str) -> None:
        words = arg.split()
        regs: list[T.SysReg]
        if not words:
            regs = list(T.SYSREGS)
        elif all(re.fullmatch(r"el[0-2]", w.lower()) for w in words):
            els = {int(w[2]) for w in words}
            regs = [r for r in T.SYSREGS if self._sysreg_el(r) in els]
        else:
            regs = []
            for w in words:
                r = _SYSREG_UPPER.get(w.lstrip("$").upper())
                if r is None:
                    raise DebugError(f"Invalid register `{w}'")
                regs.append(r)
        groups: dict[int, list[T.SysReg]] = {}
        for r in regs:
            groups.setdefault(self._sysreg_el(r), []).append(r)
        for el in sorted(groups):
            if len(words) == 0 or all(re.fullmatch(r"el[0-2]", w.lower()) for w in words):
                self._say(f"EL{el}:")
            for r in groups[el]:
                v = self._sysreg_value(r, self.pe)
                acc = {T.ACC_R: "RO", T.ACC_W: "WO", T.ACC_RW: "RW"}[r.access]
                val = "(write-only)" if v is None else f"0x{v:016x}"
                extra = _fields_text(r.name.lower(), v) if v is not None else ""
                self._say(f"  {r.name:<20} {val:<18} {acc}  {extra}".rstrip())

    def _info_pes(self, arg: str) -> None:
        self._say("  PE  power          EL    pc")
        for p in range(self.m.smp):
            c = self._cpu(p)
            el, spsel = int(c[L.EL]), int(c[L.SPSEL])
            mark = "*" if p == self.pe else " "
            self._say(f"{mark} {p:<3} {POWER_NAMES.get(int(c[L.POWER]), '?'):<14} "
                      f"EL{el}{'h' if spsel and el else 't'}  {self.describe_addr(self._pc(p))}")

    def _info_symbol(self, arg: str) -> None:
        addr = self._addr(arg or "$pc")
        r = self.symbols.symbolize(addr)
        if r is None:
            self._say(f"No symbol matches {arg or '$pc'}.")
            return
        sym, off = r
        self._say(f"{sym.name}{' + ' + str(off) if off else ''} ({sym.kind}, {sym.binding})")

    def _info_line(self, arg: str) -> None:
        addr = self._parse_location(arg)[0] if arg.strip() else self._pc()
        loc = self.symbols.line_for(addr)
        if loc is None:
            self._say(f"No line number information available for address "
                      f"{self.describe_addr(addr)}")
            return
        self._say(f'Line {loc[1]} of "{self._short_file(loc[0])}" is at address '
                  f"{self.describe_addr(addr)}.")

    def _info_record(self, arg: str) -> None:
        h = self.history
        if not h.started:
            self._say("No execution recorded yet (history starts when the machine first runs).")
            return
        self._say(f"Recorded execution: steps {h.start_pos}..{h.pos} "
                  f"({h.pos - h.start_pos} steps, all PEs), {len(h.log)} log entries")
        self._say("Checkpoints at steps: " + ", ".join(str(c.pos) for c in h.checkpoints))
        self._say("reverse-stepi and reverse-continue replay from the nearest checkpoint.")

    # ================================================================== code views
    def cmd_disas(self, arg: str) -> None:
        fmt, text = self._fmt, arg
        raw = "r" in fmt
        if text:
            parts = split_top(text)
            start = self._addr(parts[0])
            if len(parts) == 2:
                end_t = parts[1].strip()
                end = start + self._addr(end_t[1:]) if end_t.startswith("+") else \
                    self._addr(end_t)
                title = f"Dump of assembler code from 0x{start:x} to 0x{end:x}:"
            else:
                start, end, title = self._function_bounds(start)
        else:
            start, end, title = self._function_bounds(self._pc())
        if end - start > 4 * 2048:
            raise DebugError("disassemble: range too large (at most 2048 instructions)")
        start &= ~3
        self._say(title)
        pc = self._pc()
        last_loc = None
        for a in range(start, end, 4):
            loc = self.symbols.line_for(a)
            if loc is not None and loc != last_loc:
                self._say(self._source_line_text(a) or "")
            last_loc = loc
            self._say(self.format_insn_line(a, marker=(a == pc), raw=raw))
        self._say("End of assembler dump.")

    def _function_bounds(self, addr: int) -> tuple[int, int, str]:
        r = self.symbols.function_range(addr)
        if r is not None and r[2] - r[1] <= 4 * 2048:
            sym, start, end = r
            return start, max(end, start + 4), f"Dump of assembler code for function " \
                                                 f"{sym.name}:"
        start = max(addr - 16, 0)
        return start, addr + 32, f"Dump of assembler code from 0x{start:x} to " \
                                 f"0x{addr + 32:x} (no symbol contains 0x{addr:x}):"

    def _read_u64(self, addr: int) -> int | None:
        try:
            return int.from_bytes(self.read_memory(addr, 8), "little")
        except DebugError:
            return None

    def _frames(self, limit: int = MAX_FRAMES) -> list[tuple[int, str]]:
        """(pc, note) per frame: the frame-record walk of AAPCS64 ("The Frame Pointer"): x29
        points at {saved x29, saved LR}; caller frames lie at higher addresses."""
        pc, fp, lr = self._pc(), self.read_register("x29").u, self.read_register("x30").u
        frames: list[tuple[int, str]] = [(pc, "")]
        # Frame 1 is still in LR while the function has not stored its frame record (at its
        # entry, and in leaf functions): LR returns after a call, outside this function, and
        # differs from the LR saved in the record x29 points to.
        rng = self.symbols.function_range(pc)
        in_this_fn = rng is not None and rng[1] <= lr < rng[2]
        call = self._insn_at(lr - 4) if lr >= 4 else None
        if call is not None and call.is_call and not in_this_fn and \
                self._read_u64(fp + 8) != lr:
            frames.append((lr, ""))
        seen = set()
        why = ""
        while len(frames) < limit:
            if fp == 0:
                why = "x29 = 0: outermost frame"
                break
            if fp & 7:
                why = f"frame pointer 0x{fp:x} is not 8-byte aligned"
                break
            if fp in seen:
                why = f"frame chain loops at 0x{fp:x}"
                break
            seen.add(fp)
            saved_fp, ret = self._read_u64(fp), self._read_u64(fp + 8)
            if saved_fp is None or ret is None:
                why = f"frame record at 0x{fp:x} is not in RAM"
                break
            if ret == 0:
                why = "saved LR = 0: outermost frame"
                break
            frames.append((ret, ""))
            if saved_fp != 0 and saved_fp <= fp:
                why = f"next frame 0x{saved_fp:x} is not above 0x{fp:x}: stopping"
                break
            fp = saved_fp
        if frames and why:
            frames[-1] = (frames[-1][0], why)
        return frames[:limit]

    def cmd_bt(self, arg: str) -> None:
        limit = self._count(arg) if arg.strip() else MAX_FRAMES
        frames = self._frames(limit)
        for i, (a, why) in enumerate(frames):
            self._say(self._frame_line(i, a))
        last_why = frames[-1][1] if frames else ""
        if last_why:
            self._say(f"({last_why})")

    def cmd_list(self, arg: str) -> None:
        if arg.strip():
            addr, _ = self._parse_location(arg)
            loc = self.symbols.line_for(addr)
            if loc is None:
                raise DebugError(f"No line number information for {arg.strip()}.")
            file, first = loc[0], max(1, loc[1] - 5)
        elif self._list_next is not None:
            file, first = self._list_next
        else:
            loc = self.symbols.line_for(self._pc())
            if loc is None:
                raise DebugError(f"No line number information for pc "
                                 f"{self.describe_addr(self._pc())}.")
            file, first = loc[0], max(1, loc[1] - 5)
        text = self.symbols.source_lines(file)
        if text is None:
            raise DebugError(f"Cannot read source file {self._short_file(file)}.")
        if first > len(text):
            raise DebugError(f"Line number {first} out of range; "
                             f'"{self._short_file(file)}" has {len(text)} lines.')
        for n in range(first, min(first + 10, len(text) + 1)):
            self._say(f"{n}\t{text[n - 1]}")
        self._list_next = (file, first + 10)

    # ================================================================== emulator views
    def cmd_pe(self, arg: str) -> None:
        if not arg.strip():
            self._say(f"Selected PE{self.pe} (of {self.m.smp})")
            return
        n = self._eval(arg).value
        if not 0 <= n < self.m.smp:
            raise DebugError(f"Invalid PE {n}: the machine has PE0..PE{self.m.smp - 1}")
        self.pe = n
        self._say(f"[Switching to PE{n}]")
        self._out.extend(self._location_lines(n))

    def cmd_explain(self, arg: str) -> None:
        words = arg.lower().split()
        if not words or words[0] not in ("fault", "esr"):
            raise DebugError("usage: explain fault [el1|el2] | explain esr VALUE")
        if words[0] == "esr":
            if len(words) < 2:
                raise DebugError("explain esr VALUE")
            v = self._eval(" ".join(words[1:])).u
            self._out.extend(X.explain_esr(v))
            return
        last = None
        if len(words) > 1:
            if not re.fullmatch(r"el[12]|hyp", words[1]):
                raise DebugError(f"explain fault: {words[1]!r} is not el1 or el2")
            el = 2 if words[1] == "hyp" else int(words[1][2])
            why = f"ESR_EL{el} as requested"
        else:
            last = next((ev for ev in reversed(self.events) if ev[1] == self.pe and
                         ev[0] == TR_EXC_ENTRY and ev[5] >= 0), None)
            if last is not None:
                el = last[4]
                why = f"the last synchronous exception of PE{self.pe} was taken to EL{el}"
            else:
                el = max(1, self._el())
                why = f"no exception recorded yet; showing EL{el}'s registers"
        esr = self.m.reg(f"ESR_EL{el}", self.pe)
        if esr == 0 and last is None:
            self._say(f"ESR_EL{el} = 0: no exception with a syndrome has been taken to EL{el} "
                      f"(it holds its reset value)")
            return
        far = self.m.reg(f"FAR_EL{el}", self.pe)
        elr = self.m.reg(f"ELR_EL{el}", self.pe)
        hpfar = self.m.reg("HPFAR_EL2", self.pe) if el == 2 else None
        # The world that took it: at EL2 a guest, the host part or EL2 itself; at EL1 the
        # world EL1 belongs to now. Its ELR is an address of that world.
        if el == 2:
            w, regs = self.worlds.lower(self.pe)
            if regs["saved"]:
                esr, elr, far, hpfar = regs["esr"], regs["elr"], regs["far"], regs["hpfar"]
                why += ("; the host part is handling this exit: ELR/FAR/HPFAR from the "
                        "vCPU's record")
        else:
            w = self.worlds.current(self.pe)
            if w.kind == "hyp":
                w = World("host", self.pe)
        self._say(f"{self._tag(w)}({why})")
        self._out.extend(X.explain_esr(esr, el=el, far=far, hpfar=hpfar))
        ec = (esr >> 26) & 0x3F
        at = elr - 4 if ec in CALL_ECS else elr
        rel = "the instruction after the" if ec in CALL_ECS else "the"
        with self._in(w):
            self._say(f"  ELR_EL{el} = {self.describe_addr(elr)}: {rel} "
                      f"{'faulting/trapped' if at == elr else 'exception-generating'} "
                      f"instruction{' in ' + w.name if w.name else ''}")
            src = self._source_line_text(at)
            if src:
                self._say(f"  {src}")
            self._say(self.format_insn_line(at) + self._loc_suffix(at))
        if ec == 0x16:
            from armvirt import psci
            x0 = self.m.reg("x0", self.pe) & 0xFFFF_FFFF
            if x0 in psci.NAMES:
                self._say(f"  (x0 = 0x{x0:x}: PSCI {psci.NAMES[x0]})")

    def cmd_trace(self, arg: str) -> None:
        w = arg.strip().lower()
        if w not in ("on", "off", ""):
            raise DebugError("usage: trace on|off")
        if w:
            self.trace_on = w == "on"
        self._say(f"Exception trace is {'on' if self.trace_on else 'off'}: every exception "
                  f"entry and return is {'printed' if self.trace_on else 'silent'} while "
                  f"running.")

    def cmd_pt(self, arg: str) -> None:
        """pt [VA] [el0|el1|el2] [read|write|exec] [s1]: the whole walk, every descriptor."""
        words = arg.split()
        opts = {w.lower() for w in words if w.lower() in
                ("el0", "el1", "el2", "read", "write", "exec", "r", "w", "x", "s1")}
        expr = " ".join(w for w in words if w.lower() not in opts) or "$pc"
        va = self._addr(expr)
        el = next((int(o[2]) for o in opts if o.startswith("el")), self._el(self.pe))
        access = next(({"r": "read", "w": "write", "x": "exec"}.get(o, o) for o in opts
                       if o in ("read", "write", "exec", "r", "w", "x")), "read")
        w = self.m.translate(va, el=el, access=access, stage2="s1" not in opts, pe=self.pe)
        self._say(f"PE{self.pe} " + w.format())

    def cmd_vcpu(self, arg: str) -> None:
        """vcpu: which VM and vCPU each PE runs, from the hardware's view (EL, HCR_EL2.VM,
        VTTBR_EL2.VMID, VMPIDR_EL2) and, when armvirt's firmware is loaded (its ``pcpus``
        symbol is known), from the hypervisor's own records (armvirt.hv.abi)."""
        from armvirt.hv import abi
        pcpus = self.symbols.lookup("pcpus")
        for pe in range(self.m.smp):
            el = self._el(pe)
            hcr = self.m.reg("HCR_EL2", pe)
            vmid = (self.m.reg("VTTBR_EL2", pe) >> 48) & 0xFF
            if el == 2:
                hw = "EL2 (hypervisor)"
            elif hcr & 1:
                hw = f"EL{el} guest, stage 2 on, VMID {vmid}, VMPIDR " \
                     f"0x{self.m.reg('VMPIDR_EL2', pe):x}"
            else:
                hw = f"EL{el}, stage 2 off" + (" (host part)" if pcpus is not None else "")
            sw = ""
            if pcpus is not None:
                base = pcpus + pe * abi.PCPU.size
                rec = self.m.read_phys(base, abi.PCPU.size)
                vcpu = abi.PCPU.get(rec, 0, "VCPU")
                if vcpu:
                    v = self.m.read_phys(vcpu, abi.VCPU.size)
                    vm = abi.VCPU.get(v, 0, "VM")
                    vmrec = self.m.read_phys(vm, abi.VM.size)
                    o = abi.VM.offsets["NAME"]
                    name = bytes(vmrec[o:o + abi.VM_NAME_LEN]).split(b"\0")[0].decode(
                        errors="replace")
                    sw = f"; firmware: vCPU {abi.VCPU.get(v, 0, 'INDEX')} of VM " \
                         f"{name!r} (VMID {abi.VM.get(vmrec, 0, 'VMID')}), " \
                         f"{abi.VCPU.get(v, 0, 'EXITS')} exits"
                else:
                    sw = "; firmware: no vCPU loaded"
            self._say(f"PE{pe}: {hw}{sw}")

    def cmd_world(self, arg: str) -> None:
        """world [hyp|host|VM [vcpu N]|auto]: the world addresses (x, disas, bt, list,
        breakpoints without a scope, p *ADDR) belong to; auto follows the selected PE."""
        words = arg.lower().split()
        if words:
            if words[0] in ("auto", "pe", "follow"):
                self._view = None
            elif words[0] in ("hyp", "el2", "hypervisor"):
                self._view = World("hyp" if self.worlds.hypervisor else "bare", self.pe)
            elif words[0] == "host":
                if not self.worlds.hypervisor:
                    raise DebugError("no host part: armvirt's hypervisor is not loaded")
                self._view = World("host", self.pe)
            else:
                if not self.worlds.hypervisor:
                    raise DebugError("no VMs: armvirt's hypervisor is not loaded (its "
                                     "symbols name the worlds)")
                rest = [w for w in words[1:] if w != "vcpu"]
                vcpu = 0
                if rest:
                    try:
                        vcpu = int(rest[0].removeprefix("vcpu"), 0)
                    except ValueError:
                        raise DebugError(f"world {words[0]}: bad vCPU {rest[0]!r}") from None
                name = arg.split()[0]
                try:
                    self._view = self.worlds.guest(name, vcpu)
                except ValueError as e:
                    raise DebugError(str(e)) from None
        w = self.world()
        how = "chosen with `world`" if self._view is not None else \
            f"the world PE{self.pe} runs in"
        regime = {"hyp": "EL2 regime", "host": "EL1, stage 2 off",
                  "guest": "its stage 1 (EL1) then its VM's stage 2"}.get(w.kind,
                                                                      "the PE's current regime")
        saved = "" if w.live else " (its registers read from the vCPU record)"
        self._say(f"Addresses are looked at in {w.name or 'the bare machine'} ({how}): "
                  f"{regime}{saved}.")
        for vm in self.worlds.vms():
            self._say(f"  {vm['name']}: VMID {vm['vmid'] or '(not created yet)'}, "
                      f"{vm['nr_vcpus']} vCPU{'s' if vm['nr_vcpus'] != 1 else ''}")

    # ================================================================== reverse execution
    def cmd_rsi(self, arg: str) -> None:
        n = self._count(arg)
        h = self.history
        if not h.started or h.pos == h.start_pos:
            raise DebugError("No more reverse-execution history.")
        n_before = h.n_events()
        tail = self.events[-16:]                  # what one step back can undo, and more
        if self.m.smp == 1:
            target = max(h.start_pos, h.pos - n)
        else:
            target = h.pos
            for _ in range(n):
                target = self._previous_step_of_pe(target)
        short = self.m.smp == 1 and h.pos - n < h.start_pos
        h.goto(target)
        self._after_travel()
        undone = n_before - h.n_events()
        if undone > len(tail):
            self._say(f"[stepped back across {undone} exception entries and returns]")
        else:
            for ev in tail[len(tail) - undone:]:
                self._say("[stepped back across: " + self._event_text(ev) + "]")
        if short:
            self._say("No more reverse-execution history.")
        self._out.extend(self._location_lines(self.pe))
        self._frame = 0
        self._show_displays()

    def _event_text(self, ev: tuple) -> str:
        kind, pe, _cyc, from_el, to_el, esr, elr = ev[:7]
        if kind == TR_EXC_RETURN:
            return f"exception return EL{from_el} -> EL{to_el} to {self.describe_addr(elr & M64)}"
        what = X.ec_short((esr >> 26) & 0x3F) if esr >= 0 else "asynchronous exception"
        return (f"exception entry EL{from_el} -> EL{to_el}, {what}, ELR_EL{to_el} = "
                f"{self.describe_addr(elr & M64)}")

    def _previous_step_of_pe(self, pos: int) -> int:
        """The position just before the last step PE ``self.pe`` took before ``pos``: its
        cycle count only grows, so binary search over replays finds it."""
        h = self.history
        p = self.pe
        h.goto(pos, commit=False)
        cyc = int(self.m.reg("cycles", p))
        lo = h.start_pos
        h.goto(lo, commit=False)
        if int(self.m.reg("cycles", p)) >= cyc:
            h.goto(pos, commit=False)
            raise DebugError(f"No more reverse-execution history for PE{p}.")
        hi = pos
        while hi - lo > 1:
            mid = (lo + hi) // 2
            h.goto(mid, commit=False)
            if int(self.m.reg("cycles", p)) < cyc:
                lo = mid
            else:
                hi = mid
        return lo

    def _after_travel(self) -> None:
        self._console_seen = min(self._console_seen, len(self.m.console))
        self._refresh_watch_values()
        self._x_next = None

    def cmd_rc(self, arg: str) -> None:
        h = self.history
        if not h.started or h.pos == h.start_pos:
            raise DebugError("No more reverse-execution history.")
        wanted = self._user_config()
        stop = self.reverse_continue(wanted)
        if stop is None:
            self._say("No more reverse-execution history." if wanted else
                      "No breakpoints or watchpoints: back at the start of the recorded "
                      "history.")
            self._out.extend(self._location_lines(self.pe))
            return
        if stop.point is not None:
            stop.point.hits += 1
        self._report(stop)

    def reverse_continue(self, wanted: tuple, any_hit: bool = False) -> Stop | None:
        """Go back to the last hit, before this point, of the breakpoints and watchpoints
        ``wanted`` (machine configuration items); None: none, now at the start of the
        history. ``any_hit``: every stop at those items counts (the GDB stub's own
        breakpoints, which are not the REPL's points)."""
        h = self.history
        end = h.pos
        found = None
        cps = sorted((c for c in h.checkpoints if c.pos < end and c.log_len <= len(h.log)),
                     key=lambda c: (c.pos, c.log_len))
        seg_end = end
        if wanted:
            # Search the segments between checkpoints, latest first.
            for cp in reversed(cps):
                if cp.pos >= seg_end:
                    continue
                hits = self._scan(cp, seg_end, end, wanted, any_hit=any_hit)
                if hits:
                    found = (cp, seg_end, hits[-1])
                    break
                seg_end = cp.pos
        if found is None:
            h.goto(h.start_pos)
            self._after_travel()
            return None
        cp, seg_end, (pos, stop) = found
        # The same replay again, stopping at that hit; it becomes the recorded history.
        self._scan(cp, seg_end, end, wanted, stop_at=pos, any_hit=any_hit)
        self._after_travel()
        return stop

    def _scan(self, cp: Any, seg_end: int, end: int, wanted: tuple,
              stop_at: int | None = None, any_hit: bool = False) -> list[tuple[int, Stop]]:
        """Replay from checkpoint ``cp`` up to ``seg_end`` with the user's breakpoints and
        watchpoints armed besides the recorded ones, collecting (position, stop) of each hit
        before ``end``. With ``stop_at``, stop at that hit and make this the new history."""
        h = self.history
        m = self.m
        user_config = machine_config(m)
        sink, m.uart_sink = m.uart_sink, None
        h.replaying = True
        hits: list[tuple[int, Stop]] = []
        new_log = h.log[:cp.log_len]
        try:
            h._restore(cp)
            values = {p.num: self._watch_value(p) for p in self.points
                      if p.kind == "watchpoint" and p.enabled}
            if cp.pos < end:
                for pe in range(m.smp):
                    if m.cpus[pe][L.POWER] != L.POWER_ON:
                        continue
                    pc, el = self._pc(pe), self._el(pe)
                    bps = [p for p in self.points if p.kind == "breakpoint" and p.enabled and
                           p.addr == pc and p.el_mask >> el & 1 and
                           self._point_world_ok(p, pe)]
                    if any_hit and any(i[0] == "b" and i[1] == pc and i[2] >> el & 1
                                       for i in wanted):
                        bps = bps or [None]
                    if bps:
                        at = ExitInfo("breakpoint", pe=pe, pc=pc)
                        hits.append((cp.pos, Stop("breakpoint", info=at, point=bps[0])))
                        break
            if stop_at is not None and hits and hits[-1][0] == stop_at:
                return self._commit_scan(new_log, hits)
            from armvirt.debug.history import Mutation, RunEntry
            for e in h.log[cp.log_len:]:
                if isinstance(e, Mutation):
                    if e.pos > seg_end:
                        break
                    h._apply(e)
                    new_log.append(e)
                    continue
                if e.start >= seg_end:
                    break
                target = min(e.steps, seg_end - e.start)
                config = e.config + tuple(i for i in wanted if i not in e.config)
                install_config(m, config)
                done = 0
                idle = 0
                while done < target:
                    if target < e.steps:
                        budget = target - done
                    else:
                        budget = None if e.budget is None else e.budget - done
                    sb = e.step_break if done == 0 else None
                    info = run_call(m, budget, e.hold, sb)
                    got = steps_of(info)
                    new_log.append(RunEntry(h.pos, budget, config, got, e.hold, sb))
                    done += got
                    h.pos += got
                    idle = idle + 1 if got == 0 else 0
                    if idle > 2 or done > target:
                        raise ReplayError("replay diverged while searching backwards")
                    stop = self._scan_hit(info, values, wanted if any_hit else None)
                    if stop is not None and h.pos < end:
                        hits.append((h.pos, stop))
                        if stop_at is not None and h.pos == stop_at:
                            return self._commit_scan(new_log, hits)
                    if info.reason not in ("breakpoint", "watchpoint", "budget"):
                        break
            return hits
        finally:
            install_config(m, user_config)
            m.uart_sink = sink
            h.replaying = False

    def _commit_scan(self, new_log: list, hits: list) -> list:
        h = self.history
        h.log = new_log
        h.checkpoints = [c for c in h.checkpoints if c.pos <= h.pos and
                         c.log_len <= len(new_log)]
        return hits

    def _scan_hit(self, info: Any, values: dict, wanted: tuple | None = None) -> Stop | None:
        if wanted is not None:     # any stop at a wanted item counts
            if info.reason == "breakpoint" and any(i[0] == "b" and i[1] == info.pc
                                                   for i in wanted):
                return Stop("breakpoint", info=info)
            if info.reason == "watchpoint":
                wp = info.watchpoint
                if ("w", wp.addr, wp.size, wp.kind, wp.el_mask) in wanted:
                    return Stop("watchpoint", info=info)
            return None
        if info.reason == "breakpoint":
            el = self._el(info.pe)
            bps = [p for p in self.points if p.kind == "breakpoint" and p.enabled and
                   p.addr == info.pc and p.el_mask >> el & 1 and
                   self._point_world_ok(p, info.pe)]
            return Stop("breakpoint", info=info, point=bps[0]) if bps else None
        if info.reason == "watchpoint":
            wp = info.watchpoint
            for p in self.points:
                if p.kind == "watchpoint" and p.enabled and \
                        p.machine_item() == ("w", wp.addr, wp.size, wp.kind, wp.el_mask):
                    old, new = values.get(p.num), self._watch_value(p)
                    values[p.num] = new
                    if p.access == "w" and old == new:
                        return None
                    return Stop("watchpoint", info=info, point=p, old=old, new=new)
        return None

    # ================================================================== misc
    def cmd_quit(self, arg: str) -> None:
        self.quit_requested = True

    def cmd_help(self, arg: str) -> None:
        """help [COMMAND [SUBCOMMAND]]: ``help info el``, ``help catch eret``, ..."""
        words = arg.strip().lower().split()
        if not words:
            self._say(HELP_SUMMARY)
            return
        name = self._resolve_command(words[0])
        if len(words) > 1 and name in SUBHELP:
            sub = words[1]
            table = SUBHELP[name]
            if name == "info":
                sub = INFO_ALIASES.get(sub, sub)
            matches = [k for k in table if k == sub] or [k for k in table if k.startswith(sub)]
            if len(matches) != 1:
                raise DebugError(f'Undefined {name} command: "{words[1]}".  Try "help {name}".')
            self._say(table[matches[0]])
            return
        usage = HELP.get(name)
        if usage is None:
            raise DebugError(f'No help for "{words[0]}".')
        self._say(usage)
        if name in SUBHELP:
            self._say("Subcommands: " + ", ".join(SUBHELP[name]) +
                      f'.  "help {name} SUBCOMMAND" for one.')

    # ================================================================== display, frames
    def cmd_display(self, arg: str) -> None:
        """display[/F] EXPR: show EXPR now and after every stop; without EXPR, show them all."""
        if not arg.strip():
            self._show_displays()
            return
        fmt = self._fmt
        self._eval(arg)                 # refuse a bad expression now
        num = self._next_display
        self._next_display += 1
        self.displays.append((num, fmt, arg.strip()))
        self._show_displays([num])

    def cmd_undisplay(self, arg: str) -> None:
        if not arg.strip():
            self.displays.clear()
            return
        for w in arg.replace(",", " ").split():
            if not w.isdigit() or not any(d[0] == int(w) for d in self.displays):
                raise DebugError(f"No display number {w}.")
            self.displays = [d for d in self.displays if d[0] != int(w)]

    def _info_display(self, arg: str) -> None:
        if not self.displays:
            self._say("There are no auto-display expressions now.")
            return
        self._say("Auto-display expressions now in effect:\nNum Enb Expression")
        for num, fmt, expr in self.displays:
            self._say(f"{num}:   y  {('/' + fmt + ' ') if fmt else ''}{expr}")

    def _show_displays(self, nums: list[int] | None = None) -> None:
        for num, fmt, expr in self.displays:
            if nums is not None and num not in nums:
                continue
            try:
                text = self._format_value(self._eval(expr), fmt)
            except (DebugError, ExprError) as e:
                text = f"<error: {str(e).splitlines()[0] if str(e) else e}>"
            self._say(f"{num}: {('/' + fmt + ' ') if fmt else ''}{expr} = {text}")

    def cmd_frame(self, arg: str) -> None:
        """frame [N]: describe frame N of bt (default: the selected one)."""
        frames = self._frames()
        n = self._frame if not arg.strip() else self._eval(arg).value
        if not 0 <= n < len(frames):
            raise DebugError(f"No frame at level {arg.strip() or n}.")
        self._frame = n
        self._say(self._frame_line(n, frames[n][0]))
        look = frames[n][0] if n == 0 else frames[n][0] - 4
        src = self._source_line_text(look)
        if src:
            self._say(src)

    def cmd_up(self, arg: str) -> None:
        self.cmd_frame(str(self._frame + (self._count(arg) if arg.strip() else 1)))

    def cmd_down(self, arg: str) -> None:
        n = self._frame - (self._count(arg) if arg.strip() else 1)
        if n < 0:
            raise DebugError("Bottom (innermost) frame selected; you cannot go down.")
        self.cmd_frame(str(n))

    def _frame_line(self, i: int, a: int) -> str:
        look = a if i == 0 else a - 4      # a return address: name the call's line
        name = self.symbols.describe(look)
        if i and name:
            sym = self.symbols.symbolize(look)
            name = f"{sym[0].name}+{a - sym[0].addr}" if sym else name
        loc = self.symbols.line_for(look)
        where = f" at {self._short_file(loc[0])}:{loc[1]}" if loc else ""
        return f"#{i:<2} 0x{a:x} in {name or '??'}{where}"

    def cmd_until(self, arg: str) -> None:
        """until: like next, but never stops at a line at or before the start (a loop's
        backward jump runs on); until LOCATION: run to LOCATION or until this frame returns."""
        if arg.strip():
            addr, _ = self._parse_location(arg)
            internal = [_Internal(addr, 0b111, self.pe, self._sp())]
            frames = self._frames(limit=2)
            if len(frames) >= 2:
                internal.append(_Internal(frames[1][0], 1 << self._el(), self.pe, self._sp()))
            self._report(self._go(internal=internal))
            return
        start_pc, start_sp = self._pc(), self._sp()
        start = self.symbols.line_for(start_pc)
        frames = self._frames(limit=2)
        ret = frames[1][0] if len(frames) >= 2 else None
        stop = Stop("done")
        for _ in range(STEP_LINE_LIMIT):
            stop = self._step_over_call()
            if stop.kind != "done":
                break
            pc = self._pc()
            if pc == ret and self._sp() >= start_sp:
                break                   # returned to the caller
            if pc > start_pc and (start is None or self.symbols.line_for(pc) != start):
                break
        self._finish_step(stop)


_SYSREG_UPPER_NAMES = {r.name for r in T.SYSREGS}

# Single-bit fields worth naming in register displays (Arm ARM register descriptions).
_FIELDS = {
    "sctlr_el1": [(0, "M"), (1, "A"), (2, "C"), (3, "SA"), (4, "SA0"), (12, "I"), (19, "WXN"),
                  (25, "EE"), (23, "SPAN")],
    "sctlr_el2": [(0, "M"), (1, "A"), (2, "C"), (3, "SA"), (12, "I"), (19, "WXN"), (25, "EE")],
    "hcr_el2": [(0, "VM"), (1, "SWIO"), (3, "FMO"), (4, "IMO"), (5, "AMO"), (6, "VF"),
                (7, "VI"), (8, "VSE"), (12, "DC"), (13, "TWI"), (14, "TWE"), (15, "TID0"),
                (16, "TID1"), (17, "TID2"), (18, "TID3"), (19, "TSC"), (20, "TIDCP"),
                (21, "TACR"), (22, "TSW"), (23, "TPC"), (24, "TPU"), (25, "TTLB"), (26, "TVM"),
                (27, "TGE"), (28, "TDZ"), (29, "HCD"), (30, "TRVM"), (31, "RW")],
}


def _fields_text(name: str, v: int | None) -> str:
    if v is None:
        return ""
    if name in ("pstate", "cpsr"):
        return _psr_text(v)
    if name in _FIELDS:
        set_bits = [n for b, n in _FIELDS[name] if v >> b & 1]
        return "[ " + " ".join(set_bits) + " ]" if set_bits else "[ ]"
    if name.startswith("spsr_el"):
        return _psr_text(v)
    if name.startswith("esr_el"):
        ec = (v >> 26) & 0x3F
        return f"[ EC 0x{ec:02x} {X.ec_short(ec)} ]" if v else ""
    return ""


def _psr_text(v: int) -> str:
    """PSTATE in SPSR format (SPSR_EL1: M[3:0] = EL:SP, DAIF [9:6], IL 20, SS 21, PAN 22,
    NZCV [31:28])."""
    m = v & 0xF
    if v & 0x10:
        mode = "AArch32"
    else:
        mode = f"EL{m >> 2}{'h' if m & 1 and m >> 2 else 't'}"
    bits = [mode]
    bits += [n for n, b in (("N", 31), ("Z", 30), ("C", 29), ("V", 28)) if v >> b & 1]
    bits += [n for n, b in (("D", 9), ("A", 8), ("I", 7), ("F", 6)) if v >> b & 1]
    bits += [n for n, b in (("PAN", 22), ("SS", 21), ("IL", 20)) if v >> b & 1]
    return "[ " + " ".join(bits) + " ]"


def _char_repr(b: int) -> str:
    return "'" + _char_escape(b).replace("'", "\\'") + "'"


def _char_escape(b: int) -> str:
    esc = {0: "\\000", 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f",
           13: "\\r", 27: "\\033", 34: '\\"', 92: "\\\\"}
    if b in esc:
        return esc[b]
    if 32 <= b < 127:
        return chr(b)
    return f"\\{b:03o}"


def _region(pa: int, ram_size: int) -> str:
    """What the virt board has at physical address ``pa`` (armvirt/memmap.py)."""
    regions = [
        (memmap.RAM_BASE, ram_size, "RAM"),
        (memmap.FLASH_BASE, memmap.FLASH_SIZE, "flash (not modelled)"),
        (memmap.GICD_BASE, memmap.GICD_SIZE, "GIC distributor"),
        (memmap.GICR_BASE, memmap.GICR_SIZE, "GIC redistributors"),
        (memmap.UART_BASE, memmap.UART_SIZE, "PL011 UART"),
        (memmap.RTC_BASE, memmap.RTC_SIZE, "PL031 RTC"),
        (memmap.VIRTIO_BASE, memmap.VIRTIO_SIZE * memmap.VIRTIO_COUNT, "virtio-mmio"),
    ]
    for base, size, name in regions:
        if base <= pa < base + size:
            return name
    if pa >= memmap.RAM_BASE + ram_size:
        return "beyond the end of RAM"
    return "nothing mapped there"


def _as_symbol_table(symbols: Any) -> SymbolTable:
    if isinstance(symbols, SymbolTable):
        return symbols
    if symbols is None:
        return SymbolTable()
    if isinstance(symbols, dict):
        t = SymbolTable()
        t.add_symbols("<symbols>", symbols)
        return t
    if hasattr(symbols, "source_lines") and hasattr(symbols, "code"):   # asm.Program
        t = SymbolTable()
        t.add_program(symbols)
        return t
    if hasattr(symbols, "entry") and hasattr(symbols, "kind"):          # loader.BootInfo
        return SymbolTable.from_boot_info(symbols)
    if isinstance(symbols, (str, os.PathLike)):
        return SymbolTable.from_elf(symbols)
    raise TypeError(f"cannot use {type(symbols).__name__} as a symbol table")


# ====================================================================== help
HELP = {
    "step": "step [N]: run until the source line changes (into calls); one instruction "
            "where no line is known.",
    "stepi": "stepi|si [N]: execute N instructions of the selected PE.",
    "next": "next|n [N]: like step, but a BL/BLR runs to its return.",
    "nexti": "nexti|ni [N]: one instruction; a BL/BLR runs to its return (temporary "
             "breakpoint at pc+4, this PE, this stack depth).",
    "continue": "continue|c [N]: run until a breakpoint, watchpoint, catchpoint, Ctrl-C or the "
                "machine stops (N: ignore this breakpoint N-1 more times).",
    "finish": "finish: run until the current function returns (to frame #1 of bt).",
    "advance": "advance LOCATION: run until LOCATION (or a stop).",
    "break": "break|b LOCATION [el N|elN|hyp] [vmid N]: breakpoint at *ADDR, 0xADDR, "
             "symbol[+off], file:line or line (current file); el scopes it to those ELs, vmid "
             "to one guest (EL0/EL1 under stage 2 with that VMID). A VA not mapped yet makes a "
             "pending breakpoint, bound when its page is first executed.",
    "tbreak": "tbreak|tb LOCATION [el N]: a breakpoint deleted when hit.",
    "delete": "delete|d [N...]: delete breakpoints/watchpoints/catchpoints (all without N).",
    "enable": "enable [N...]", "disable": "disable [N...]",
    "watch": "watch EXPR[,SIZE] [el N]: stop after a write that changes the SIZE (default 8 "
             "or the type's) bytes at EXPR (*(u32*)ADDR, {u16}ADDR, symbol, address).",
    "rwatch": "rwatch EXPR[,SIZE] [el N]: stop after a read of those bytes.",
    "awatch": "awatch EXPR[,SIZE] [el N]: stop after a read or write of those bytes.",
    "catch": "catch exception [elN] [ec=0xNN|svc|hvc|smc|brk|undef|sysreg|dabt|iabt|...]: "
             "stop at the vector when an exception is taken (to ELN, of that class). "
             "catch eret [elN]: stop after an exception return.",
    "x": "x/NFU ADDR: examine memory. F: x d u o t c a s i z; U: b h w g. x/10i $pc "
         "disassembles.",
    "print": "print|p[/F] EXPR: evaluate ($x0, $sp, $pc, $SCTLR_EL1, symbols, *(u64*)ADDR, "
             "arithmetic); p $x0 = 5 assigns.",
    "set": "set $REG = EXPR | set *(u64*)ADDR = EXPR | set {u32}ADDR = EXPR | set var ...",
    "info": "info registers [NAME...] | all-registers | breakpoints | el | sysregs "
            "[el0|el1|el2|NAME...] | pes | symbol ADDR | line [LOCATION] | record | tlb | gic "
            "| lr (the list registers) | timer",
    "disassemble": "disas[/r] [ADDR[,+LEN|,END]]: disassemble the function at pc or ADDR, "
                   "with symbols and source lines.",
    "backtrace": "bt [N]: frame-pointer backtrace (x29 chain, saved LR at [x29+8]).",
    "list": "list|l [LOCATION]: source lines around pc or LOCATION; again: the next ones.",
    "pe": "pe N: select the PE that commands act on (info pes lists them).",
    "explain": "explain fault [el1|el2]: decode ESR/FAR/HPFAR of the last exception (or of "
               "that EL) in words. explain esr VALUE: decode any syndrome.",
    "trace": "trace on|off: print every exception entry and return while running.",
    "reverse-stepi": "reverse-stepi|rsi [N]: go back N instructions of the selected PE "
                     "(checkpoint + deterministic replay).",
    "reverse-continue": "reverse-continue|rc: go back to the last breakpoint or watchpoint "
                        "hit before this point (or the start of the recorded history).",
    "pt": "pt [VA] [el0|el1|el2] [read|write|exec] [s1]: the whole translation of VA "
          "(default $pc) on this PE: every stage 1 and stage 2 descriptor read, with its "
          "address, value and fields, then the PA or the fault. s1: stop at the IPA.",
    "vcpu": "vcpu: which VM and vCPU each PE runs (EL, stage 2, VMID; and the firmware's "
            "own records when armvirt's hypervisor is loaded).",
    "world": "world [hyp|host|VM [vcpu N]|auto]: the world addresses belong to (x, disas, "
             "bt, list, p *ADDR, breakpoints without an EL scope): a guest's VA goes through "
             "the guest's stage 1 and its VM's stage 2 even while the hypervisor runs. auto "
             "(the default) follows the selected PE. Without an argument: the world looked at "
             "and the VMs.",
    "display": "display[/F] EXPR: print EXPR now and after every stop (step, continue, "
               "reverse-stepi, ...); display alone prints them all; info display lists them.",
    "undisplay": "undisplay [N...]: stop displaying expression N (all without N).",
    "until": "until|u: like next, but a backward jump (the end of a loop) does not stop it: "
             "runs until a line after this one, or the function returns. until LOCATION: run "
             "until LOCATION or until the current function returns.",
    "frame": "frame|f [N]: describe frame N of the backtrace (default: the selected one) and "
             "its source line. up [N] / down [N] select the caller / the callee.",
    "up": "up [N]: select the frame N levels up (towards the caller) and describe it.",
    "down": "down [N]: select the frame N levels down (towards the innermost) and describe it.",
    "quit": "quit|q: leave the debugger.",
    "help": "help [COMMAND [SUBCOMMAND]]: help info el, help catch eret, help explain fault.",
}

INFO_ALIASES = {"r": "registers", "reg": "registers", "b": "breakpoints",
                "break": "breakpoints", "watchpoints": "breakpoints",
                "threads": "pes", "thread": "pes", "lr": "lr", "sym": "symbol"}

# Subcommands of the commands that have them, for `help COMMAND SUBCOMMAND`.
SUBHELP = {
    "info": {
        "registers": "info registers [NAME...]: general registers (default x0-x30, sp, pc, "
                     "cpsr, fpsr, fpcr) or the named ones ($ optional, any case), with their "
                     "value decoded (symbols, PSTATE and system-register fields).",
        "all-registers": "info all-registers: the general registers and q0-q31.",
        "breakpoints": "info breakpoints [N...]: breakpoints, watchpoints and catchpoints "
                       "with their scope (EL, VMID, world) and hit counts.",
        "el": "info el: the selected PE's exception level and SP selection, DAIF, NZCV, "
              "PAN/IL/SS, power state, whether translation is on (and why), ELR/SPSR of its "
              "EL and the last exception it took.",
        "sysregs": "info sysregs [el0|el1|el2|NAME...]: system registers by Arm name, with "
                   "access (RO/WO/RW) and decoded fields.",
        "pes": "info pes: every PE with its power state, EL and pc (* = selected).",
        "symbol": "info symbol [ADDR]: the symbol containing ADDR (default $pc).",
        "line": "info line [LOCATION]: the source line of LOCATION (default $pc).",
        "record": "info record: the recorded execution (steps, checkpoints) reverse "
                  "execution replays.",
        "tlb": "info tlb: the selected PE's TLB entries (regime, VMID, ASID, permissions) "
               "and its hit rate.",
        "gic": "info gic: the distributor, every enabled/pending/active interrupt, each PE's "
               "CPU interface.",
        "lr": "info lr: the selected PE's list registers and ICH_* state, decoded.",
        "timer": "info timer: the counter and each generic timer of the selected PE (fires "
                 "in how many ticks).",
        "display": "info display: the auto-display expressions.",
        "frame": "info frame: the selected frame (frame, up, down).",
    },
    "catch": {
        "exception": "catch exception [elN] [ec=0xNN|svc|hvc|smc|brk|undef|sysreg|dabt|iabt|"
                     "...]: stop at the vector when an exception is taken (to ELN, of that "
                     "class), with ESR/ELR/FAR shown.",
        "eret": "catch eret [elN]: stop after an exception return (from ELN).",
    },
    "explain": {
        "fault": "explain fault [el1|el2]: ESR/FAR/HPFAR of the last exception (or of that "
                 "EL) in words, and the instruction at ELR in the world that took it.",
        "esr": "explain esr VALUE: decode any ESR_ELx value.",
    },
    "trace": {
        "on": "trace on: print every exception entry and return while running.",
        "off": "trace off: stop printing them.",
    },
    "world": {
        "hyp": "world hyp: addresses are the hypervisor's (EL2 regime).",
        "host": "world host: addresses are the host part's (EL1, stage 2 off; split build).",
        "auto": "world auto: addresses belong to the world the selected PE runs in.",
        "vm": "world VM [vcpu N]: addresses are VM's guest virtual addresses (its stage 1, "
              "then its stage 2), e.g. world vm0.",
    },
}

HELP_SUMMARY = """\
Running:      step/s, stepi/si [N], next/n, nexti/ni, continue/c, finish, advance LOC
Reverse:      reverse-stepi/rsi [N], reverse-continue/rc, info record
Breakpoints:  break/b LOC [el N], tbreak/tb, delete/d [N], enable, disable, info breakpoints
Watching:     watch/rwatch/awatch EXPR[,SIZE] [el N], catch exception [elN] [ec=..], catch eret
Data:         print/p[/F] EXPR, set $REG|*(T*)ADDR = EXPR, x/NFU ADDR, info registers [NAME..]
Code:         disassemble [ADDR[,+LEN]], list [LOC], backtrace/bt, info symbol, info line
Stack:        backtrace/bt, frame/f [N], up, down, finish, until/u [LOC], display EXPR
Machine:      info el, info sysregs [elN|NAME..], info pes, pe N, explain fault [elN],
              explain esr VALUE, trace on|off, pt VA [elN] [read|write|exec], info tlb,
              info gic, info lr, info timer, vcpu, world [hyp|host|VM|auto]
LOC is *ADDR, 0xADDR, symbol[+off], file:line or line.  help COMMAND [SUBCOMMAND] for
details (help info el)."""


# ====================================================================== interactive loop
def interact(dbg: Debugger, *, history_file: str | None = HISTORY_FILE,
             stdin: Any = None, stdout: Any = None) -> None:
    """The interactive REPL on a terminal: readline history and tab completion of command
    names, register names (after ``$``) and symbols; an empty line repeats the last
    running/examining command, as in gdb; Ctrl-C stops a running command."""
    import signal
    stdout = stdout or sys.stdout
    try:
        import readline
    except ImportError:  # pragma: no cover - platforms without readline
        readline = None
    hist_path = os.path.expanduser(history_file) if history_file else None
    if readline is not None:
        if hist_path:
            try:
                readline.read_history_file(hist_path)
            except (OSError, PermissionError):
                pass
            readline.set_history_length(2000)
        readline.set_completer_delims(" \t\n=,()*+-/<>&|!~{}[]")
        readline.set_completer(_Completer(dbg).complete)
        readline.parse_and_bind("tab: complete")
    # Guest output streams as it comes; a line it leaves open is closed before the debugger
    # speaks again or prompts, so neither runs into the other.
    at_line_start = [True]

    def stream(text: str) -> None:
        stdout.write(text)
        stdout.flush()
        at_line_start[0] = text.endswith("\n") if text else at_line_start[0]

    def end_guest_line() -> None:
        if not at_line_start[0]:
            stdout.write("\n")
            at_line_start[0] = True

    dbg.stream = stream
    repeatable = {"step", "stepi", "next", "nexti", "x", "list", "reverse-stepi", "continue"}
    last = ""

    def on_sigint(signum: int, frame: Any) -> None:
        dbg.interrupt()

    try:
        while not dbg.quit_requested:
            try:
                line = input(PROMPT)
            except EOFError:
                stdout.write("\n")
                break
            except KeyboardInterrupt:
                stdout.write("\n")
                continue
            if not line.strip():
                if not last:
                    continue
                line = last
            else:
                word = line.strip().split()[0].split("/")[0]
                try:
                    name = dbg._resolve_command(word)
                except DebugError:
                    name = ""
                # gdb: Enter repeats stepping; `x` and `list` continue where they stopped.
                last = {"x": "x", "list": "list"}.get(name, line if name in repeatable else "")
            old = signal.signal(signal.SIGINT, on_sigint)
            try:
                out = dbg.command(line)
            finally:
                signal.signal(signal.SIGINT, old)
            end_guest_line()
            if out:
                stdout.write(out + "\n")
                stdout.flush()
    finally:
        if readline is not None and hist_path:
            try:
                readline.write_history_file(hist_path)
            except OSError:
                pass


class _Completer:
    def __init__(self, dbg: Debugger):
        self.dbg = dbg
        self.matches: list[str] = []

    def candidates(self, line: str, text: str) -> list[str]:
        words = line.split()
        first_word = not words or (len(words) == 1 and not line.endswith(" "))
        if first_word:
            pool = self.dbg.command_names()
        elif text.startswith("$"):
            pool = ["$" + r for r in self.dbg.register_names()]
        else:
            cmd = words[0].split("/")[0]
            try:
                cmd = self.dbg._resolve_command(cmd)
            except DebugError:
                cmd = ""
            if cmd == "info" and len(words) <= 2 and not (len(words) == 2 and
                                                          line.endswith(" ")):
                pool = sorted(self.dbg._info_table())
            elif cmd == "info" and len(words) >= 2 and words[1].startswith(("r", "sys")):
                pool = self.dbg.register_names()
            elif cmd == "trace":
                pool = ["on", "off"]
            elif cmd == "catch":
                pool = ["exception", "eret", "el1", "el2"] + \
                    [f"ec={n}" for n in _EC_BY_NAME]
            elif cmd == "explain":
                pool = ["fault", "esr", "el1", "el2"]
            elif cmd == "help":
                pool = self.dbg.command_names()
            else:
                pool = self.dbg.symbols.names() + self._files()
        return [c for c in pool if c.startswith(text)]

    def _files(self) -> list[str]:
        return [Path(f).name + ":" for f in self.dbg.symbols.files()]

    def complete(self, text: str, state: int) -> str | None:
        if state == 0:
            import readline
            line = readline.get_line_buffer()[:readline.get_endidx()]
            try:
                self.matches = self.candidates(line, text)
            except Exception:  # noqa: BLE001 - never break the prompt
                self.matches = []
        return self.matches[state] if state < len(self.matches) else None
