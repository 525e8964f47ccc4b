"""A stock Debian arm64 kernel with a busybox-static initramfs, on the bare board and as a guest.

The software is Debian's (downloaded with apt into a cache outside the repo, tests/linux.py); the
test skips with the reason when it cannot be had. The initramfs's /init exercises userspace code
that busybox (statically linked with glibc) runs with FP/SIMD (string functions, awk's floating point), and the
run is traced with ``--trace unimp``: no SIMD&FP instruction may be missing.
"""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

import linux
from conftest import ROOT, fpsimd_unimplemented

MARKER = "ARMVIRT-INIT-MARKER"
INIT = f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
echo {MARKER}
uname -a
grep -c ^processor /proc/cpuinfo
awk 'BEGIN {{ x = 3.14159; printf "awk %.4f %e %d\\n", x * 2, x / 1e6, x * 100 }}'
seq 1 5 | sort -r | tr '\\n' ' '; echo
echo armvirt | sha256sum
printf '%s-%05.1f\\n' fp 2.25
echo DONE
poweroff -f
"""
# cryptomgr.notests: the crypto API's boot-time self-tests (RSA with the kernel's generic
# multi-precision code, mostly) are two thirds of the instructions to /init (905 M -> 312 M
# measured): they test the kernel, not the emulator's userspace.
BOOTARGS = "console=ttyAMA0 panic=-1 quiet cryptomgr.notests"


@pytest.fixture(scope="module")
def linux_boot(tmp_path_factory):
    kernel = linux.kernel_image()
    rd = linux.initramfs({"/init": INIT.encode(), "/bin/busybox": linux.busybox().read_bytes(),
                          "/dev/console": "chr:5:1", "/proc": "dir", "/sys": "dir",
                          "/tmp": "dir"}, tmp_path_factory.mktemp("linux") / "initrd.cpio")
    return kernel, rd


def boot(kernel, rd, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "armvirt.cli", "run", *args, "--mem", "512M",
                           "--initrd", str(rd), "--append", BOOTARGS, "--trace", "unimp",
                           str(kernel)], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def check_userspace(r: subprocess.CompletedProcess, smp: int) -> None:
    out = r.stdout
    assert MARKER in out, (r.returncode, out[-3000:], r.stderr[-3000:])
    assert re.search(r"^Linux \S+ 6\.1\.\S+ .* aarch64 GNU/Linux$", out, re.M), out
    after = out.split(MARKER, 1)[1]
    assert re.search(rf"^{smp}$", after, re.M), after        # processors in /proc/cpuinfo
    assert "awk 6.2832 3.141590e-06 314" in after
    assert "5 4 3 2 1" in after
    # sha256 of "armvirt\n", computed by Python's hashlib
    import hashlib
    assert hashlib.sha256(b"armvirt\n").hexdigest() in after
    assert "fp-002.2" in after
    assert "DONE" in after
    assert fpsimd_unimplemented(r.stderr) == [], r.stderr
    assert r.returncode == 0, r.stderr[-2000:]


def test_busybox_userspace_bare_smp2(linux_boot):
    kernel, rd = linux_boot
    check_userspace(boot(kernel, rd, "--bare", "--smp", "2"), smp=2)


@pytest.mark.parametrize("hv", ["split", "direct"])
def test_busybox_userspace_as_a_guest(linux_boot, hv):
    kernel, rd = linux_boot
    check_userspace(boot(kernel, rd, "--hv", hv, "--smp", "2"), smp=2)


def test_kvm_initialises_in_nvhe_mode_at_el2():
    """The kernel booted at EL2 (``--el 2``) on two PEs brings up its own KVM in nVHE mode (the
    CPU advertises no VHE): the hyp stub, the EL2 page tables and vectors, the vGICv3 probe
    (ICH_VTR_EL2, ICC_SRE_EL2), on both PEs — started at EL2 by PSCI CPU_ON as the boot PE
    was. No initramfs: KVM initialises before /init, then the kernel panics (no root) and
    resets (panic=-1)."""
    kernel = linux.kernel_image()
    r = subprocess.run([sys.executable, "-m", "armvirt.cli", "run", "--bare", "--el", "2",
                        "--smp", "2", "--mem", "512M", "--append",
                        "console=ttyAMA0 panic=-1 cryptomgr.notests",
                        str(kernel)], capture_output=True, text=True, timeout=900, cwd=ROOT,
                       stdin=subprocess.DEVNULL)
    out = r.stdout
    assert "CPU: All CPU(s) started at EL2" in out, out[-3000:]
    assert "kvm [1]: GIC system register CPU interface enabled" in out, out[-3000:]
    # arch/arm64/kvm/arm.c (6.1): "Hyp mode initialized successfully" for nVHE,
    # "VHE mode initialized successfully" for VHE.
    assert "kvm [1]: Hyp mode initialized successfully" in out, out[-3000:]
    assert "VHE mode" not in out and "HYP mode not available" not in out
    assert r.returncode == 0, r.stderr[-2000:]
