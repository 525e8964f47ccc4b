"""Exit timing: KVM's exit timing table (count, min, max, mean, sum and standard deviation of
the cycles spent outside the guest, per exit class; plus the time in the guest) for any run.

It is computed from the exception trace (``Machine.set_trace(["exc"])``: each entry and return
with the PE's cycle count and the VMID of the world on the EL0/EL1 side), so it needs nothing
from the firmware and works for both builds. An *exit* is an exception taken to EL2 from a
guest (EL0/EL1 with stage 2 on); it lasts until the next exception return into a guest on that
PE, whatever happens in between (the host part's own HVCs and interrupts in the split build).
When that return enters another VM, the exit ends there and the VM that exited is
*descheduled* until the PE enters it again. Its class is the exit's EC
name (``syndrome.EC_TABLE``: HVC64, DABT_LOWER, SYSREG, WFX, ...) or, for an interrupt,
``IRQ``/``FIQ``/``SERROR`` (KVM's INTERRUPT).

Times: an exit starts where the trapping instruction took the exception (the entry's recorded
cycle count less the profile's exception-entry cost) and ends at the return's recorded count
(after the ERET's exception-return cost): the cycles the guest did not run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from armvirt.cpu.exceptions import TR_EXC_ENTRY, TR_EXC_RETURN
from armvirt.cpu.syndrome import EC_TABLE, ec_of

_VECTOR = {0x080: "IRQ", 0x100: "FIQ", 0x180: "SERROR"}
_EC_NAME = {value: name for value, name, *_ in EC_TABLE}


@dataclass
class ExitClass:
    count: int = 0
    total: int = 0
    sq: int = 0
    min: int | None = None
    max: int | None = None

    def add(self, v: int) -> None:
        self.count += 1
        self.total += v
        self.sq += v * v
        self.min = v if self.min is None else min(self.min, v)
        self.max = v if self.max is None else max(self.max, v)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    @property
    def std(self) -> float:
        if not self.count:
            return 0.0
        return math.sqrt(max(self.sq / self.count - self.mean ** 2, 0.0))


@dataclass
class _PE:
    exit_class: str | None = None   # the class of the exit in progress
    exit_start: int = 0
    exit_vmid: int = -1             # whose exit it is
    guest_since: int | None = None


@dataclass
class ExitTimer:
    """A trace sink (``feed``) that times exits. ``entry_cost``: the profile's exception-entry
    cycles (``Machine.profile.events["exception_entry"]``)."""
    entry_cost: int = 0
    classes: dict[str, ExitClass] = field(default_factory=dict)
    # (PE, VMID) -> cycles in the guest, and cycles descheduled: after an exit the PE went on
    # to another VM, until this one was entered again (a vCPU of each VM per PE)
    guest: dict[tuple[int, int], int] = field(default_factory=dict)
    descheduled: dict[tuple[int, int], int] = field(default_factory=dict)
    _pes: dict[int, _PE] = field(default_factory=dict)
    _out_since: dict[tuple[int, int], int] = field(default_factory=dict)

    def feed(self, ev: tuple[int, ...]) -> None:
        kind, pe, cycles, from_el, to_el, esr = ev[:6]
        target, vmid = ev[8], ev[10]
        st = self._pes.setdefault(pe, _PE())
        if kind == TR_EXC_ENTRY and to_el == 2 and from_el < 2 and vmid >= 0:
            if st.exit_class is not None:     # cannot happen: a guest runs only after a return
                return
            start = cycles - self.entry_cost
            if st.guest_since is not None:
                key = (pe, vmid)
                self.guest[key] = self.guest.get(key, 0) + start - st.guest_since
                st.guest_since = None
            st.exit_vmid = vmid
            if esr >= 0:
                ec = ec_of(esr)
                st.exit_class = _EC_NAME.get(ec, f"EC_0x{ec:02x}")
            else:
                st.exit_class = _VECTOR.get(target & 0x180, "IRQ")
            st.exit_start = start
        elif kind == TR_EXC_RETURN and to_el < 2 and vmid >= 0:
            if st.exit_class is not None:
                self.classes.setdefault(st.exit_class, ExitClass()).add(cycles - st.exit_start)
                st.exit_class = None
                if st.exit_vmid != vmid:      # the PE switched VMs: the other one waits
                    self._out_since[(pe, st.exit_vmid)] = cycles
            since = self._out_since.pop((pe, vmid), None)
            if since is not None:
                self.descheduled[(pe, vmid)] = self.descheduled.get((pe, vmid), 0) + \
                    cycles - since
            st.guest_since = cycles

    @property
    def count(self) -> int:
        """Exits completed (the guest was entered again)."""
        return sum(c.count for c in self.classes.values())

    @property
    def in_progress(self) -> dict[int, str]:
        """PE -> the class of an exit that has not returned to the guest (yet, or ever: the
        exit that switched the machine off)."""
        return {pe: st.exit_class for pe, st in self._pes.items() if st.exit_class is not None}

    def as_dict(self) -> dict:
        return {"exits": {k: {"count": c.count, "min": c.min, "max": c.max, "mean": c.mean,
                              "sum": c.total, "std": c.std}
                          for k, c in sorted(self.classes.items())},
                "time_in_guest": {f"PE{p}/VMID{v}": c for (p, v), c in sorted(self.guest.items())},
                "descheduled": {f"PE{p}/VMID{v}": c
                                for (p, v), c in sorted(self.descheduled.items())},
                "in_progress": dict(sorted(self.in_progress.items()))}

    def format(self) -> str:
        head = (f"{'exit':<14}{'count':>10}{'min':>10}{'max':>10}{'mean':>12}{'sum':>14}"
                f"{'std dev':>12}")
        rows = [head]
        for k, c in sorted(self.classes.items(), key=lambda kv: -kv[1].total):
            rows.append(f"{k:<14}{c.count:>10,}{c.min:>10,}{c.max:>10,}{c.mean:>12,.1f}"
                        f"{c.total:>14,}{c.std:>12,.1f}")
        total = sum(c.total for c in self.classes.values())
        rows.append(f"{'all exits':<14}{self.count:>10,}{'':>32}{total:>14,}")
        for (pe, vmid), cyc in sorted(self.guest.items()):
            rows.append(f"{'in guest':<14}{f'PE{pe}/VMID{vmid}':>14}{'':>28}{cyc:>14,}")
        for (pe, vmid), cyc in sorted(self.descheduled.items()):
            rows.append(f"{'descheduled':<14}{f'PE{pe}/VMID{vmid}':>14}{'':>28}{cyc:>14,}")
        for pe, k in sorted(self.in_progress.items()):
            rows.append(f"{'not returned':<14}{'PE' + str(pe):>10}  {k} (still out of the guest "
                        "at the end)")
        return "\n".join(rows)


def attach(m) -> ExitTimer:
    """Time every exit of machine ``m`` from now on: turns on the exception trace and chains
    the timer in front of any trace sink already there."""
    t = ExitTimer(entry_cost=m.profile.events["exception_entry"])
    m.set_trace(set(m.trace) | {"exc"})
    prev = m.trace_sink

    def sink(ev):
        t.feed(ev)
        if prev is not None:
            prev(ev)
    m.trace_sink = sink
    return t
