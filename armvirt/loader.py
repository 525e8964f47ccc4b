"""Put a guest image into RAM and start PE 0 on it, as QEMU's ``-kernel`` does on ``virt``.

Three kinds of image are understood; :func:`detect_kind` tells them apart by their bytes:

``elf``
    An ELF64 little-endian AArch64 executable. Its ``PT_LOAD`` segments are copied to their
    *physical* addresses (``p_paddr``), the part of each segment beyond its file bytes
    (``p_memsz > p_filesz``: ``.bss``) is zeroed, and the entry point is ``e_entry`` — QEMU's
    ``load_elf()`` (``include/hw/elf_ops.h``) does exactly this, including one refinement we
    copy: when an executable segment has ``p_vaddr != p_paddr`` and ``e_entry`` falls inside its
    virtual range, the entry is moved to the matching physical address (the MMU is off at
    entry). The symbol table and the DWARF line table are read for the debugger.
``image``
    An arm64 Linux ``Image`` (also kvm-unit-tests ``.flat`` files and other kernels that copy
    its header). The 64-byte header of Linux ``Documentation/arm64/booting.rst`` gives
    ``text_offset`` and ``image_size``; the image is loaded ``text_offset`` bytes above a
    2 MiB-aligned base (``RAM_BASE`` unless ``load_addr`` says otherwise) and entered at its
    first byte. (QEMU's ``load_aarch64_image()`` adds 2 MiB when ``text_offset`` is below
    4 KiB, to keep its boot stub at the base of RAM; we start PEs directly and need no stub.)
``raw``
    Any other file: copied to ``load_addr`` (default ``RAM_BASE``) and entered at its first byte.

Then, unless ``dtb=False``, the board's device tree (:func:`armvirt.dtb.build_dtb`) is placed in
RAM where it overlaps nothing that was loaded, and PE 0 is started with the boot protocol of
booting.rst: MMU off, DAIF masked, x0 = physical address of the DTB, x1 = x2 = x3 = 0. The
other PEs stay powered off until the guest starts them with PSCI ``CPU_ON``, as on QEMU with
PSCI enabled. Placement of the DTB:

* ELF and raw: at the start of RAM, where QEMU puts it for ELF kernels
  (``arm_setup_direct_kernel_boot()`` in ``hw/arm/boot.c``: "if there is still some room left
  at the base of RAM, try and put the DTB there"), provided it overlaps no loaded byte. When it
  would, QEMU has no place for it in RAM; we put it instead at the first 2 MiB boundary above the
  highest loaded byte.
* Image: where QEMU's Linux path puts it — the 2 MiB boundary at or above
  ``RAM_BASE + min(ram_size / 2, 128 MiB)`` (QEMU's initrd slot, with no initrd loaded) or the
  end of the image (``text_offset`` + ``image_size``), whichever is higher. If RAM is too small
  for that, the start of RAM is tried (booting.rst allows any use of the gap below
  ``text_offset``).
* With an initrd (Image only, as QEMU's ``-initrd``): the initrd goes at that slot, page
  aligned (``hw/arm/boot.c``), ``/chosen`` gets ``linux,initrd-start``/``-end``, and the DTB
  goes to the next 2 MiB boundary after the initrd.

Unlike QEMU we also pass x0 = DTB to ELF and raw images (QEMU enters those with x0 = 0); code
that expects nothing in x0 is unaffected, and such code finds the DTB at ``RAM_BASE`` as on QEMU
whenever that region is free.

Nothing is written to the machine until the whole plan (segments, DTB, placement) has been
checked, so a :class:`LoadError` leaves the machine as it was.
"""
from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from armvirt import memmap
from armvirt.dtb import build_dtb

__all__ = ["LoadError", "BootInfo", "LoadTarget", "Segment", "ElfImage", "ImageHeader",
           "KINDS", "detect_kind", "read_elf", "parse_image_header", "load_image"]

KINDS = ("auto", "elf", "image", "raw")

