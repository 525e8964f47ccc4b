"""``armvirt bench``: the KVM/ARM measurements of armvirt's hypervisor, under a cost profile.

    armvirt bench micro     [--hv split,direct] [--profile P] [--repeat N] [--json F] [--csv F]
    armvirt bench breakdown [--hv split,direct] [--profile P] ...
    armvirt bench exits IMAGE [--hv split,direct] [--profile P] ...
    armvirt bench latency   [--hv split,direct] [--profile P] ...
    armvirt bench overhead  [--profile P] ...
    (each also takes --plot DIR: PNG and SVG charts, with matplotlib; --jobs N: processes;
    --scheduler ADDR: an existing Dask cluster)

* ``micro``: the seven microbenchmarks of Dall et al. (ISCA 2016) measured by
  ``guests/microbench.S`` from inside a guest with PMCCNTR_EL0, next to the published ARM KVM
  and ARM Xen figures (``armvirt/published.toml``, with their provenance).
* ``breakdown``: one no-op hypercall round trip by phase of the hypervisor
  (``armvirt/hv/phases.py``), laid out as the paper's Table 3 (save and restore per register
  group), beside the published ARM KVM breakdown.
* ``exits``: KVM's exit timing table for a run of IMAGE (``armvirt/hv/exittiming.py``).
* ``latency``: virtual-timer interrupt latency, cyclictest style, alone, sharing the PE with a
  busy VM, and on a PE of its own (``armvirt/hv/latency.py``).
* ``overhead``: the memory-virtualization overhead, guest/native in cycles per workload, with
  stage 2 in 2 MiB blocks and in 4 KiB pages (``benchmarks/workloads``; a source checkout).

Every figure is in emulated cycles under the profile (armvirt/costs.py), so it is
deterministic: ``--repeat N`` runs each measurement N times and fails if any run differs.
One progress line per run goes to stderr. ``--json`` records the profile, the firmware
builds' hashes and the armvirt version with the figures.
"""
from __future__ import annotations

import csv
import hashlib
import json
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10
    import tomli as tomllib   # type: ignore[no-redef]

PUBLISHED_FILE = Path(__file__).resolve().parent / "published.toml"
VERSION = "0.1.0"
MODES = ("split", "direct")


class BenchError(Exception):
    """A measurement that failed (exit 1)."""


class BenchUsage(BenchError):
    """Input that cannot be used, found only when it is used (exit 2)."""


