"""Debian arm64 software for the OS tests: downloaded with apt into a cache outside the repo.

``debian_file(package, member)`` returns the path of a file from a Debian arm64 package
(``apt-get download`` + ``dpkg-deb -x``), or skips the calling test with the reason it cannot be
had (no apt, no arm64 architecture, the archive unreachable). The cache is
``$ARMVIRT_DEBIAN_CACHE`` or ``~/.cache/armvirt/debian``; a test run downloads each package once.
``initramfs(files)`` writes a newc cpio archive (the format the kernel unpacks, Linux
``Documentation/driver-api/early-userspace/buffer-format.rst``) from Python, device nodes
included, so no root or cpio tool is needed.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("ARMVIRT_DEBIAN_CACHE")
             or Path.home() / ".cache" / "armvirt" / "debian")

KERNEL_PACKAGE = "linux-image-6.1.0-*-arm64"   # Debian 12's kernel; apt picks the newest ABI


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def _ensure_arm64() -> str | None:
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        return "apt-get/dpkg-deb not available"
    if "arm64" not in _run(["dpkg", "--print-foreign-architectures"]).stdout.split():
        if os.geteuid() != 0:
            return "the arm64 architecture is not enabled in dpkg (dpkg --add-architecture arm64)"
        if _run(["dpkg", "--add-architecture", "arm64"]).returncode:
            return "dpkg --add-architecture arm64 failed"
        _run(["apt-get", "update", "-qq"])
    return None


def _resolve(package: str) -> str | None:
    """A concrete package name for a glob such as linux-image-6.1.0-*-arm64."""
    if "*" not in package:
        return package
    out = _run(["apt-cache", "depends", "linux-image-arm64:arm64"]).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split(":", 1)[1].strip().split(":")[0]
    return None


def debian_tree(package: str, arch: str = "arm64") -> Path:
    """The extracted contents of an arm64 package (``arch="all"``: an architecture-independent
    one, such as u-boot-qemu), downloaded once, or skip."""
    marker = CACHE / f"{package.replace('*', 'X')}.done"
    tree = CACHE / "root"
    if marker.exists():
        return tree
    why = _ensure_arm64() if arch != "all" else (
        None if shutil.which("apt-get") and shutil.which("dpkg-deb")
        else "apt-get/dpkg-deb not available")
    if why:
        pytest.skip(f"Debian arm64 package {package}: {why}")
    name = _resolve(package)
    if name is None:
        pytest.skip(f"Debian arm64 package {package}: apt knows no such package "
                    "(apt-get update may be needed, or the archive is unreachable)")
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["apt-get", "download", name if arch == "all" else f"{name}:{arch}"],
                       cwd=debs, capture_output=True, text=True, timeout=900)
    files = sorted(glob.glob(str(debs / f"{name}_*_{arch}.deb")))
    if r.returncode or not files:
        pytest.skip(f"Debian arm64 package {name}: apt-get download failed: "
                    f"{(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    tree.mkdir(parents=True, exist_ok=True)
    if _run(["dpkg-deb", "-x", files[-1], str(tree)]).returncode:
        pytest.skip(f"Debian arm64 package {name}: dpkg-deb -x failed")
    marker.write_text(files[-1])
    return tree


def kernel_image() -> Path:
    """Debian's arm64 kernel (an uncompressed arm64 Image)."""
    tree = debian_tree(KERNEL_PACKAGE)
    found = sorted(tree.glob("boot/vmlinuz-*-arm64"))
    if not found:
        pytest.skip("the Debian kernel package holds no boot/vmlinuz-*-arm64")
    return found[-1]


def busybox() -> Path:
    return debian_tree("busybox-static") / "bin" / "busybox"


def uboot_qemu_arm64() -> Path:
    """Debian's U-Boot for QEMU's arm64 ``virt`` board (u-boot-qemu, architecture-independent):
    the raw binary that ``qemu-system-aarch64 -M virt -bios`` boots."""
    found = debian_tree("u-boot-qemu", arch="all") / "usr/lib/u-boot/qemu_arm64/u-boot.bin"
    if not found.exists():
        pytest.skip("the u-boot-qemu package holds no usr/lib/u-boot/qemu_arm64/u-boot.bin")
    return found


def _newc(name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0),
          ino: int = 0) -> bytes:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = hdr + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out


def initramfs(files: dict[str, bytes | str], path: Path) -> Path:
    """Write a newc cpio archive: ``files`` maps absolute paths to contents (bytes: a regular
    file, executable; ``"dir"``; ``"chr:MAJ:MIN"``; ``"link:TARGET"``). Parents are created."""
    entries: dict[str, tuple[int, bytes, tuple[int, int]]] = {}
    for p, content in sorted(files.items()):
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), (0o040755, b"", (0, 0)))
        name = "/".join(parts)
        if content == "dir":
            entries[name] = (0o040755, b"", (0, 0))
        elif isinstance(content, str) and content.startswith("chr:"):
            _, major, minor = content.split(":")
            entries[name] = (0o020600, b"", (int(major), int(minor)))
        elif isinstance(content, str) and content.startswith("link:"):
            entries[name] = (0o120777, content[5:].encode(), (0, 0))
        else:
            entries[name] = (0o100755, bytes(content), (0, 0))
    out = bytearray()
    for ino, (name, (mode, data, rdev)) in enumerate(sorted(entries.items()), 1):
        out += _newc(name, mode, data, rdev, ino)
    out += _newc("TRAILER!!!", 0)
    path.write_bytes(bytes(out))
    return path