ELF_MAGIC = b"\x7fELF"
EM_AARCH64 = 183
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
ELF64_EHDR_SIZE = 64
PF_X, PF_W, PF_R = 1, 2, 4

# Linux Documentation/arm64/booting.rst, "Call the kernel image": the 64-byte Image header.
#   u32 code0; u32 code1; u64 text_offset; u64 image_size; u64 flags;
#   u64 res2; u64 res3; u64 res4; u32 magic = 0x644d5241 ("ARM\x64"); u32 res5
IMAGE_HEADER = struct.Struct("<IIQQQQQQ4sI")
IMAGE_MAGIC = b"ARM\x64"
IMAGE_MAGIC_OFFSET = 0x38
IMAGE_LEGACY_TEXT_OFFSET = 0x8_0000   # booting.rst: image_size == 0 => text_offset is 0x80000

SZ_2M = 2 << 20
QEMU_INITRD_CAP = 128 << 20           # hw/arm/boot.c: initrd at RAM + min(ram / 2, 128 MiB)
_ZERO_CHUNK = 1 << 20


class LoadError(Exception):
    """An image that cannot be loaded; the message is one line, fit for a user."""


class LoadTarget(Protocol):
    """What the loader uses of ``armvirt.machine.Machine``."""

    ram_size: int
    smp: int
    psci_conduit: str

    def mpidr(self, pe: int) -> int: ...

    def write_phys(self, pa: int, data: bytes) -> None: ...

    def boot_pe(self, pe: int, entry: int, *, el: int = 1, x0: int = 0, x1: int = 0,
                x2: int = 0, x3: int = 0, sp: int | None = None) -> None: ...


@dataclass
class BootInfo:
    """What :func:`load_image` did: enough for the CLI to report and the debugger to start."""

    kind: str                          # "elf" | "image" | "raw" | "bios" (load_bios)
    entry: int                         # physical address PE 0 starts at
    dtb_addr: int | None               # physical address of the DTB (= x0), None if dtb=False
    segments: list[tuple[int, int]]    # (physical start, size in memory) of everything loaded
    symbols: dict[str, int] = field(default_factory=dict)   # ELF .symtab: name -> value
    lines: Any = None                  # DWARF (addr, file, line) rows, for the debugger
    path: str = ""
    initrd: tuple[int, int] | None = None   # physical [start, end) of the initrd, if any
    dtb_blob: bytes = b""              # "bios": the DTB written at the start of RAM on each boot


@dataclass(frozen=True)
class Segment:
    """One ``PT_LOAD`` program header with its file bytes."""

    index: int          # program-header index, as readelf numbers them
    paddr: int
    vaddr: int
    data: bytes         # p_filesz bytes from the file
    memsz: int          # p_memsz: bytes it occupies in memory, the tail zero-filled
    flags: int          # PF_R | PF_W | PF_X

    @property
    def end(self) -> int:
        return self.paddr + self.memsz

    @property
    def label(self) -> str:
        """``segment N (RWX)``, N being the program-header index."""
        perms = "".join(c if self.flags & bit else "-"
                        for c, bit in (("R", PF_R), ("W", PF_W), ("X", PF_X)))
        return f"segment {self.index} ({perms})"

    def describe(self) -> str:
        return f"{self.label} at 0x{self.paddr:x}..0x{self.end:x}"


@dataclass
class ElfImage:
    """The parts of an AArch64 ELF executable the loader and debugger need."""

    entry: int                         # physical entry address (see the module docstring)
    segments: list[Segment]
    symbols: dict[str, int]
    lines: Any


