"""The flattened device tree (DTB) that describes the board to a guest, as QEMU's ``virt`` does.

A guest booted by ``-kernel`` on ``qemu-system-aarch64 -M virt,gic-version=3`` learns where its
RAM, UART, interrupt controller and timers are from a DTB whose physical address arrives in x0
(Linux ``Documentation/arm64/booting.rst``, "Setup the device tree"). :func:`build_dtb` writes
the same description for our board, node for node, so that a guest which boots there boots here
unchanged. Each node below names the QEMU function that writes its counterpart (``hw/arm/virt.c``
and ``hw/arm/boot.c``) and says where we deliberately differ.

Addresses, sizes and interrupt numbers come from :mod:`armvirt.memmap`, the PSCI function IDs
from :mod:`armvirt.psci`: nothing about the board is restated here.

The blob is produced by the ``fdt`` package (PyPI ``fdt``), which emits version-17 DTBs as dtc
does. Interrupt specifiers use the three-cell GIC binding of Linux
``Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml``: ``<type number
flags>`` with type 0 = SPI, 1 = PPI, the number relative to the first SPI (INTID 32) or PPI
(INTID 16), and flags from ``include/dt-bindings/interrupt-controller/irq.h``.
"""
from __future__ import annotations

import string
from typing import Protocol

import fdt

from armvirt import memmap, psci

__all__ = ["BoardLike", "build_dtb", "dump_dts", "DTB_MAX_SIZE", "GIC_PHANDLE", "CLOCK_PHANDLE",
           "UART_PATH"]

# Interrupt specifier cells (include/dt-bindings/interrupt-controller/arm-gic.h and irq.h).
GIC_SPI = 0
GIC_PPI = 1
IRQ_TYPE_EDGE_RISING = 1
IRQ_TYPE_LEVEL_HIGH = 4
IRQ_TYPE_LEVEL_LOW = 8

# QEMU's qemu_fdt_alloc_phandle() hands out phandles from 0x8000 upwards, the clock first
# (create_fdt) and the GIC later (fdt_add_gic_node). Keeping the same values makes our DTS
# read like a `-M virt,dumpdtb=` dump.
CLOCK_PHANDLE = 0x8000
GIC_PHANDLE = 0x8001

APB_PCLK_HZ = 24_000_000        # create_fdt(): the fixed 24 MHz "apb-pclk" the PL011 names
DTB_MAX_SIZE = 2 << 20          # booting.rst: "must not exceed 2 megabytes in size"
UART_PATH = f"/pl011@{memmap.UART_BASE:x}"

# PSCI v0.2 "MIGRATE" (SMC64), one of the four 0.1-style properties QEMU writes; Arm DEN 0022D
# table 5. armvirt.psci does not implement MIGRATE (MIGRATE_INFO_TYPE says none is needed), so
# the ID is only named here.
PSCI_0_2_FN64_MIGRATE = 0xC400_0005

_CONDUITS = ("hvc", "smc", "none")


class BoardLike(Protocol):
    """What :func:`build_dtb` reads from a machine (``armvirt.machine.Machine`` has all of it)."""

    ram_size: int
    smp: int
    psci_conduit: str

    def mpidr(self, pe: int) -> int: ...


def _cells(*values: int) -> list[int]:
    """Split 64-bit values into the two big-endian 32-bit cells ``#address-cells = 2`` and
    ``#size-cells = 2`` call for (Devicetree Specification v0.4, section 2.3.5)."""
    out: list[int] = []
    for v in values:
        if not 0 <= v < 1 << 64:
            raise ValueError(f"0x{v:x} does not fit in two cells")
        out += [v >> 32, v & 0xFFFF_FFFF]
    return out


def _irq(kind: int, number: int, flags: int) -> list[int]:
    return [kind, number, flags]


def _printable(what: str, s: str) -> str:
    """DT strings are NUL-terminated ASCII; the ``fdt`` package additionally wants printable
    characters. Say so in our own words instead of tripping one of its asserts."""
    if not all(c in string.printable for c in s):
        raise ValueError(f"{what} must be printable ASCII, got {s!r}")
    return s


