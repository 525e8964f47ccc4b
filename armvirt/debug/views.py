"""The debugger's views: everything that reads and formats ``Machine`` data — memory and
registers in the world looked at (armvirt.worlds), symbols and source lines, ``x``/``print``/
``set``, ``info ...``, ``disas``/``bt``/``list``/``frame``, ``explain``, ``pt``, ``vcpu``,
``world`` and ``display``. Shared by the REPL and, through it, the GDB stub's ``monitor``."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import sysreg_table as T
from armvirt.cpu.exceptions import TR_EXC_ENTRY
from armvirt.cpu.syndrome import CALL_ECS, EC_HVC64
from armvirt.debug import dbgregs as DR
from armvirt.debug import explain as X
from armvirt.debug.base import DebugError, INFO_ALIASES, MAX_FRAMES, POWER_NAMES, _SYSREG_UPPER
from armvirt.debug.disasm import Insn, annotate, disassemble_one
from armvirt.debug.expr import ExprError, M64, Val, evaluate, split_top, wrap
from armvirt.machine import MachineError
from armvirt.worlds import World, Worlds


class ViewsMixin:
    """The views of :class:`armvirt.debug.repl.Debugger` (see the module docstring)."""

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
        """The PA of ``va`` in the regime of the world looked at (``Worlds.va_to_pa``, which
        the GDB stub's memory packets share)."""
        try:
            return self.worlds.va_to_pa(self.world(self.pe if pe is None else pe), va)
        except MachineError as e:
            raise DebugError(f"Cannot access memory at address 0x{va & M64:x}: {e}") from None

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
                "frame": self._info_frame, "dbg": self._info_dbg}

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

    def _info_dbg(self, arg: str) -> None:
        """info dbg [PE]: the PE's self-hosted debug registers decoded (armvirt.debug.dbgregs):
        MDSCR_EL1, the OS lock, MDCR_EL2's routing and traps, each enabled breakpoint and
        watchpoint."""
        pe = self.pe
        if arg.strip():
            pe = self._eval(arg).value
            if not 0 <= pe < self.m.smp:
                raise DebugError(f"No PE {arg.strip()} (PEs 0..{self.m.smp - 1}).")
        mdcr = self.m.reg("MDCR_EL2", pe)
        # DebugTarget: EL2 when MDCR_EL2.TDE or HCR_EL2.TGE is set
        target = 2 if mdcr >> 8 & 1 or self.m.reg("HCR_EL2", pe) >> 27 & 1 else 1
        self._say(f"PE{pe} {DR.mdcr_text(mdcr)}  (EL0/EL1 debug exceptions go to EL{target})")
        for line in DR.debug_lines(DR.pe_debug_state(self.m, pe)):
            self._say("  " + line)

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
            # ELR is an address of the world the exception came from (or returns to)
            back = self.worlds.lower(pe)[0] if el == 2 else self.worlds.current(pe)
            with self._in(back):
                elr = self.describe_addr(self.m.reg(f'ELR_EL{el}', pe))
            self._say(f"  ELR_EL{el} = {elr}{' ' + back.tag if back.tag else ''}   "
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
        if ec == EC_HVC64:
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
        if pcpus is not None:
            self._vcpu_state()

    def _vcpu_state(self) -> None:
        """Each vCPU's emulated EL1 physical timer, its PMU share and its debug registers, from
        its PE's registers where the firmware keeps them live there, else from its record."""
        from armvirt.hv import abi
        ws = self.worlds
        for v in ws.vcpus():
            a, pe = v["addr"], v["pe"]

            def rec(name: str, n: int = 0, a: int = a) -> int:
                return ws.vcpu_field(a, name, n)
            self._say(f"{v['vm']} vcpu{v['index']} (PE{pe}, record 0x{a:x}):")
            cntpct = self.m.timer_info(pe if 0 <= pe < self.m.smp else 0)["cntpct"]
            self._say("  ptimer (emulated, in the record): " +
                      DR.ptimer_text(rec("CNTP_CTL"), rec("CNTP_CVAL"), cntpct))
            n = abi.GUEST_PMU_COUNTERS
            if v["pmu_live"]:
                p = self.m.pmu_info(pe)
                mask = abi.GUEST_PMU_MASK
                share = {"pmcr": p["pmcr"], "pmcnten": p["pmcntenset"] & mask,
                         "pmovs": p["pmovsset"] & mask, "pminten": p["pmintenset"] & mask,
                         "pmccntr": p["pmccntr"],
                         "pmevcntr": [e["counter"] for e in p["events"][:n]],
                         "pmevtyper": [e["event"] for e in p["events"][:n]]}
                where = f"in PE{pe}, PMU_OWNER"
            else:
                share = {"pmcr": rec("PMCR"), "pmcnten": rec("PMCNTEN"), "pmovs": rec("PMOVS"),
                         "pminten": rec("PMINTEN"), "pmccntr": rec("PMCCNTR"),
                         "pmevcntr": [rec("PMEVCNTR", k) for k in range(n)],
                         "pmevtyper": [rec("PMEVTYPER", k) for k in range(n)]}
                where = "in the record"
            lines = DR.pmu_lines(share, n)
            self._say(f"  pmu ({where}): {lines[0]}")
            self._say(f"    {lines[1]}")
            dirty = {0: "not used (trapped)", abi.DBG_LOADED: "loaded",
                     abi.DBG_TRAPPED: "trapped once, loading"}.get(
                v["dbg_dirty"], f"DBG_DIRTY {v['dbg_dirty']}")
            if v["dbg_live"]:
                d = DR.pe_debug_state(self.m, pe)
                where = f"switched in: PE{pe}'s registers"
            else:
                d = DR.debug_state(lambda name, k: rec(
                    {"BVR": "DBG_BVR", "BCR": "DBG_BCR", "WVR": "DBG_WVR",
                     "WCR": "DBG_WCR"}.get(name, name), k))
                where = "switched out: the record"
            lines = DR.debug_lines(d)
            self._say(f"  debug ({dirty}; {where}): {lines[0]}")
            for line in lines[1:]:
                self._say(f"    {line}")

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
