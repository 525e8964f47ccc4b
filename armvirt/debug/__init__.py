"""Debugging front ends: the interactive REPL and the GDB remote serial protocol stub."""
