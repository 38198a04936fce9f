# tests/hazards/unwinding.mk: see doc/RELIABILITY.md. Included by Makefile.am.
