"""The debugger's running and stepping: the recorded ``Machine.run`` calls (``history.History``),
stops at breakpoints, watchpoints and catchpoints, ``step``/``next``/``until``/``finish``, and
reverse execution (``reverse-stepi``, ``reverse-continue``: checkpoints plus replay)."""

from __future__ import annotations

from typing import Any

from armvirt import layout as L
from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
from armvirt.debug import explain as X
from armvirt.debug.base import (CHUNK, DebugError, MAX_EVENTS, Point, STEP_LINE_LIMIT, Stop,
                                VECTOR_GROUPS, VECTOR_KINDS, _Internal)
from armvirt.debug.expr import M64
from armvirt.debug.history import (ReplayError, install_config, machine_config, run_call,
                                   steps_of)
from armvirt.machine import ExitInfo
from armvirt.worlds import EventNamer, World


class RunningMixin:
    """The running room of :class:`armvirt.debug.repl.Debugger` (see the module docstring)."""

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
