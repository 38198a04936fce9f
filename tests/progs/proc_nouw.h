/* tests/progs/proc_nouw.h: allocation sites without unwind information (proc_nouw.c). */
#ifndef PROC_NOUW_H
#define PROC_NOUW_H
#include <stddef.h>

unsigned char *proc_nouw_alloc(size_t n, unsigned char fill);
unsigned proc_nouw_churn(int count, size_t n);
#endif
