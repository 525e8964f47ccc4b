"""The processing element: PSTATE, exceptions, system registers and the memory-access seam."""
