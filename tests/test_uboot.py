"""Debian's U-Boot for QEMU's arm64 `virt` (u-boot-qemu, qemu_arm64/u-boot.bin) from flash.

Booted as ``armvirt run --bare --bios u-boot.bin`` boots it (``loader.load_bios``), driven
through the PL011 by typing at its prompt (``Machine.uart_input``): it must reach the prompt,
answer ``version`` and ``bdinfo`` with the board's memory and flash, and keep an environment
saved with ``saveenv`` in flash bank 1 across a reset (and, with ``--pflash``, in the file).
What U-Boot reports of the board is compared with what it reports on ``qemu-system-aarch64 -M
virt,virtualization=on -bios`` (tests/test_flash.py checks the flash device itself against
QEMU's).

The same as a guest of the hypervisor (``armvirt run --hv split|direct --bios``, a VM's
``bios=`` key): its flash mapped and emulated by the firmware (firmware/host/vflash.S), what is
typed reaching it through the board's UART and the VM's PL011, its ``reset`` a reset of the VM
only (PSCI SYSTEM_RESET), after which its saved environment is found again.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

import linux
from armvirt import memmap
from armvirt.loader import load_bios, reboot_firmware
from armvirt.machine import Machine
from conftest import ROOT, require_tool

PROMPT = b"=> "
STEP = 5_000_000


class UBoot:
    """A U-Boot session on the bare board, or (``hv``) as the one VM of the hypervisor:
    ``until`` runs until text shows up on the (VM's) console (carrying out the system resets
    U-Boot asks for on the bare board, as ``armvirt run`` does; the hypervisor resets the VM
    itself)."""

    def __init__(self, pflash: str | None = None, hv: str | None = None):
        self.hv = hv
        if hv is None:
            self.m = Machine(ram_size=128 << 20, psci_conduit="smc", flash=True)
            self.boot = load_bios(self.m, linux.uboot_qemu_arm64(), pflash=pflash)
            self.console = self.m.console
        else:
            from armvirt.hv.console import ConsoleDemux
            from armvirt.hv.launch import HvConfig, VMConfig, launch
            self.console = bytearray()
            self.hv_lines = bytearray()
            demux = ConsoleDemux({"vm0": self.console.extend, "hv": self.hv_lines.extend},
                                 self.hv_lines.extend)
            cfg = HvConfig([VMConfig(None, bios=str(linux.uboot_qemu_arm64()), pflash=pflash)],
                           mode=hv)
            self.m, self.run_info = launch(cfg, uart=demux.feed)
        self.seen = 0
        self.resets = 0

    def until(self, text: bytes, limit: int = 3_000_000_000) -> bytes:
        ran = 0
        while text not in self.console[self.seen:]:
            assert ran < limit, (text, bytes(self.console[-3000:]))
            info = self.m.run(STEP)
            ran += info.instructions
            if info.reason == "system_reset" and self.hv is None:
                self.resets += 1
                self.m.system_reset()
                reboot_firmware(self.m, self.boot)
            else:
                assert info.reason == "budget", (info, bytes(self.console[-3000:]))
        end = self.console.index(text, self.seen) + len(text)
        out = bytes(self.console[self.seen:end])
        self.seen = end
        return out

    def save_flash(self) -> None:
        from armvirt.hv.launch import save_flash
        save_flash(self.m, self.run_info)

    def prompt(self) -> bytes:
        """Boot to the prompt, stopping the autoboot countdown with a key."""
        out = self.until(b"Hit any key to stop autoboot")
        self.m.uart_input(b" ")
        return out + self.until(PROMPT)

    def command(self, line: str) -> str:
        self.m.uart_input(line.encode() + b"\n")
        out = self.until(PROMPT)
        return out.decode(errors="replace").replace("\r", "")


@pytest.fixture(scope="module")
def uboot():
    u = UBoot()
    u.banner = u.prompt().decode(errors="replace")
    return u


@pytest.fixture(scope="module")
def qemu_uboot():
    """U-Boot's ``bdinfo`` on QEMU's virt board (same U-Boot, 128 MiB, EL2)."""
    import select
    import time
    qemu = require_tool("qemu-system-aarch64")
    p = subprocess.Popen([qemu, "-M", "virt,virtualization=on", "-cpu", "cortex-a57", "-m", "128M",
                          "-nographic", "-no-user-config", "-nodefaults", "-serial", "stdio",
                          "-bios", str(linux.uboot_qemu_arm64())],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = b""
    deadline = time.monotonic() + 120

    def read_until(marker: bytes, start: int) -> int:
        nonlocal out
        while out.find(marker, start) < 0:
            assert time.monotonic() < deadline, out
            if select.select([p.stdout], [], [], 1)[0]:
                out += p.stdout.read1(4096)
        return out.find(marker, start) + len(marker)

    try:
        at = read_until(b"Hit any key to stop autoboot", 0)
        p.stdin.write(b" ")
        p.stdin.flush()
        at = read_until(PROMPT, at)
        p.stdin.write(b"bdinfo\n")
        p.stdin.flush()
        read_until(PROMPT, at)
    finally:
        p.kill()
        p.wait()
    return out[at:].decode(errors="replace").replace("\r", "")


def test_uboot_reaches_its_prompt(uboot):
    text = uboot.banner
    assert "U-Boot 2023.01" in text
    assert "DRAM:  128 MiB" in text
    assert "Flash: " in text
    assert "Loading Environment from Flash... *** Warning - bad CRC, using default environment" \
        in text
    assert "In:    pl011@9000000" in text
    assert "\"Synchronous Abort\"" not in text and "resetting" not in text


def test_uboot_version(uboot):
    out = uboot.command("version")
    assert re.search(r"^U-Boot 2023\.01\S* \(", out, re.M), out
    assert "aarch64-linux-gnu-gcc" in out


def test_uboot_bdinfo_matches_qemu(uboot, qemu_uboot):
    out = uboot.command("bdinfo")
    board = ("DRAM bank", "-> start", "-> size", "flashstart", "flashsize", "baudrate", "Build",
             "memory.cnt", "memory[0]")

    def facts(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip().startswith(board)]
    ours = facts(out)
    assert f"-> start    = 0x{memmap.RAM_BASE:016x}" in ours, out
    assert "-> size     = 0x0000000008000000" in ours, out
    assert ours == facts(qemu_uboot), (out, qemu_uboot)


def test_uboot_saveenv_survives_a_reset(tmp_path):
    store = tmp_path / "vars"
    with open(store, "wb") as f:
        f.truncate(memmap.FLASH_BANK_SIZE)
    u = UBoot(pflash=str(store))
    u.prompt()
    out = u.command("setenv armvirt_marker flash-ok; saveenv")
    assert "Saving Environment to Flash..." in out and "OK" in out, out
    u.m.uart_input(b"reset\n")
    banner = u.until(b"Hit any key to stop autoboot")
    assert u.resets == 1
    assert "bad CRC" not in banner.decode(errors="replace"), banner
    u.m.uart_input(b" ")
    u.until(PROMPT)
    assert "armvirt_marker=flash-ok" in u.command("printenv armvirt_marker")
    # The file has the environment too: a new board started from it finds the variable.
    assert b"armvirt_marker=flash-ok" in store.read_bytes()
    again = UBoot(pflash=str(store))
    again.prompt()
    assert "armvirt_marker=flash-ok" in again.command("printenv armvirt_marker")


def test_uboot_from_the_command_line_answers_typed_commands():
    """``armvirt run --bare --bios`` with commands on a pipe: they reach U-Boot's prompt."""
    uboot = linux.uboot_qemu_arm64()
    p = subprocess.Popen([sys.executable, "-m", "armvirt.cli", "run", "--bare", "--bios",
                          str(uboot)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    out, err = p.communicate(b" \nversion\npoweroff\n", timeout=600)
    text = out.decode(errors="replace")
    assert "aarch64-linux-gnu-gcc" in text, (text[-2000:], err[-2000:])
    assert p.returncode == 0, err


# ------------------------------------------------------------------------------ as a guest
@pytest.fixture(scope="module", params=["split", "direct"])
def uboot_guest(request):
    u = UBoot(hv=request.param)
    u.banner = u.prompt().decode(errors="replace")
    return u


def test_uboot_as_a_guest_reaches_its_prompt(uboot_guest, uboot):
    text = uboot_guest.banner
    assert "U-Boot 2023.01" in text
    assert "DRAM:  128 MiB" in text
    assert "Loading Environment from Flash... *** Warning - bad CRC, using default environment" \
        in text
    assert "In:    pl011@9000000" in text
    assert "\"Synchronous Abort\"" not in text and "resetting" not in text
    # U-Boot finds the same flash in the VM as on the bare board (its CFI query answered)
    flash = re.search(r"^Flash: .*$", uboot.banner, re.M).group(0)
    assert flash in text, (flash, text)


def test_uboot_as_a_guest_version_and_bdinfo(uboot_guest, qemu_uboot):
    out = uboot_guest.command("version")
    assert re.search(r"^U-Boot 2023\.01\S* \(", out, re.M), out
    assert "aarch64-linux-gnu-gcc" in out
    out = uboot_guest.command("bdinfo")
    board = ("DRAM bank", "-> start", "-> size", "flashstart", "flashsize", "baudrate", "Build",
             "memory.cnt", "memory[0]")

    def facts(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip().startswith(board)]
    assert f"-> start    = 0x{memmap.RAM_BASE:016x}" in facts(out), out
    assert facts(out) == facts(qemu_uboot), (out, qemu_uboot)


@pytest.mark.parametrize("hv", ["split", "direct"])
def test_uboot_as_a_guest_saveenv_survives_a_reset(tmp_path, hv):
    """``saveenv`` programs the VM's flash bank 1 (CFI erase and program, emulated); U-Boot's
    ``reset`` resets the VM (PSCI SYSTEM_RESET): its firmware starts again from flash and
    finds the variable; after the run the bank is in the ``pflash`` file."""
    store = tmp_path / "vars"
    with open(store, "wb") as f:
        f.truncate(memmap.FLASH_BANK_SIZE)
    u = UBoot(pflash=str(store), hv=hv)
    u.prompt()
    out = u.command("setenv armvirt_marker flash-ok; saveenv")
    assert "Saving Environment to Flash..." in out and "OK" in out, out
    assert "Erased 2 sectors" in out, out
    u.m.uart_input(b"reset\n")
    banner = u.until(b"Hit any key to stop autoboot")
    assert b"resetting" in banner, banner
    assert b"vm0 reset" in u.hv_lines, bytes(u.hv_lines)
    assert "bad CRC" not in banner.decode(errors="replace"), banner
    u.m.uart_input(b" ")
    u.until(PROMPT)
    assert "armvirt_marker=flash-ok" in u.command("printenv armvirt_marker")
    from armvirt.hv.launch import result
    assert result(u.m, u.run_info).vms[0].resets == 1
    u.save_flash()
    assert b"armvirt_marker=flash-ok" in store.read_bytes()


def test_uboot_as_a_guest_from_the_command_line():
    """``armvirt run --hv direct --bios`` with commands on a pipe: they reach U-Boot's prompt
    through the board's UART and the VM's PL011; poweroff ends the run (exit 0)."""
    uboot = linux.uboot_qemu_arm64()
    p = subprocess.Popen([sys.executable, "-m", "armvirt.cli", "run", "--hv", "direct", "--bios",
                          str(uboot)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT)
    out, err = p.communicate(b" \nversion\npoweroff\n", timeout=600)
    text = out.decode(errors="replace")
    assert "aarch64-linux-gnu-gcc" in text, (text[-2000:], err[-2000:])
    assert p.returncode == 0, err