@dataclass(frozen=True)
class ImageHeader:
    """The arm64 ``Image`` header fields of Linux ``Documentation/arm64/booting.rst``."""

    text_offset: int       # as written in the header
    image_size: int        # effective image size incl. BSS; 0 in kernels before v3.17
    flags: int

    @property
    def legacy(self) -> bool:
        """Pre-v3.17 header: ``image_size`` is zero and ``text_offset`` is to be taken as
        0x80000 (booting.rst: "In these cases image_size is zero and text_offset is 0x80000")."""
        return self.image_size == 0

    @property
    def load_offset(self) -> int:
        """Offset from the 2 MiB-aligned base at which the image must be placed."""
        return IMAGE_LEGACY_TEXT_OFFSET if self.legacy else self.text_offset

    @property
    def big_endian(self) -> bool:
        """``flags`` bit 0: kernel endianness, 1 = big-endian."""
        return bool(self.flags & 1)

    @property
    def page_size(self) -> int | None:
        """``flags`` bits 1-2: the kernel's page size (None = unspecified)."""
        return {0: None, 1: 4 << 10, 2: 16 << 10, 3: 64 << 10}[(self.flags >> 1) & 3]

    @property
    def place_anywhere(self) -> bool:
        """``flags`` bit 3: 0 = the 2 MiB-aligned base should be as close as possible to the
        base of DRAM; 1 = it may be anywhere in physical memory."""
        return bool(self.flags & 8)


# ------------------------------------------------------------------------------- detection
def detect_kind(data: bytes) -> str:
    """``"elf"`` if ``data`` starts with the ELF magic, ``"image"`` if it carries the arm64
    Image magic at offset 0x38, else ``"raw"``."""
    if data[:4] == ELF_MAGIC:
        return "elf"
    if len(data) >= IMAGE_HEADER.size and \
            data[IMAGE_MAGIC_OFFSET:IMAGE_MAGIC_OFFSET + 4] == IMAGE_MAGIC:
        return "image"
    return "raw"


# ------------------------------------------------------------------------------------- ELF
def _machine_name(e_machine: int) -> str:
    from elftools.elf.descriptions import describe_e_machine
    from elftools.elf.enums import ENUM_E_MACHINE
    for name, value in ENUM_E_MACHINE.items():
        if value == e_machine and name.startswith("EM_"):
            return f"{describe_e_machine(name)} ({name})"
    return f"machine {e_machine}"


