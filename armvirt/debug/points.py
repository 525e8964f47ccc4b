"""The debugger's breakpoints, watchpoints and catchpoints: locations, their world and EL
scope, and the commands that make, list and remove them."""

from __future__ import annotations

import re

from armvirt import layout as L
from armvirt import memmap
from armvirt.debug import explain as X
from armvirt.debug.base import DebugError, Point, _EC_BY_NAME, _els_text
from armvirt.debug.expr import ExprError, split_top
from armvirt.worlds import World


class PointsMixin:
    """The points room of :class:`armvirt.debug.repl.Debugger` (see the module docstring)."""

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
                with self._in(p.world):     # named in the world the breakpoint belongs to
                    what = self.describe_addr(p.addr).split(" ", 1)[1] if \
                        self.symbols.describe(p.addr) else ""
                    loc = self._loc_suffix(p.addr)
                scope = f" ({_els_text(p.el_mask)} only)" if p.el_mask != 0b111 else ""
                scope += f" (VMID {p.vmid} only)" if p.vmid >= 0 else ""
                scope += f" {self._point_tag(p).strip()}" if p.world is not None else ""
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
