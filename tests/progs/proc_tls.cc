// tests/progs/proc_tls.cc: C++ thread_local objects that allocate in their constructor and
// their destructor, for tests/progs/proc_threads.c (mode "dtors", tests/hazards/proc_threads.sh).
//
// proc_tls_touch() makes the calling thread's thread_local Holder exist: its constructor
// allocates TLS_CTOR_BYTES with new[] (site proc_tls_ctor_site); at thread exit glibc runs
// its destructor (registered through __cxa_thread_atexit_impl by the C++ runtime), which
// allocates and frees a block of TLS_DTOR_BYTES with new[] (site proc_tls_dtor_site)
// and deletes the constructor's block. The allocation sites are extern "C" so that their
// names in the profile are plain.
#include <atomic>
#include <cstddef>

extern "C" {
void proc_tls_touch(void);
unsigned long proc_tls_dtors(void);
char *proc_tls_ctor_site(void);
unsigned long proc_tls_dtor_site(void);
}

static std::atomic<unsigned long> dtors{0};

static const std::size_t TLS_CTOR_BYTES = 40;
static const std::size_t TLS_DTOR_BYTES = 100;

extern "C" __attribute__((noinline)) char *proc_tls_ctor_site(void)
{
	char *p = new char[TLS_CTOR_BYTES];	// not a tail call: the site stays on the stack

	p[0] = 1;
	return p;
}

extern "C" __attribute__((noinline)) unsigned long proc_tls_dtor_site(void)
{
	char *volatile p = new char[TLS_DTOR_BYTES];	// volatile: the pair is not elided
	unsigned long v;

	p[0] = 'd';
	v = static_cast<unsigned char>(p[0]);
	delete[] p;
	return v;
}

namespace {
struct Holder {
	char *block;
	Holder() : block(proc_tls_ctor_site()) {}
	~Holder()
	{
		proc_tls_dtor_site();
		delete[] block;
		dtors.fetch_add(1, std::memory_order_relaxed);
	}
};

thread_local Holder holder;
}

extern "C" void proc_tls_touch(void)
{
	holder.block[1] = 2;
}

extern "C" unsigned long proc_tls_dtors(void)
{
	return dtors.load();
}
