# tests/hazards/output.mk: see doc/RELIABILITY.md. Included by Makefile.am.
