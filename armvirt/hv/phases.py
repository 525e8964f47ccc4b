"""Where the cycles go: every cycle of a stretch of a run attributed to a phase of the hypervisor.

The firmware declares its phases once, with the ``phase NAME[, DIR]`` macro (generated into
hv_abi.h from ``abi.PHASES``): each use is a symbol ``$phase.NAME.DIR.<n>`` and no code, so
the image is byte-for-byte the one without markers (and, named with a ``$`` like the AArch64
mapping symbols, invisible to the debugger's symbolizer and to ``loader.read_elf``). A firmware instruction belongs to the last
marker at or before its address (:class:`PhaseMap`). Two phases need no marker:

* ``guest``: an instruction executed at EL0/EL1 with stage 2 on (HCR_EL2.VM): the VM's own;
* ``trap``: an instruction after which the PE is at another EL — the guest's HVC, the access
  that faulted, an interrupt taken, an ERET — whose cycles are mostly the exception entry or
  return of the cost profile (armvirt/costs.py).

:class:`Accountant` executes one PE an instruction at a time (``Machine.step``: the interleaving
and every cycle are what a plain run gives) and adds each instruction's cycles, the difference
of the PE's cycle count across it, to its phase: so the phases of any stretch sum exactly to
its cycles, and an instruction outside every declared phase shows up as ``unmarked``.

:func:`hypercall_breakdown` measures one no-op hypercall round trip (``ARMVIRT_HC_NOP``) of a
small guest this way, and :func:`format_breakdown` prints it as Dall et al. (ISCA 2016, Table
3) do: one row per register group, save and restore columns, then the rest.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

from armvirt.hv import abi

PREFIX = "$phase."
GUEST, TRAP, UNMARKED = "guest", "trap", "unmarked"
GROUP_TITLES = {"gp": "GP regs", "fp": "FP/SIMD regs", "el1": "EL1 system regs",
                "vgic": "vGIC regs", "timer": "timer regs", "el2": "EL2 config regs",
                "stage2": "stage-2/VM regs", "pmu": "PMU regs (guest share)",
                "debug": "debug regs"}
OTHER_TITLES = {TRAP: "trap (exception entry/return)", "dispatch": "exit dispatch",
                "handler": "exit handler", "host": "host run loop", GUEST: "guest",
                UNMARKED: "unmarked"}


class PhaseError(ValueError):
    pass


class PhaseMap:
    """The firmware's phase markers, in address order."""

    def __init__(self, markers: list[tuple[int, str, str]], end: int):
        self.markers = sorted(markers)
        self.addrs = [a for a, _, _ in self.markers]
        self.end = end

    @classmethod
    def from_symbols(cls, symbols: dict[str, int]) -> "PhaseMap":
        markers = []
        for name, addr in symbols.items():
            if not name.startswith(PREFIX):
                continue
            parts = name[len(PREFIX):].split(".")
            if len(parts) != 3 or parts[0] not in abi.PHASES or parts[1] not in abi.PHASE_DIRS:
                raise PhaseError(f"firmware symbol {name}: not a phase of abi.PHASES "
                                 f"({', '.join(abi.PHASES)}) with a direction of "
                                 f"{', '.join(abi.PHASE_DIRS)}")
            markers.append((addr, parts[0], parts[1]))
        if not markers:
            raise PhaseError("the firmware declares no phase (no $phase.* symbol)")
        return cls(markers, symbols.get("hv_end", max(a for a, _, _ in markers) + 1))

    @classmethod
    def from_elf(cls, path: str | Path) -> "PhaseMap":
        """The markers of a firmware ELF (its symbol table: read_elf leaves ``$`` names out)."""
        from elftools.elf.elffile import ELFFile
        symbols: dict[str, int] = {}
        with open(path, "rb") as f:
            tab = ELFFile(f).get_section_by_name(".symtab")
            for sym in tab.iter_symbols() if tab is not None else ():
                if sym.name.startswith(PREFIX) or sym.name == "hv_end":
                    symbols[sym.name] = sym["st_value"]
        return cls.from_symbols(symbols)

    def phase_of(self, addr: int) -> tuple[str, str]:
        """(phase, direction) of the firmware instruction at ``addr``."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0 or addr >= self.end:
            return UNMARKED, "run"
        _, name, d = self.markers[i]
        return name, d


@dataclass
class Breakdown:
    """Cycles per (phase, direction); ``total`` is the PE's cycle count across the stretch."""
    cycles: dict[tuple[str, str], int] = field(default_factory=dict)
    insns: dict[tuple[str, str], int] = field(default_factory=dict)
    total: int = 0
    start: int = 0   # the PE's cycle count where the stretch began and ended
    end: int = 0

    def add(self, key: tuple[str, str], cycles: int) -> None:
        self.cycles[key] = self.cycles.get(key, 0) + cycles
        self.insns[key] = self.insns.get(key, 0) + 1
        self.total += cycles

    def phase(self, name: str, direction: str | None = None) -> int:
        return sum(v for (p, d), v in self.cycles.items()
                   if p == name and (direction is None or d == direction))

    def as_dict(self) -> dict:
        return {"total": self.total,
                "phases": [{"phase": p, "dir": d, "cycles": v, "insns": self.insns[(p, d)]}
                           for (p, d), v in sorted(self.cycles.items())]}


