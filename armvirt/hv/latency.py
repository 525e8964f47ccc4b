"""Interrupt latency, cyclictest style: how long after its virtual timer's deadline a guest's
interrupt handler runs, as a distribution, in the scenarios of the real-time KVM studies.

The guest (``LATENCY_GUEST``, built on the fly) arms its virtual timer ``PERIOD + jitter``
counter ticks ahead, sleeps in WFI, and stamps CNTVCT_EL0 in the first instruction of its IRQ
handler, as cyclictest reads the clock. The latency is ``(stamp - CVAL) * cycles_per_tick`` (the
profile's counter rate: the guest cannot know it, Python does), to one counter tick. Not the
cycle counter: like KVM, the hypervisor gives each vCPU its own PMCCNTR, which stands still while
another VM runs on the PE — exactly the time the shared scenario is about.

Scenarios (``SCENARIOS``), under either hypervisor build:

* ``alone``: the latency VM alone on PE 0;
* ``shared``: a busy VM pinned to the same PE, which never sleeps and exits all the time (a
  no-op hypercall every few instructions): the deadline falls anywhere in the busy VM's run
  or in the handling of one of its exits, which the hypervisor finishes before it switches;
* ``shielded``: the busy VM on PE 0, the latency VM alone on PE 1.

The scenario with the real-time vCPU given priority by the scheduler needs a priority in the
hypervisor's scheduler, which it does not have yet.
"""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

SAMPLES = 48
PERIOD = 2000          # counter ticks between arming and the deadline (32 us at 62.5 MHz)
BUSY_ITERS = 200_000

LATENCY_GUEST = """
#include "guest.h"
#define PPI_VTIMER  27
#define GICD_CTLR   0x0000
#define GICR_WAKER  0x0014
#define GICR_SGI    0x10000

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    ldr     x1, =GICD_BASE              // Group 1 on, PPI 27 enabled in Group 1
    mov     w2, #2
    str     w2, [x1, #GICD_CTLR]
    ldr     x1, =GICR_BASE
    str     wzr, [x1, #GICR_WAKER]
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b
    add     x1, x1, #GICR_SGI
    mov     w2, #(1 << PPI_VTIMER)
    str     w2, [x1, #0x80]             // GICR_IGROUPR0
    str     w2, [x1, #0x100]            // GICR_ISENABLER0
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    msr     daifclr, #2
    ldr     x19, =samples
    mov     x20, #0
next:
    str     xzr, [x19, #16]             // the handler's stamp
    and     x3, x20, #7                 // jitter: the deadline's phase varies with the sample
    lsl     x3, x3, #5
    add     x3, x3, #PERIOD
    isb
    mrs     x1, cntvct_el0
    add     x4, x1, x3
    msr     cntv_cval_el0, x4
    stp     x1, x3, [x19]               // CNTVCT at arming, CVAL - CNTVCT at arming
    mov     x4, #1
    msr     cntv_ctl_el0, x4
    .global lat_wait
lat_wait:
    isb
1:  wfi
    ldr     x5, [x19, #16]
    cbz     x5, 1b
    add     x19, x19, #24
    add     x20, x20, #1
    cmp     x20, #SAMPLES
    b.lo    next
    ldr     x19, =samples               // "lat: <handler - arming ticks> <ticks ahead>"
    mov     x20, #0
2:  say     "lat: "
    ldp     x0, x1, [x19]
    ldr     x2, [x19, #16]
    sub     x0, x2, x0
    mov     x21, x1
    bl      putdec
    say     " "
    mov     x0, x21
    bl      putdec
    bl      newline
    add     x19, x19, #24
    add     x20, x20, #1
    cmp     x20, #SAMPLES
    b.lo    2b
    say     "lat: done"
    bl      newline
    b       system_off

// The IRQ handler: its first instruction stamps the virtual count. It uses x9/x10 only, which
// the interrupted code (the WFI loop) does not.
    .global irq_handler
irq_handler:
    mrs     x9, cntvct_el0
    str     x9, [x19, #16]
    mrs     x10, icc_iar1_el1
    msr     cntv_ctl_el0, xzr           // off before the EOI: the level drops
    isb
    msr     icc_eoir1_el1, x10
    eret

    irq_only_vectors latency, irq_handler
#include "guest_lib.S"
    .ltorg
    .balign 16
samples:    .space  SAMPLES * 24
    .balign 16
    .space  4096
stack_top:
"""

