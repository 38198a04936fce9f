// tests/progs/sem_cxx_plugin.cc: a C++ plugin (libsem_cxx_plugin.so) that a C program
// (tests/progs/sem_dlopen_cxx.c, not linked with libstdc++) loads with dlopen; its
// sem_plugin_run() uses operator new and delete in every form, each from its own named
// site with a known size and count, keeps some blocks on purpose (in a global table, so
// they are in use at exit) and deletes the others. tests/hazards/cxx_dlopen.sh checks the
// figures in the rate=1 exit profile.
//
//   site (first frame)               operator new used               bytes  made  kept  deleted with
//   cxx_new_plain                    new(size)                        1000    10     3  sized delete
//   cxx_new_array                    new[](size)                      2000    11     4  delete[]
//   cxx_new_array_cookie             new[](size), 10 x 24 + cookie     248    12     5  sized delete[]
//   cxx_new_aligned64                new(size, align_val_t 64)         640    13     6  sized aligned delete
//   cxx_new_aligned64_array          new[](size, align_val_t 64)      1920    14     7  aligned delete[]
//   cxx_new_align4096                new(size, align_val_t 4096)      8192    15     8  aligned delete, half sized
//   cxx_new_nothrow                  new(size, nothrow)               3000    16     9  delete(p, nothrow)
//   cxx_new_nothrow_array            new[](size, nothrow)             5000    17    10  delete[](p, nothrow)
//   cxx_new_aligned_nothrow          new(size, align_val_t 256, nothrow)   7000  18  11  aligned nothrow delete
//   cxx_new_aligned_nothrow_array    new[](size, align_val_t 512, nothrow) 9000  19  12  aligned nothrow delete[]
//   cxx_new_array_align4096          new[](size, align_val_t 4096)   12288    20    13  sized aligned delete[]
//
// Every pointer is checked for its alignment and every block is written in full. Then
// cxx_new_align16_small() checks that operator new(n, align_val_t(16)) (plain and nothrow
// array) gives 16-aligned blocks for n = 1..8. Prints one line per site (the same with and
// without heapprof) and returns the number of failed checks.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#define SITE extern "C" __attribute__((noinline, noclone, used, visibility("default")))