class Accountant:
    """Attributes the cycles of PE ``pe`` of a machine launched with the hypervisor."""

    def __init__(self, m, phases: PhaseMap, pe: int = 0):
        from armvirt import layout as L
        from armvirt.cpu import _sysregs as SR
        self.m, self.phases, self.pe = m, phases, pe
        self._L, self._HCR = L, SR.HCR_EL2

    def step(self, into: Breakdown) -> None:
        L = self._L
        c = self.m.cpus[self.pe]
        pc, el, before = int(c[L.PC]), int(c[L.EL]), int(c[L.CYCLES])
        in_guest = el < 2 and (int(c[self._HCR]) & 1)       # HCR_EL2.VM
        self.m.step(1, pe=self.pe)
        spent = int(c[L.CYCLES]) - before
        if int(c[L.EL]) != el:
            key = (TRAP, "run")
        elif in_guest:
            key = (GUEST, "run")
        else:
            key = self.phases.phase_of(pc & ((1 << 64) - 1))
        into.add(key, spent)

    def until(self, stop, into: Breakdown | None = None, limit: int = 1_000_000) -> Breakdown:
        """Step until ``stop(cpu_row)`` is true before an instruction (at most ``limit``)."""
        b = into or Breakdown()
        c = self.m.cpus[self.pe]
        b.start = int(c[self._L.CYCLES])
        for _ in range(limit):
            if stop(c):
                b.end = int(c[self._L.CYCLES])
                return b
            self.step(b)
        raise PhaseError(f"the stretch did not end within {limit} instructions")


HYPERCALL_GUEST = """
#include "guest.h"
    .global _start
    .type   _start, %function
_start:
    mov     x19, #WARMUP
1:  ldr     x0, =ARMVIRT_HC_NOP          // a few round trips first: nothing lazy is left
    hvc     #0
    subs    x19, x19, #1
    b.ne    1b
    ldr     x0, =ARMVIRT_HC_NOP
    .global hc_start
hc_start:
    hvc     #0
    .global hc_end
hc_end:
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
    .ltorg
"""


def hypercall_guest(out_dir: Path) -> Path:
    """Build the guest of :func:`hypercall_breakdown` (ELF) into ``out_dir``."""
    from armvirt.build import build_guest, hv_guest_defines
    out_dir.mkdir(parents=True, exist_ok=True)
    src = out_dir / "hc_breakdown.S"
    src.write_text(HYPERCALL_GUEST)
    return build_guest(src, out_dir, defines={**hv_guest_defines(), "WARMUP": 3})


def hypercall_breakdown(mode: str = "split", profile=None, out_dir: Path | None = None
                        ) -> Breakdown:
    """The cycles of one ARMVIRT_HC_NOP round trip, from the guest's HVC to the instruction
    after it, by phase."""
    import tempfile
    from armvirt.hv.launch import HvConfig, VMConfig, launch
    from armvirt.loader import read_elf
    with tempfile.TemporaryDirectory(prefix="armvirt-phases-") as tmp:
        elf = hypercall_guest(Path(out_dir or tmp))
        syms = read_elf(elf.read_bytes(), str(elf)).symbols
        cfg = HvConfig([VMConfig(str(elf), name="vm0", pin=[0], mem=16 << 20)], mode=mode)
        m, run = launch(cfg, uart=lambda data: None, profile=profile)   # loaded: tmp may go
    phases = PhaseMap.from_elf(run.firmware)
    from armvirt import layout as L
    bp = m.add_breakpoint(syms["hc_start"], el=1, vmid=1)
    info = m.run(max_insns=50_000_000)
    if info.reason != "breakpoint":
        raise PhaseError(f"the hypercall guest did not reach its HVC under {mode}: "
                         f"{info.reason} {info.detail}")
    m.remove_breakpoint(bp)
    acc = Accountant(m, phases, pe=0)
    end = syms["hc_end"]
    return acc.until(lambda c: int(c[L.PC]) == end and int(c[L.EL]) == 1
                     and int(c[acc._HCR]) & 1)


def format_breakdown(results: dict[str, Breakdown]) -> str:
    """The ISCA 2016 Table 3 layout: per register group save and restore cycles, per design;
    then the other phases and the total."""
    names = list(results)
    head = f"{'':<30}" + "".join(f"{n + ' save':>14}{n + ' restore':>16}" for n in names)
    rows = [head]
    for g in abi.PHASE_GROUPS:
        rows.append(f"{GROUP_TITLES[g]:<30}" + "".join(
            f"{results[n].phase(g, 'save'):>14,}{results[n].phase(g, 'restore'):>16,}"
            for n in names))
    for p in (TRAP, "dispatch", "handler", "host", GUEST, UNMARKED):
        if all(results[n].phase(p) == 0 for n in names) and p == UNMARKED:
            continue
        rows.append(f"{OTHER_TITLES[p]:<30}" + "".join(
            f"{results[n].phase(p):>30,}" for n in names))
    rows.append(f"{'total':<30}" + "".join(f"{results[n].total:>30,}" for n in names))
    return "\n".join(rows)
