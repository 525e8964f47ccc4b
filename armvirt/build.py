"""Build the guests and the hypervisor firmware with a real toolchain: ``python -m armvirt.build
{guests,firmware,all}``.

The toolchain is clang's integrated assembler (and C compiler) and lld, as shipped by the
``ziglang`` wheel on PyPI (``zig cc``, ``zig ld.lld``), so building needs nothing beyond pip on
x86_64 and arm64, Linux and macOS. Sources are GNU-syntax AArch64 assembly run through the C
preprocessor (``.S``), or freestanding C (``.c``). Each source is compiled with ``-g`` (DWARF
line tables: the debugger and gdb read them) and linked by a generated linker script into one
output section at the image's load address, in input order, so the flat ``.bin`` is the ELF's
one PT_LOAD. Labels get their ELF type and size from ``.type``/``.size`` in the sources.

Sources see the board's facts as preprocessor defines taken from their one home
(``armvirt.memmap`` for addresses and interrupt IDs, ``armvirt.psci`` for PSCI function IDs and
return codes), so no address is typed twice. Outputs go to ``build/`` in a checkout, or to a
user cache keyed on the sources' content when armvirt runs from an installed wheel
(:func:`default_build_dir`).
"""
from __future__ import annotations

import argparse
import bisect
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

PKG = Path(__file__).resolve().parent
# In a checkout the sources sit beside the package; a wheel carries them inside it
# (armvirt/_data/, see pyproject.toml and setup.py).
_DATA = PKG / "_data"
ROOT = PKG.parent if (PKG.parent / "firmware" / "hv.S").is_file() else _DATA
GUESTS = ROOT / "guests"
FIRMWARE = ROOT / "firmware"
HV_MODES = ("split", "direct")

TARGET = "aarch64-freestanding-none"
CPU = "cortex_a57"      # zig's spelling of -mcpu=cortex-a57 (Armv8.0-A)
# Armv8.1 LSE atomics and VHE names are used by the guests/firmware: the assembler needs to
# accept them; the emulator decides what a PE implements (ID registers), not the toolchain.
CPU_FEATURES = "+lse+v8_1a"


class BuildError(Exception):
    """A source that does not build; ``str()`` is one line (``file:line:col: error: ...``)."""


def _in_checkout() -> bool:
    return ROOT != _DATA


def user_cache_dir() -> Path:
    return Path(os.environ.get("ARMVIRT_CACHE_DIR")
                or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "armvirt")


def sources_digest() -> str:
    """A digest of every firmware and guest source (and of this builder): the key of the build
    directory of an installed armvirt, so an upgrade never runs a stale image."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    for d in (FIRMWARE, GUESTS):
        for p in sorted(d.rglob("*")):
            if p.is_file() and p.suffix in (".S", ".h", ".c", ".inc", ".ld"):
                h.update(str(p.relative_to(ROOT)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:16]


def default_build_dir() -> Path:
    """``build/`` of the checkout, or ``<user cache>/build-<digest of the sources>`` for an
    installed package (site-packages may be read-only and is shared by every user)."""
    if _in_checkout():
        return ROOT / "build"
    return user_cache_dir() / f"build-{sources_digest()}"


BUILD = default_build_dir()


# ------------------------------------------------------------------------------ the toolchain

def zig() -> str:
    """The ``zig`` executable of the ziglang wheel (``python -m ziglang`` runs the same file)."""
    spec = importlib.util.find_spec("ziglang")
    if spec is None or spec.origin is None:
        raise BuildError("the toolchain is missing: pip install ziglang")
    exe = Path(spec.origin).parent / ("zig.exe" if os.name == "nt" else "zig")
    if not exe.is_file():
        raise BuildError(f"the ziglang package has no zig executable ({exe})")
    return str(exe)


def _run(cmd: list[str], what: str) -> None:
    env = dict(os.environ)
    # zig keeps a cache of its own; give it a writable home even when $HOME is read-only
    env.setdefault("ZIG_GLOBAL_CACHE_DIR", str(user_cache_dir() / "zig"))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise BuildError(_first_error(p.stderr) or f"{what} failed (exit {p.returncode})")


def _first_error(stderr: str) -> str:
    """The first diagnostic of clang/lld as one line; an error inside a macro expansion is
    located at the line that used the macro (clang's "note: while in macro instantiation")."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if "error:" in ln:
            msg = ln.replace("ld.lld: ", "")
            if msg.startswith("<instantiation>"):
                where = next((n.split(": note:")[0] for n in lines[i + 1:]
                              if "note: while in macro instantiation" in n), None)
                text = msg.split("error:", 1)[1].strip()
                if where:
                    return f"{where}: error: {text} (in a macro: {lines[i + 1]})"
            return msg
    return lines[0] if lines else ""


def compile_object(src: Path, obj: Path, defines: Mapping[str, int | str] | None = None,
                   include_dirs: Iterable[Path] = (), cflags: Iterable[str] = ()) -> Path:
    """``zig cc -c`` one ``.S`` or ``.c`` source into ``obj`` with DWARF line info."""
    cmd = [zig(), "cc", "-target", TARGET, f"-mcpu={CPU}{CPU_FEATURES}", "-g", "-c",
           str(src), "-o", str(obj)]
    if src.suffix == ".c":
        cmd += ["-O2", "-ffreestanding", "-fno-stack-protector", "-fno-builtin", "-fno-math-errno",
                "-fno-sanitize=all", "-fno-omit-frame-pointer", "-std=c11"]
    cmd += [f"-I{d}" for d in include_dirs]
    cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()]
    cmd += list(cflags)
    _run(cmd, f"compiling {src.name}")
    return obj