def read_elf(data: bytes, name: str = "<elf>") -> ElfImage:
    """Parse an AArch64 ELF executable from ``data`` (``name`` is used in messages).

    Rejects, with a :class:`LoadError` naming the problem: files without the ELF magic,
    ELFs for another machine, 32-bit or big-endian ELFs, relocatable objects and core files,
    truncated or corrupt files (pyelftools errors, and segments whose file bytes lie beyond the
    end of the file, which pyelftools would silently return short), segments with
    ``p_filesz > p_memsz``, overlapping segments, and files with nothing to load.
    """
    from elftools.common.exceptions import ELFError
    from elftools.construct import ConstructError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    if data[:4] != ELF_MAGIC:
        raise LoadError(f"{name} is not an ELF file (no \\x7fELF magic)")
    if len(data) < 20:      # e_ident + e_type + e_machine
        raise LoadError(f"{name} is a truncated ELF: {len(data)} bytes, not even an ELF header")
    ei_class, ei_data = data[4], data[5]
    if ei_data not in (ELFDATA2LSB, ELFDATA2MSB) or ei_class not in (ELFCLASS32, ELFCLASS64):
        raise LoadError(f"{name} is a corrupt ELF: EI_CLASS={ei_class}, EI_DATA={ei_data}")
    e_machine = struct.unpack_from("<H" if ei_data == ELFDATA2LSB else ">H", data, 18)[0]
    if e_machine != EM_AARCH64:
        raise LoadError(f"{name} is an ELF for {_machine_name(e_machine)}, not AArch64")
    if ei_class != ELFCLASS64:
        raise LoadError(f"{name} is a 32-bit (ELFCLASS32) ELF, not a 64-bit AArch64 one")
    if ei_data != ELFDATA2LSB:
        raise LoadError(f"{name} is a big-endian AArch64 ELF; armvirt runs little-endian only")
    if len(data) < ELF64_EHDR_SIZE:
        raise LoadError(f"{name} is a truncated ELF: {len(data)} bytes, shorter than the "
                        f"{ELF64_EHDR_SIZE}-byte ELF64 header")

    try:
        elf = ELFFile(io.BytesIO(data))
        e_type = elf["e_type"]
        if e_type not in ("ET_EXEC", "ET_DYN"):
            what = {"ET_REL": "a relocatable object (ET_REL): link it first",
                    "ET_CORE": "a core dump (ET_CORE)"}.get(e_type, f"of type {e_type}")
            raise LoadError(f"{name} is {what}, not an executable")
        for table, off, num, entsize in (
                ("program", elf["e_phoff"], elf["e_phnum"], elf["e_phentsize"]),
                ("section", elf["e_shoff"], elf["e_shnum"], elf["e_shentsize"])):
            if num and off + num * entsize > len(data):
                raise LoadError(f"{name} is a truncated ELF: its {table} headers end at byte "
                                f"{off + num * entsize}, the file has {len(data)}")
        segments: list[Segment] = []
        for i, ph in enumerate(elf.iter_segments()):
            if ph["p_type"] != "PT_LOAD" or ph["p_memsz"] == 0:
                continue
            off, filesz, memsz = ph["p_offset"], ph["p_filesz"], ph["p_memsz"]
            if filesz > memsz:
                raise LoadError(f"{name} is a corrupt ELF: segment {i} has p_filesz 0x{filesz:x}"
                                f" > p_memsz 0x{memsz:x}")
            if off + filesz > len(data):
                raise LoadError(f"{name} is a truncated ELF: segment {i} needs file bytes "
                                f"{off}..{off + filesz}, the file has {len(data)}")
            segments.append(Segment(i, ph["p_paddr"], ph["p_vaddr"], data[off:off + filesz],
                                    memsz, ph["p_flags"]))

        symbols: dict[str, int] = {}
        global_names: set[str] = set()
        lines: Any = None
        try:   # debug info only helps the debugger: a damaged one does not stop a boot
            from armvirt.debug.symbols import dwarf_lines
            lines = dwarf_lines(elf) or None
        except Exception:  # pyelftools raises many kinds on garbled DWARF
            lines = None
        for sec in elf.iter_sections():
            if isinstance(sec, SymbolTableSection) and sec.name == ".symtab":
                for sym in sec.iter_symbols():
                    if not _wanted_symbol(sym):
                        continue
                    is_global = sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
                    # A global wins over a same-named local from some other file; otherwise
                    # the first definition stays.
                    if sym.name in symbols and (sym.name in global_names or not is_global):
                        continue
                    symbols[sym.name] = sym["st_value"]
                    if is_global:
                        global_names.add(sym.name)
        e_entry = elf["e_entry"]
    except (ELFError, ConstructError, struct.error, ValueError, EOFError, IndexError,
            KeyError, OverflowError) as e:
        # pyelftools' own errors, and what its construct-based parsers raise on short or
        # garbled input (a read past the end of the stream is a FieldError).
        detail = str(e).splitlines()[0] if str(e) else "no detail"
        raise LoadError(f"{name} is a truncated or corrupt ELF ({type(e).__name__}: "
                        f"{detail})") from None

    if not segments:
        raise LoadError(f"{name} has no loadable (PT_LOAD) segments")
    ordered = sorted(segments, key=lambda s: s.paddr)
    for a, b in zip(ordered, ordered[1:]):
        if b.paddr < a.end:
            raise LoadError(f"{name}: {a.describe()} overlaps {b.describe()}")

    entry = e_entry
    for seg in segments:        # QEMU load_elf(): virtual entry -> physical when they differ
        if seg.vaddr != seg.paddr and seg.flags & PF_X and \
                seg.vaddr <= e_entry < seg.vaddr + len(seg.data):
            entry = e_entry - seg.vaddr + seg.paddr
            break
    return ElfImage(entry=entry, segments=segments, symbols=symbols, lines=lines)