def published() -> dict:
    """armvirt/published.toml: the published figures and their sources."""
    return tomllib.loads(PUBLISHED_FILE.read_text())


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def firmware_hash(mode: str) -> str:
    from armvirt.hv.launch import ensure_firmware
    elf = ensure_firmware(mode)
    return hashlib.sha256(elf.with_suffix(".bin").read_bytes()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ micro
def kvm_micro(mode: str, profile=None, image: str | None = None,
              firmware: Path | None = None) -> dict[str, int]:
    """guests/microbench.S under one build: two vCPUs on two PEs for everything but the VM
    switch, two one-vCPU VMs on one PE for that. Returns {name: cycles}."""
    from armvirt.build import BUILD, build_guests
    from armvirt.hv.launch import HvConfig, VMConfig, launch, result
    if image is None:
        image = str(BUILD / "guests" / "microbench.elf")
        if not Path(image).exists():
            build_guests()
    figures: dict[str, int] = {}
    for cfg in (HvConfig([VMConfig(image, vcpus=2, pin=[0, 1])], mode=mode),
                HvConfig([VMConfig(image, name="a", pin=[0]), VMConfig(image, name="b", pin=[0])],
                         mode=mode)):
        out = bytearray()
        m, run = launch(cfg, uart=out.extend, firmware=firmware, profile=profile)
        info = m.run(max_insns=200_000_000)
        res = result(m, run)
        text = out.decode(errors="replace")
        if info.reason != "system_off" or not res.ok or "microbench: done" not in text:
            raise BenchError(f"microbench under {mode}: {info.reason}\n{text}")
        for line in text.splitlines():
            words = line.split()
            if len(words) == 4 and words[1] == "microbench:" and words[3].isdigit():
                figures[words[2]] = int(words[3])
    return figures


def run_task(task: tuple):
    """One independent run: (what, design, profile, image, max_insns) -> its result. A plain
    module-level function of picklable arguments, so any executor can run it."""
    what, mode, profile, image, max_insns = task
    if what == "latency":     # ``image`` is the scenario's name here
        from armvirt.hv.latency import latency_phases, measure
        lat = measure(image, mode, profile)
        lat.phases = latency_phases(image, mode, profile)[0]
        return lat
    if what == "micro":
        return kvm_micro(mode, profile)
    if what == "breakdown":
        from armvirt.hv.phases import hypercall_breakdown
        return hypercall_breakdown(mode, profile)
    return exit_timing(image, mode, profile, max_insns)


def execute(tasks: list[tuple], jobs: int = 1, scheduler: str | None = None) -> list:
    """Run ``tasks`` (``run_task``'s tuples): in this process (``jobs`` = 1), in ``jobs``
    worker processes, or on the Dask cluster whose scheduler is at ``scheduler``
    (dask.distributed; its workers need armvirt installed). Results in task order, one
    progress line per run as it ends."""
    import concurrent.futures as cf
    results: list = [None] * len(tasks)
    t0 = time.perf_counter()

    def done(i: int) -> None:
        what, mode, profile = tasks[i][:3]
        say(f"{what} {mode} ({profile.name}) run {i + 1}/{len(tasks)} done at "
            f"{time.perf_counter() - t0:.1f} s")
    if scheduler is not None:
        try:
            from distributed import Client, as_completed
        except ImportError:
            raise BenchUsage("--scheduler needs dask.distributed (pip install "
                             "'armvirt[dask]')") from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as e:
            raise BenchUsage(f"--scheduler {scheduler}: cannot reach the Dask scheduler "
                             f"({e})") from None
        try:
            futures = [client.submit(run_task, t, pure=False) for t in tasks]
            index = {f.key: i for i, f in enumerate(futures)}
            for f in as_completed(futures):
                i = index[f.key]
                results[i] = f.result()
                done(i)
        finally:
            client.close()
        return results
    if jobs <= 1:
        for i, t in enumerate(tasks):
            results[i] = run_task(t)
            done(i)
        return results
    with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
        for f in cf.as_completed(futures):
            i = futures[f]
            results[i] = f.result()
            done(i)
    return results


def by_design(what: str, modes: list[str], profile, repeat: int, jobs: int,
              image: str | None = None, max_insns: int = 0,
              scheduler: str | None = None) -> dict:
    """Each design ``repeat`` times; the repeats of a design must agree (deterministic)."""
    tasks = [(what, m, profile, image, max_insns) for m in modes for _ in range(repeat)]
    results = execute(tasks, jobs, scheduler)
    out = {}
    for k, m in enumerate(modes):
        runs = results[k * repeat:(k + 1) * repeat]
        for j, r in enumerate(runs[1:], 2):
            if _comparable(r) != _comparable(runs[0]):
                raise BenchError(f"{what} {m}: run {j} differs from run 1 (not deterministic)")
        out[m] = runs[0]
    return out


def _comparable(r):
    return r.as_dict() if hasattr(r, "as_dict") else r


def _order(a: int, b: int) -> int:
    return (a > b) - (a < b)


def format_micro(figs: dict[str, dict[str, int]], profile) -> str:
    pub = published()
    modes = list(figs)
    head = f"{'microbenchmark (cycles)':<28}" + "".join(f"{m:>10}" for m in modes) + \
        f"{'ARM KVM':>10}{'ARM Xen':>10}"
    a15 = published().get("micro_a15", {}) if profile.name == "cortex-a15" else {}
    if a15:
        head += f"{'A15 KVM':>10}"
    both = "split" in figs and "direct" in figs
    if both:
        head += "  split/direct like KVM/Xen"
    rows = [f"profile {profile.name} ({profile.cpu_hz / 1e9:.4g} GHz)", head]
    for name, p in pub["micro"].items():
        star = "" if p["checked"] else "*"
        row = f"{p['title']:<28}" + "".join(f"{figs[m].get(name, 0):>10,}" for m in modes) + \
            f"{p['kvm']:>9,}{star or ' '}{p['xen']:>9,}{star or ' '}"
        if a15:
            row += f"{a15[name]:>10,}" if name in a15 else f"{'':>10}"
        if both:
            same = _order(figs["split"][name], figs["direct"][name]) == _order(p["kvm"], p["xen"])
            row += "  " + ("yes" if same else "no")
        rows.append(row)
    rows.append("published: " + "; ".join(f"[{k}] {v}" for k, v in pub["sources"].items()
                                          if k == "ISCA16"))
    if a15:
        rows.append("A15 KVM: " + published()["sources"]["ASPLOS14"] + " (closest benchmark: "
                    "the IPI there is a round trip, EOI there includes the ACK)")
    rows.append("* as commonly cited; to be checked against the paper")
    return "\n".join(rows)


# --------------------------------------------------------------------------------- overhead
OVERHEAD_WORKLOADS = ("alu", "ldst", "chase")
OVERHEAD_VARIANTS = (("s1", "native (stage 1)"), ("s12", "stage 2, 2 MiB blocks"),
                     ("s12p", "stage 2, 4 KiB pages"))


def overhead(profile, workloads=OVERHEAD_WORKLOADS) -> list[dict]:
    """The memory-virtualization overhead in cycles: each workload of benchmarks/workloads at
    EL1 with stage 1 only (native), then with stage 2 as well (identity; 2 MiB blocks, as KVM
    with huge pages, and 4 KiB pages), under ``profile``. Cycles and walk descriptor reads per
    iteration by difference of two iteration counts (boot and set-up cancel)."""
    root = Path(__file__).resolve().parent.parent      # a source checkout: benchmarks/ beside
    if (root / "benchmarks" / "run.py").is_file() and str(root) not in sys.path:
        sys.path.append(str(root))
    try:
        from benchmarks.run import ITERS, build
    except ImportError:
        raise BenchUsage("bench overhead needs armvirt's source tree (benchmarks/workloads); "
                         "run it from a checkout") from None
    from armvirt.loader import load_image
    from armvirt.machine import Machine

    def run(elf):
        m = Machine(ram_size=128 << 20, psci_conduit="smc", profile=profile)
        load_image(m, elf, el=2)
        info = m.run(max_insns=500_000_000)
        if info.reason != "system_off":
            raise BenchError(f"{elf.name}: {info.reason} {info.detail}")
        return m.reg("cycles"), m.tlb_stats(0)["descriptor_reads"]
    rows = []
    for w in workloads:
        n1 = ITERS[w][0]
        n2 = 3 * n1
        row: dict = {"workload": w, "profile": profile.name}
        for v, _ in OVERHEAD_VARIANTS:
            (c1, d1), (c2, d2) = (run(build(f"{w}/{v}", n)) for n in (n1, n2))
            row[f"{v}_cycles"] = (c2 - c1) / (n2 - n1)
            row[f"{v}_walk_reads"] = (d2 - d1) / (n2 - n1)
        for v in ("s12", "s12p"):
            row[f"{v}_pct"] = 100 * row["s1_cycles"] / row[f"{v}_cycles"]
        say(f"overhead {w} ({profile.name}): {row['s12_pct']:.1f}% / {row['s12p_pct']:.1f}%")
        rows.append(row)
    return rows


def format_overhead(rows: list[dict], profile) -> str:
    out = [f"profile {profile.name}: cycles per iteration; guest/native = native cycles / "
           "guest cycles",
           f"{'workload':<10}{'native':>12}{'2 MiB s2':>12}{'guest/native':>14}{'4 KiB s2':>12}"
           f"{'guest/native':>14}{'walk reads 4K':>15}"]
    for r in rows:
        out.append(f"{r['workload']:<10}{r['s1_cycles']:>12,.0f}{r['s12_cycles']:>12,.0f}"
                   f"{r['s12_pct']:>13.1f}%{r['s12p_cycles']:>12,.0f}{r['s12p_pct']:>13.1f}%"
                   f"{r['s12p_walk_reads']:>15,.1f}")
    return "\n".join(out)


# -------------------------------------------------------------------------------- breakdown
def format_breakdown(results: dict, profile) -> str:
    from armvirt.hv import abi
    from armvirt.hv.phases import GROUP_TITLES, format_breakdown as table
    pub = published()["breakdown"]
    out = [f"profile {profile.name}: one ARMVIRT_HC_NOP round trip by phase (cycles)",
           table(results), "",
           f"published ARM KVM hypercall (ISCA 2016 Table 3{'' if pub['checked'] else ', *'}):"]
    for g in abi.PHASE_GROUPS:
        if g not in pub:
            out.append(f"{GROUP_TITLES[g]:<30}{'not switched by the KVM measured':>30}")
            continue
        s, r = pub[g]
        out.append(f"{GROUP_TITLES[g]:<30}{s:>14,}{r:>16,}")
    return "\n".join(out)


# -------------------------------------------------------------------------------------- CLI
def add_parser(sub) -> None:
    from armvirt.cli import parse_profile
    b = sub.add_parser("bench", help="KVM/ARM-style measurements: micro, breakdown, exits",
                       description="The measurements of the KVM/ARM papers on armvirt's "
                       "hypervisor, in emulated cycles under a cost profile: the seven "
                       "microbenchmarks (micro), a hypercall by phase (breakdown), KVM's "
                       "exit timing table for a run of IMAGE (exits).")
    b.add_argument("what", choices=("micro", "breakdown", "exits", "latency", "overhead"),
                   help="what to measure")
    b.add_argument("image", nargs="?", metavar="IMAGE", help="the guest (exits only)")
    b.add_argument("--hv", default="split,direct", metavar="DESIGNS",
                   help="hypervisor builds, comma-separated (default split,direct)")
    b.add_argument("--profile", type=parse_profile, default=None, metavar="NAME|FILE",
                   help="cost profile (simple, cortex-a15, x-gene, or a TOML file)")
    b.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="run each measurement N times; they must agree (default 1)")
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    b.add_argument("--csv", metavar="FILE", help="also write the results as CSV")
    b.add_argument("--plot", metavar="DIR",
                   help="also draw the results as PNG and SVG charts in DIR (needs matplotlib)")
    b.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="run the independent runs (designs x repeats) in N processes "
                   "(default 1: in this one)")
    b.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="run them on an existing Dask cluster (dask.distributed scheduler "
                   "address, e.g. tcp://host:8786)")
    b.add_argument("--max-insns", type=int, default=2_000_000_000, metavar="N",
                   help="exits: stop the run after N instructions")