namespace {

struct Blk1000 {
	char b[1000];
};
struct Blk3000 {
	char b[3000];
};
// A non-trivial destructor: new D24[10] asks for 10 * 24 bytes plus an 8-byte cookie, and
// delete[] passes that size to the sized operator delete[].
struct D24 {
	char c[24];
	~D24() { c[0] = 0; }
};
struct alignas(64) A640 {
	char b[640];
};

enum { SITES = 11, MAXN = 20 };
const char *const names[SITES] = {
	"cxx_new_plain", "cxx_new_array", "cxx_new_array_cookie", "cxx_new_aligned64",
	"cxx_new_aligned64_array", "cxx_new_align4096", "cxx_new_nothrow", "cxx_new_nothrow_array",
	"cxx_new_aligned_nothrow", "cxx_new_aligned_nothrow_array", "cxx_new_array_align4096",
};
const int made[SITES] = { 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 };
const int kept[SITES] = { 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
const std::size_t bytes[SITES] = { 1000, 2000, 248, 640, 1920, 8192, 3000, 5000, 7000, 9000, 12288 };
const std::size_t align[SITES] = { 16, 16, 8, 64, 64, 4096, 16, 16, 256, 512, 4096 };

int failed;

void check(int site, void *p, std::size_t n)
{
	if (!p || (reinterpret_cast<std::uintptr_t>(p) & (align[site] - 1)) != 0) {
		std::printf("%s: pointer %s\n", names[site], p ? "misaligned" : "null");
		failed++;
		return;
	}
	std::memset(p, 0x5c, n);
}

} // namespace

// The blocks, global so that the kept ones are reachable (and no compiler drops a pair).
void *sem_plugin_blocks[SITES][MAXN];

SITE void cxx_new_plain(void)
{
	for (int i = 0; i < made[0]; i++)
		check(0, sem_plugin_blocks[0][i] = new Blk1000, 1000);
}

SITE void cxx_new_array(void)
{
	for (int i = 0; i < made[1]; i++)
		check(1, sem_plugin_blocks[1][i] = new char[2000], 2000);
}

SITE void cxx_new_array_cookie(void)
{
	for (int i = 0; i < made[2]; i++) {
		D24 *d = new D24[10];

		sem_plugin_blocks[2][i] = d;
		check(2, d, 10 * sizeof(D24));
	}
}

SITE void cxx_new_aligned64(void)
{
	for (int i = 0; i < made[3]; i++)
		check(3, sem_plugin_blocks[3][i] = new A640, sizeof(A640));
}

SITE void cxx_new_aligned64_array(void)
{
	for (int i = 0; i < made[4]; i++)
		check(4, sem_plugin_blocks[4][i] = new A640[3], 3 * sizeof(A640));
}

SITE void cxx_new_align4096(void)
{
	for (int i = 0; i < made[5]; i++)
		check(5, sem_plugin_blocks[5][i] = ::operator new(8192, std::align_val_t(4096)), 8192);
}

SITE void cxx_new_nothrow(void)
{
	for (int i = 0; i < made[6]; i++)
		check(6, sem_plugin_blocks[6][i] = new (std::nothrow) Blk3000, 3000);
}

SITE void cxx_new_nothrow_array(void)
{
	for (int i = 0; i < made[7]; i++)
		check(7, sem_plugin_blocks[7][i] = new (std::nothrow) char[5000], 5000);
}

SITE void cxx_new_aligned_nothrow(void)
{
	for (int i = 0; i < made[8]; i++)
		check(8, sem_plugin_blocks[8][i] = ::operator new(7000, std::align_val_t(256),
								     std::nothrow), 7000);
}

SITE void cxx_new_aligned_nothrow_array(void)
{
	for (int i = 0; i < made[9]; i++)
		check(9, sem_plugin_blocks[9][i] = ::operator new[](9000, std::align_val_t(512),
								      std::nothrow), 9000);
}

SITE void cxx_new_array_align4096(void)
{
	for (int i = 0; i < made[10]; i++)
		check(10, sem_plugin_blocks[10][i] = ::operator new[](12288, std::align_val_t(4096)),
		      12288);
}

// Deletes blocks kept[site] .. made[site]-1 of each site, each with its own form.
SITE void cxx_delete_all_forms(void)
{
	for (int s = 0; s < SITES; s++)
		for (int i = kept[s]; i < made[s]; i++) {
			void *p = sem_plugin_blocks[s][i];

			sem_plugin_blocks[s][i] = nullptr;
			switch (s) {
			case 0: delete static_cast<Blk1000 *>(p); break;		// _ZdlPvm
			case 1: delete[] static_cast<char *>(p); break;			// _ZdaPv
			case 2: delete[] static_cast<D24 *>(p); break;			// _ZdaPvm
			case 3: delete static_cast<A640 *>(p); break;			// _ZdlPvmSt11align_val_t
			case 4: delete[] static_cast<A640 *>(p); break;			// _ZdaPvSt11align_val_t
			case 5:
				if (i % 2)
					::operator delete(p, std::align_val_t(4096));	// _ZdlPvSt11align_val_t
				else
					::operator delete(p, 8192, std::align_val_t(4096));	// _ZdlPvmSt11align_val_t
				break;
			case 6: ::operator delete(p, std::nothrow); break;		// _ZdlPvRKSt9nothrow_t
			case 7: ::operator delete[](p, std::nothrow); break;		// _ZdaPvRKSt9nothrow_t
			case 8: ::operator delete(p, std::align_val_t(256), std::nothrow); break;
			case 9: ::operator delete[](p, std::align_val_t(512), std::nothrow); break;
			case 10: ::operator delete[](p, 12288, std::align_val_t(4096)); break;	// _ZdaPvmSt11align_val_t
			}
		}
}

// operator new with align_val_t(16) and sizes under 16 (legal to call directly): every
// block must be 16-aligned, whatever the allocator's smallest size class is. 16 blocks live
// at once, so that a small class whose slots alternate 8/16 alignment would show.
SITE void cxx_new_align16_small(void)
{
	void *b[16];
	int bad = 0;

	for (int i = 0; i < 16; i++) {
		b[i] = i % 2 ? ::operator new(1 + i % 8, std::align_val_t(16)) :
			       ::operator new[](1 + i % 8, std::align_val_t(16), std::nothrow);
		bad += !b[i] || (reinterpret_cast<std::uintptr_t>(b[i]) & 15) != 0;
	}
	for (int i = 0; i < 16; i++) {
		if (i % 2)
			::operator delete(b[i], std::align_val_t(16));
		else
			::operator delete[](b[i], std::align_val_t(16), std::nothrow);
	}
	failed += bad != 0;
	std::printf("operator new(1..8 bytes, align_val_t(16)), 16 blocks: %s\n",
		    bad ? "MISALIGNED" : "aligned");
}

extern "C" __attribute__((visibility("default"))) int sem_plugin_run(void);

extern "C" int sem_plugin_run(void)
{
	cxx_new_plain();
	cxx_new_array();
	cxx_new_array_cookie();
	cxx_new_aligned64();
	cxx_new_aligned64_array();
	cxx_new_align4096();
	cxx_new_nothrow();
	cxx_new_nothrow_array();
	cxx_new_aligned_nothrow();
	cxx_new_aligned_nothrow_array();
	cxx_new_array_align4096();
	cxx_delete_all_forms();
	cxx_new_align16_small();
	for (int s = 0; s < SITES; s++)
		std::printf("%s: %d x %zu bytes made, %d kept, aligned to %zu\n", names[s], made[s],
			    bytes[s], kept[s], align[s]);
	return failed;
}
