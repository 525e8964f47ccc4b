"""Human-readable traces: exception entries and returns (``--trace exc``, like QEMU's
``-d int``) and the report of UNDEFINED instructions (``--trace unimp``, like ``-d unimp``);
the Chrome/Perfetto export (``--trace-file``, streamed); and ``EventRing``, the bounded buffer
that holds drained events (no trace buffer in armvirt grows with the length of a run)."""
from __future__ import annotations

import itertools
import json
from collections import deque
from typing import IO, Callable, Iterable, Iterator, Protocol, TYPE_CHECKING

from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
from armvirt.cpu.syndrome import EC_SHORT, ec_of

if TYPE_CHECKING:
    from armvirt.worlds import World

VECTOR_KINDS = {0x000: "sync", 0x080: "IRQ", 0x100: "FIQ", 0x180: "SError"}


def _u(v: int) -> int:
    return v & ((1 << 64) - 1)


def ec_short(ec: int) -> str:
    """The short name of an exception class (armvirt/cpu/syndrome.py)."""
    return EC_SHORT.get(ec, f"EC 0x{ec:02x}")


class Namer(Protocol):
    """What names the worlds and addresses of events (armvirt.worlds.EventNamer does, from
    the firmware's records and the symbol tables); traces without one show raw numbers."""

    def world_of(self, ev: tuple[int, ...]) -> "World": ...

    def world(self, ev: tuple[int, ...]) -> str: ...

    def symbol(self, ev: tuple[int, ...], addr: int, side: str) -> str: ...


