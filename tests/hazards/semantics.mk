# tests/hazards/semantics.mk: see doc/RELIABILITY.md. Included by Makefile.am.
