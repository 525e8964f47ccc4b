"""`armvirt bench` (armvirt/bench.py): the microbenchmarks, the hypercall breakdown and the exit
timing table from the command line, under a profile, with JSON/CSV records.

Every assertion is about measured numbers: each benchmark positive and deterministic under each
design, the direct (Xen-like) design cheaper than split (KVM) for the hypercall; under x-gene
the hypercall and the interrupt-controller trap within 35% of the published ARM KVM figures
(the issue's acceptance; the profile was calibrated on components, not on these totals).
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from armvirt.bench import published
from armvirt.build import BUILD, build_guests


def bench(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "armvirt.cli", "bench", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def micro_xgene(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    r = bench("micro", "--hv", "split,direct", "--profile", "x-gene", "--repeat", "2",
              "--json", str(d / "m.json"), "--csv", str(d / "m.csv"))
    assert r.returncode == 0, r.stderr
    return r, json.loads((d / "m.json").read_text()), list(csv.DictReader(open(d / "m.csv")))


def test_micro_record_and_progress(micro_xgene):
    r, rec, rows = micro_xgene
    assert rec["profile"] == "x-gene" and rec["armvirt"] and rec["what"] == "micro"
    assert set(rec["firmware"]) == {"split", "direct"} and all(rec["firmware"].values())
    # one progress line per run: 2 designs x 2 repeats
    assert sum(line.startswith("bench: micro") for line in r.stderr.splitlines()) == 4
    pub = published()["micro"]
    for mode in ("split", "direct"):
        assert set(rec["micro"][mode]) == set(pub)
        assert all(v > 0 for v in rec["micro"][mode].values())
    assert len(rows) == 2 * len(pub) and {row["design"] for row in rows} == {"split", "direct"}
    assert "ARM KVM" in r.stdout and "ISCA 2016" in r.stdout   # published figures, provenance


def test_direct_hypercall_cheaper_and_published_within_35_percent(micro_xgene):
    _, rec, _ = micro_xgene
    split, direct = rec["micro"]["split"], rec["micro"]["direct"]
    pub = published()["micro"]
    assert direct["hypercall"] < split["hypercall"]
    for name in ("hypercall", "gicd_iidr"):
        assert abs(split[name] - pub[name]["kvm"]) <= 0.35 * pub[name]["kvm"], name
        assert (split[name] > direct[name]) == (pub[name]["kvm"] > pub[name]["xen"]), name


def test_breakdown_cli(tmp_path):
    r = bench("breakdown", "--hv", "split", "--profile", "x-gene", "--json",
              str(tmp_path / "b.json"))
    assert r.returncode == 0, r.stderr
    rec = json.loads((tmp_path / "b.json").read_text())
    b = rec["breakdown"]["split"]
    assert sum(p["cycles"] for p in b["phases"]) == b["total"] > 0
    assert "vGIC regs" in r.stdout and "published ARM KVM hypercall" in r.stdout


def test_exits_cli(tmp_path):
    build_guests()
    r = bench("exits", str(BUILD / "guests" / "hello.elf"), "--hv", "direct", "--csv",
              str(tmp_path / "e.csv"))
    assert r.returncode == 0, r.stderr
    assert "DABT_LOWER" in r.stdout
    rows = list(csv.DictReader(open(tmp_path / "e.csv")))
    assert rows and all(int(row["count"]) > 0 for row in rows)


@pytest.mark.parametrize("args, msg", [
    (["micro", "--hv", "split,xen"], "unknown design 'xen'"),
    (["micro", "--profile", "nope"], "unknown cost profile"),
    (["micro", "--repeat", "0"], "at least 1"),
    (["micro", "--jobs", "0"], "--jobs must be at least 1"),
    (["exits"], "needs IMAGE"),
    (["exits", "/nonexistent.elf"], "no such file"),
    (["micro", "x.elf"], "needs IMAGE"),
])
def test_bad_input_one_line_exit_2(args, msg):
    r = bench(*args, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0]


def test_plots(tmp_path):
    """--plot DIR: PNG and SVG per chart, the same bytes for the same figures (no dates)."""
    pytest.importorskip("matplotlib")
    build_guests()
    for what in (["micro"], ["breakdown"], ["exits", str(BUILD / "guests" / "hello.elf")]):
        r = bench(*what, "--profile", "x-gene", "--plot", str(tmp_path / "a"))
        assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(f"{w}-x-gene.{e}" for w in ("micro", "breakdown", "exits")
                           for e in ("png", "svg"))
    assert all((tmp_path / "a" / n).stat().st_size > 10_000 for n in names)
    r = bench("micro", "--profile", "x-gene", "--plot", str(tmp_path / "b"))
    assert r.returncode == 0
    assert (tmp_path / "a" / "micro-x-gene.svg").read_bytes() == \
        (tmp_path / "b" / "micro-x-gene.svg").read_bytes()


def test_jobs_give_the_same_figures(tmp_path):
    """--jobs 2: the runs in two worker processes; the same figures as in one process."""
    one = bench("micro", "--hv", "split,direct", "--json", str(tmp_path / "1.json"))
    two = bench("micro", "--hv", "split,direct", "--jobs", "2", "--json",
                str(tmp_path / "2.json"))
    assert one.returncode == two.returncode == 0, two.stderr
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("1.json", "2.json"))
    assert a["micro"] == b["micro"]


def test_dask_local_cluster_gives_the_same_figures(tmp_path):
    """--scheduler ADDR: the runs on a Dask cluster (a local one here, two worker processes);
    the same figures as in one process."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        r = bench("micro", "--hv", "split,direct", "--scheduler", cluster.scheduler_address,
                  "--json", str(tmp_path / "d.json"))
    assert r.returncode == 0, r.stderr
    one = bench("micro", "--hv", "split,direct", "--json", str(tmp_path / "1.json"))
    assert one.returncode == 0
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("1.json", "d.json"))
    assert a["micro"] == b["micro"]


