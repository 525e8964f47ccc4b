"""``armvirt bench --plot DIR``: the bench figures as charts (PNG and SVG), with matplotlib
(an optional extra: ``pip install armvirt[plot]``).

* micro: for each microbenchmark, bars of our designs next to the published ARM KVM and ARM
  Xen figures (log scale: the rows span 71 to 16,491 cycles);
* breakdown: per design, one stacked bar of the hypercall round trip by phase, next to the
  published ARM KVM register groups;
* exits: per design, the mean cycles outside the guest per exit class, with the count.
"""
from __future__ import annotations

from pathlib import Path


class PlotError(Exception):
    pass


def _plt():
    try:
        import matplotlib
        matplotlib.use("Agg")   # files only, never a window
        import matplotlib.pyplot as plt
        matplotlib.rcParams["svg.hashsalt"] = "armvirt"   # stable ids in the SVG
    except ImportError:
        raise PlotError("--plot needs matplotlib (pip install 'armvirt[plot]')") from None
    return plt


def _save(fig, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    for p in paths:
        # No timestamps or random ids in the files: the same figures give the same bytes.
        fig.savefig(p, dpi=120, bbox_inches="tight",
                    metadata={"Date": None} if p.suffix == ".svg" else {"Software": None})
    return paths


def plot_micro(figs: dict[str, dict[str, int]], published: dict, profile: str,
               out: Path) -> list[Path]:
    plt = _plt()
    names = list(published)
    series = [(m, [figs[m].get(n, 0) for n in names]) for m in figs]
    series += [("ARM KVM (published)", [published[n]["kvm"] for n in names]),
               ("ARM Xen (published)", [published[n]["xen"] for n in names])]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(11, 4.5))
    for i, (label, vals) in enumerate(series):
        xs = [k + (i - (len(series) - 1) / 2) * width for k in range(len(names))]
        ax.bar(xs, vals, width, label=label, hatch="//" if "published" in label else None)
    ax.set_xticks(range(len(names)), [published[n]["title"] for n in names], rotation=20,
                  ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("cycles")
    ax.set_title(f"KVM/ARM microbenchmarks, armvirt profile {profile} vs ISCA 2016")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    paths = _save(fig, out, f"micro-{profile}")
    plt.close(fig)
    return paths


def plot_breakdown(results: dict, published: dict, profile: str, out: Path) -> list[Path]:
    from armvirt.hv import abi
    from armvirt.hv.phases import GROUP_TITLES, OTHER_TITLES
    plt = _plt()
    keys = [(g, d) for g in abi.PHASE_GROUPS for d in ("save", "restore")]
    labels = [f"{GROUP_TITLES[g]} {d}" for g, d in keys]
    others = ["trap", "dispatch", "handler", "host", "guest", "unmarked"]
    labels += [OTHER_TITLES[o] for o in others]
    columns = {m: [b.phase(g, d) for g, d in keys] + [b.phase(o) for o in others]
               for m, b in results.items()}
    columns["ARM KVM (published)"] = [published[g][0 if d == "save" else 1] if g in published
                                      else 0 for g, d in keys] + [0] * len(others)
    fig, ax = plt.subplots(figsize=(8, 6))
    cmap = plt.get_cmap("tab20")
    names = list(columns)
    bottoms = [0] * len(names)
    for i, label in enumerate(labels):
        vals = [columns[n][i] for n in names]
        if not any(vals):
            continue
        ax.bar(names, vals, bottom=bottoms, label=label, color=cmap(i % 20))
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    ax.set_ylabel("cycles")
    ax.set_title(f"A hypercall round trip by phase (profile {profile})")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    paths = _save(fig, out, f"breakdown-{profile}")
    plt.close(fig)
    return paths


def plot_exits(timers: dict, profile: str, out: Path) -> list[Path]:
    plt = _plt()
    classes = sorted({k for t in timers.values() for k in t.classes})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / max(len(timers), 1)
    for i, (m, t) in enumerate(timers.items()):
        xs = [k + (i - (len(timers) - 1) / 2) * width for k in range(len(classes))]
        vals = [t.classes[c].mean if c in t.classes else 0 for c in classes]
        bars = ax.bar(xs, vals, width, label=m)
        for b, c in zip(bars, classes):
            if c in t.classes:
                ax.annotate(f"{t.classes[c].count}", (b.get_x() + b.get_width() / 2,
                                                       b.get_height()),
                            ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(range(len(classes)), classes, rotation=20, ha="right")
    ax.set_ylabel("mean cycles outside the guest (count above)")
    ax.set_title(f"Exit timing (profile {profile})")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1))
    paths = _save(fig, out, f"exits-{profile}")
    plt.close(fig)
    return paths


def plot_latency(results: dict, profile: str, out: Path) -> list[Path]:
    """One histogram panel per design: the latency samples of each scenario."""
    plt = _plt()
    modes = sorted({m for m, _ in results})
    fig, axes = plt.subplots(1, len(modes), figsize=(6 * len(modes), 4), squeeze=False)
    for ax, m in zip(axes[0], modes):
        for (mode, scen), lat in results.items():
            if mode == m:
                ax.hist(lat.samples, bins=24, alpha=0.6, label=f"{scen} (max {lat.max:,})")
        ax.set_title(f"{m}")
        ax.set_xlabel("cycles from the deadline to the handler")
        ax.set_ylabel("samples")
        ax.legend(fontsize="small")
    fig.suptitle(f"Virtual timer latency (profile {profile})")
    paths = _save(fig, out, f"latency-{profile}")
    plt.close(fig)
    return paths