BUSY_GUEST = """
#include "guest.h"
    .global _start
    .type   _start, %function
_start:
    ldr     x19, =BUSY_ITERS            // never sleeps; keeps the hypervisor busy with its
1:  ldr     x0, =ARMVIRT_HC_NOP         // exits (a no-op hypercall every few instructions),
    hvc     #0                          // whose handling the timer's wake-up must wait for
    mov     x0, #7
2:  subs    x0, x0, #1
    b.ne    2b
    subs    x19, x19, #1
    b.ne    1b
    b       system_off
#include "guest_lib.S"
    .ltorg
"""

SCENARIOS = ("alone", "shared", "shielded")


@dataclass
class Latency:
    scenario: str
    samples: list[int]
    phases: object = None    # a phases.Breakdown of one sample (latency_phases), if measured

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples)

    @property
    def max(self) -> int:
        return max(self.samples)

    @property
    def min(self) -> int:
        return min(self.samples)

    def histogram(self, bins: int = 8) -> list[tuple[int, int, int]]:
        """(low, high, count) over [min, max] in ``bins`` equal bins."""
        lo, hi = self.min, self.max
        width = max((hi - lo + bins) // bins, 1)
        counts = [0] * bins
        for s in self.samples:
            counts[min((s - lo) // width, bins - 1)] += 1
        return [(lo + i * width, lo + (i + 1) * width - 1, n) for i, n in enumerate(counts)]

    def as_dict(self) -> dict:
        d = {"scenario": self.scenario, "mean": self.mean, "min": self.min, "max": self.max,
             "samples": self.samples, "histogram": self.histogram()}
        if self.phases is not None:
            d["phases_of_one_sample"] = self.phases.as_dict()
        return d


def build_guests(out_dir: Path) -> tuple[Path, Path]:
    from armvirt.build import build_guest, hv_guest_defines
    out_dir.mkdir(parents=True, exist_ok=True)
    defs = {**hv_guest_defines(), "SAMPLES": SAMPLES, "PERIOD": PERIOD, "BUSY_ITERS": BUSY_ITERS}
    elfs = []
    for name, src in (("latency", LATENCY_GUEST), ("busy", BUSY_GUEST)):
        path = out_dir / f"{name}.S"
        path.write_text(src)
        elfs.append(build_guest(path, out_dir, defines=defs))
    return elfs[0], elfs[1]


def measure(scenario: str, mode: str = "split", profile=None,
            out_dir: Path | None = None) -> Latency:
    """Run one scenario; the latencies in cycles of the profile."""
    from armvirt import costs
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown latency scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    prof = costs.load(profile)
    with tempfile.TemporaryDirectory(prefix="armvirt-lat-") as tmp:
        lat, busy = build_guests(Path(out_dir or tmp))
        return _measure(scenario, mode, prof, lat, busy)


def _vms(scenario: str, lat: Path, busy: Path):
    from armvirt.hv.launch import VMConfig
    return {"alone": [VMConfig(str(lat), name="rt", pin=[0])],
           "shared": [VMConfig(str(lat), name="rt", pin=[0]),
                      VMConfig(str(busy), name="busy", pin=[0])],
           "shielded": [VMConfig(str(busy), name="busy", pin=[0]),
                        VMConfig(str(lat), name="rt", pin=[1])]}[scenario]


def _measure(scenario, mode, prof, lat: Path, busy: Path) -> Latency:
    from armvirt.hv.launch import HvConfig, launch, result
    vms = _vms(scenario, lat, busy)
    out = bytearray()
    m, run = launch(HvConfig(vms, mode=mode), uart=out.extend, profile=prof)
    info = m.run(max_insns=500_000_000)
    text = out.decode(errors="replace")
    res = result(m, run)
    if info.reason != "system_off" or not res.ok or "lat: done" not in text:
        raise RuntimeError(f"latency {scenario} under {mode}: {info.reason}\n{text[-2000:]}")
    samples = []
    for line in text.splitlines():
        words = line.split()
        if len(words) == 4 and words[1] == "lat:" and words[2].isdigit():
            since_arming, ticks = int(words[2]), int(words[3])
            samples.append((since_arming - ticks) * prof.cycles_per_tick)
    if len(samples) != SAMPLES:
        raise RuntimeError(f"latency {scenario}: {len(samples)} samples, not {SAMPLES}")
    return Latency(scenario, samples)


def format_latency(results: dict, profile_name: str) -> str:
    from armvirt.hv.phases import format_breakdown
    rows = [f"virtual timer latency, deadline to the handler's first instruction (cycles, "
            f"profile {profile_name}; {SAMPLES} samples each)",
            f"{'design':<8}{'scenario':<11}{'min':>9}{'mean':>11}{'max':>10}  histogram"]
    for (mode, scen), lat in results.items():
        hist = " ".join(f"{lo}-{hi}:{n}" for lo, hi, n in lat.histogram() if n)
        rows.append(f"{mode:<8}{scen:<11}{lat.min:>9,}{lat.mean:>11,.1f}{lat.max:>10,}  {hist}")
    for mode in dict.fromkeys(m for m, _ in results):
        split = {scen: lat.phases for (m, scen), lat in results.items()
                 if m == mode and lat.phases is not None}
        if split:
            rows += ["", f"{mode}: one sample (the 5th) from the deadline to the handler, by "
                     "phase (the exit, the host's interrupt handling and scheduling, the "
                     "injection and the entry)", format_breakdown(split)]
    return "\n".join(rows)


def latency_phases(scenario: str, mode: str = "split", profile=None, sample: int = 5):
    """Where one latency sample's cycles go (``armvirt/hv/phases.py``): the real-time vCPU's
    PE is stepped from its ``sample``-th arming to the first instruction of its handler, and
    only the cycles after the deadline are kept. Returns (Breakdown, latency in cycles)."""
    from armvirt import costs, layout as L
    from armvirt.hv.launch import HvConfig, launch
    from armvirt.hv.phases import Accountant, Breakdown, PhaseMap
    from armvirt.loader import read_elf
    prof = costs.load(profile)
    with tempfile.TemporaryDirectory(prefix="armvirt-lat-") as tmp:
        lat, busy = build_guests(Path(tmp))
        syms = read_elf(lat.read_bytes(), str(lat)).symbols
        vms = _vms(scenario, lat, busy)
        m, run = launch(HvConfig(vms, mode=mode), uart=lambda d: None, profile=prof)
    rt = next(i for i, v in enumerate(vms) if v.name == "rt")
    pe = vms[rt].pin[0]
    bp = m.add_breakpoint(syms["lat_wait"], el=1, vmid=rt + 1)
    for _ in range(sample):
        info = m.run(max_insns=100_000_000)
        if info.reason != "breakpoint":
            raise RuntimeError(f"latency phases: {info.reason} {info.detail}")
    m.remove_breakpoint(bp)
    c = m.cpus[pe]
    deadline = (m.reg("CNTV_CVAL_EL0", pe) + m.reg("CNTVOFF_EL2", pe)) * prof.cycles_per_tick
    acc = Accountant(m, PhaseMap.from_elf(run.firmware), pe=pe)
    handler = syms["irq_handler"]
    b = Breakdown()
    for _ in range(2_000_000):
        if int(c[L.PC]) == handler and int(c[L.EL]) == 1 and int(c[acc._HCR]) & 1:
            break
        before = int(c[L.CYCLES])
        one = Breakdown()
        acc.step(one)
        after = int(c[L.CYCLES])
        if after > deadline:
            (key, _), = one.cycles.items()
            b.add(key, after - max(before, deadline))
    else:
        raise RuntimeError("latency phases: the handler never ran")
    b.start, b.end = deadline, int(c[L.CYCLES])
    return b, b.end - deadline