def test_unreachable_scheduler_is_one_line():
    pytest.importorskip("distributed")
    r = bench("micro", "--hv", "split", "--scheduler", "tcp://127.0.0.1:9", timeout=180)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]


def test_overhead_two_dimensional_walks(tmp_path):
    """bench overhead under x-gene: a compute loop pays nothing for stage 2; the pointer chase
    (every load a TLB miss) pays a two-dimensional walk: (n1 + 1)(n2 + 1) - 1 descriptor reads
    for n1 stage-1 and n2 stage-2 levels (Arm ARM, stage 2 translating each stage-1 table
    address and the output): 3 for stage 1 alone, 11 with 2 MiB blocks (n2 = 2), 15 with
    4 KiB pages (n2 = 3), 8 loads per iteration."""
    r = bench("overhead", "--profile", "x-gene", "--json", str(tmp_path / "o.json"))
    assert r.returncode == 0, r.stderr
    rows = {row["workload"]: row for row in json.loads((tmp_path / "o.json").read_text())
            ["overhead"]}
    assert rows["alu"]["s12_pct"] == rows["alu"]["s12p_pct"] == 100.0
    chase = rows["chase"]
    assert (chase["s1_walk_reads"], chase["s12_walk_reads"], chase["s12p_walk_reads"]) == \
        (8 * 3, 8 * 11, 8 * 15)
    assert 100 > chase["s12_pct"] > chase["s12p_pct"] > 0


def test_latency_scenarios(tmp_path):
    """bench latency: positive latencies in every scenario and design; a PE of its own (the
    shielded scenario) has a lower maximum than sharing the PE with a busy VM, measured."""
    r = bench("latency", "--profile", "x-gene", "--json", str(tmp_path / "l.json"))
    assert r.returncode == 0, r.stderr
    lat = json.loads((tmp_path / "l.json").read_text())["latency"]
    for mode in ("split", "direct"):
        for scen in ("alone", "shared", "shielded"):
            v = lat[f"{mode}/{scen}"]
            assert v["min"] > 0 and len(v["samples"]) == 48
            assert sum(n for _, _, n in v["histogram"]) == 48
        assert lat[f"{mode}/shielded"]["max"] < lat[f"{mode}/shared"]["max"]
        for scen in ("alone", "shared", "shielded"):
            # one sample by phase: every cycle from the deadline to the handler accounted for
            ph = lat[f"{mode}/{scen}"]["phases_of_one_sample"]
            assert sum(p["cycles"] for p in ph["phases"]) == ph["total"] > 0
            assert not any(p["phase"] == "unmarked" for p in ph["phases"])
            v = lat[f"{mode}/{scen}"]
            # the samples are in whole counter ticks (38 cycles under x-gene): within one
            assert v["min"] - 40 <= ph["total"] <= v["max"] + 40
    assert sum(line.startswith("bench: latency") for line in r.stderr.splitlines()) == 6


def test_cortex_a15_beside_asplos14(tmp_path):
    """Under cortex-a15 the table also shows KVM/ARM on the A15 (ASPLOS 2014); the split
    hypercall lands within 35% of its 5,326 cycles (a calibration on components only)."""
    r = bench("micro", "--hv", "split,direct", "--profile", "cortex-a15", "--json",
              str(tmp_path / "a.json"))
    assert r.returncode == 0, r.stderr
    assert "A15 KVM" in r.stdout and "ASPLOS 2014" in r.stdout
    split = json.loads((tmp_path / "a.json").read_text())["micro"]["split"]
    a15 = published()["micro_a15"]
    assert abs(split["hypercall"] - a15["hypercall"]) <= 0.35 * a15["hypercall"]