def _wanted_symbol(sym: Any) -> bool:
    """Named code and data symbols; not section/file symbols, undefined references, nor the
    AArch64 mapping symbols ``$x``/``$d`` (AAELF64 "Mapping symbols"), which mark code/data
    ranges and would shadow real names in the debugger."""
    if not sym.name or sym.name.startswith("$"):
        return False
    if sym["st_info"]["type"] not in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
        return False
    return sym["st_shndx"] != "SHN_UNDEF"


# ----------------------------------------------------------------------------------- Image
def parse_image_header(data: bytes, name: str = "<image>") -> ImageHeader:
    """Decode the arm64 Image header at the start of ``data`` (booting.rst, section 4)."""
    if len(data) < IMAGE_HEADER.size:
        raise LoadError(f"{name} is too short ({len(data)} bytes) for an arm64 Image header "
                        f"({IMAGE_HEADER.size} bytes)")
    (_code0, _code1, text_offset, image_size, flags, _r2, _r3, _r4, magic,
     _r5) = IMAGE_HEADER.unpack_from(data)
    if magic != IMAGE_MAGIC:
        raise LoadError(f"{name} has no arm64 Image header (magic 'ARM\\x64' at 0x38)")
    return ImageHeader(text_offset=text_offset, image_size=image_size, flags=flags)


# -------------------------------------------------------------------------------- planning
@dataclass
class _Chunk:
    """Bytes to write at ``addr``, followed by zeros up to ``memsz``."""

    addr: int
    data: bytes
    memsz: int


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"


def _align_up(v: int, a: int) -> int:
    return (v + a - 1) & -a


def _check_in_ram(name: str, what: str, start: int, size: int, ram_size: int) -> None:
    ram_end = memmap.RAM_BASE + ram_size
    if start < memmap.RAM_BASE or start + size > ram_end:
        raise LoadError(f"{name}: {what} (0x{start:x}..0x{start + size:x}, {_mib(size)}) does "
                        f"not fit in RAM (0x{memmap.RAM_BASE:x}..0x{ram_end:x}, "
                        f"{_mib(ram_size)})")


