"""The A64 instruction set: the declarative encoding table (``*.decode``), its allocation
predicates (``predicates.py``), the generator (``gen_decoder.py``) and the modules it writes,
``_decoder.py`` (``decode(word) -> op``) and ``_dispatch.py`` (``execute(op, word, c, M, pc)``).
See ``README.md`` here for the table format.

Importing this package imports nothing else: ``decode`` and ``execute`` are jitted and their
modules are imported where they are used.
"""
