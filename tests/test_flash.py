"""The `virt` board's CFI flash (armvirt/pflash.py, ``--bios``/``--pflash``).

The oracle is QEMU's ``cfi.pflash01`` as ``-M virt`` wires it: tests/images/flash_cfi.S sends
the commands firmware uses (CFI query, identifier, word program, write to buffer, block erase,
status, lock) and prints every answer; it runs from ``--bios`` on armvirt and from a read-only
pflash0 drive on qemu-system-aarch64 (``-bios`` would make QEMU's bank 0 writable; armvirt's
bank 0 is read-only, as QEMU's is for a read-only drive, the usual EDK2 set-up), and both the
console output and the variable store written back to the ``--pflash`` file must be identical.
tests/images/flash_reset.S checks that a system reset restarts the firmware with bank 1 kept.

Both again as a guest of the hypervisor (``--hv split|direct --bios``): the VM's banks are
mapped read-only in stage 2 in read-array mode and emulated by the firmware otherwise
(firmware/host/vflash.S); the same answers, the same variable store, the same resets (of the VM).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from armvirt import memmap
from armvirt.build import assemble
from conftest import ROOT, require_tool

IMAGES = Path(__file__).parent / "images"
BANK = memmap.FLASH_BANK_SIZE


def firmware(name: str, tmp_path: Path) -> Path:
    prog = assemble((IMAGES / f"{name}.S").read_text(), 0, filename=f"{name}.S")
    out = tmp_path / f"{name}.bin"
    out.write_bytes(prog.code)
    return out


def empty_bank(path: Path) -> Path:
    with open(path, "wb") as f:
        f.truncate(BANK)
    return path


def armvirt(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "armvirt.cli", "run", *map(str, args)],
                          capture_output=True, timeout=timeout, cwd=ROOT)


def qemu(fw: Path, vars_file: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    qemu_bin = require_tool("qemu-system-aarch64")
    padded = tmp_path / (fw.name + ".64m")
    padded.write_bytes(fw.read_bytes().ljust(BANK, b"\0"))   # a pflash drive is a whole bank
    return subprocess.run([qemu_bin, "-M", "virt,virtualization=on", "-cpu", "cortex-a57",
                           "-m", "128M", "-nographic", "-no-user-config", "-nodefaults",
                           "-serial", "stdio",
                           "-drive", f"if=pflash,unit=0,format=raw,readonly=on,file={padded}",
                           "-drive", f"if=pflash,unit=1,format=raw,file={vars_file}"],
                          capture_output=True, timeout=120)


def test_cfi_commands_match_qemu(tmp_path):
    fw = firmware("flash_cfi", tmp_path)
    ours = armvirt("--bare", "--bios", fw, "--pflash", empty_bank(tmp_path / "ours.vars"))
    assert ours.returncode == 0, ours.stderr.decode()
    q = qemu(fw, empty_bank(tmp_path / "qemu.vars"), tmp_path)
    assert q.returncode == 0, q.stderr.decode()
    expected = q.stdout.replace(b"\r\n", b"\n")
    assert b"Q 0000000000510051\n" in expected and expected.endswith(b".\n")   # it ran
    assert ours.stdout == expected
    assert (tmp_path / "ours.vars").read_bytes() == (tmp_path / "qemu.vars").read_bytes()


@pytest.mark.parametrize("hv", ["split", "direct"])
def test_cfi_commands_as_a_guest_match_qemu(tmp_path, hv):
    """The same image as the VM's bios: it starts at EL1 (the guest's highest EL), its SMC
    SYSTEM_OFF trapped by the hypervisor; every answer and the variable store as QEMU's."""
    fw = firmware("flash_cfi", tmp_path)
    ours = armvirt("--hv", hv, "--bios", fw, "--pflash", empty_bank(tmp_path / "ours.vars"))
    assert ours.returncode == 0, ours.stderr.decode()
    q = qemu(fw, empty_bank(tmp_path / "qemu.vars"), tmp_path)
    assert q.returncode == 0, q.stderr.decode()
    assert ours.stdout == q.stdout.replace(b"\r\n", b"\n")
    assert (tmp_path / "ours.vars").read_bytes() == (tmp_path / "qemu.vars").read_bytes()


@pytest.mark.parametrize("hv", ["split", "direct"])
def test_vm_reset_restarts_its_firmware_with_the_variable_store_kept(tmp_path, hv):
    fw = firmware("flash_reset", tmp_path)
    store = empty_bank(tmp_path / "vars")
    r = armvirt("--hv", hv, "--vm", f"bios={fw},pflash={store}")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"b0\nb1\nb2\nb3\n"
    assert b"[hv] VM vm0 reset: its firmware starts again" in r.stderr
    assert store.read_bytes()[:16] == b"\x0b" * 12 + b"\0" * 4
    r = armvirt("--hv", hv, "--bios", fw, "--pflash", store)
    assert r.stdout == b"b3\n" and r.returncode == 0, r.stderr.decode()   # it goes on counting


def test_reset_restarts_firmware_with_the_variable_store_kept(tmp_path):
    fw = firmware("flash_reset", tmp_path)
    r = armvirt("--bare", "--bios", fw)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == b"b0\nb1\nb2\nb3\n"
    q = qemu(fw, empty_bank(tmp_path / "qemu.vars"), tmp_path)
    assert q.stdout.replace(b"\r\n", b"\n") == r.stdout
    # With a file, the boots it counted are in it afterwards, and the next run goes on counting.
    store = empty_bank(tmp_path / "vars")
    armvirt("--bare", "--bios", fw, "--pflash", store)
    assert store.read_bytes()[:16] == b"\x0b" * 12 + b"\0" * 4
    r = armvirt("--bare", "--bios", fw, "--pflash", store)
    assert r.stdout == b"b3\n" and r.returncode == 0


