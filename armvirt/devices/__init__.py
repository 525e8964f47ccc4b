"""Devices of the `virt` board: the fast ones are jitted into the core (PL011), the rest are
Python objects answering MMIO exits (armvirt.board)."""
