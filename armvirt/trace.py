"""Human-readable traces: exception entries and returns (``--trace exc``, like QEMU's
``-d int``) and the report of UNDEFINED instructions (``--trace unimp``, like ``-d unimp``);
the Chrome/Perfetto export (``--trace-file``, streamed); and ``EventRing``, the bounded buffer
that holds drained events (no trace buffer in armvirt grows with the length of a run)."""
from __future__ import annotations

import itertools
import json
from collections import deque
from typing import IO, Callable, Iterable, Iterator

from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
from armvirt.debug.explain import ec_short

VECTOR_KINDS = {0x000: "sync", 0x080: "IRQ", 0x100: "FIQ", 0x180: "SError"}


def _u(v: int) -> int:
    return v & ((1 << 64) - 1)


def format_event(ev: tuple[int, ...]) -> str:
    """One line per event of the trace ring (see armvirt.cpu.exceptions.trace_event)."""
    kind, pe, cycles, from_el, to_el, esr, elr, far, target, _instret = ev
    if kind == TR_EXC_ENTRY:
        kind_name = VECTOR_KINDS.get(_u(target) & 0x180, "sync")
        if esr >= 0:
            ec = (esr >> 26) & 0x3F
            what = f"{ec_short(ec)} (EC 0x{ec:02x})"
            return (f"[{cycles:>10}] PE{pe} exception EL{from_el}->EL{to_el} {what} "
                    f"ESR=0x{_u(esr):08x} ELR=0x{_u(elr):x} FAR=0x{_u(far):x} "
                    f"vector=0x{_u(target):x}")
        return (f"[{cycles:>10}] PE{pe} {kind_name} EL{from_el}->EL{to_el} "
                f"ELR=0x{_u(elr):x} vector=0x{_u(target):x}")
    if kind == TR_EXC_RETURN:
        return (f"[{cycles:>10}] PE{pe} eret EL{from_el}->EL{to_el} to 0x{_u(elr):x} "
                f"SPSR=0x{_u(target):x}")
    return f"[{cycles:>10}] PE{pe} event {kind}"


def format_unimp(rows: list[tuple[str, int, int]]) -> str:
    if not rows:
        return "unimp: no UNDEFINED instruction was executed"
    lines = ["unimp: UNDEFINED instructions taken (pattern, count, first pc):"]
    for name, count, pc in sorted(rows, key=lambda r: -r[1]):
        lines.append(f"  {name:<24} {count:>8}  0x{pc:x}")
    return "\n".join(lines)


class EventRing:
    """The last ``cap`` trace events, numbered from the first one ever appended (so event
    numbers stay valid while old events drop off the front): the one bounded buffer behind
    ``Machine.trace_events`` and the debugger's history. ``ring[i]`` and ``ring[a:b]`` index
    the events still held, oldest first, as a list would; event number ``n`` is
    ``ring[n - ring.dropped]``. ``total`` counts every event appended, ``dropped`` those no
    longer held."""

    def __init__(self, cap: int):
        if cap <= 0:
            raise ValueError("an event ring holds at least one event")
        self.cap = cap
        self._ev: deque[tuple[int, ...]] = deque(maxlen=cap)
        self.dropped = 0

    def append(self, ev: tuple[int, ...]) -> None:
        if len(self._ev) == self.cap:
            self.dropped += 1
        self._ev.append(ev)

    def extend(self, events: Iterable[tuple[int, ...]]) -> None:
        for ev in events:
            self.append(ev)

    @property
    def total(self) -> int:
        return self.dropped + len(self._ev)

    def truncate(self, total: int) -> None:
        """Forget the events numbered ``total`` and later (replay will record them again)."""
        while self._ev and self.total > total:
            self._ev.pop()
        if self.total > total:   # even the held ones were past it
            self.dropped = total

    def clear(self) -> None:
        self._ev.clear()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._ev)

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        return iter(self._ev)

    def __reversed__(self) -> Iterator[tuple[int, ...]]:
        return reversed(self._ev)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return list(itertools.islice(self._ev, *i.indices(len(self._ev))))
        return self._ev[i]


