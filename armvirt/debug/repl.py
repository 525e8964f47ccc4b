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
from pathlib import Path
from typing import Any, Callable

from armvirt.cpu import sysreg_table as T
from armvirt.debug.base import (CHUNK, HISTORY_FILE, INFO_ALIASES, MAX_EVENTS,  # noqa: F401
                                PROMPT, DebugError, Point, Stop, _EC_BY_NAME)
from armvirt.debug.expr import ExprError, Val
from armvirt.debug.history import History, ReplayError
from armvirt.debug.points import PointsMixin
from armvirt.debug.running import RunningMixin
from armvirt.debug.symbols import SymbolError, SymbolTable
from armvirt.debug.views import ViewsMixin
from armvirt.machine import MachineError
from armvirt.trace import EventRing
from armvirt.worlds import World, Worlds


class Debugger(RunningMixin, PointsMixin, ViewsMixin):
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


def _as_symbol_table(symbols: Any) -> SymbolTable:
    if isinstance(symbols, SymbolTable):
        return symbols
    if symbols is None:
        return SymbolTable()
    if isinstance(symbols, dict):
        t = SymbolTable()
        t.add_symbols("<symbols>", symbols)
        return t
    if hasattr(symbols, "source_lines") and hasattr(symbols, "code"):   # build.Program
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
            "| lr (the list registers) | timer | dbg [PE]",
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
            "own records when armvirt's hypervisor is loaded), then each vCPU's emulated "
            "physical timer (CTL, CVAL, PPI 30 pending), its PMU share (PMCR, enabled, "
            "overflowed and interrupt-enabled counters, their values) and its debug registers "
            "(switched in or not, MDSCR_EL1, OS lock, enabled breakpoints and watchpoints): "
            "from its PE's registers while the firmware keeps them there, else its record.",
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
        "dbg": "info dbg [PE]: the self-hosted debug registers of the selected PE (or PE) "
               "decoded: MDSCR_EL1 (SS, KDE, MDE), the OS lock, MDCR_EL2's routing and traps "
               "(TDE, TDA, TDOSA, TDRA, HPMN), and every enabled breakpoint (type, address and "
               "BAS or context, ELs, link) and watchpoint (load/store, the bytes BAS/MASK "
               "watch, ELs, link).",
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
              info gic, info lr, info timer, info dbg [PE], vcpu, world [hyp|host|VM|auto]
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
