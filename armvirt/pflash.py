"""The `virt` board's flash: two CFI parallel flash banks with the Intel/Sharp command set.

As QEMU's ``virt`` wires its ``cfi.pflash01`` devices (hw/arm/virt.c, ``virt_flash_create1``):
two 64 MiB banks at 0x0 and 0x0400_0000, each a 32-bit bus of two interleaved x16 devices
(``width`` 4, ``device-width`` 2), 256 KiB erase blocks, manufacturer/device IDs 0x89/0x18
(Intel). Bank 0 holds the firmware (``--bios``) and is read-only here, as it is in QEMU when the
code is given as a read-only drive (the usual EDK2 set-up): programming and erasing it report
an error in the status register. Bank 1 is the writable variable store (``--pflash FILE``, whose
changes are written back to FILE as QEMU's pflash drive does; zeros otherwise, as QEMU's empty
bank), where U-Boot and EDK2 keep their environment and variables.

What is implemented is what the Common Flash Interface (JEDEC JESD68) and the Intel command set
(Intel "3 Volt Synchronous StrataFlash" / application note 646, "Common Flash Interface and
Command Sets") give software, with the behaviour of QEMU's model where the two differ:

* read array (0xFF, also 0x00 and AMD's reset 0xF0): reads return the contents. This mode is
  served by the core itself (``layout.FLASH_ROMD``, ``armvirt/cpu/memory.py``), as QEMU serves
  it from RAM ("romd" mode); the device sees only writes and the reads of the other modes.
* read status register (0x70), clear status (0x50): SR.7 ready, SR.5 erase error, SR.4 program
  error; after a program, erase or write-to-buffer command, reads return the status.
* read identifier (0x90): manufacturer code at word 0, device code at word 1.
* CFI query (0x98): the "QRY" table, with the geometry of one x16 device (32 MiB, 256 blocks of
  128 KiB, 2 KiB write buffer) replicated across the bus.
* word program (0x40 or 0x10, then the data), block erase (0x20, then confirm 0xD0; the block is
  erased when the command is written, as QEMU does), write to buffer (0xE8, the count, the
  data, confirm 0xD0), block lock/unlock (0x60 then 0x01/0xD0: accepted, not enforced).

Accesses wider than the bus (8-byte loads and stores) are carried out as 4-byte bus cycles, as
QEMU's memory core splits them; narrower reads see the low bytes of the bus word.
"""
from __future__ import annotations

import os

import numpy as np

from armvirt import layout as L
from armvirt import memmap

BANK_WIDTH = 4          # bytes on the bus (QEMU virt: "width" 4)
DEVICE_WIDTH = 2        # bytes per device (QEMU virt: "device-width" 2): two x16 devices
DEVICES = BANK_WIDTH // DEVICE_WIDTH
ID_MANUFACTURER = 0x89  # Intel
ID_DEVICE = 0x18
SR_READY = 0x80
SR_ERASE_ERROR = 0x20
SR_PROGRAM_ERROR = 0x10
# Write buffer: 2^11 bytes per device (CFI word 0x2A), times the devices on the bus.
WRITE_BUFFER = (1 << 11) * DEVICES


def cfi_table(bank_size: int = memmap.FLASH_BANK_SIZE,
              sector: int = memmap.FLASH_SECTOR_SIZE) -> bytes:
    """The CFI query structure of one device (JESD68 table layout; values as QEMU's)."""
    blocks = bank_size // sector
    dev_sector = sector // DEVICES
    t = bytearray(0x52)
    t[0x10:0x13] = b"QRY"
    t[0x13:0x15] = (0x01, 0x00)          # primary command set: Intel/Sharp extended
    t[0x15:0x17] = (0x31, 0x00)          # primary extended table at 0x31
    t[0x1B], t[0x1C] = 0x45, 0x55        # Vcc min/max (4.5 V, 5.5 V)
    t[0x1F:0x27] = (0x07, 0x07, 0x0A, 0x00, 0x04, 0x04, 0x04, 0x00)   # timeouts
    t[0x27] = (dev_sector * blocks).bit_length() - 1     # device size: 2^n bytes
    t[0x28:0x2A] = (0x02, 0x00)          # x8/x16 interface
    t[0x2A:0x2C] = (0x0B, 0x00)          # write buffer: 2^11 bytes
    t[0x2C] = 0x01                       # one erase block region
    t[0x2D:0x31] = ((blocks - 1) & 0xFF, (blocks - 1) >> 8, (dev_sector >> 8) & 0xFF,
                    (dev_sector >> 16) & 0xFF)
    t[0x31:0x36] = b"PRI10"
    t[0x3F] = 0x01                       # protection fields
    return bytes(t)


