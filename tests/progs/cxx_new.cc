// tests/progs/cxx_new: operator new/delete in every form, under the library (the script
// tests/integration/cxx.sh runs it preloaded at rate=1 and at the default rate). Prints TAP.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

static int n, failed;

static void ok(bool cond, const char *what)
{
	++n;
	failed += !cond;
	std::printf("%sok %d - %s\n", cond ? "" : "not ", n, what);
}

static int handler_calls;
static void handler()
{
	if (++handler_calls >= 3)
		std::set_new_handler(nullptr);
}

struct alignas(256) Big {
	char c[256];
};

int main()
{
	volatile std::size_t huge = std::size_t(1) << 62;
	bool caught = false;

	try {
		char *p = new char[huge];
		delete[] p;
	} catch (const std::bad_alloc &) {
		caught = true;
	}
	ok(caught, "new of 2^62 bytes throws std::bad_alloc");
	std::set_new_handler(handler);
	caught = false;
	try {
		char *p = new char[huge];
		delete[] p;
	} catch (const std::bad_alloc &) {
		caught = true;
	}
	ok(caught && handler_calls == 3, "the new_handler is called until it gives up");
	ok(new (std::nothrow) char[huge] == nullptr, "nothrow new of 2^62 bytes is nullptr");

	Big *a = new Big[3];
	ok((reinterpret_cast<std::uintptr_t>(a) & 255) == 0, "aligned new[] is aligned");
	delete[] a;
	Big *b = new (std::nothrow) Big;
	ok(b && (reinterpret_cast<std::uintptr_t>(b) & 255) == 0, "aligned nothrow new");
	delete b;
	int *z = new int[0];
	int *z2 = new int[0];
	ok(z && z2 && z != z2, "new of size 0 gives distinct pointers");
	delete[] z;
	delete[] z2;
	long *s = new long(42);
	ok(*s == 42, "new long(42)");
	::operator delete(s, sizeof(long));	// sized delete
	void *v = ::operator new(100, std::align_val_t(4096));
	ok((reinterpret_cast<std::uintptr_t>(v) & 4095) == 0, "operator new(size, align 4096)");
	::operator delete(v, 100, std::align_val_t(4096));
	std::printf("1..%d\n", n);
	return failed ? 1 : 0;
}