def linker_script(base: int) -> str:
    """One output section at ``base`` holding every input section in input order, in one
    PT_LOAD that does not carry the ELF headers (lld would otherwise load them below ``base``
    when there is room): the image is what the sources say, byte for byte."""
    return f"""ENTRY(_start)
PHDRS {{ image PT_LOAD; }}
SECTIONS {{
  . = {base:#x};
  .text : {{
    *(.text.boot) *(.text .text.*) *(.rodata .rodata.*) *(.data .data.*)
    *(.bss .bss.* COMMON)
  }} :image
  /DISCARD/ : {{ *(.comment) *(.note .note.*) *(.eh_frame) }}
}}
"""


def link(objs: Iterable[Path], elf: Path, base: int) -> Path:
    script = elf.with_suffix(".ld")
    script.write_text(linker_script(base))
    _run([zig(), "ld.lld", "-T", str(script), "--no-dynamic-linker", "-static",
          "-z", "max-page-size=4096", "-z", "norelro", "--build-id=none",
          *map(str, objs), "-o", str(elf)], f"linking {elf.name}")
    script.unlink()
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        start = min((s["p_paddr"] for s in ELFFile(f).iter_segments()
                     if s["p_type"] == "PT_LOAD"), default=base)
    if start != base:   # lld moved the section up to the sources' largest .balign
        raise BuildError(f"{elf.stem}: the sources align to {start & -start:#x} bytes, more than "
                         f"the load address {base:#x} is aligned to")
    return elf


def elf_to_bin(elf: Path, out: Path) -> bytes:
    """The flat image of ``elf``: its PT_LOAD segments from the lowest address, gaps zeroed."""
    from elftools.elf.elffile import ELFFile
    with open(elf, "rb") as f:
        e = ELFFile(f)
        segs = [(s["p_paddr"], s.data(), s["p_memsz"]) for s in e.iter_segments()
                if s["p_type"] == "PT_LOAD" and s["p_memsz"]]
    if not segs:
        data = b""
    else:
        lo = min(a for a, _, _ in segs)
        img = bytearray(max(a + n for a, _, n in segs) - lo)
        for a, d, _ in segs:
            img[a - lo:a - lo + len(d)] = d
        data = bytes(img)
    out.write_bytes(data)
    return data


# ------------------------------------------------------------------------------ images

def board_defines() -> dict[str, int]:
    """Every integer fact a guest or the firmware may name, from its single source."""
    from armvirt import memmap, psci
    d: dict[str, int] = {}
    for k, v in vars(memmap).items():
        if k.isupper() and isinstance(v, int):
            d[k] = v
    for k, v in vars(psci).items():
        if k.isupper() and isinstance(v, int):
            d[f"PSCI_{k}" if not k.startswith("PSCI_") else k] = v & 0xFFFF_FFFF_FFFF_FFFF
    return d