def test_flash_in_the_device_tree():
    import fdt

    from armvirt.dtb import build_dtb
    from armvirt.machine import Machine
    tree = fdt.parse_dtb(build_dtb(Machine(flash=True)))
    node = tree.get_node("/flash@0")
    assert list(node.get_property("compatible").data) == ["cfi-flash"]
    assert list(node.get_property("reg").data) == [0, 0, 0, BANK, 0, BANK, 0, BANK]
    assert list(node.get_property("bank-width").data) == [4]
    assert not fdt.parse_dtb(build_dtb(Machine())).exist_node("/flash@0")


def test_bad_bios_and_pflash_inputs(tmp_path):
    fw = firmware("flash_reset", tmp_path)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(BANK + 1)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    small_vars = tmp_path / "small.vars"
    small_vars.write_bytes(b"\xff" * 4096)
    cases = [
        (["--bare", "--bios", tmp_path / "missing.bin"], "missing.bin"),
        (["--bare", "--bios", big], "larger than the flash bank"),
        (["--bare", "--bios", empty], "is empty"),
        (["--bare", "--bios", tmp_path], "is a directory"),
        (["--bare", "--bios", fw, "--pflash", small_vars], "exactly"),
        (["--bare", "--bios", fw, "--pflash", tmp_path / "none.vars"], "none.vars"),
        (["--bare", "--pflash", small_vars, fw], "--pflash needs --bios"),
        (["--bare", "--bios", fw, fw], "not both"),
        (["--bare", "--bios", fw, "--initrd", fw], "--initrd"),
        (["--bare", "--bios", fw, "--el", "1"], "EL2"),
    ]
    for args, words in cases:
        r = armvirt(*args)
        err = r.stderr.decode()
        assert r.returncode == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and words in err, (args, err)
        assert "Traceback" not in err


def test_bad_bios_and_pflash_inputs_of_a_vm(tmp_path):
    """The hypervisor's bios/pflash (--bios with --hv, a VM's bios= and pflash= keys, the same
    keys in a TOML file): one line, exit 2, nothing run."""
    fw = firmware("flash_reset", tmp_path)
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(BANK + 1)
    small_vars = tmp_path / "small.vars"
    small_vars.write_bytes(b"\xff" * 4096)
    toml = tmp_path / "vms.toml"
    toml.write_text(f'[[vm]]\nbios = "{fw}"\nimage = "{fw}"\n')
    cases = [
        (["--hv", "split", "--bios", tmp_path / "missing.bin"], "missing.bin"),
        (["--hv", "direct", "--bios", big], "larger than the flash bank"),
        (["--hv", "split", "--bios", fw, "--pflash", small_vars], "exactly"),
        (["--hv", "split", "--vm", f"bios={tmp_path / 'none.bin'}"], "none.bin"),
        (["--vm", f"bios={fw},pflash={tmp_path / 'none.vars'}"], "none.vars"),
        (["--vm", f"{fw},bios={fw}"], "not both"),
        (["--vm", f"{fw},load-addr=0x40000000,pflash={small_vars}"], "pflash needs a bios"),
        (["--vm", f"bios={fw},initrd={fw}"], "initrd is for an image"),
        (["--vm", f"bios={fw},stage2=off"], "needs stage 2"),
        (["--vm", "bios=,name=a"], "empty file name"),
        (["--bios", fw, "--vm", f"bios={fw}"], "give each VM its bios="),
        (["--config", toml], "not both"),
        (["--hv", "split", "--bios", fw, "--initrd", fw], "--initrd"),
    ]
    for args, words in cases:
        r = armvirt(*args)
        err = r.stderr.decode()
        assert r.returncode == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and words in err, (args, err)
        assert "Traceback" not in err


@pytest.mark.parametrize("hv", ["split", "direct"])
def test_the_firmware_checks_a_vm_flash_in_the_manifest(tmp_path, hv):
    """The firmware does not trust the manifest: a bios VM's flash that is not right after its
    RAM (here: over the hypervisor) is refused before any VM runs."""
    from armvirt.hv import abi
    from armvirt.hv.console import ConsoleDemux
    from armvirt.hv.launch import HvConfig, VMConfig, launch
    out: dict[str, bytearray] = {"hv": bytearray(), "vm0": bytearray()}
    demux = ConsoleDemux({k: v.extend for k, v in out.items()}, out["vm0"].extend)
    m, _ = launch(HvConfig([VMConfig(None, bios=str(firmware("flash_reset", tmp_path)))],
                           mode=hv), uart=demux.feed)
    vm0 = abi.HV_MANIFEST + abi.MANIFEST.off("VMS")
    m.write_phys(vm0 + abi.VM.off("FLASH_PA"), abi.HV_BASE.to_bytes(8, "little"))
    info = m.run(50_000_000)
    demux.flush()
    assert info.reason == "system_off"
    assert out["hv"] == b"bad boot manifest: memory is not inside RAM above the hypervisor " \
                        b"(VM 0)\n"
    assert not out["vm0"]