_CFI = cfi_table()


def _replicate(device_word: int) -> int:
    """A device's 16-bit answer as the 32-bit bus sees it: every device answers alike."""
    return device_word | (device_word << 16)


class CFIFlash:
    """One bank. ``storage`` is the bank's bytes inside the machine's RAM arrays (the core
    reads them in read-array mode); ``words`` the machine's decode cache over the same bytes,
    cleared where the bank changes. ``backing`` is a file the bank's changes go to, or None."""

    def __init__(self, machine, bank: int, *, read_only: bool, backing: str | None = None):
        self.m = machine
        self.bank = bank
        self.read_only = read_only
        self.backing = backing
        self.storage, self.dcache = machine.flash_arrays(bank)
        self.sector = memmap.FLASH_SECTOR_SIZE
        self.reset()

    # -------------------------------------------------------------- state
    def reset(self) -> None:
        """Power-on / system reset: read-array mode, status ready (QEMU's
        pflash_cfi01_system_reset)."""
        self.cmd = 0
        self.wcycle = 0
        self.status = SR_READY
        self.counter = 0
        self.buf_offset = -1
        self.buf = bytearray()
        self._set_romd(True)

    def _set_romd(self, on: bool) -> None:
        mach = self.m.mach
        bit = 1 << self.bank
        was = bool(mach[L.FLASH_ROMD] & bit)
        mach[L.FLASH_ROMD] = (int(mach[L.FLASH_ROMD]) | bit) if on else \
            (int(mach[L.FLASH_ROMD]) & ~bit)
        if was and not on:
            # Code or data pages cached in the PEs may point into the bank's array: from
            # now on its reads are the device's answers.
            self.m.drop_cached_translations()

    def _read_array(self) -> None:
        self.wcycle = 0
        self.cmd = 0
        self._set_romd(True)

    # -------------------------------------------------------------- bus
    def read(self, offset: int, size: int) -> int:
        value = 0
        for i in range(0, size, BANK_WIDTH):
            n = min(BANK_WIDTH, size - i)
            value |= self._read_cycle(offset + i, n) << (8 * i)
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        for i in range(0, size, BANK_WIDTH):
            n = min(BANK_WIDTH, size - i)
            self._write_cycle(offset + i, n, (value >> (8 * i)) & ((1 << (8 * n)) - 1))

    def _read_cycle(self, offset: int, n: int) -> int:
        mask = (1 << (8 * n)) - 1
        cmd = self.cmd
        if cmd in (0x10, 0x20, 0x28, 0x40, 0x50, 0x60, 0x70, 0xE8):
            # The status register of every device on the bus.
            return (self.status | (self.status << 16) if n > DEVICE_WIDTH else self.status) \
                & mask
        if cmd == 0x90:
            word = (offset >> 2) & 0xFF     # bus offset -> device word address
            ident = {0: ID_MANUFACTURER, 1: ID_DEVICE}.get(word, 0)
            return _replicate(ident) & mask
        if cmd == 0x98:
            word = offset >> 2
            return _replicate(_CFI[word] if word < len(_CFI) else 0) & mask
        # Read array (also a command state no read mode belongs to, which QEMU resets).
        self.cmd, self.wcycle = 0, 0
        return int.from_bytes(self.storage[offset:offset + n].tobytes(), "little")

    def _write_cycle(self, offset: int, n: int, value: int) -> None:
        cmd = value & 0xFF
        if self.wcycle == 0:
            self._set_romd(False)
            if cmd in (0x00, 0xF0, 0xFF):
                self._read_array()
            elif cmd in (0x10, 0x40, 0x60, 0x98):
                self.cmd, self.wcycle = cmd, 1
            elif cmd == 0x20:
                start = offset & ~(self.sector - 1)
                if self.read_only:
                    self.status |= SR_ERASE_ERROR
                else:
                    self._store(start, b"\xff" * self.sector)
                self.status |= SR_READY
                self.cmd, self.wcycle = cmd, 1
            elif cmd == 0x50:
                self.status = 0
                self._read_array()
            elif cmd in (0x70, 0x90):
                self.cmd = cmd
            elif cmd == 0xE8:
                self.status |= SR_READY
                self.cmd, self.wcycle = cmd, 1
            else:
                self._read_array()      # an unknown command: back to read array, as QEMU
        elif self.wcycle == 1:
            if self.cmd in (0x10, 0x40):
                if self.read_only:
                    self.status |= SR_PROGRAM_ERROR
                else:
                    self._store(offset, value.to_bytes(n, "little"))
                self.status |= SR_READY
                self.wcycle = 0
            elif self.cmd in (0x20, 0x28):
                if cmd == 0xD0:
                    self.wcycle = 0
                    self.status |= SR_READY
                else:
                    self._read_array()
            elif self.cmd == 0xE8:
                self.counter = value & ((1 << (8 * DEVICE_WIDTH)) - 1)
                self.wcycle = 2
            elif self.cmd == 0x60:
                if cmd in (0x01, 0xD0):
                    self.wcycle = 0
                    self.status |= SR_READY
                else:
                    self._read_array()
            elif self.cmd == 0x98:
                if cmd == 0xFF:
                    self._read_array()
            else:
                self._read_array()
        elif self.wcycle == 2:          # write to buffer: the data
            if self.buf_offset < 0 and self.counter:
                self.buf_offset = offset & ~(WRITE_BUFFER - 1)
                self.buf = bytearray(self.storage[self.buf_offset:
                                                  self.buf_offset + WRITE_BUFFER].tobytes())
            if self.read_only or self.buf_offset < 0 or not (
                    self.buf_offset <= offset and offset + n <= self.buf_offset + WRITE_BUFFER):
                self.status |= SR_PROGRAM_ERROR
            else:
                at = offset - self.buf_offset
                self.buf[at:at + n] = value.to_bytes(n, "little")
            self.status |= SR_READY
            if self.counter:
                self.counter -= 1
            else:
                self.wcycle = 3
        else:                           # write to buffer: the confirmation
            if cmd == 0xD0 and not self.status & SR_PROGRAM_ERROR and self.buf_offset >= 0:
                self._store(self.buf_offset, bytes(self.buf))
                self.wcycle = 0
                self.status |= SR_READY
            else:
                self._read_array()
            self.buf_offset = -1

    def _store(self, offset: int, data: bytes) -> None:
        """Change the bank's contents (and the file behind it): the decoded instructions of
        the words touched are dropped."""
        end = offset + len(data)
        self.storage[offset:end] = np.frombuffer(data, dtype=np.uint8)
        self.dcache[offset >> 2:(end + 3) >> 2] = 0
        if self.backing is not None:
            with open(self.backing, "r+b") as f:
                f.seek(offset)
                f.write(data)