def cmd_bench(args) -> int:
    from armvirt import costs
    profile = args.profile or costs.load()
    modes = [m.strip() for m in args.hv.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        print(f"armvirt: bench --hv: unknown design {bad[0] if bad else '(none)'!r} "
              f"(known: {', '.join(MODES)})", file=sys.stderr)
        return 2
    if args.repeat < 1 or args.jobs < 1:
        print(f"armvirt: bench --{'repeat' if args.repeat < 1 else 'jobs'} must be at least 1",
              file=sys.stderr)
        return 2
    if (args.what == "exits") != (args.image is not None):
        print("armvirt: bench exits needs IMAGE (and only exits takes one)", file=sys.stderr)
        return 2
    if args.image is not None and not Path(args.image).is_file():
        print(f"armvirt: bench exits: no such file {args.image}", file=sys.stderr)
        return 2
    record: dict = {"armvirt": VERSION, "profile": profile.name,
                    "profile_file": profile.path, "what": args.what,
                    "firmware": ({m: firmware_hash(m) for m in modes}
                                 if args.what != "overhead" else {})}
    rows: list[dict] = []
    plot_dir = Path(args.plot) if args.plot else None
    if plot_dir is not None:
        from armvirt.bench_plot import PlotError, _plt
        try:
            _plt()
        except PlotError as e:
            print(f"armvirt: {e}", file=sys.stderr)
            return 2
    plots: list[Path] = []
    try:
        if args.what == "micro":
            figs = by_design("micro", modes, profile, args.repeat, args.jobs,
                             scheduler=args.scheduler)
            print(format_micro(figs, profile))
            pub = published()["micro"]
            record["micro"] = figs
            record["published"] = pub
            if plot_dir is not None:
                from armvirt.bench_plot import plot_micro
                plots += plot_micro(figs, pub, profile.name, plot_dir)
            for name, p in pub.items():
                for m in modes:
                    rows.append({"benchmark": name, "design": m, "profile": profile.name,
                                 "cycles": figs[m].get(name), "arm_kvm": p["kvm"],
                                 "arm_xen": p["xen"]})
        elif args.what == "breakdown":
            res = by_design("breakdown", modes, profile, args.repeat, args.jobs,
                            scheduler=args.scheduler)
            print(format_breakdown(res, profile))
            record["breakdown"] = {m: b.as_dict() for m, b in res.items()}
            if plot_dir is not None:
                from armvirt.bench_plot import plot_breakdown
                plots += plot_breakdown(res, published()["breakdown"], profile.name, plot_dir)
            for m, b in res.items():
                for ph in b.as_dict()["phases"]:
                    rows.append({"design": m, "profile": profile.name, **ph})
        elif args.what == "latency":
            from armvirt.hv.latency import SCENARIOS, format_latency
            keys = [(m, sc) for m in modes for sc in SCENARIOS]
            tasks = [("latency", m, profile, sc, 0) for m, sc in keys for _ in range(args.repeat)]
            results = execute(tasks, args.jobs, args.scheduler)
            lat = {}
            for k, key in enumerate(keys):
                runs = results[k * args.repeat:(k + 1) * args.repeat]
                if any(r.samples != runs[0].samples for r in runs[1:]):
                    raise BenchError(f"latency {key}: the repeats differ (not deterministic)")
                lat[key] = runs[0]
            print(format_latency(lat, profile.name))
            record["latency"] = {f"{m}/{sc}": v.as_dict() for (m, sc), v in lat.items()}
            for (m, sc), v in lat.items():
                rows.append({"design": m, "scenario": sc, "profile": profile.name,
                             "min": v.min, "mean": v.mean, "max": v.max})
            if plot_dir is not None:
                from armvirt.bench_plot import plot_latency
                plots += plot_latency(lat, profile.name, plot_dir)
        elif args.what == "overhead":
            runs = [overhead(profile) for _ in range(args.repeat)]
            if any(r != runs[0] for r in runs[1:]):
                raise BenchError("overhead: the repeats differ (not deterministic)")
            print(format_overhead(runs[0], profile))
            record["overhead"] = runs[0]
            rows += runs[0]
        else:
            res = by_design("exits", modes, profile, args.repeat, args.jobs,
                            args.image, args.max_insns, args.scheduler)
            for m, t in res.items():
                print(f"{m} ({profile.name}):")
                print(t.format())
            record["exits"] = {m: t.as_dict() for m, t in res.items()}
            if plot_dir is not None:
                from armvirt.bench_plot import plot_exits
                plots += plot_exits(res, profile.name, plot_dir)
            for m, t in res.items():
                for k, v in t.as_dict()["exits"].items():
                    rows.append({"design": m, "profile": profile.name, "exit": k, **v})
    except BenchError as e:
        print(f"armvirt: {e}", file=sys.stderr)
        return 2 if isinstance(e, BenchUsage) else 1
    except OSError as e:
        print(f"armvirt: cannot write the charts: {e}", file=sys.stderr)
        return 2
    for p in plots:
        say(f"wrote {p}")
    try:
        if args.json:
            Path(args.json).write_text(json.dumps(record, indent=1, default=str) + "\n")
        if args.csv and rows:
            with open(args.csv, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
                w.writeheader()
                w.writerows(rows)
    except OSError as e:
        print(f"armvirt: cannot write the results: {e}", file=sys.stderr)
        return 2
    return 0


def exit_timing(image: str, mode: str, profile, max_insns: int):
    """Run IMAGE as the only guest (one vCPU) under ``mode`` with the exit timer on."""
    from armvirt.hv.exittiming import attach
    from armvirt.hv.launch import HvConfig, LaunchError, VMConfig, launch
    try:
        m, run = launch(HvConfig([VMConfig(image)], mode=mode), uart=lambda data: None,
                        profile=profile)
    except LaunchError as e:
        raise BenchError(str(e)) from None
    t = attach(m)
    m.run(max_insns=max_insns)
    return t
