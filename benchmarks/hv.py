"""What virtualization costs, measured on armvirt with its own hypervisor in both builds.

    python -m benchmarks.hv [--repeat N] [--json FILE]

1. **Overhead** (wall clock): the compute workloads of ``benchmarks/workloads`` bare and as the
   only guest of the hypervisor (stage 2 on), MIPS of the guest's own instructions measured by
   difference of two iteration counts (as ``benchmarks/run.py``), and guest/native in %.
2. **Exit costs** (emulated cycles under the default cost profile, deterministic:
   ``armvirt/costs.py``), after the KVM/ARM
   microbenchmarks (../shared/reference/microbenchmarks.md): a no-op hypercall
   (``ARMVIRT_HC_NOP``), an MMIO write to the doorbell (I/O latency out: trap, decode,
   backend), a trapped system-register read, and a VM switch (two VMs on one PE, each yielding
   with WFE). Each figure is ``(cycles(N2) - cycles(N1)) / (N2 - N1)`` on the guest's PE, so
   boot and the loop's first and last iterations cancel, minus the same loop without the
   operation; ``insns`` is the same difference in instructions retired (guest + hypervisor).

3. **The KVM/ARM microbenchmarks** (emulated cycles), measured by a guest with its own cycle
   counter (``guests/microbench.S``: PMCCNTR_EL0 counting at every EL): hypercall,
   interrupt-controller trap (GICD_IIDR read), virtual IPI, virtual IRQ completion, VM switch,
   I/O latency out and in, next to the published figures of ARM KVM and ARM Xen (Dall et al.,
   ISCA 2016; ../shared/reference/microbenchmarks.md; * marks figures quoted as commonly cited).

The split build pays the full world switch on every exit (the host part runs at EL1 in its own
context); the direct build handles the exit at EL2 after saving only the general registers —
the 6,500 vs 376 cycles of ARM KVM vs Xen in Dall et al. (ISCA 2016) in miniature.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.run import ITERS, build, run_armvirt

MODES = ("split", "direct")
OVERHEAD_WORKLOADS = ("alu", "ldst")

# Exit microbenchmarks: OP is repeated N times in a loop; BASE is the same loop without it.
MICRO = {
    "hypercall": "mov x0, #0xC6000000\n    hvc #0",                 # ARMVIRT_HC_NOP
    "mmio write (doorbell)": "str x2, [x1]",                         # I/O latency out
    "sysreg trap (ACTLR_EL1)": "mrs x3, actlr_el1",                  # HCR_EL2.TACR
    "vm switch (WFE yield)": "wfe\n    wfe",                         # two VMs on one PE
}
MICRO_SRC = """
    .global _start
_start:
    ldr     x1, =DOORBELL
    mov     x2, #1
    ldr     x19, =COUNT
1:  OP
    subs    x19, x19, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    .ltorg
