# tests/hazards/process.mk: see doc/RELIABILITY.md. Included by Makefile.am.
