"""Minimal ELF64 writer for little-endian AArch64 executables.

pyelftools only reads ELF, and a full linker is overkill for what armvirt needs: a flat image
loaded at one address, a symbol table for the debugger, and a few non-allocated data sections.
The file this module writes is:

    ELF header | one program header | padding | image | extra sections | .symtab | .strtab
    | .shstrtab | section header table

with a single ``PT_LOAD`` segment (R+W+X) covering the image at ``base`` and a ``.text``
section describing the same bytes.  The segment's file offset is congruent to ``base`` modulo
the page size, as the ELF specification requires of loadable segments.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = [
    "EM_AARCH64",
    "STB_LOCAL", "STB_GLOBAL", "STB_WEAK",
    "STT_NOTYPE", "STT_OBJECT", "STT_FUNC",
    "SHT_PROGBITS", "SHT_NOTE",
    "ElfSymbol", "ElfSection", "build_executable", "write_executable",
]

EM_AARCH64 = 183

ET_EXEC = 2
EV_CURRENT = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFOSABI_NONE = 0

PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOTE = 0, 1, 2, 3, 7
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHN_ABS = 0xFFF1

STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC = 0, 1, 2

PAGE_SIZE = 0x1000

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")   # 64 bytes
_PHDR = struct.Struct("<IIQQQQQQ")           # 56 bytes
_SHDR = struct.Struct("<IIQQQQIIQQ")         # 64 bytes
_SYM = struct.Struct("<IBBHQQ")              # 24 bytes


@dataclass(frozen=True)
class ElfSymbol:
    """A symbol; ``value`` is an absolute address.  Symbols inside the image get ``.text`` as
    their section, others are emitted as ``SHN_ABS``."""

    name: str
    value: int
    size: int = 0
    kind: int = STT_NOTYPE
    bind: int = STB_LOCAL


@dataclass(frozen=True)
class ElfSection:
    """An extra, non-allocated section (e.g. JSON metadata for the debugger)."""

    name: str
    data: bytes
    sh_type: int = SHT_PROGBITS
    align: int = 1


class _StrTab:
    def __init__(self) -> None:
        self._data = bytearray(b"\0")
        self._index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self._index:
            self._index[s] = len(self._data)
            self._data += s.encode("utf-8") + b"\0"
        return self._index[s]

    @property
    def data(self) -> bytes:
        return bytes(self._data)


def _align(n: int, a: int) -> int:
    return (n + a - 1) & -a


def build_executable(
    *,
    base: int,
    image: bytes,
    entry: int,
    symbols: Iterable[ElfSymbol] = (),
    extra_sections: Iterable[ElfSection] = (),
) -> bytes:
    """Return the bytes of an ``ET_EXEC`` AArch64 ELF64 file loading ``image`` at ``base``."""
    if not 0 <= base < 1 << 64 or base + len(image) > 1 << 64:
        raise ValueError(f"image at {base:#x} (+{len(image):#x}) does not fit in 64 bits")
    extra = list(extra_sections)
    headers_end = _EHDR.size + _PHDR.size
    text_off = base % PAGE_SIZE
    if text_off < headers_end:
        text_off += PAGE_SIZE

    out = bytearray(text_off)
    out += image

    # Section index 0 is SHN_UNDEF, 1 is .text; extras follow, then symtab/strtab/shstrtab.
    shstr = _StrTab()
    sections: list[tuple[int, int, int, int, int, int, int, int, int, int]] = [
        (0, SHT_NULL, 0, 0, 0, 0, 0, 0, 0, 0),
        (shstr.add(".text"), SHT_PROGBITS, SHF_ALLOC | SHF_WRITE | SHF_EXECINSTR,
         base, text_off, len(image), 0, 0, 4, 0),
    ]
    text_index = 1
    for sec in extra:
        off = _align(len(out), max(sec.align, 1))
        out += bytes(off - len(out)) + sec.data
        sections.append((shstr.add(sec.name), sec.sh_type, 0, 0, off, len(sec.data), 0, 0,
                         max(sec.align, 1), 0))

    # Symbol table: the null symbol, then locals, then globals/weak (ELF requires locals first).
    strtab = _StrTab()
    end = base + len(image)
    ordered = sorted(symbols, key=lambda s: (s.bind != STB_LOCAL, s.value, s.name))
    symtab = bytearray(_SYM.size)
    first_global = 1
    for i, sym in enumerate(ordered, start=1):
        shndx = text_index if base <= sym.value <= end else SHN_ABS
        symtab += _SYM.pack(strtab.add(sym.name), (sym.bind << 4) | (sym.kind & 0xF), 0,
                            shndx, sym.value & (2**64 - 1), sym.size)
        if sym.bind == STB_LOCAL:
            first_global = i + 1

    symtab_index = len(sections)
    strtab_index = symtab_index + 1
    off = _align(len(out), 8)
    out += bytes(off - len(out)) + symtab
    sections.append((shstr.add(".symtab"), SHT_SYMTAB, 0, 0, off, len(symtab), strtab_index,
                     first_global, 8, _SYM.size))
    off = len(out)
    out += strtab.data
    sections.append((shstr.add(".strtab"), SHT_STRTAB, 0, 0, off, len(strtab.data), 0, 0, 1, 0))
    shstrndx = len(sections)
    name = shstr.add(".shstrtab")
    off = len(out)
    shstr_data = shstr.data
    out += shstr_data
    sections.append((name, SHT_STRTAB, 0, 0, off, len(shstr_data), 0, 0, 1, 0))

    shoff = _align(len(out), 8)
    out += bytes(shoff - len(out))
    for sec_fields in sections:
        out += _SHDR.pack(*sec_fields)

    ident = b"\x7fELF" + bytes([ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE]) + bytes(8)
    out[0:_EHDR.size] = _EHDR.pack(ident, ET_EXEC, EM_AARCH64, EV_CURRENT, entry, _EHDR.size,
                                   shoff, 0, _EHDR.size, _PHDR.size, 1, _SHDR.size,
                                   len(sections), shstrndx)
    out[_EHDR.size:headers_end] = _PHDR.pack(PT_LOAD, PF_R | PF_W | PF_X, text_off, base, base,
                                             len(image), len(image), PAGE_SIZE)
    return bytes(out)


def write_executable(
    path: str | os.PathLike[str],
    *,
    base: int,
    image: bytes,
    entry: int,
    symbols: Iterable[ElfSymbol] = (),
    extra_sections: Iterable[ElfSection] = (),
) -> None:
    """Write :func:`build_executable`'s output to ``path``."""
    Path(path).write_bytes(build_executable(base=base, image=image, entry=entry,
                                            symbols=symbols, extra_sections=extra_sections))