"""
MICRO_N = (200, 1200)


def run_hv(image: str, mode: str, vms: int = 1) -> tuple[dict, float, object]:
    """Run ``image`` as ``vms`` identical VMs on PE 0; returns (PE 0 counters, seconds, result)."""
    from armvirt.hv.launch import HvConfig, VMConfig, launch, result
    cfg = HvConfig([VMConfig(image, name=f"vm{i}", pin=[0], mem=16 << 20) for i in range(vms)],
                   mode=mode)
    m, run = launch(cfg, uart=lambda data: None)
    t = time.perf_counter()
    info = m.run(max_insns=2_000_000_000)
    dt = time.perf_counter() - t
    res = result(m, run)
    if info.reason != "system_off" or not res.ok:
        raise RuntimeError(f"{image} under {mode}: {info.reason} {info.detail}, {res}")
    return {"cycles": m.reg("cycles", 0), "insns": m.reg("instret", 0)}, dt, res


def micro_image(tmp: Path, op: str, n: int) -> str:
    from armvirt.build import assemble
    from armvirt.build import board_defines
    from armvirt.hv import abi
    src = (MICRO_SRC.replace("OP", op).replace("COUNT", str(n))
           .replace("DOORBELL", hex(abi.DOORBELL_BASE)))
    prog = assemble(src, base=abi.GUEST_RAM_BASE, defines=board_defines())
    path = tmp / f"micro-{abs(hash(op))}-{n}.bin"
    path.write_bytes(prog.code)
    return str(path)


def exit_costs(tmp: Path) -> list[dict]:
    rows = []
    n1, n2 = MICRO_N
    base = {m: [run_hv(micro_image(tmp, "nop", n), m)[0] for n in MICRO_N] for m in MODES}
    for name, op in MICRO.items():
        vms = 2 if "switch" in name else 1
        row = {"benchmark": name}
        for mode in MODES:
            c1, c2 = (run_hv(micro_image(tmp, op, n), mode, vms)[0] for n in MICRO_N)
            b1, b2 = base[mode]
            per = {k: ((c2[k] - c1[k]) - (b2[k] - b1[k])) / (n2 - n1) for k in ("cycles", "insns")}
            if vms == 2:          # both VMs' iterations ran on PE 0: one switch per iteration
                per = {k: v / 2 for k, v in per.items()}
            row[mode] = per
        rows.append(row)
    return rows


def _published_micro() -> dict:
    from armvirt.bench import published
    return published()["micro"]


# name in microbench.S -> its published figures (armvirt/published.toml, the one copy)
PUBLISHED = _published_micro()


def kvm_micro(mode: str, image: str | None = None, firmware: Path | None = None,
              profile=None) -> dict[str, int]:
    """guests/microbench.S under one build: ``armvirt.bench.kvm_micro`` (also behind
    ``armvirt bench micro``). Returns {name: cycles}."""
    from armvirt.bench import kvm_micro as run
    return run(mode, profile, image=image, firmware=firmware)


def overhead(repeat: int) -> list[dict]:
    rows = []
    for name in OVERHEAD_WORKLOADS:
        small, large = (build(name, n) for n in ITERS[name])
        bare = [min(run_armvirt(e)[1] for _ in range(repeat)) for e in (small, large)]
        insns = [run_armvirt(e)[0] for e in (small, large)]
        row = {"workload": name, "instructions": insns[1] - insns[0],
               "bare_mips": (insns[1] - insns[0]) / (bare[1] - bare[0]) / 1e6}
        for mode in MODES:
            t = [min(run_hv(str(e), mode)[1] for _ in range(repeat)) for e in (small, large)]
            mips = (insns[1] - insns[0]) / (t[1] - t[0]) / 1e6
            row[f"{mode}_mips"] = mips
            row[f"{mode}_pct"] = 100 * mips / row["bare_mips"]
        rows.append(row)
    return rows


def report_micro(micro: dict[str, dict[str, int]]) -> str:
    """The microbenchmarks next to the published figures (armvirt/published.toml)."""
    out = ["| microbenchmark (cycles) | armvirt split | armvirt direct | ARM KVM | ARM Xen |",
           "|---|---:|---:|---:|---:|"]
    for name, p in PUBLISHED.items():
        star = "" if p["checked"] else "*"
        out.append(f"| {p['title']} | {micro['split'][name]:,} | {micro['direct'][name]:,} | "
                   f"{p['kvm']:,}{star} | {p['xen']:,}{star} |")
    return "\n".join(out)


def report(over: list[dict], costs: list[dict]) -> str:
    out = ["| workload | guest instructions | bare MIPS | split MIPS | split/bare | direct MIPS "
           "| direct/bare |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in over:
        out.append(f"| {r['workload']} | {r['instructions']:,} | {r['bare_mips']:.1f} | "
                   f"{r['split_mips']:.1f} | {r['split_pct']:.0f}% | {r['direct_mips']:.1f} | "
                   f"{r['direct_pct']:.0f}% |")
    out += ["", "| exit (emulated cycles; instructions) | split | direct |", "|---|---:|---:|"]
    for r in costs:
        cells = [f"{r[m]['cycles']:,.0f}; {r[m]['insns']:,.0f}" for m in MODES]
        out.append(f"| {r['benchmark']} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of N timed runs (default 3)")
    ap.add_argument("--json", help="also write the figures as JSON to FILE")
    ap.add_argument("--micro-only", action="store_true",
                    help="only the KVM/ARM microbenchmarks (emulated cycles: no timing)")
    args = ap.parse_args(argv)
    from armvirt.build import build_guests
    from benchmarks.run import say
    build_guests()
    micro = {}
    for mode in MODES:
        say(f"hv: KVM/ARM microbenchmarks, {mode} build ...")
        micro[mode] = kvm_micro(mode)
        say(f"hv: microbenchmarks ({mode}): " + ", ".join(f"{k} {v}" for k, v in
                                                          list(micro[mode].items())[:3]) + ", ...")
    if args.micro_only:
        print(report_micro(micro))
        over, costs = [], []
    else:
        say("hv: exit costs in emulated cycles (both builds) ...")
        with tempfile.TemporaryDirectory() as d:
            costs = exit_costs(Path(d))
        say(f"hv: exit costs: {len(costs)} figures")
        say("hv: guest vs bare MIPS (alu, ldst; both builds) ...")
        over = overhead(args.repeat)
        say("hv: guest vs bare done")
        print(report(over, costs))
        print()
        print(report_micro(micro))
    if args.json:
        Path(args.json).write_text(json.dumps({"overhead": over, "exits": costs, "micro": micro},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
