# tests/hazards/sanitize.mk: see doc/RELIABILITY.md. Included by Makefile.am.
