"""Execution history for reverse debugging: checkpoints plus deterministic replay.

The machine is deterministic (virtual time, fixed round-robin scheduling, no host input), so a
past state is reached by restoring an earlier checkpoint and re-executing. :class:`History`
records everything that changes the machine while the debugger drives it:

* every call of ``Machine.run`` with its budget and the breakpoint/watchpoint configuration it
  ran under (the configuration matters: a stop ends a call, and with several PEs the next call
  restarts the scheduler's quantum, so replaying *the same calls* reproduces the same
  interleaving);
* every change the user makes (``set $x0 = 5``, writes to memory).

A *position* counts steps (the run loop's budget units: one instruction or one fetch fault
each, all PEs together) since the history began. ``goto(p)`` restores the nearest checkpoint
at or before ``p`` and replays the log up to ``p``; a call cut short is replayed with a smaller
budget, whose steps are a prefix of the original call's.

Checkpoints are compact: the state arrays, and only the non-zero 4 KiB pages of RAM (pages equal
to the previous checkpoint's are shared). The decode cache is derived data: on restore only the
entries of pages whose bytes change are dropped. (``Machine.save`` copies RAM and the decode
cache whole, ~2 s for 128 MiB: too slow to take at every resume.)

Exception events (which catchpoints, ``trace on`` and stepping back over an exception need)
are recorded into a bounded :class:`~armvirt.trace.EventRing`, and only while the debugger
runs the machine: replay never needs an event older than the chunk it replays.

Not captured: the state of devices modelled in Python (``Machine.add_device``). Of the board's,
the PL031 RTC keeps its load, match and interrupt registers across a reverse step (its time
comes from the restored cycle count); the virtio-mmio slots have no state. A replay that does
not reproduce its recording raises :class:`ReplayError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from armvirt import layout as L
from armvirt.trace import EventRing

PAGE_WORDS = 512          # 64-bit words per 4 KiB page of RAM
DCACHE_PER_PAGE = 1024    # decode-cache entries (one per 32-bit word) per 4 KiB page

CHECKPOINT_INTERVAL = 4_000_000   # steps between checkpoints of a long forward run
MAX_CHECKPOINTS = 48
NEAR = 100_000            # goto keeps a checkpoint this close below a far target (one PE)


class ReplayError(Exception):
    """Replay did not reproduce the recorded execution (the machine changed behind the
    debugger's back, or a device modelled in Python is not deterministic)."""


# A powered-on PE a debugger keeps from running for one call (GDB's scheduler locking and
# single steps): a power state the run loop skips and PSCI treats as on (not a layout.POWER_*).
POWER_HELD = 4


@dataclass
class RunEntry:
    start: int                  # position before the call
    budget: int | None          # max_insns given to Machine.run
    config: tuple               # breakpoints and watchpoints armed during the call
    steps: int                  # steps it executed
    hold: tuple = ()            # PEs held during the call (only the others ran)
    step_break: int | None = None   # a breakpoint at this pc was stepped over first


def run_call(m: Any, budget: int | None, hold: tuple = (), step_break: int | None = None) -> Any:
    """``Machine.run(budget)`` with the PEs ``hold`` held (``POWER_HELD``) and, when
    ``step_break`` is given, the breakpoint at that pc stepped over once (the engine's
    STEP_BREAK, as ``Machine.run`` arranges itself when resuming from a breakpoint stop)."""
    held = [p for p in hold if m.cpus[p][L.POWER] == L.POWER_ON]
    for p in held:
        m.cpus[p][L.POWER] = POWER_HELD
    if step_break is not None:
        m.mach[L.STEP_BREAK] = step_break - (1 << 64) if step_break >> 63 else step_break
    try:
        return m.run(budget)
    finally:
        m.mach[L.STEP_BREAK] = -1
        for p in held:
            if m.cpus[p][L.POWER] == POWER_HELD:   # not powered off meanwhile (SYSTEM_OFF)
                m.cpus[p][L.POWER] = L.POWER_ON


@dataclass
class Mutation:
    pos: int
    kind: str                   # "reg" | "mem"
    args: tuple


@dataclass
class Checkpoint:
    pos: int
    log_len: int
    state: np.ndarray
    cpus: np.ndarray
    pages: dict[int, bytes]
    console: bytes
    last_exit: Any
    power_off_reason: str | None
    n_events: int


def steps_of(info: Any) -> int:
    """Steps a ``Machine.run`` call executed. A watchpoint stop completes the watched access
    in one more step that ``ExitInfo.instructions`` does not count."""
    return int(info.instructions) + (1 if info.reason == "watchpoint" else 0)


def machine_config(m: Any) -> tuple:
    """The machine's breakpoints and watchpoints, as replayable data."""
    return (tuple(("b", b.addr, b.el_mask, b.temporary, b.vmid) for b in m.breakpoints) +
            tuple(("w", w.addr, w.size, w.kind, w.el_mask) for w in m.watchpoints))


def _els(mask: int) -> list[int]:
    return [e for e in range(4) if mask >> e & 1]


def install_config(m: Any, config: tuple) -> None:
    """Make the machine's breakpoints and watchpoints exactly ``config``."""
    if machine_config(m) != config:
        for b in list(m.breakpoints):
            m.remove_breakpoint(b)
        for w in list(m.watchpoints):
            m.remove_watchpoint(w)
        for item in config:
            if item[0] == "b":
                m.add_breakpoint(item[1], el=_els(item[2]), temporary=item[3],
                                 vmid=None if item[4] < 0 else item[4])
            else:
                m.add_watchpoint(item[1], item[2], item[3], el=_els(item[4]))


def take_checkpoint(m: Any, pos: int, log_len: int, n_events: int,
                    prev: Checkpoint | None = None) -> Checkpoint:
    pages_view = m.ram64.reshape(-1, PAGE_WORDS)
    pages: dict[int, bytes] = {}
    old = prev.pages if prev is not None else {}
    for i in np.flatnonzero(pages_view.any(axis=1)).tolist():
        b = pages_view[i].tobytes()
        o = old.get(i)
        pages[i] = o if o is not None and o == b else b
    return Checkpoint(pos, log_len, m.state.copy(), m.cpus.copy(), pages, bytes(m.console),
                      m.last_exit, m.power_off_reason, n_events)


def restore_checkpoint(m: Any, cp: Checkpoint) -> None:
    """Put the machine back in the state of ``cp``, keeping its current breakpoint and
    watchpoint lists (they are the debugger's, not the guest's)."""
    pages_view = m.ram64.reshape(-1, PAGE_WORDS)
    current = set(np.flatnonzero(pages_view.any(axis=1)).tolist())
    changed = []
    for i, b in cp.pages.items():
        if i in current and pages_view[i].tobytes() == b:
            continue
        pages_view[i] = np.frombuffer(b, dtype=np.int64)
        changed.append(i)
    for i in current - cp.pages.keys():
        pages_view[i] = 0
        changed.append(i)
    if changed:  # the decode cache of rewritten pages is stale
        m.dcache.reshape(-1, DCACHE_PER_PAGE)[changed] = 0
    flags = int(m.mach[L.TRACE_FLAGS])   # who records events is the debugger's choice now
    m.state[...] = cp.state
    m.mach[L.TRACE_FLAGS] = flags
    m.cpus[...] = cp.cpus
    m.console = bytearray(cp.console)
    m.last_exit = cp.last_exit
    m.power_off_reason = cp.power_off_reason
    # The restored state holds the checkpoint's breakpoint/watchpoint tables; re-arm the
    # current lists (this also drops the decode-cache marks of the old ones).
    m.rearm()


@dataclass
class History:
    """The record of one debugging session on one machine."""

    m: Any
    events: EventRing               # trace events, appended by the debugger's trace sink
    pos: int = 0
    log: list = field(default_factory=list)
    checkpoints: list = field(default_factory=list)
    interval: int = CHECKPOINT_INTERVAL
    replaying: bool = False

    @property
    def events_dropped(self) -> int:
        """Events no longer held (the ring keeps the last ``events.cap``)."""
        return self.events.dropped

    def n_events(self) -> int:
        """Events recorded so far, counting dropped ones (checkpoints store this)."""
        return self.events.total

    # ---------------------------------------------------------------- bookkeeping
    @property
    def started(self) -> bool:
        return bool(self.checkpoints)

    @property
    def start_pos(self) -> int:
        return self.checkpoints[0].pos if self.checkpoints else self.pos

    def reset(self) -> None:
        """Forget the past: the current state becomes the start of history."""
        self.log = []
        self.checkpoints = [take_checkpoint(self.m, self.pos, 0, self.n_events())]

    def checkpoint(self) -> None:
        prev = self.checkpoints[-1] if self.checkpoints else None
        if prev is not None and prev.pos == self.pos and prev.log_len == len(self.log):
            return
        self.checkpoints.append(take_checkpoint(self.m, self.pos, len(self.log),
                                                self.n_events(), prev))
        if len(self.checkpoints) > MAX_CHECKPOINTS:
            # Thin out the older half, keeping the start of history and the recent ones.
            keep = self.checkpoints[:1] + self.checkpoints[1:MAX_CHECKPOINTS // 2:2] + \
                self.checkpoints[MAX_CHECKPOINTS // 2:]
            self.checkpoints = keep

    def checkpoint_if_due(self) -> None:
        if self.checkpoints and self.pos - self.checkpoints[-1].pos >= self.interval:
            self.checkpoint()

    # ---------------------------------------------------------------- recording
    def run(self, budget: int | None, *, hold: tuple = (),
            step_break: int | None = None) -> Any:
        """``Machine.run(budget)`` (with ``run_call``'s ``hold`` and ``step_break``),
        recorded."""
        start = self.pos
        config = machine_config(self.m)
        info = run_call(self.m, budget, hold, step_break)
        n = steps_of(info)
        self.log.append(RunEntry(start, budget, config, n, tuple(hold), step_break))
        self.pos += n
        return info

    def set_reg(self, name: str, value: int, pe: int) -> None:
        self.m.set_reg(name, value, pe)
        self.log.append(Mutation(self.pos, "reg", (name, value, pe)))

    def write_phys(self, pa: int, data: bytes) -> None:
        self.m.write_phys(pa, data)
        self.log.append(Mutation(self.pos, "mem", (pa, bytes(data))))

    def _apply(self, mut: Mutation) -> None:
        if mut.kind == "reg":
            self.m.set_reg(*mut.args[:2], pe=mut.args[2])
        else:
            self.m.write_phys(*mut.args)

    # ---------------------------------------------------------------- travelling
    def _restore(self, cp: Checkpoint) -> None:
        restore_checkpoint(self.m, cp)
        self.events.truncate(cp.n_events)
        self.pos = cp.pos

    def goto(self, target: int, *, commit: bool = True) -> None:
        """Bring the machine to position ``target`` (between ``start_pos`` and the end of the
        log). With ``commit`` the log is cut at ``target`` (the future is forgotten, as after
        any change); without it the log is kept, for probing several positions in turn."""
        if not self.checkpoints or target < self.start_pos:
            raise ReplayError("no recorded history that far back")
        user_config = machine_config(self.m)
        sink, self.m.uart_sink = self.m.uart_sink, None    # the guest already printed this
        self.replaying = True
        try:
            cp = max((c for c in self.checkpoints if c.pos <= target), key=lambda c: (
                c.pos, c.log_len))
            self._restore(cp)
            new_log = self.log[:cp.log_len]
            for e in self.log[cp.log_len:]:
                if isinstance(e, Mutation):
                    if e.pos > target:
                        break
                    self._apply(e)
                    new_log.append(e)
                    continue
                if e.start >= target:
                    break
                n = min(e.steps, target - e.start)
                install_config(self.m, e.config)
                if n == e.steps:
                    self._replay_call(e.budget, n, e.hold, e.step_break)
                    new_log.append(e)
                else:
                    first = 0
                    if commit and self.m.smp == 1 and n > 2 * NEAR:
                        # Land a checkpoint just below the target, so that stepping back
                        # again from here replays little (one PE: splitting a call is exact).
                        first = n - NEAR
                        self._replay_call(first, first, e.hold, e.step_break)
                        new_log.append(RunEntry(e.start, first, e.config, first, e.hold,
                                                e.step_break))
                        self.log_checkpoint(new_log)
                    sb = e.step_break if first == 0 else None
                    self._replay_call(n - first, n - first, e.hold, sb)
                    new_log.append(RunEntry(e.start + first, n - first, e.config, n - first,
                                            e.hold, sb))
            if commit:
                self.log = new_log
                self.checkpoints = [c for c in self.checkpoints if c.pos <= self.pos and
                                    c.log_len <= len(new_log)]
        finally:
            install_config(self.m, user_config)
            self.m.uart_sink = sink
            self.replaying = False

    def log_checkpoint(self, log: list) -> None:
        """Take a checkpoint during replay (``log`` is the log that leads to it)."""
        self.checkpoints.append(take_checkpoint(self.m, self.pos, len(log), self.n_events(),
                                                self.checkpoints[-1]))
        self.checkpoints.sort(key=lambda c: (c.pos, c.log_len))

    def _replay_call(self, budget: int | None, expect: int, hold: tuple = (),
                     step_break: int | None = None) -> None:
        info = run_call(self.m, budget, hold, step_break)
        got = steps_of(info)
        self.pos += got
        if got != expect:
            raise ReplayError(f"replay diverged: a recorded run of {expect} steps took {got} "
                              f"(did something change the machine outside the debugger?)")
