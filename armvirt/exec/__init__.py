"""Instruction semantics: ``trans_<PATTERN>`` handlers, one small function per instruction or
tight family, named after the patterns of ``armvirt/isa/*.decode`` (which the generated
dispatcher ``armvirt/isa/_dispatch.py`` calls with the decoded fields)."""
