"""The board's device tree: parsed back with the ``fdt`` package, and checked by dtc if present.

Every expectation is stated from the documents the DTB must satisfy — QEMU ``virt``'s tree
(``hw/arm/virt.c``), the GIC/timer/PSCI/PL011 bindings in Linux
``Documentation/devicetree/bindings`` and the Devicetree Specification — not read back from
``armvirt.dtb`` itself.
"""
from __future__ import annotations

import shutil
import struct
import subprocess

import fdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armvirt import memmap
from armvirt.dtb import build_dtb, dump_dts


class FakeBoard:
    """The attributes of ``armvirt.machine.Machine`` that ``build_dtb`` reads."""

    def __init__(self, ram_size: int = 128 << 20, smp: int = 1, psci_conduit: str = "hvc"):
        self.ram_size = ram_size
        self.smp = smp
        self.psci_conduit = psci_conduit

    def mpidr(self, pe: int) -> int:
        return (1 << 31) | pe          # RES1 bit 31, Aff0 = PE number, as QEMU virt (<= 8 PEs)


def words(tree: fdt.FDT, path: str, prop: str) -> list[int]:
    p = tree.get_node(path).get_property(prop)
    assert isinstance(p, fdt.PropWords), f"{path}:{prop} is {type(p).__name__}, not cells"
    return list(p.data)


def strings(tree: fdt.FDT, path: str, prop: str) -> list[str]:
    p = tree.get_node(path).get_property(prop)
    assert isinstance(p, fdt.PropStrings), f"{path}:{prop} is {type(p).__name__}, not strings"
    return list(p.data)


def empty(tree: fdt.FDT, path: str, prop: str) -> bool:
    p = tree.get_node(path).get_property(prop)
    return p is not None and type(p) is fdt.Property


def u64(cells: list[int]) -> list[int]:
    assert len(cells) % 2 == 0
    return [(cells[i] << 32) | cells[i + 1] for i in range(0, len(cells), 2)]


def parse(board: FakeBoard, **kw) -> fdt.FDT:
    return fdt.parse_dtb(build_dtb(board, **kw))


# ------------------------------------------------------------------------------------ header
def test_header_is_a_version_17_fdt_consistent_with_its_length():
    blob = build_dtb(FakeBoard())
    (magic, totalsize, off_struct, off_strings, off_rsvmap, version, last_comp, boot_cpu,
     size_strings, size_struct) = struct.unpack_from(">10I", blob)
    assert magic == 0xD00DFEED
    assert totalsize == len(blob)
    assert (version, last_comp) == (17, 16)
    assert boot_cpu == 0
    assert off_rsvmap % 8 == 0 and off_struct % 4 == 0        # DT spec 5.3 / 5.4 alignment
    assert blob[off_rsvmap:off_rsvmap + 16] == bytes(16)       # empty reservation map
    assert off_struct + size_struct <= off_strings
    assert off_strings + size_strings == totalsize
    assert struct.unpack_from(">I", blob, off_struct + size_struct - 4)[0] == 9   # FDT_END


def test_deterministic():
    b = FakeBoard(smp=4)
    assert build_dtb(b, bootargs="x") == build_dtb(b, bootargs="x")


# ------------------------------------------------------------------------------ the nodes
def test_root_node():
    t = parse(FakeBoard())
    assert strings(t, "/", "compatible") == ["linux,dummy-virt"]
    assert strings(t, "/", "model") == ["linux,dummy-virt"]
    assert words(t, "/", "#address-cells") == [2]
    assert words(t, "/", "#size-cells") == [2]
    assert words(t, "/", "interrupt-parent") == words(t, "/intc@8000000", "phandle")


@pytest.mark.parametrize("ram", [4 << 10, 128 << 20, 5 << 30])
def test_memory_node_covers_all_of_ram(ram):
    t = parse(FakeBoard(ram_size=ram))
    assert strings(t, "/memory@40000000", "device_type") == ["memory"]
    assert u64(words(t, "/memory@40000000", "reg")) == [0x4000_0000, ram]


@pytest.mark.parametrize("smp", [1, 2, 8])
def test_cpu_nodes_are_keyed_by_mpidr_affinity(smp):
    t = parse(FakeBoard(smp=smp))
    assert words(t, "/cpus", "#address-cells") == [1]
    assert words(t, "/cpus", "#size-cells") == [0]
    cpus = [n for n in t.get_node("/cpus").nodes if n.name.startswith("cpu@")]
    assert [n.name for n in cpus] == [f"cpu@{i:x}" for i in range(smp)]
    for i in range(smp):
        path = f"/cpus/cpu@{i:x}"
        assert strings(t, path, "device_type") == ["cpu"]
        assert strings(t, path, "compatible") == ["arm,armv8"]
        assert words(t, path, "reg") == [i]          # MPIDR & 0xFFFFFF: bit 31 dropped
        assert strings(t, path, "enable-method") == ["psci"]


