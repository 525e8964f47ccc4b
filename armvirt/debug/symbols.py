"""Symbols and source lines of the images in a machine: names ↔ addresses, ``addr → sym+off``,
``addr → file:line`` and ``file:line → addr``.

Several images can be loaded at once (firmware, then the guests it starts); each keeps its own
symbols, line table and address ranges, so an address is symbolized only by the image it lies
in. Symbols come from the ELF ``.symtab``, source lines from the DWARF line table
(``.debug_line``, DWARF 4 or 5, as clang writes it for ``-g``), both read with pyelftools: one
row per instruction that starts a new line, in address order; a row covers the bytes up to the
next row (or the end of its sequence). Programs built from strings (tests,
:func:`armvirt.build.assemble`) are added with :meth:`SymbolTable.add_program`.
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping


class SymbolError(Exception):
    """An image whose symbols cannot be read; the message is one line."""


@dataclass(frozen=True)
class Symbol:
    name: str
    addr: int
    size: int = 0
    kind: str = "notype"          # "func" | "object" | "notype"
    binding: str = "local"        # "local" | "global" | "weak"
    absolute: bool = False        # SHN_ABS: a constant, not an address in the image


@dataclass
class ImageSymbols:
    """The symbols and line table of one image."""

    name: str
    symbols: dict[str, Symbol] = field(default_factory=dict)
    lines: list[tuple[int, str, int]] = field(default_factory=list)   # sorted by address
    ranges: list[tuple[int, int]] = field(default_factory=list)       # [start, end) loaded
    space: str | None = None   # the address space it lives in ("hyp", "guest"); None: any
    _by_addr: list[Symbol] = field(default_factory=list, repr=False)
    _sym_addrs: list[int] = field(default_factory=list, repr=False)
    _line_addrs: list[int] = field(default_factory=list, repr=False)

    def finish(self) -> None:
        """Build the address indexes (call after filling ``symbols``/``lines``/``ranges``)."""
        rank = {"global": 0, "weak": 1, "local": 2}
        kinds = {"func": 0, "object": 1, "notype": 2}
        addressable = [s for s in self.symbols.values() if not s.absolute]
        # Among symbols at one address the preferred name comes first: global, then function,
        # then the shortest and alphabetically first.
        addressable.sort(key=lambda s: (s.addr, rank.get(s.binding, 3), kinds.get(s.kind, 3),
                                        len(s.name), s.name))
        self._by_addr = addressable
        self._sym_addrs = [s.addr for s in addressable]
        self.lines.sort(key=lambda r: r[0])
        self._line_addrs = [r[0] for r in self.lines]
        if not self.ranges:
            lo = [a for a in self._sym_addrs + self._line_addrs]
            if lo:
                self.ranges = [(min(lo), max(lo) + 4)]

    def contains(self, addr: int) -> bool:
        return any(s <= addr < e for s, e in self.ranges)

    def symbolize(self, addr: int) -> tuple[Symbol, int] | None:
        if not self.contains(addr):
            return None
        i = bisect.bisect_right(self._sym_addrs, addr) - 1
        if i < 0:
            return None
        # bisect_right lands on the last symbol at that address; go back to the preferred one
        a = self._sym_addrs[i]
        j = bisect.bisect_left(self._sym_addrs, a)
        return self._by_addr[j], addr - a

    def line_for(self, addr: int) -> tuple[str, int] | None:
        if not self.contains(addr):
            return None
        i = bisect.bisect_right(self._line_addrs, addr) - 1
        if i < 0:
            return None
        _, f, line = self.lines[i]
        return f, line

    def symbol_end(self, sym: Symbol) -> int:
        """End of ``sym``: its ELF size when known, else the next symbol or the image end."""
        if sym.size:
            return sym.addr + sym.size
        i = bisect.bisect_right(self._sym_addrs, sym.addr)
        nxt = self._sym_addrs[i] if i < len(self._sym_addrs) else None
        end = next((e for s, e in self.ranges if s <= sym.addr < e), sym.addr + 4)
        return min(nxt, end) if nxt is not None else end


def dwarf_lines(elf: Any) -> list[tuple[int, str, int]]:
    """(address, file, line) rows of the DWARF line programs of a pyelftools ``ELFFile``,
    sorted by address; empty without ``.debug_line``. A row starts where the line changes;
    end-of-sequence rows and line-0 rows (code of no source line) start none. File names are
    joined with their include directory (DWARF 5 indexes files and directories from 0,
    DWARF 4 from 1 with 0 meaning the compilation directory)."""
    if not elf.has_dwarf_info():
        return []
    dwarf = elf.get_dwarf_info()
    rows: list[tuple[int, str, int]] = []
    for cu in dwarf.iter_CUs():
        lp = dwarf.line_program_for_CU(cu)
        if lp is None:
            continue
        top = cu.get_top_DIE()
        comp_dir = _text(top.attributes["DW_AT_comp_dir"].value) \
            if "DW_AT_comp_dir" in top.attributes else ""
        v5 = lp.header["version"] >= 5
        dirs = [_text(d) for d in lp.header["include_directory"]]
        files = lp.header["file_entry"]

        cache: dict[int, str] = {}

        def name_of(i: int) -> str:
            if i in cache:
                return cache[i]
            fe = files[i if v5 else i - 1]
            n = _text(fe.name)
            di = fe.dir_index
            d = (dirs[di] if di < len(dirs) else "") if v5 else \
                (comp_dir if di == 0 else dirs[di - 1])
            if d and not os.path.isabs(n):
                n = os.path.join(d, n)
            if not os.path.isabs(n) and comp_dir:
                n = os.path.join(comp_dir, n)
            cache[i] = os.path.normpath(n)
            return cache[i]

        prev: tuple[int, int, int] | None = None
        for e in lp.get_entries():
            st = e.state
            if st is None:
                continue
            if st.end_sequence:
                prev = None
                continue
            if st.line == 0:
                continue   # compiler-made code of no source line (C): left to the row before
            key = (st.address, st.file, st.line)
            if prev is not None and (prev[1], prev[2]) == (st.file, st.line):
                continue   # the same line continues
            prev = key
            rows.append((st.address, name_of(st.file),
                         st.line))
    rows.sort(key=lambda r: r[0])
    return rows


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def elf_symbols(elf: Any) -> dict[str, "Symbol"]:
    """The named symbols of a pyelftools ``ELFFile``'s ``.symtab`` (see _add_elf_symbol)."""
    from elftools.elf.sections import SymbolTableSection
    img = ImageSymbols("")
    for sec in elf.iter_sections():
        if isinstance(sec, SymbolTableSection) and sec.name == ".symtab":
            for s in sec.iter_symbols():
                SymbolTable._add_elf_symbol(img, s)
    return img.symbols