def read_bios(path: str, option: str = "--bios") -> bytes:
    """The firmware image for bank 0: at most a bank (QEMU's -bios: the rest of the bank is
    zero). Raises ValueError with a one-line message naming ``option`` (a VM's ``bios``)."""
    data = _read(path, option)
    if not data:
        raise ValueError(f"{option}: {path} is empty")
    if len(data) > memmap.FLASH_BANK_SIZE:
        raise ValueError(f"{option}: {path} is {len(data)} bytes, larger than the flash bank "
                         f"({memmap.FLASH_BANK_SIZE >> 20} MiB)")
    return data


def read_pflash(path: str, option: str = "--pflash") -> bytes:
    """The variable store for bank 1: a file of exactly the bank's size, as QEMU requires of
    a pflash drive (``truncate -s 64M FILE`` makes an empty one), writable since changes are
    written back."""
    data = _read(path, option)
    if len(data) != memmap.FLASH_BANK_SIZE:
        raise ValueError(f"{option}: {path} is {len(data)} bytes; a flash bank is exactly "
                         f"{memmap.FLASH_BANK_SIZE} ({memmap.FLASH_BANK_SIZE >> 20} MiB): "
                         f"make one with truncate -s 64M {path}")
    if not os.access(path, os.W_OK):
        raise ValueError(f"{option}: {path} is not writable (the guest's changes are written "
                         f"back to it)")
    return data


def _read(path: str, option: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(memmap.FLASH_BANK_SIZE + 1)
    except IsADirectoryError:
        raise ValueError(f"{option}: {path} is a directory") from None
    except OSError as e:
        raise ValueError(f"{option}: cannot read {path}: {e.strerror or e}") from None


def attach(machine, bios: bytes | None, pflash_path: str | None = None) -> list[CFIFlash]:
    """Put the two banks on ``machine`` (built with ``flash=True``): bank 0 holding ``bios``,
    bank 1 the contents of ``pflash_path`` (or zeros), both in read-array mode."""
    banks = []
    for bank in range(2):
        dev = CFIFlash(machine, bank, read_only=bank == 0,
                       backing=pflash_path if bank == 1 else None)
        data = bios if bank == 0 else (read_pflash(pflash_path) if pflash_path else None)
        if data:
            dev.storage[:len(data)] = np.frombuffer(data, dtype=np.uint8)
            dev.dcache[:(len(data) + 3) >> 2] = 0
        machine.add_device(memmap.FLASH_BASE + bank * memmap.FLASH_BANK_SIZE,
                           memmap.FLASH_BANK_SIZE, dev)
        banks.append(dev)
    return banks