class ChromeTrace:
    """A Chrome/Perfetto trace (the JSON "Trace Event Format") of exception-level phases, built
    one trace event at a time, so a long run can stream it to a file (``write_to``) instead of
    holding it.

    One track (``tid``) per PE. Each span is the time a PE spent at one EL between two
    exception entries/returns, named after the EL ("EL1", "EL2", ...), so a world switch shows
    up as EL1 → EL2 → EL1 blocks; each exception entry is also an instant event carrying its
    class, ESR, ELR and FAR, and each interrupt taken (IRQ/FIQ/SError, physical or virtual) an
    instant event of category "interrupt". Timestamps are emulated cycles converted to
    microseconds at ``cpu_hz`` (the cost model's clock), so the picture is deterministic.
    Open the file in https://ui.perfetto.dev or chrome://tracing.
    """

    def __init__(self, *, smp: int, cpu_hz: int | None = None,
                 out: Callable[[dict], None] | None = None):
        from armvirt import costs
        self.hz = cpu_hz or costs.CPU_HZ
        self.to_us = 1e6 / self.hz
        self.items: list[dict] = []
        self._out = out if out is not None else self.items.append
        self._open_span: dict[int, tuple[int, int]] = {}   # pe -> (el, start cycle)
        self._out({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "armvirt"}})
        for pe in range(smp):
            self._out({"name": "thread_name", "ph": "M", "pid": 0, "tid": pe,
                       "args": {"name": f"PE{pe}"}})

    def event(self, ev: tuple[int, ...]) -> None:
        kind, pe, cycles, from_el, to_el, esr, elr, far, target, _instret = ev
        to_us = self.to_us
        start = self._open_span.get(pe)
        if start is not None and cycles > start[1]:
            self._out({"name": f"EL{start[0]}", "cat": "el", "ph": "X", "pid": 0, "tid": pe,
                       "ts": start[1] * to_us, "dur": (cycles - start[1]) * to_us})
        elif start is None and cycles > 0:
            self._out({"name": f"EL{from_el}", "cat": "el", "ph": "X", "pid": 0, "tid": pe,
                       "ts": 0.0, "dur": cycles * to_us})
        self._open_span[pe] = (to_el, cycles)
        if kind == TR_EXC_ENTRY:
            ec = (esr >> 26) & 0x3F if esr >= 0 else None
            name = ec_short(ec) if ec is not None else \
                VECTOR_KINDS.get(_u(target) & 0x180, "interrupt")
            self._out({"name": name, "cat": "exception" if ec is not None else "interrupt",
                       "ph": "i", "s": "t", "pid": 0,
                       "tid": pe, "ts": cycles * to_us,
                       "args": {"from": f"EL{from_el}", "to": f"EL{to_el}",
                                "esr": f"0x{_u(esr):x}" if esr >= 0 else None,
                                "elr": f"0x{_u(elr):x}", "far": f"0x{_u(far):x}"}})

    def finish(self, end_cycles: dict[int, int] | None = None) -> None:
        """Close every PE's last span at its final cycle count."""
        for pe, (el, start) in self._open_span.items():
            end = (end_cycles or {}).get(pe)
            if end is not None and end > start:
                self._out({"name": f"EL{el}", "cat": "el", "ph": "X", "pid": 0, "tid": pe,
                           "ts": start * self.to_us, "dur": (end - start) * self.to_us})
        self._open_span = {}

    def other_data(self) -> dict:
        return {"clock": f"emulated cycles at {self.hz} Hz"}

    @classmethod
    def write_to(cls, f: IO[str], *, smp: int, cpu_hz: int | None = None) -> "ChromeTrace":
        """A trace whose events go straight to the open text file ``f``; ``close_file``
        writes the end of the document."""
        f.write('{"displayTimeUnit": "ns", "traceEvents": [\n')
        first = [True]

        def out(item: dict) -> None:
            f.write(("" if first[0] else ",\n") + json.dumps(item))
            first[0] = False
        return cls(smp=smp, cpu_hz=cpu_hz, out=out)

    def close_file(self, f: IO[str], end_cycles: dict[int, int] | None = None) -> None:
        self.finish(end_cycles)
        f.write(f'\n], "otherData": {json.dumps(self.other_data())}}}\n')


def chrome_trace(events: Iterable[tuple[int, ...]], *, smp: int, cpu_hz: int | None = None,
                 end_cycles: dict[int, int] | None = None) -> dict:
    """The whole :class:`ChromeTrace` of ``events`` as one JSON-ready document."""
    t = ChromeTrace(smp=smp, cpu_hz=cpu_hz)
    for ev in events:
        t.event(ev)
    t.finish(end_cycles)
    return {"traceEvents": t.items, "displayTimeUnit": "ns", "otherData": t.other_data()}