class SymbolTable:
    """Symbols and source lines of every image loaded into a machine."""

    def __init__(self) -> None:
        self.images: list[ImageSymbols] = []
        self._source_cache: dict[str, list[str] | None] = {}
        # The address space being looked at now (the debugger sets it from the selected PE:
        # "hyp" at EL2 or with stage 2 off, "guest" under stage 2); None: no preference.
        self.space_of: Callable[[], str | None] | None = None

    def _ordered(self) -> list[ImageSymbols]:
        """The images, those of the current address space first, then those of any space."""
        space = self.space_of() if self.space_of is not None else None
        if space is None or all(i.space is None for i in self.images):
            return self.images
        return sorted(self.images, key=lambda i: 0 if i.space == space else
                      1 if i.space is None else 2)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_elf(cls, *paths: str | os.PathLike[str]) -> "SymbolTable":
        t = cls()
        for p in paths:
            t.add_elf(p)
        return t

    def add_elf(self, path: str | os.PathLike[str], space: str | None = None) -> ImageSymbols:
        """Add the ``.symtab`` symbols and DWARF line table of an AArch64 ELF file. ``space``
        names the address space the image runs in (e.g. "hyp" for the firmware, "guest"): when
        images overlap, as a guest at IPA 0x4000_0000 and the hypervisor at PA 0x4000_0000 do,
        the one of the current space (``space_of()``) is asked first."""
        from elftools.common.exceptions import DWARFError, ELFError
        from elftools.elf.elffile import ELFFile

        name = str(path)
        img = ImageSymbols(name, space=space)
        try:
            with open(path, "rb") as f:
                elf = ELFFile(f)
                for seg in elf.iter_segments():
                    if seg["p_type"] == "PT_LOAD" and seg["p_memsz"]:
                        # Symbols are link-time (virtual) addresses: range by p_vaddr.
                        img.ranges.append((seg["p_vaddr"], seg["p_vaddr"] + seg["p_memsz"]))
                img.symbols = elf_symbols(elf)
                img.lines = dwarf_lines(elf)
        except FileNotFoundError:
            raise SymbolError(f"{name}: no such file") from None
        except (OSError, ELFError, DWARFError) as e:
            raise SymbolError(f"{name}: cannot read symbols ({e})") from None
        img.finish()
        self.images.append(img)
        return img

    @staticmethod
    def _add_elf_symbol(img: ImageSymbols, s: Any) -> None:
        # Not section/file symbols, undefined references, nor the AArch64 mapping symbols
        # $x/$d (AAELF64 "Mapping symbols"), which would shadow real names.
        if not s.name or s.name.startswith("$"):
            return
        typ = s["st_info"]["type"]
        if typ not in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE") or s["st_shndx"] == "SHN_UNDEF":
            return
        bind = {"STB_GLOBAL": "global", "STB_WEAK": "weak"}.get(s["st_info"]["bind"], "local")
        kind = {"STT_FUNC": "func", "STT_OBJECT": "object"}.get(typ, "notype")
        old = img.symbols.get(s.name)
        if old is not None and (old.binding != "local" or bind == "local"):
            return  # a global wins over a same-named local; otherwise the first one stays
        img.symbols[s.name] = Symbol(s.name, s["st_value"], s["st_size"], kind, bind,
                                     s["st_shndx"] == "SHN_ABS")

    def add_program(self, prog: Any, name: str = "<program>") -> ImageSymbols:
        """Add an :class:`armvirt.build.Program` built from a string."""
        kinds = {"function": "func", "object": "object"}
        syms = {}
        for n, v in prog.symbols.items():
            a = getattr(prog, "symbol_attrs", {}).get(n)
            syms[n] = Symbol(n, v, a.size if a else 0, kinds.get(a.kind, "notype") if a
                             else "notype", a.binding if a else "local")
        return self.add_symbols(name, syms, prog.source_lines,
                                ranges=[(prog.base, prog.base + len(prog.code))])

    def add_symbols(self, name: str, symbols: Mapping[str, int | Symbol],
                    lines: Iterable[tuple[int, str, int]] | Any = None,
                    ranges: Iterable[tuple[int, int]] = ()) -> ImageSymbols:
        """Add an image from plain data: ``symbols`` name → address (or :class:`Symbol`),
        ``lines`` as (addr, file, line) rows."""
        img = ImageSymbols(name, ranges=list(ranges))
        for n, v in symbols.items():
            img.symbols[n] = v if isinstance(v, Symbol) else Symbol(n, int(v))
        if lines:
            img.lines = [(int(a), str(f), int(ln)) for a, f, ln in lines]
        img.finish()
        self.images.append(img)
        return img

    @classmethod
    def from_boot_info(cls, boot: Any) -> "SymbolTable":
        """Symbols of what :func:`armvirt.loader.load_image` loaded (ELF images only)."""
        t = cls()
        if getattr(boot, "kind", None) == "elf" and getattr(boot, "path", ""):
            try:
                t.add_elf(boot.path)
                return t
            except SymbolError:
                pass
        if getattr(boot, "symbols", None) or getattr(boot, "lines", None):
            t.add_symbols(getattr(boot, "path", "") or "<image>", boot.symbols or {},
                          boot.lines, ranges=getattr(boot, "segments", None) and
                          [(a, a + n) for a, n in boot.segments] or ())
        return t

    # ------------------------------------------------------------------ queries
    def lookup(self, name: str) -> int | None:
        """Address (or value, for absolute symbols) of ``name``; the first image wins."""
        for img in self._ordered():
            s = img.symbols.get(name)
            if s is not None:
                return s.addr
        return None

    def symbol(self, name: str) -> Symbol | None:
        for img in self._ordered():
            s = img.symbols.get(name)
            if s is not None:
                return s
        return None

    def names(self) -> list[str]:
        out: set[str] = set()
        for img in self.images:
            out.update(img.symbols)
        return sorted(out)

    def symbolize(self, addr: int) -> tuple[Symbol, int] | None:
        """(symbol, offset) of the nearest symbol at or below ``addr`` in the image holding
        ``addr``; None outside every image."""
        for img in self._ordered():
            r = img.symbolize(addr)
            if r is not None:
                return r
        return None

    def describe(self, addr: int) -> str:
        """``sym`` or ``sym+off`` (empty when unknown)."""
        r = self.symbolize(addr)
        if r is None:
            return ""
        sym, off = r
        return f"{sym.name}+{off}" if off else sym.name

    def function_range(self, addr: int) -> tuple[Symbol, int, int] | None:
        """(symbol, start, end) of the symbol containing ``addr``."""
        for img in self._ordered():
            r = img.symbolize(addr)
            if r is not None:
                return r[0], r[0].addr, img.symbol_end(r[0])
        return None

    def line_for(self, addr: int) -> tuple[str, int] | None:
        for img in self._ordered():
            r = img.line_for(addr)
            if r is not None:
                return r
        return None

    def files(self) -> list[str]:
        out: list[str] = []
        for img in self.images:
            for _, f, _ in img.lines:
                if f not in out:
                    out.append(f)
        return out

    def _match_file(self, name: str) -> list[str]:
        files = self.files()
        exact = [f for f in files if f == name]
        if exact:
            return exact
        norm = name.replace("\\", "/")
        return [f for f in files if f.replace("\\", "/").endswith("/" + norm)
                or Path(f).name == norm]

    def resolve_line(self, file: str, line: int) -> tuple[str, int, int] | None:
        """(file, line, address) of the first instruction of ``file:line``, or of the next
        line with code when that line has none (as gdb moves a breakpoint down)."""
        matches = self._match_file(file)
        if not matches:
            return None
        best: tuple[int, int, str] | None = None
        for img in self.images:
            for addr, f, ln in img.lines:
                if f in matches and ln >= line:
                    key = (ln, addr, f)
                    if best is None or key < best:
                        best = key
        if best is None:
            return None
        return best[2], best[0], best[1]

    def has_file(self, file: str) -> bool:
        return bool(self._match_file(file))

    def source_line(self, file: str, line: int) -> str | None:
        """The text of ``file:line`` when the source file is readable."""
        text = self.source_lines(file)
        if text is None or not 1 <= line <= len(text):
            return None
        return text[line - 1]

    def source_lines(self, file: str) -> list[str] | None:
        if file not in self._source_cache:
            try:
                self._source_cache[file] = Path(file).read_text(
                    encoding="utf-8", errors="replace").splitlines()
            except OSError:
                self._source_cache[file] = None
        return self._source_cache[file]

    def __bool__(self) -> bool:  # an empty table is still a table
        return True