def test_cpu_reg_takes_higher_affinity_levels_but_not_bit_31():
    class Clustered(FakeBoard):
        def mpidr(self, pe: int) -> int:
            return (1 << 31) | ((pe // 2) << 8) | (pe % 2)     # two PEs per Aff1 cluster

    t = parse(Clustered(smp=4))
    assert [words(t, f"/cpus/{n}", "reg")[0] for n in ("cpu@0", "cpu@1", "cpu@100", "cpu@101")] \
        == [0x000, 0x001, 0x100, 0x101]


@pytest.mark.parametrize("conduit", ["hvc", "smc"])
def test_psci_node_as_qemu_writes_it(conduit):
    t = parse(FakeBoard(psci_conduit=conduit))
    assert strings(t, "/psci", "compatible") == ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]
    assert strings(t, "/psci", "method") == [conduit]
    # PSCI 0.1 properties, with the SMC64 PSCI 0.2 function IDs (Arm DEN 0022).
    assert words(t, "/psci", "cpu_suspend") == [0xC400_0001]
    assert words(t, "/psci", "cpu_off") == [0x8400_0002]
    assert words(t, "/psci", "cpu_on") == [0xC400_0003]
    assert words(t, "/psci", "migrate") == [0xC400_0005]


def test_no_psci_means_no_psci_node_and_no_enable_method():
    t = parse(FakeBoard(smp=2, psci_conduit="none"))
    assert not t.exist_node("/psci")
    assert t.get_node("/cpus/cpu@1").get_property("enable-method") is None


def test_pl011_node_and_its_clock():
    t = parse(FakeBoard())
    u = "/pl011@9000000"
    assert strings(t, u, "compatible") == ["arm,pl011", "arm,primecell"]
    assert u64(words(t, u, "reg")) == [0x0900_0000, 0x1000]
    assert words(t, u, "interrupts") == [0, 1, 4]       # GIC_SPI 1 IRQ_TYPE_LEVEL_HIGH
    clk = words(t, "/apb-pclk", "phandle")[0]
    assert words(t, u, "clocks") == [clk, clk]
    assert strings(t, u, "clock-names") == ["uartclk", "apb_pclk"]
    assert strings(t, "/apb-pclk", "compatible") == ["fixed-clock"]
    assert words(t, "/apb-pclk", "#clock-cells") == [0]
    assert words(t, "/apb-pclk", "clock-frequency") == [24_000_000]
    assert strings(t, "/aliases", "serial0") == [u]


@pytest.mark.parametrize("smp", [1, 3, 8])
def test_gicv3_node(smp):
    t = parse(FakeBoard(smp=smp))
    g = "/intc@8000000"
    assert strings(t, g, "compatible") == ["arm,gic-v3"]
    assert words(t, g, "#interrupt-cells") == [3]
    assert empty(t, g, "interrupt-controller")
    assert words(t, g, "#redistributor-regions") == [1]
    # GICD 64 KiB, then one RD_base + SGI_base pair (2 x 64 KiB) per PE.
    assert u64(words(t, g, "reg")) == [0x0800_0000, 0x1_0000, 0x080A_0000, smp * 0x2_0000]
    assert words(t, g, "interrupts") == [1, 9, 4]       # maintenance: PPI 9 (INTID 25), level
    assert words(t, g, "phandle")[0] not in (0, 0xFFFF_FFFF)
    assert words(t, g, "phandle") != words(t, "/apb-pclk", "phandle")


def test_timer_node():
    t = parse(FakeBoard(smp=4))
    assert strings(t, "/timer", "compatible")[0] == "arm,armv8-timer"
    assert empty(t, "/timer", "always-on")
    # secure phys (INTID 29), non-secure phys (30), virtual (27), hyp phys (26); GICv3 has no
    # CPU-mask bits, and QEMU virt >= 2.9 reports the (real) level-high sense.
    assert words(t, "/timer", "interrupts") == [1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]


def test_pmu_node():
    t = parse(FakeBoard(smp=2))
    assert strings(t, "/pmu", "compatible") == ["arm,armv8-pmuv3"]
    assert words(t, "/pmu", "interrupts") == [1, 7, 4]      # PPI 7 = INTID 23, level-high
    assert not parse(FakeBoard(), gic=False).exist_node("/pmu")


def test_chosen_node():
    t = parse(FakeBoard(), bootargs="console=ttyAMA0 earlycon root=/dev/vda",
              initrd=(0x4400_0000, 0x4412_3456))
    assert strings(t, "/chosen", "bootargs") == ["console=ttyAMA0 earlycon root=/dev/vda"]
    assert strings(t, "/chosen", "stdout-path") == ["/pl011@9000000"]
    assert t.exist_node("/pl011@9000000")
    assert u64(words(t, "/chosen", "linux,initrd-start")) == [0x4400_0000]
    assert u64(words(t, "/chosen", "linux,initrd-end")) == [0x4412_3456]


def test_chosen_without_bootargs_or_initrd():
    t = parse(FakeBoard())
    node = t.get_node("/chosen")
    assert node.get_property("bootargs") is None        # QEMU omits an empty -append
    assert node.get_property("linux,initrd-start") is None
    assert node.get_property("linux,initrd-end") is None
    assert strings(t, "/chosen", "stdout-path") == ["/pl011@9000000"]


def test_without_gic_nothing_refers_to_an_interrupt_controller():
    t = parse(FakeBoard(smp=2), gic=False)
    assert not t.exist_node("/intc@8000000")
    for path, _nodes, props in t.walk():
        names = {p.name for p in props}
        assert not names & {"interrupts", "interrupt-parent", "interrupt-controller"}, path
    assert t.exist_node("/timer") and t.exist_node("/pl011@9000000")


def test_real_machine_if_it_constructs():
    try:
        from armvirt.machine import Machine
        m = Machine(ram_size=32 << 20, smp=2)
    except Exception as e:     # the core is under construction by others
        pytest.skip(f"armvirt.machine.Machine() is not usable right now: {e!r}")
    t = fdt.parse_dtb(build_dtb(m, bootargs="hello"))
    assert [words(t, f"/cpus/cpu@{i}", "reg") for i in range(2)] == [[0], [1]]
    assert u64(words(t, "/memory@40000000", "reg")) == [0x4000_0000, 32 << 20]
    assert strings(t, "/psci", "method") == [m.psci_conduit]


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw, match", [
    ({"bootargs": "bad\x00arg"}, "printable"),
    ({"bootargs": "caf\u00e9"}, "printable"),
    ({"initrd": (0x4100_0000, 0x4000_1000)}, "initrd"),
    ({"initrd": (0x3000_0000, 0x4000_1000)}, "initrd"),
    ({"initrd": (0x4000_0000, 0x4000_0000 + (128 << 20) + 1)}, "initrd"),
])
def test_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        build_dtb(FakeBoard(), **kw)


