"""The board's Python devices (armvirt/board.py): the PL031 RTC and the empty virtio-mmio slots,
read by guest loads as software probing `virt` does, and their device-tree nodes."""
from __future__ import annotations

import fdt
import pytest

from armvirt import board, memmap
from armvirt import layout as L
from armvirt.dtb import build_dtb
from armvirt.machine import Machine

CODE = memmap.RAM_BASE
LDR_W0_X1 = 0xB9400020          # ldr w0, [x1]
STR_W2_X1 = 0xB9000022          # str w2, [x1]


def load32(m: Machine, pa: int) -> int:
    m.write_phys(CODE, LDR_W0_X1.to_bytes(4, "little"))
    m.boot_pe(0, CODE, el=1)
    m.set_reg("x1", pa)
    m.step(1)
    assert m.reg("pc") == CODE + 4, "the load faulted"
    return m.reg("x0")


def store32(m: Machine, pa: int, value: int) -> None:
    m.write_phys(CODE, STR_W2_X1.to_bytes(4, "little"))
    m.boot_pe(0, CODE, el=1)
    m.set_reg("x1", pa)
    m.set_reg("x2", value)
    m.step(1)
    assert m.reg("pc") == CODE + 4, "the store faulted"


def test_rtc_counts_virtual_seconds_from_a_fixed_epoch():
    m = Machine(ram_size=1 << 20)
    assert load32(m, memmap.RTC_BASE) == board.DEFAULT_RTC_EPOCH
    m.cpus[0][L.CYCLES] += 5 * m.profile.cpu_hz
    assert load32(m, memmap.RTC_BASE) == board.DEFAULT_RTC_EPOCH + 5
    m2 = Machine(ram_size=1 << 20, rtc_epoch=1_000_000)
    assert load32(m2, memmap.RTC_BASE) == 1_000_000


def test_rtc_load_match_interrupt_and_primecell_id():
    m = Machine(ram_size=1 << 20)
    rtc = memmap.RTC_BASE
    store32(m, rtc + 0x08, 7_000_000)                       # RTCLR
    assert load32(m, rtc) == 7_000_000 and load32(m, rtc + 0x08) == 7_000_000
    assert load32(m, rtc + 0x0C) == 1                       # RTCCR: started
    store32(m, rtc + 0x04, 7_000_000)                       # RTCMR = now: match
    assert load32(m, rtc + 0x14) == 1                       # RTCRIS
    assert load32(m, rtc + 0x18) == 0                       # masked
    store32(m, rtc + 0x10, 1)                               # RTCIMSC
    assert load32(m, rtc + 0x18) == 1
    def rtc_line():
        rows = [r for r in m.gic_info()["interrupts"] if r["intid"] == 32 + memmap.RTC_SPI]
        return bool(rows and rows[0]["line"])
    assert rtc_line()                                       # the SPI's input is high
    store32(m, rtc + 0x04, 0)
    store32(m, rtc + 0x1C, 1)                               # RTCICR
    assert load32(m, rtc + 0x14) == 0 and not rtc_line()
    ids = [load32(m, rtc + 0xFE0 + 4 * i) for i in range(8)]
    assert ids == [0x31, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]


@pytest.mark.parametrize("slot", [0, 17, 31])
def test_virtio_slots_are_empty_transports(slot):
    m = Machine(ram_size=1 << 20)
    base = memmap.VIRTIO_BASE + slot * memmap.VIRTIO_SIZE
    assert load32(m, base) == 0x74726976                    # "virt"
    assert load32(m, base + 4) == 1                         # legacy transport, as QEMU's default
    assert load32(m, base + 8) == 0                         # DeviceID 0: nothing behind it
    assert load32(m, base + 12) == 0x554D4551               # "QEMU"


def test_device_tree_describes_them_for_the_board_only():
    t = fdt.parse_dtb(build_dtb(Machine(ram_size=1 << 20)))
    rtc = t.get_node(f"/pl031@{memmap.RTC_BASE:x}")
    assert list(rtc.get_property("compatible").data) == ["arm,pl031", "arm,primecell"]
    assert list(rtc.get_property("interrupts").data) == [0, memmap.RTC_SPI, 4]
    v = t.get_node("/virtio_mmio@a003e00")
    assert list(v.get_property("interrupts").data) == [0, memmap.VIRTIO_SPI_BASE + 31, 1]
    assert list(v.get_property("compatible").data) == ["virtio,mmio"]

    class VM:          # what a VM's device tree is built from: no board devices
        smp, ram_size, psci_conduit = 1, 1 << 20, "hvc"

        def mpidr(self, pe):
            return 1 << 31 | pe
    names = [n.name for n in fdt.parse_dtb(build_dtb(VM())).root.nodes]
    assert not [n for n in names if n.startswith(("pl031", "virtio"))]


@pytest.mark.parametrize("text, want", [("0", 0), ("2000-01-01", 946684800),
                                        ("2024-02-29T12:00:00", 1709208000)])
def test_parse_rtc(text, want):
    assert board.parse_rtc(text) == want


def test_parse_rtc_rejects_nonsense():
    with pytest.raises(ValueError, match="--rtc"):
        board.parse_rtc("yesterday")