def format_event(ev: tuple[int, ...], namer: Namer | None = None) -> str:
    """One line per event of the trace ring (see armvirt.cpu.exceptions.trace_event). With a
    ``namer``, the world of the EL0/EL1 side follows the PE (``PE0 [vm0 vcpu0]``) and ELR and
    the vector carry their symbols."""
    kind, pe, cycles, from_el, to_el, esr, elr, far, target = ev[:9]
    who = f"PE{pe}"
    elr_s = f"0x{_u(elr):x}"
    vec_s = f"0x{_u(target):x}"
    if namer is not None:
        tag = namer.world(ev)
        who += f" {tag}" if tag else ""
        sym = namer.symbol(ev, _u(elr), "lower" if kind == TR_EXC_ENTRY and from_el < to_el
                           or kind == TR_EXC_RETURN and to_el < from_el else "same")
        elr_s += f" <{sym}>" if sym else ""
        if kind == TR_EXC_ENTRY:
            vsym = namer.symbol(ev, _u(target), "target")
            vec_s += f" <{vsym}>" if vsym else ""
    if kind == TR_EXC_ENTRY:
        kind_name = VECTOR_KINDS.get(_u(target) & 0x180, "sync")
        if esr >= 0:
            ec = ec_of(esr)
            what = f"{ec_short(ec)} (EC 0x{ec:02x})"
            return (f"[{cycles:>10}] {who} exception EL{from_el}->EL{to_el} {what} "
                    f"ESR=0x{_u(esr):08x} ELR={elr_s} FAR=0x{_u(far):x} "
                    f"vector={vec_s}")
        return (f"[{cycles:>10}] {who} {kind_name} EL{from_el}->EL{to_el} "
                f"ELR={elr_s} vector={vec_s}")
    if kind == TR_EXC_RETURN:
        return (f"[{cycles:>10}] {who} eret EL{from_el}->EL{to_el} to {elr_s} "
                f"SPSR=0x{_u(target):x}")
    return f"[{cycles:>10}] {who} event {kind}"


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

    Process "armvirt" has one track (``tid``) per PE. Each span is the time a PE spent at one
    EL between two exception entries/returns, named after the EL ("EL1", "EL2", ...), so a
    world switch shows up as EL1 → EL2 → EL1 blocks; each exception entry is also an instant
    event carrying its class, ESR, ELR and FAR, and each interrupt taken (IRQ/FIQ/SError,
    physical or virtual) an instant event of category "interrupt".

    With a ``namer`` (a :class:`Namer`: under the hypervisor), every world has tracks of its
    own as well: process "hypervisor" (a track per PE), "host part" (split build, a track per
    PE) and one process per VM with a track per vCPU. Their spans say where the world was
    entered (``EL2 __guest_vectors+1024``, ``EL1 _start+16``), and instants name ELR's symbol,
    so the timeline of a hypercall reads guest → hypervisor → host part → guest at a glance.
    Timestamps are emulated cycles converted to microseconds at ``cpu_hz`` (the cost model's
    clock), so the picture is deterministic. Open the file in https://ui.perfetto.dev.
    """

    HYP_PID, HOST_PID, VM_PID0 = 1, 2, 16

    def __init__(self, *, smp: int, cpu_hz: int | None = None,
                 out: Callable[[dict], None] | None = None, namer: Namer | None = None):
        from armvirt import costs
        self.hz = cpu_hz or costs.load().cpu_hz   # the default profile's clock
        self.to_us = 1e6 / self.hz
        self.items: list[dict] = []
        self._out = out if out is not None else self.items.append
        self._open_span: dict[int, tuple[int, int]] = {}   # pe -> (el, start cycle)
        self.namer = namer
        self._world_span: dict[int, tuple[tuple[int, int], str, int]] = {}  # pe -> (track, name, start)
        self._named: set[tuple[int, int]] = set()
        self._out({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": "armvirt"}})
        for pe in range(smp):
            self._out({"name": "thread_name", "ph": "M", "pid": 0, "tid": pe,
                       "args": {"name": f"PE{pe}"}})

    # ---------------------------------------------------------------- world tracks
    def _track(self, w: object, pe: int) -> tuple[int, int]:
        """(pid, tid) of world ``w`` (an ``armvirt.worlds.World``) on PE ``pe``, named at its
        first use."""
        kind = getattr(w, "kind", "bare")
        if kind == "guest":
            vmid = getattr(w, "vmid", None) or 0
            vcpu = getattr(w, "vcpu", None)
            pid = self.VM_PID0 + vmid
            tid = vcpu if vcpu is not None else 1000 + pe
            pname = f"VM {getattr(w, 'vm', None) or vmid} (VMID {vmid})"
            tname = f"vcpu{vcpu}" if vcpu is not None else f"on PE{pe}"
        elif kind == "host":
            pid, tid, pname, tname = self.HOST_PID, pe, "host part (EL1)", f"PE{pe}"
        else:
            pid, tid, pname, tname = self.HYP_PID, pe, "hypervisor (EL2)", f"PE{pe}"
        if (pid, -1) not in self._named:
            self._named.add((pid, -1))
            self._out({"name": "process_name", "ph": "M", "pid": pid, "args": {"name": pname}})
            self._out({"name": "process_sort_index", "ph": "M", "pid": pid,
                       "args": {"sort_index": pid}})
        if (pid, tid) not in self._named:
            self._named.add((pid, tid))
            self._out({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                       "args": {"name": tname}})
        return pid, tid

    def _world_event(self, ev: tuple[int, ...]) -> None:
        namer = self.namer
        assert namer is not None
        kind, pe, cycles, from_el, to_el, esr, elr, _far, target = ev[:9]
        lower = namer.world_of(ev)
        from armvirt.worlds import World
        hyp = World("hyp", pe)
        to_world = hyp if to_el == 2 else lower
        start = self._world_span.get(pe)
        if start is not None and cycles > start[2]:
            (pid, tid), name, t0 = start
            self._out({"name": name, "cat": "world", "ph": "X", "pid": pid, "tid": tid,
                       "ts": t0 * self.to_us, "dur": (cycles - t0) * self.to_us,
                       "args": {"pe": pe}})
        if kind == TR_EXC_ENTRY:
            where = namer.symbol(ev, _u(target), "target")
        else:
            where = namer.symbol(ev, _u(elr), "lower" if to_el < from_el else "target")
        name = f"EL{to_el}" + (f" {where}" if where else "")
        self._world_span[pe] = (self._track(to_world, pe), name, cycles)

    def event(self, ev: tuple[int, ...]) -> None:
        kind, pe, cycles, from_el, to_el, esr, elr, far, target = ev[:9]
        to_us = self.to_us
        start = self._open_span.get(pe)
        if start is not None and cycles > start[1]:
            self._out({"name": f"EL{start[0]}", "cat": "el", "ph": "X", "pid": 0, "tid": pe,
                       "ts": start[1] * to_us, "dur": (cycles - start[1]) * to_us})
        elif start is None and cycles > 0:
            self._out({"name": f"EL{from_el}", "cat": "el", "ph": "X", "pid": 0, "tid": pe,
                       "ts": 0.0, "dur": cycles * to_us})
        self._open_span[pe] = (to_el, cycles)
        if self.namer is not None:
            self._world_event(ev)
        if kind == TR_EXC_ENTRY:
            ec = ec_of(esr) if esr >= 0 else None
            name = ec_short(ec) if ec is not None else \
                VECTOR_KINDS.get(_u(target) & 0x180, "interrupt")
            args = {"from": f"EL{from_el}", "to": f"EL{to_el}",
                    "esr": f"0x{_u(esr):x}" if esr >= 0 else None,
                    "elr": f"0x{_u(elr):x}", "far": f"0x{_u(far):x}"}
            if self.namer is not None:
                args["world"] = self.namer.world(ev)
                sym = self.namer.symbol(ev, _u(elr), "lower" if from_el < to_el else "same")
                if sym:
                    args["elr_symbol"] = sym
                    name += f" at {sym}"
            self._out({"name": name, "cat": "exception" if ec is not None else "interrupt",
                       "ph": "i", "s": "t", "pid": 0,
                       "tid": pe, "ts": cycles * to_us, "args": args})

    def finish(self, end_cycles: dict[int, int] | None = None) -> None:
        """Close every PE's last span at its final cycle count."""
        for pe, (el, start) in self._open_span.items():
            end = (end_cycles or {}).get(pe)
            if end is not None and end > start:
                self._out({"name": f"EL{el}", "cat": "el", "ph": "X", "pid": 0, "tid": pe,
                           "ts": start * self.to_us, "dur": (end - start) * self.to_us})
        for pe, ((pid, tid), name, start) in self._world_span.items():
            end = (end_cycles or {}).get(pe)
            if end is not None and end > start:
                self._out({"name": name, "cat": "world", "ph": "X", "pid": pid, "tid": tid,
                           "ts": start * self.to_us, "dur": (end - start) * self.to_us,
                           "args": {"pe": pe}})
        self._open_span = {}
        self._world_span = {}

    def other_data(self) -> dict:
        return {"clock": f"emulated cycles at {self.hz} Hz"}

    @classmethod
    def write_to(cls, f: IO[str], *, smp: int, cpu_hz: int | None = None,
                 namer: Namer | None = None) -> "ChromeTrace":
        """A trace whose events go straight to the open text file ``f``; ``close_file``
        writes the end of the document."""
        f.write('{"displayTimeUnit": "ns", "traceEvents": [\n')
        first = [True]

        def out(item: dict) -> None:
            f.write(("" if first[0] else ",\n") + json.dumps(item))
            first[0] = False
        return cls(smp=smp, cpu_hz=cpu_hz, out=out, namer=namer)

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