def build_dtb(machine_like: BoardLike, *, bootargs: str = "",
              initrd: tuple[int, int] | None = None, gic: bool = True) -> bytes:
    """Return the DTB for ``machine_like``: what QEMU ``-M virt,gic-version=3`` gives a guest.

    ``bootargs`` becomes ``/chosen/bootargs`` (QEMU's ``-append``); like ``arm_load_dtb()`` in
    QEMU we leave the property out when the string is empty, so Linux falls back to its built-in
    command line. ``initrd`` is ``(start, end)`` physical addresses, written as
    ``linux,initrd-start``/``-end`` (end exclusive, Documentation/devicetree/bindings/chosen.txt).
    ``gic=False`` describes a board without an interrupt controller: no ``/intc``, no
    ``interrupt-parent`` and no ``interrupts`` properties (devices must then be polled) — for
    bring-up of cores whose GIC is not there yet.

    Nodes (QEMU function that writes the counterpart in parentheses):

    * ``/``: ``compatible = model = "linux,dummy-virt"``, two address and size cells,
      ``interrupt-parent`` = the GIC (create_fdt, fdt_add_gic_node).
    * ``/memory@40000000``: ``device_type = "memory"``, ``reg`` = all of RAM (arm_load_dtb).
    * ``/cpus/cpu@N``: ``reg`` = MPIDR affinity (Aff2..Aff0, so one cell), ``compatible =
      "arm,armv8"``, ``enable-method = "psci"`` (fdt_add_cpu_nodes). QEMU writes the
      enable-method only when smp > 1; we write it whenever PSCI is present, which Linux
      accepts for the boot CPU too. QEMU's ``cpu-map`` topology node is omitted (flat topology).
    * ``/psci``: ``arm,psci-1.0``/``-0.2``/``arm,psci``, ``method`` = the conduit, and the
      PSCI 0.1 properties ``cpu_suspend``, ``cpu_off``, ``cpu_on``, ``migrate`` carrying the 0.2
      SMC64 IDs (fdt_add_psci_node). Absent, with the enable-methods, when the conduit is
      ``"none"``, as QEMU does when PSCI is disabled.
    * ``/pl011@9000000``: PL011 + PrimeCell, SPI 1 level-high, both clocks from ``/apb-pclk``
      (create_uart); ``/chosen/stdout-path`` and ``/aliases/serial0`` point at it.
    * ``/flash@0``: ``cfi-flash``, both 64 MiB banks in ``reg``, ``bank-width = 4``
      (virt_flash_fdt): only for a board with flash (``machine_like.flash``, ``--bios``).
    * ``/pl031@9010000`` (create_rtc) and the 32 ``/virtio_mmio@a000000..`` transports (SPIs
      16-47, edge-rising, create_virtio_devices): only for a board that has them
      (``machine_like.board_devices``, armvirt/board.py) — not for a VM of the hypervisor.
    * ``/apb-pclk``: the 24 MHz ``fixed-clock`` (create_fdt).
    * ``/intc@8000000``: ``arm,gic-v3`` with one redistributor region (fdt_add_gic_node).
      ``reg`` = GICD, then the GICR frames of ``smp`` PEs (``smp * GICR_STRIDE``): QEMU
      advertises the whole 0xF6_0000 window; we advertise only the frames that exist, so a
      driver walking the region meets the ``GICR_TYPER.Last`` frame exactly at its end.
      ``interrupts`` = the maintenance PPI 9 level-high, which QEMU writes only with
      ``virtualization=on`` — our board always has EL2. ``#address-cells``, ``#size-cells`` and
      ``ranges`` are kept from QEMU (they exist for an ITS child node; without them dtc warns
      about an interrupt provider lacking ``#address-cells``).
    * ``/pmu``: ``arm,armv8-pmuv3`` with the overflow interrupt, PPI 7 (INTID 23) level-high
      (fdt_add_pmu_nodes); left out without a GIC, as QEMU needs one to wire it.
    * ``/timer``: ``arm,armv8-timer`` (+ ``arm,armv7-timer``), ``always-on``, PPIs 13 (secure
      EL1 physical), 14 (non-secure EL1 physical), 11 (virtual), 10 (EL2 physical), all
      level-high (fdt_add_timer_nodes: ``GIC_FDT_IRQ_FLAGS_LEVEL_HI`` for virt-2.9 and later;
      the CPU-mask bits it adds are GICv2-only).

    QEMU also writes ``kaslr-seed``/``rng-seed`` into ``/chosen``; we do not, because runs must
    be deterministic (DESIGN.md, "Time is virtual and deterministic").
    """
    smp = int(machine_like.smp)
    ram_size = int(machine_like.ram_size)
    conduit = machine_like.psci_conduit
    if not 1 <= smp <= memmap.MAX_PES:
        raise ValueError(f"smp must be 1..{memmap.MAX_PES}, not {smp}")
    if ram_size <= 0:
        raise ValueError(f"RAM size must be positive, not {ram_size}")
    if conduit not in _CONDUITS:
        raise ValueError(f"PSCI conduit must be one of {', '.join(_CONDUITS)}, not {conduit!r}")
    _printable("bootargs", bootargs)
    ram_end = memmap.RAM_BASE + ram_size
    if initrd is not None:
        start, end = initrd
        if not memmap.RAM_BASE <= start <= end <= ram_end:
            raise ValueError(f"initrd 0x{start:x}..0x{end:x} is not a range inside RAM "
                             f"(0x{memmap.RAM_BASE:x}..0x{ram_end:x})")

    tree = fdt.FDT(entries=[])          # the default `entries` list is shared between instances
    root = tree.root
    root.append(fdt.PropStrings("compatible", "linux,dummy-virt"))
    root.append(fdt.PropStrings("model", "linux,dummy-virt"))
    root.append(fdt.PropWords("#address-cells", 2))
    root.append(fdt.PropWords("#size-cells", 2))
    if gic:
        root.append(fdt.PropWords("interrupt-parent", GIC_PHANDLE))

    chosen = fdt.Node("chosen")
    if bootargs:
        chosen.append(fdt.PropStrings("bootargs", bootargs))
    chosen.append(fdt.PropStrings("stdout-path", UART_PATH))
    if initrd is not None:
        chosen.append(fdt.PropWords("linux,initrd-start", *_cells(initrd[0])))
        chosen.append(fdt.PropWords("linux,initrd-end", *_cells(initrd[1])))
    root.append(chosen)

    root.append(fdt.Node("aliases", fdt.PropStrings("serial0", UART_PATH)))

    root.append(fdt.Node(
        "apb-pclk",
        fdt.PropStrings("compatible", "fixed-clock"),
        fdt.PropWords("#clock-cells", 0),
        fdt.PropWords("clock-frequency", APB_PCLK_HZ),
        fdt.PropStrings("clock-output-names", "clk24mhz"),
        fdt.PropWords("phandle", CLOCK_PHANDLE),
    ))

    if getattr(machine_like, "flash", False):
        # QEMU's virt_flash_fdt (non-secure): one cfi-flash node for both banks.
        root.append(fdt.Node(
            f"flash@{memmap.FLASH_BASE:x}",
            fdt.PropWords("bank-width", 4),
            fdt.PropWords("reg", *_cells(memmap.FLASH_BASE, memmap.FLASH_BANK_SIZE,
                                         memmap.FLASH_BASE + memmap.FLASH_BANK_SIZE,
                                         memmap.FLASH_BANK_SIZE)),
            fdt.PropStrings("compatible", "cfi-flash"),
        ))

    root.append(fdt.Node(
        f"memory@{memmap.RAM_BASE:x}",
        fdt.PropStrings("device_type", "memory"),
        fdt.PropWords("reg", *_cells(memmap.RAM_BASE, ram_size)),
    ))

    cpus = fdt.Node("cpus", fdt.PropWords("#address-cells", 1), fdt.PropWords("#size-cells", 0))
    for pe in range(smp):
        aff = machine_like.mpidr(pe) & 0xFF_FFFF      # Aff2:Aff1:Aff0; Aff3 is always 0 here
        cpu = fdt.Node(f"cpu@{aff:x}",
                       fdt.PropStrings("device_type", "cpu"),
                       fdt.PropStrings("compatible", "arm,armv8"),
                       fdt.PropWords("reg", aff))
        if conduit != "none":
            cpu.append(fdt.PropStrings("enable-method", "psci"))
        cpus.append(cpu)
    root.append(cpus)

    if conduit != "none":
        root.append(fdt.Node(
            "psci",
            fdt.PropStrings("compatible", "arm,psci-1.0", "arm,psci-0.2", "arm,psci"),
            fdt.PropStrings("method", conduit),
            fdt.PropWords("cpu_suspend", psci.CPU_SUSPEND_64),
            fdt.PropWords("cpu_off", psci.CPU_OFF),
            fdt.PropWords("cpu_on", psci.CPU_ON_64),
            fdt.PropWords("migrate", PSCI_0_2_FN64_MIGRATE),
        ))

    uart = fdt.Node(UART_PATH.lstrip("/"),
                    fdt.PropStrings("compatible", "arm,pl011", "arm,primecell"),
                    fdt.PropWords("reg", *_cells(memmap.UART_BASE, memmap.UART_SIZE)))
    if gic:
        uart.append(fdt.PropWords("interrupts",
                                  *_irq(GIC_SPI, memmap.UART_SPI, IRQ_TYPE_LEVEL_HIGH)))
    uart.append(fdt.PropWords("clocks", CLOCK_PHANDLE, CLOCK_PHANDLE))
    uart.append(fdt.PropStrings("clock-names", "uartclk", "apb_pclk"))
    root.append(uart)

    if getattr(machine_like, "board_devices", False):
        rtc = fdt.Node(f"pl031@{memmap.RTC_BASE:x}",
                       fdt.PropStrings("compatible", "arm,pl031", "arm,primecell"),
                       fdt.PropWords("reg", *_cells(memmap.RTC_BASE, memmap.RTC_SIZE)))
        if gic:
            rtc.append(fdt.PropWords("interrupts",
                                     *_irq(GIC_SPI, memmap.RTC_SPI, IRQ_TYPE_LEVEL_HIGH)))
        rtc.append(fdt.PropWords("clocks", CLOCK_PHANDLE))
        rtc.append(fdt.PropStrings("clock-names", "apb_pclk"))
        root.append(rtc)
        # QEMU adds the transports from the top down, so they are listed by ascending address.
        for i in range(memmap.VIRTIO_COUNT):
            base = memmap.VIRTIO_BASE + i * memmap.VIRTIO_SIZE
            node = fdt.Node(f"virtio_mmio@{base:x}",
                            fdt.PropWords("reg", *_cells(base, memmap.VIRTIO_SIZE)))
            if gic:
                node.append(fdt.PropWords("interrupts", *_irq(
                    GIC_SPI, memmap.VIRTIO_SPI_BASE + i, IRQ_TYPE_EDGE_RISING)))
            node.append(fdt.Property("dma-coherent"))
            node.append(fdt.PropStrings("compatible", "virtio,mmio"))
            root.append(node)

    if gic:
        root.append(fdt.Node(
            f"intc@{memmap.GICD_BASE:x}",
            fdt.PropStrings("compatible", "arm,gic-v3"),
            fdt.PropWords("#interrupt-cells", 3),
            fdt.Property("interrupt-controller"),
            fdt.PropWords("#address-cells", 2),
            fdt.PropWords("#size-cells", 2),
            fdt.Property("ranges"),
            fdt.PropWords("#redistributor-regions", 1),
            fdt.PropWords("reg", *_cells(memmap.GICD_BASE, memmap.GICD_SIZE,
                                         memmap.GICR_BASE, smp * memmap.GICR_STRIDE)),
            fdt.PropWords("interrupts", *_irq(GIC_PPI, memmap.PPI_GIC_MAINTENANCE - 16,
                                              IRQ_TYPE_LEVEL_HIGH)),
            fdt.PropWords("phandle", GIC_PHANDLE),
        ))

    if gic:
        root.append(fdt.Node(
            "pmu",
            fdt.PropStrings("compatible", "arm,armv8-pmuv3"),
            fdt.PropWords("interrupts", *_irq(GIC_PPI, memmap.PPI_PMU - 16, IRQ_TYPE_LEVEL_HIGH)),
        ))

    timer = fdt.Node("timer",
                     fdt.PropStrings("compatible", "arm,armv8-timer", "arm,armv7-timer"),
                     fdt.Property("always-on"))
    if gic:
        # Order fixed by the binding (timer/arm,arch_timer.yaml): secure phys, non-secure
        # phys, virtual, hypervisor phys.
        ppis = (memmap.PPI_SEC_PHYS_TIMER, memmap.PPI_PHYS_TIMER, memmap.PPI_VIRT_TIMER,
                memmap.PPI_HYP_TIMER)
        cells: list[int] = []
        for intid in ppis:
            cells += _irq(GIC_PPI, intid - 16, IRQ_TYPE_LEVEL_HIGH)
        timer.append(fdt.PropWords("interrupts", *cells))
    root.append(timer)

    blob = tree.to_dtb(version=17, last_comp_version=16,
                       boot_cpuid_phys=machine_like.mpidr(0) & 0xFF_FFFF)
    if len(blob) > DTB_MAX_SIZE:
        raise ValueError(f"the device tree is {len(blob)} bytes; Linux accepts at most "
                         f"{DTB_MAX_SIZE} (2 MiB, Documentation/arm64/booting.rst)")
    return blob


def dump_dts(blob: bytes) -> str:
    """Render a DTB as device-tree source for people (``armvirt --dump-dtb``, debugging).

    The ``fdt`` package guesses each property's type from its bytes (strings, 32-bit cells or
    a byte string), as ``dtc -I dtb -O dts`` does; the output is for reading, not for feeding
    back to a compiler.
    """
    return fdt.parse_dtb(bytes(blob)).to_dts()
