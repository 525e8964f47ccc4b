"""Devices of the `virt` board that software probes but that need not be fast: Python devices.

They answer MMIO exits (``Machine.add_device``), like any device a user adds, and are described
in the DTB (``armvirt.dtb``) as QEMU describes them, so that Linux, firmware and
kvm-unit-tests-style software find what they look for on ``virt``:

* :class:`PL031`: the PrimeCell real-time clock at 0x0901_0000 (ARM DDI 0224, "PrimeCell Real
  Time Clock (PL031) Technical Reference Manual"). Its seconds come from the machine's virtual
  time (PE 0's cycle count at the cost profile's clock, ``Machine.profile.cpu_hz``) added to
  an epoch: a fixed one by default, so runs stay deterministic (``--rtc`` chooses another, or the host's clock at start).
* :class:`VirtioMMIOSlot`: one of the 32 virtio-mmio transports at 0x0A00_0000 with no device
  behind it, as QEMU presents an empty slot (virtio 1.2, 4.2.2 "MMIO Device Register Layout":
  MagicValue "virt", Version 1 — QEMU's legacy default —, DeviceID 0 = no device, VendorID
  "QEMU"), so a driver's probe finds nothing and moves on.
"""
from __future__ import annotations

import calendar
import time

from armvirt import layout as L
from armvirt import memmap

# 2025-01-01T00:00:00Z: the RTC's time at power-on unless --rtc says otherwise.
DEFAULT_RTC_EPOCH = 1735689600

# PrimeCell identification registers at 0xFE0..0xFFC (PL031 TRM, 3.3.9 and 3.3.10).
_PL031_ID = (0x31, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1)


class PL031:
    """The PL031 RTC: RTCDR counts seconds; RTCLR loads it; RTCMR is the match (alarm) value.

    The match interrupt (SPI 2) is raised as the TRM says — RTCRIS when RTCDR equals RTCMR,
    RTCMIS = RTCRIS & RTCIMSC — evaluated whenever the guest accesses the RTC, since a Python
    device has no timer of its own: software that sleeps on the alarm without touching the
    RTC is woken only by its other interrupt sources.
    """

    DR, MR, LR, CR, IMSC, RIS, MIS, ICR = range(0, 0x20, 4)

    def __init__(self, machine, epoch: int = DEFAULT_RTC_EPOCH):
        self.m = machine
        self.offset = epoch        # RTCDR = offset + elapsed virtual seconds
        self.match = 0
        self.lr = 0
        self.imsc = 0
        self.ris = 0
        self.spi = memmap.RTC_SPI

    def seconds(self) -> int:
        return self.offset + int(self.m.cpus[0][L.CYCLES]) // self.m.profile.cpu_hz

    def _update(self) -> None:
        if self.seconds() & 0xFFFF_FFFF == self.match:
            self.ris = 1
        self.m.set_irq(32 + self.spi, bool(self.ris & self.imsc))

    def read(self, offset: int, size: int) -> int:
        self._update()
        if offset == self.DR:
            return self.seconds() & 0xFFFF_FFFF
        if offset == self.MR:
            return self.match
        if offset == self.LR:
            return self.lr                       # the last value loaded
        if offset == self.CR:
            return 1                             # always started (RTCCR.RTCStart reads 1)
        if offset == self.IMSC:
            return self.imsc
        if offset == self.RIS:
            return self.ris
        if offset == self.MIS:
            return self.ris & self.imsc
        if 0xFE0 <= offset <= 0xFFC and offset % 4 == 0:
            return _PL031_ID[(offset - 0xFE0) // 4]
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFFFF_FFFF
        if offset == self.MR:
            self.match = value
        elif offset == self.LR:
            self.lr = value
            self.offset += value - self.seconds()
        elif offset == self.IMSC:
            self.imsc = value & 1
        elif offset == self.ICR:
            self.ris &= ~value & 1
        self._update()


class VirtioMMIOSlot:
    """A virtio-mmio transport with no device: the identification registers, all else 0."""

    MAGIC = 0x7472_6976          # "virt" little-endian
    VENDOR_QEMU = 0x554D_4551    # "QEMU"

    def read(self, offset: int, size: int) -> int:
        return {0x000: self.MAGIC, 0x004: 1, 0x008: 0, 0x00C: self.VENDOR_QEMU}.get(offset, 0)

    def write(self, offset: int, size: int, value: int) -> None:
        pass   # no device: the driver reads DeviceID 0 and writes nothing that matters


def parse_rtc(text: str) -> int:
    """``--rtc``: ``now`` (the host's clock at start), seconds since 1970, or an ISO 8601 UTC
    date ``YYYY-MM-DD[THH:MM:SS]``. Raises ValueError with a message for anything else."""
    if text == "now":
        return int(time.time())
    if text.isdigit():
        return int(text)
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt))
        except ValueError:
            pass
    raise ValueError(f"--rtc: {text!r} is not 'now', seconds since 1970, or YYYY-MM-DD"
                     "[THH:MM:SS]")


def attach(machine, rtc_epoch: int = DEFAULT_RTC_EPOCH) -> None:
    """Map the board's Python devices on ``machine``."""
    machine.add_device(memmap.RTC_BASE, memmap.RTC_SIZE, PL031(machine, rtc_epoch))
    for i in range(memmap.VIRTIO_COUNT):
        machine.add_device(memmap.VIRTIO_BASE + i * memmap.VIRTIO_SIZE, memmap.VIRTIO_SIZE,
                           VirtioMMIOSlot())