@pytest.mark.parametrize("board, match", [
    (FakeBoard(smp=0), "smp"), (FakeBoard(smp=memmap.MAX_PES + 1), "smp"),
    (FakeBoard(psci_conduit="svc"), "conduit"), (FakeBoard(ram_size=0), "RAM"),
])
def test_rejects_bad_boards(board, match):
    with pytest.raises(ValueError, match=match):
        build_dtb(board)


def test_refuses_a_tree_over_2_mib():
    with pytest.raises(ValueError, match="2 MiB"):
        build_dtb(FakeBoard(), bootargs="a" * (2 << 20))


@settings(max_examples=60, deadline=None)
@given(smp=st.integers(1, memmap.MAX_PES),
       ram_pages=st.integers(1, (16 << 30) >> 12),
       conduit=st.sampled_from(["hvc", "smc", "none"]),
       bootargs=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                        max_size=200))
def test_round_trip_properties(smp, ram_pages, conduit, bootargs):
    board = FakeBoard(ram_size=ram_pages << 12, smp=smp, psci_conduit=conduit)
    t = parse(board, bootargs=bootargs)
    assert u64(words(t, "/memory@40000000", "reg")) == [0x4000_0000, ram_pages << 12]
    assert len([n for n in t.get_node("/cpus").nodes if n.name.startswith("cpu@")]) == smp
    assert u64(words(t, "/intc@8000000", "reg"))[3] == smp * memmap.GICR_STRIDE
    assert t.exist_node("/psci") == (conduit != "none")
    bp = t.get_node("/chosen").get_property("bootargs")
    if bootargs:
        # fdt's DTB parser guesses types; a printable NUL-terminated string stays a string.
        assert bp is not None and list(bp.data) == [bootargs]
    else:
        assert bp is None


# ------------------------------------------------------------------------------ dump / dtc
def test_dump_dts_is_readable_source():
    text = dump_dts(build_dtb(FakeBoard(smp=2), bootargs="console=ttyAMA0"))
    assert text.startswith("/dts-v1/;")
    for needle in ('compatible = "arm,gic-v3";', 'bootargs = "console=ttyAMA0";',
                   "pl011@9000000 {", "cpu@1 {", "interrupt-controller;",
                   'method = "hvc";', "reg = <0x0 0x40000000 0x0 0x8000000>;"):
        assert needle in text, needle


DTC = shutil.which("dtc")


@pytest.mark.skipif(DTC is None, reason="dtc not installed (Debian package device-tree-compiler)")
@pytest.mark.parametrize("board, kw", [
    (FakeBoard(), {}),
    (FakeBoard(smp=8, psci_conduit="smc"), {"bootargs": "console=ttyAMA0 earlycon"}),
    (FakeBoard(smp=2, psci_conduit="none"), {"initrd": (0x4100_0000, 0x4120_0000)}),
    (FakeBoard(ram_size=6 << 30), {"gic": False}),
])
def test_dtc_decompiles_without_warnings(board, kw):
    """dtc runs its structural checks (reg format vs #address-cells, unit addresses, phandle
    references in clocks/interrupt-parent, interrupt providers, chosen/aliases paths) when
    decompiling; the board's tree must pass all of them cleanly."""
    r = subprocess.run([DTC, "-I", "dtb", "-O", "dts", "-o", "-", "-"],
                       input=build_dtb(board, **kw), capture_output=True, timeout=60)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err
    assert "Warning" not in err and "ERROR" not in err, err
    out = r.stdout.decode()
    assert 'compatible = "linux,dummy-virt";' in out
    assert "memory@40000000 {" in out