def _read(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise LoadError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{p} is a directory, not an image") from None
    except OSError as e:
        raise LoadError(f"cannot read {p}: {e.strerror or e}") from None
    if not data:
        raise LoadError(f"{p} is empty")
    return data


def refuse_unknown(name: str, data: bytes, kind: str = "auto",
                   load_addr: int | None = None) -> None:
    """LoadError for a file that is neither ELF nor Image when nothing says it is a raw
    binary (``kind="raw"`` or a load address): the ``strict`` rule of :func:`load_image`."""
    if kind == "auto" and load_addr is None and detect_kind(data) == "raw":
        raise LoadError(f"{name} is neither an AArch64 ELF file nor an arm64 Linux Image "
                        f"({_looks_like(data)}); to run it as a raw binary, give its load "
                        f"address (--load-addr, or load-addr= for a VM)")


def _looks_like(data: bytes) -> str:
    """A few words on what a file that is not an image seems to be, for the refusal."""
    if data[:4] == ELF_MAGIC:
        return "an ELF file, but not a 64-bit little-endian AArch64 executable"
    head = data[:4096]
    if head[:2] == b"\x1f\x8b":
        return "gzip-compressed: decompress it first"
    if head[:4] == b"MZ\x00\x00" or head[:2] == b"MZ":
        return "a PE/EFI file without the arm64 Image header"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if printable >= 0.95 * len(head):
        return "it looks like text"
    return "no \\x7fELF magic at 0, no ARM\\x64 magic at 0x38"


def _place_dtb(name: str, size: int, candidates: list[int], occupied: list[tuple[int, int]],
               ram_size: int) -> int:
    """First candidate address where ``size`` bytes fit in RAM and overlap nothing loaded."""
    ram_end = memmap.RAM_BASE + ram_size
    for addr in candidates:
        if addr < memmap.RAM_BASE or addr + size > ram_end:
            continue
        if all(addr + size <= s or addr >= e for s, e in occupied):
            return addr
    tried = ", ".join(f"0x{a:x}" for a in candidates)
    raise LoadError(f"{name}: no room for the {size}-byte device tree in "
                    f"{_mib(ram_size)} of RAM (tried {tried}); give the machine more RAM")


FDT_MAGIC = 0xD00DFEED


def patch_dtb(blob: bytes, name: str, *, ram_size: int, bootargs: str = "",
              initrd: tuple[int, int] | None = None) -> bytes:
    """A user's device tree, as QEMU's ``arm_load_dtb()`` patches a ``-dtb`` blob: the
    ``/memory`` node's ``reg`` becomes the board's RAM, ``/chosen`` gets ``bootargs`` (when
    given) and the initrd's ``linux,initrd-start``/``-end``; everything else is the user's."""
    import fdt
    if len(blob) < 40 or struct.unpack_from(">I", blob)[0] != FDT_MAGIC:
        raise LoadError(f"{name} is not a device tree blob (no 0xd00dfeed magic)")
    try:
        tree = fdt.parse_dtb(blob)
    except Exception as e:  # the fdt package raises several kinds on a damaged blob
        raise LoadError(f"{name} is a damaged device tree blob: {e}") from None
    cells = lambda v: [v >> 32, v & 0xFFFF_FFFF]
    for node in list(tree.root.nodes):
        if node.name == "memory" or node.name.startswith("memory@"):
            node.set_property("reg", cells(memmap.RAM_BASE) + cells(ram_size))
    if not tree.exist_node("/chosen"):
        tree.add_item(fdt.Node("chosen"), "/")
    if bootargs:
        tree.set_property("bootargs", bootargs, path="/chosen")
    if initrd is not None:
        tree.set_property("linux,initrd-start", cells(initrd[0]), path="/chosen")
        tree.set_property("linux,initrd-end", cells(initrd[1]), path="/chosen")
    return tree.to_dtb(version=17)


def load_image(machine: LoadTarget, path: str | os.PathLike[str], *, kind: str = "auto",
               load_addr: int | None = None, bootargs: str = "", dtb: bool = True,
               el: int = 1, initrd: str | os.PathLike[str] | None = None,
               dtb_file: str | os.PathLike[str] | None = None,
               strict: bool = False) -> BootInfo:
    """Load ``path`` into ``machine``, place the device tree, and start PE 0 at the entry.

    ``kind`` is ``"auto"`` (by content, :func:`detect_kind`), ``"elf"``, ``"image"`` or
    ``"raw"``. ``load_addr`` is the load address of a raw image (default ``RAM_BASE``) or the
    2 MiB-aligned base of an Image (default ``RAM_BASE``; the image goes ``text_offset`` above
    it); ELF files place themselves and refuse it. ``bootargs`` becomes
    ``/chosen/bootargs``. ``dtb=False`` loads no device tree and passes x0 = 0. ``el`` is the
    exception level PE 0 starts in (1 or 2; booting.rst allows either). ``initrd`` is a file
    loaded as the initial RAM disk of a Linux ``Image``, where QEMU's ``-initrd`` puts it (see
    the module docstring), and described in ``/chosen``. ``dtb_file`` is a device tree blob
    to pass instead of the board's, patched as QEMU's ``-dtb`` patches it (:func:`patch_dtb`).
    With ``strict`` (the command line, VMs), a file that is neither ELF nor Image is refused
    unless ``load_addr`` or ``kind="raw"`` says it is a raw binary: a text file or a damaged
    download is not a kernel, and run as one it only faults.

    Raises :class:`LoadError` for anything wrong with the file or the request; the machine is
    not modified in that case. See the module docstring for where everything goes.
    """
    name = str(path)
    if kind not in KINDS:
        raise LoadError(f"unknown image kind {kind!r}: use one of {', '.join(KINDS)}")
    if el not in (1, 2):
        raise LoadError(f"cannot start a guest at EL{el}: booting.rst allows EL1 or EL2")
    data = _read(path)
    initrd_data = _read(initrd) if initrd is not None else None
    detected = detect_kind(data)
    if strict:
        refuse_unknown(name, data, kind, load_addr)
    if kind == "auto":
        kind = detected
    if initrd_data is not None and kind != "image":
        raise LoadError(f"{initrd}: an initrd is passed only to an arm64 Linux Image (as QEMU "
                        f"-initrd); {name} is {'an ELF file' if kind == 'elf' else 'raw'}")
    elif kind == "elf" and detected != "elf":
        raise LoadError(f"{name} is not an ELF file (no \\x7fELF magic)")
    elif kind == "image" and detected != "image":
        parse_image_header(data, name)       # raises with the precise reason
    ram_size = int(machine.ram_size)
    ram_end = memmap.RAM_BASE + ram_size

    chunks: list[_Chunk] = []
    occupied: list[tuple[int, int]]   # physical ranges the guest owns, kept clear of the DTB
    symbols: dict[str, int] = {}
    lines: Any = None
    if kind == "elf":
        if load_addr is not None:
            raise LoadError(f"{name} is an ELF file: its program headers give the load "
                            f"addresses, a load address cannot be imposed")
        img = read_elf(data, name)
        for seg in img.segments:
            _check_in_ram(name, seg.label, seg.paddr, seg.memsz, ram_size)
            chunks.append(_Chunk(seg.paddr, seg.data, seg.memsz))
        entry, symbols, lines = img.entry, img.symbols, img.lines
        if not memmap.RAM_BASE <= entry < ram_end:
            raise LoadError(f"{name}: entry point 0x{entry:x} is outside RAM "
                            f"(0x{memmap.RAM_BASE:x}..0x{ram_end:x})")
        occupied = [(c.addr, c.addr + c.memsz) for c in chunks]
    elif kind == "image":
        hdr = parse_image_header(data, name)
        if hdr.big_endian:
            raise LoadError(f"{name} is a big-endian kernel (Image flags bit 0); armvirt runs "
                            f"little-endian only")
        base = memmap.RAM_BASE if load_addr is None else load_addr
        if base % SZ_2M:
            raise LoadError(f"{name}: an Image needs a 2 MiB-aligned base, 0x{base:x} is not")
        entry = base + hdr.load_offset
        # booting.rst: image_size bytes from the start of the image belong to the kernel (its
        # BSS lies beyond the file); pre-3.17 headers leave it 0, then the file size is all
        # we know (QEMU load_aarch64_image() makes the same guess).
        footprint = max(hdr.image_size, len(data))
        _check_in_ram(name, f"the kernel image at text_offset 0x{hdr.load_offset:x}", entry,
                      footprint, ram_size)
        chunks.append(_Chunk(entry, data, len(data)))
        occupied = [(entry, entry + footprint)]
    else:
        entry = memmap.RAM_BASE if load_addr is None else load_addr
        _check_in_ram(name, "the raw image", entry, len(data), ram_size)
        chunks.append(_Chunk(entry, data, len(data)))
        occupied = [(entry, entry + len(data))]

    initrd_range: tuple[int, int] | None = None
    if initrd_data is not None:
        # hw/arm/boot.c: RAM + min(ram / 2, 128 MiB), or above the kernel, page aligned.
        start = _align_up(max(memmap.RAM_BASE + min(ram_size // 2, QEMU_INITRD_CAP),
                              max(e for _, e in occupied)), 4096)
        _check_in_ram(str(initrd), "the initrd", start, len(initrd_data), ram_size)
        initrd_range = (start, start + len(initrd_data))
        chunks.append(_Chunk(start, initrd_data, len(initrd_data)))
        occupied.append(initrd_range)

    dtb_addr: int | None = None
    blob = b""
    if dtb:
        try:
            if dtb_file is not None:
                blob = patch_dtb(_read(dtb_file), str(dtb_file), ram_size=ram_size,
                                 bootargs=bootargs, initrd=initrd_range)
            else:
                blob = build_dtb(machine, bootargs=bootargs, initrd=initrd_range)
        except ValueError as e:
            raise LoadError(f"cannot build the device tree: {e}") from None
        top = max(e for _, e in occupied)
        if kind == "image":
            # QEMU puts an arm64 kernel's DTB at the next 2 MiB boundary after the initrd
            # (or after the initrd slot when there is none).
            qemu_slot = max(memmap.RAM_BASE + min(ram_size // 2, QEMU_INITRD_CAP), top)
            candidates = [_align_up(qemu_slot, SZ_2M), memmap.RAM_BASE]
        else:
            candidates = [memmap.RAM_BASE, _align_up(top, SZ_2M)]
        dtb_addr = _place_dtb(name, len(blob), candidates, occupied, ram_size)

    # Everything checked: now write.
    for c in chunks:
        machine.write_phys(c.addr, c.data)
        zero = c.memsz - len(c.data)
        pa = c.addr + len(c.data)
        while zero > 0:
            n = min(zero, _ZERO_CHUNK)
            machine.write_phys(pa, bytes(n))
            pa += n
            zero -= n
    if dtb_addr is not None:
        machine.write_phys(dtb_addr, blob)
    machine.boot_pe(0, entry, el=el, x0=dtb_addr or 0, x1=0, x2=0, x3=0)
    return BootInfo(kind=kind, entry=entry, dtb_addr=dtb_addr,
                    segments=[(c.addr, c.memsz) for c in chunks], symbols=symbols,
                    lines=lines, path=name, initrd=initrd_range)


def load_bios(machine, path: str | os.PathLike[str], *, pflash: str | None = None,
              bootargs: str = "", dtb_file: str | os.PathLike[str] | None = None) -> BootInfo:
    """Boot firmware from flash, as QEMU's ``-bios`` on ``virt``: ``path`` in flash bank 0 at
    0x0 (the machine needs ``flash=True``), ``pflash`` (a file, kept up to date with the
    guest's changes) in bank 1, the device tree at the start of RAM (QEMU's ``arm_load_dtb`` at
    ``loader_start`` when firmware is loaded), and PE 0 started at the flash's first word at
    EL2, the highest EL implemented, with every register at its reset value (x0 = 0: firmware
    such as U-Boot's qemu_arm64 looks for the DTB at the start of RAM itself).

    ``reboot_firmware`` does the same after a system reset. Raises LoadError (one line) for
    an unfit file; nothing is changed then."""
    from armvirt import pflash as pf
    try:
        bios = pf.read_bios(str(path))
        if pflash is not None:
            pf.read_pflash(str(pflash))       # checked now, read by load_flash
    except ValueError as e:
        raise LoadError(str(e)) from None
    blob = _firmware_dtb(machine, bootargs, dtb_file)
    machine.load_flash(bios, None if pflash is None else str(pflash))
    info = BootInfo(kind="bios", entry=memmap.FLASH_BASE, dtb_addr=memmap.RAM_BASE,
                    segments=[(memmap.FLASH_BASE, len(bios))], path=str(path), dtb_blob=blob)
    reboot_firmware(machine, info)
    return info


def reboot_firmware(machine, info: BootInfo) -> None:
    """Start the firmware again after ``Machine.system_reset`` (QEMU re-copies its ROM blobs,
    the DTB among them, and the PE starts at its reset address)."""
    machine.write_phys(memmap.RAM_BASE, info.dtb_blob)
    machine.boot_pe(0, memmap.FLASH_BASE, el=2)


def _firmware_dtb(machine, bootargs: str, dtb_file) -> bytes:
    try:
        if dtb_file is not None:
            blob = patch_dtb(_read(dtb_file), str(dtb_file), ram_size=int(machine.ram_size),
                             bootargs=bootargs, initrd=None)
        else:
            blob = build_dtb(machine, bootargs=bootargs)
    except ValueError as e:
        raise LoadError(f"cannot build the device tree: {e}") from None
    if len(blob) > int(machine.ram_size):
        raise LoadError(f"the device tree ({len(blob)} bytes) does not fit in RAM")
    return blob
