/* tests/progs/sem_dlopen_cxx.c: a C program (not linked with libstdc++) that loads the C++
 * plugin tests/progs/.libs/libsem_cxx_plugin.so with dlopen and calls its sem_plugin_run(),
 * which uses operator new/delete in every form from named sites (see sem_cxx_plugin.cc).
 * libstdc++ arrives with the plugin, after the allocator is in place: heapprof's operators
 * must still be the ones the plugin's new and delete reach.
 *
 *   sem_dlopen_cxx PLUGIN.so
 *
 * Prints the plugin's lines and "plugin: ok", exits 0; exits 1 if a check in the plugin
 * failed, 2 if the plugin cannot be loaded. The plugin stays loaded (its kept blocks are
 * in use at exit, and its names are in the exit profile). Built twice: plain (run under
 * LD_PRELOAD) and sem_dlopen_cxx_linked (linked with -lheapprof). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

typedef int (*run_fn)(void);

int main(int argc, char **argv)
{
	void *h;
	run_fn run;
	int failed;

	if (argc != 2) {
		fprintf(stderr, "usage: sem_dlopen_cxx PLUGIN.so\n");
		return 2;
	}
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "sem_dlopen_cxx: %s\n", dlerror());
		return 2;
	}
	run = (run_fn)(uintptr_t)dlsym(h, "sem_plugin_run");
	if (!run) {
		fprintf(stderr, "sem_dlopen_cxx: %s\n", dlerror());
		return 2;
	}
	failed = run();
	printf("plugin: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