def build_image(sources: list[Path], out_dir: Path, name: str, base: int,
                defines: Mapping[str, int | str] | None = None,
                include_dirs: Iterable[Path] = (), cflags: Iterable[str] = ()) -> Path:
    """Compile ``sources`` (``.S``/``.c``) and link them at ``base`` into
    ``out_dir/<name>.elf`` and ``.bin``; returns the ELF path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    incs = list(include_dirs)
    for i, src in enumerate(sources):
        objs.append(compile_object(src, out_dir / f"{name}.{i}.o", defines, incs, cflags))
    elf = link(objs, out_dir / f"{name}.elf", base)
    for o in objs:
        o.unlink()
    elf_to_bin(elf, out_dir / f"{name}.bin")
    return elf


# The start-up code a C guest is linked with: a stack, then main(), then PSCI SYSTEM_OFF.
C_RUNTIME = GUESTS / "include" / "crt0.S"
C_GUEST_FLAGS: tuple[str, ...] = ()   # the start-up code enables FP/SIMD: any C is fine


def build_guest(src: Path, out_dir: Path, base: int | None = None,
                defines: Mapping[str, int | str] | None = None, name: str | None = None,
                include_dirs: list[Path] | None = None, cflags: Iterable[str] | None = None
                ) -> Path:
    """Build one guest source into ``out_dir/<name>.elf`` and ``.bin``; returns the ELF path.
    A ``.c`` guest is linked after :data:`C_RUNTIME` (its ``_start``) and compiled with
    ``cflags`` (default :data:`C_GUEST_FLAGS`; ``-mgeneral-regs-only`` keeps the compiler off
    the SIMD&FP registers)."""
    from armvirt import memmap
    src = Path(src).resolve()
    sources = [C_RUNTIME, src] if src.suffix == ".c" else [src]
    flags = (C_GUEST_FLAGS if cflags is None else tuple(cflags)) if src.suffix == ".c" else ()
    return build_image(sources, out_dir, name or src.stem,
                       memmap.RAM_BASE if base is None else base,
                       {**board_defines(), **(defines or {})},
                       include_dirs or [src.parent, GUESTS / "include"], flags)


def hv_guest_defines() -> dict[str, int]:
    """What armvirt's hypervisor offers its guests beyond the virt board (armvirt/hv/abi.py):
    the doorbell device and the vendor hypercalls, for guests written for it (microbench)."""
    from armvirt.hv import abi
    return {k: v for k, v in abi.CONSTANTS.items() if k.startswith(("DOORBELL_", "ARMVIRT_HC_"))}


def guest_sources() -> list[Path]:
    return sorted(list(GUESTS.glob("*.S")) + list(GUESTS.glob("*.c")))


def build_guests(out_dir: Path | None = None) -> list[Path]:
    out_dir = out_dir or BUILD / "guests"
    defines = hv_guest_defines()
    return [build_guest(src, out_dir, defines=defines) for src in guest_sources()]


def build_firmware(mode: str = "split", out_dir: Path | None = None) -> Path:
    """Build the hypervisor (``firmware/hv.S``) in one of its two builds, ``split`` (exits
    handled by the host part at EL1) or ``direct`` (handled at EL2), into
    ``out_dir/hv-<mode>.elf`` and ``.bin``; returns the ELF path. The structure offsets come
    from ``firmware/include/hv_abi.h``, generated from :mod:`armvirt.hv.abi`."""
    from armvirt.hv import abi
    if mode not in HV_MODES:
        raise ValueError(f"unknown hypervisor build {mode!r} (known: {', '.join(HV_MODES)})")
    return build_guest(FIRMWARE / "hv.S", out_dir or BUILD / "firmware", base=abi.HV_BASE,
                       defines={f"HV_{mode.upper()}": 1}, name=f"hv-{mode}",
                       include_dirs=[FIRMWARE, FIRMWARE / "include"])


def build_all_firmware(out_dir: Path | None = None) -> list[Path]:
    return [build_firmware(mode, out_dir) for mode in HV_MODES]


# ------------------------------------------------------------------------------ in memory

@dataclass
class SymbolAttrs:
    """ELF attributes of a label, from ``.type``/``.size``/``.global``/``.weak``."""

    kind: str = "notype"      # "function" | "object" | "notype"
    binding: str = "local"    # "local" | "global" | "weak"
    size: int = 0


@dataclass
class Program:
    """An image built from a string (:func:`assemble`): the flat bytes at ``base``, its
    symbols and its DWARF source lines."""

    base: int
    code: bytes
    symbols: dict[str, int]
    entry: int
    source_lines: list[tuple[int, str, int]] = field(default_factory=list)
    symbol_attrs: dict[str, SymbolAttrs] = field(default_factory=dict)
    elf: bytes = b""

    @property
    def end(self) -> int:
        return self.base + len(self.code)

    def line_for(self, address: int) -> tuple[str, int] | None:
        """The (file, line) of the instruction at ``address``, if known."""
        if not self.base <= address < self.end or not self.source_lines:
            return None
        i = bisect.bisect_right([a for a, _, _ in self.source_lines], address) - 1
        return None if i < 0 else self.source_lines[i][1:]

    def to_elf(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_bytes(self.elf)

    def to_bin(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_bytes(self.code)


def read_program(elf: Path, base: int) -> Program:
    """Load a linked ELF as a :class:`Program`."""
    from elftools.elf.elffile import ELFFile
    from armvirt.debug.symbols import dwarf_lines, elf_symbols
    code = elf_to_bin(elf, elf.with_suffix(".bin"))
    with open(elf, "rb") as f:
        e = ELFFile(f)
        entry = e["e_entry"]
        syms = elf_symbols(e)
        lines = dwarf_lines(e)
    kinds = {"func": "function", "object": "object"}
    return Program(
        base=base, code=code, symbols={s.name: s.addr for s in syms.values()},
        entry=entry or base,
        source_lines=lines,
        symbol_attrs={s.name: SymbolAttrs(kinds.get(s.kind, "notype"), s.binding, s.size)
                      for s in syms.values()},
        elf=elf.read_bytes())


def assemble(source: str, base: int = 0x4000_0000, *,
             defines: Mapping[str, int | str] | None = None,
             include_dirs: Iterable[str | os.PathLike[str]] = (),
             filename: str = "snippet.S") -> Program:
    """Assemble GNU-syntax AArch64 ``source`` (with the C preprocessor) into an image at
    ``base``, through the same toolchain as the files. ``filename`` names the source in
    messages and in the line table. Raises :class:`BuildError`."""
    if not 0 <= base < 1 << 64:
        raise BuildError(f"base {base:#x} is not a 64-bit address")
    with tempfile.TemporaryDirectory(prefix="armvirt-asm-") as tmp:
        t = Path(tmp)
        src = t / (Path(filename).name if filename.endswith((".S", ".s")) else "snippet.S")
        src.write_text(source if source.endswith("\n") else source + "\n")
        # the line table names ``filename``, not the temporary copy
        where = os.path.dirname(filename) or "."
        try:
            obj = compile_object(src, t / "p.o", defines,
                                 [Path(d) for d in include_dirs] + [GUESTS / "include"],
                                 [f"-fdebug-prefix-map={t}={where}", "-fdebug-compilation-dir=."])
            elf = link([obj], t / "p.elf", base)
        except BuildError as e:
            raise BuildError(str(e).replace(str(src), filename)) from None
        return read_program(elf, base)


def assemble_file(path: str | os.PathLike[str], base: int = 0x4000_0000, *,
                  defines: Mapping[str, int | str] | None = None,
                  include_dirs: Iterable[str | os.PathLike[str]] = ()) -> Program:
    """:func:`assemble` the file at ``path`` (its directory is searched by ``#include``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BuildError(f"cannot read '{path}': {e}") from None
    return assemble(text, base, defines=defines, filename=str(path),
                    include_dirs=[path.parent, *include_dirs])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Build armvirt's guests and firmware.")
    ap.add_argument("what", choices=("guests", "firmware", "all"))
    args = ap.parse_args(argv)
    try:
        built: list[Path] = []
        if args.what in ("firmware", "all"):
            built += build_all_firmware()
        if args.what in ("guests", "all"):
            built += build_guests()
        for p in built:
            try:
                shown = p.relative_to(Path.cwd())
            except ValueError:
                shown = p
            print(f"  built {shown}")
    except BuildError as e:  # a source or toolchain error: one line, no traceback
        print(f"armvirt.build: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
