// mt_cxx: multithreaded C++ allocation workload for the heapprof integration tests.
//
// Worker threads allocate through std::string, std::vector, std::map, std::unordered_map,
// std::shared_ptr, over-aligned new, nothrow new and new[]; they also hand objects to other
// threads through a mutex-protected queue, so that memory is freed by a thread other than the
// one that allocated it. Every result is folded into a checksum with an order-independent
// combination, so the output is identical run to run whatever the scheduling.
//
// usage: mt_cxx [ROUNDS [THREADS]]   (defaults 150 and 6; THREADS is clamped to 2..16)

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

// Deterministic generator (splitmix64): one per thread, seeded by the thread index.
struct Rng {
	uint64_t s;
	explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ULL + 1) {}
	uint64_t next()
	{
		uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	}
	size_t below(size_t n) { return static_cast<size_t>(next() % n); }
};

uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0x100000001b3ULL;
}

uint64_t hash_str(const std::string &s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (unsigned char c : s)
		h = (h ^ c) * 0x100000001b3ULL;
	return h;
}

// Over-aligned type: operator new(size_t, align_val_t) and its delete.
struct alignas(64) Cell {
	uint64_t v[8];
};

// Object passed between threads; its payload is allocated by the producer.
struct Parcel {
	std::string name;
	std::vector<uint32_t> data;
	std::shared_ptr<std::map<int, std::string>> dict;
	Cell *cells;
	size_t ncells;
	Parcel() : cells(nullptr), ncells(0) {}
	Parcel(const Parcel &) = delete;
	Parcel &operator=(const Parcel &) = delete;
	~Parcel() { delete[] cells; }
	uint64_t digest() const
	{
		uint64_t h = hash_str(name);
		for (uint32_t x : data)
			h = mix(h, x);
		for (const auto &kv : *dict)
			h = mix(mix(h, static_cast<uint64_t>(kv.first)), hash_str(kv.second));
		for (size_t i = 0; i < ncells; i++)
			h = mix(h, cells[i].v[i % 8]);
		return h;
	}
};

// Multi-producer multi-consumer queue of parcels.
class Queue {
	std::mutex mu_;
	std::condition_variable cv_;
	std::deque<Parcel *> q_;

public:
	void push(Parcel *p)
	{
		{
			std::lock_guard<std::mutex> lk(mu_);
			q_.push_back(p);
		}
		cv_.notify_one();
	}
	Parcel *pop()
	{
		std::unique_lock<std::mutex> lk(mu_);
		cv_.wait(lk, [this] { return !q_.empty(); });
		Parcel *p = q_.front();
		q_.pop_front();
		return p;
	}
};

std::string make_word(Rng &r)
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = 3 + r.below(40); // short (SSO) and heap strings
	std::string s;
	for (size_t i = 0; i < n; i++)
		s += alpha[r.below(sizeof alpha - 1)];
	return s;
}

Parcel *make_parcel(Rng &r, int tid, int round)
{
	Parcel *p = new Parcel;
	p->name = "parcel-" + std::to_string(tid) + "-" + std::to_string(round) + "-" + make_word(r);
	size_t n = 1 + r.below(3000);
	for (size_t i = 0; i < n; i++) // vector growth: repeated reallocation
		p->data.push_back(static_cast<uint32_t>(r.next()));
	p->dict = std::make_shared<std::map<int, std::string>>();
	for (size_t i = 0, m = r.below(50); i < m; i++)
		(*p->dict)[static_cast<int>(r.below(1000))] = make_word(r);
	p->ncells = 1 + r.below(20);
	p->cells = new Cell[p->ncells];
	for (size_t i = 0; i < p->ncells; i++)
		for (auto &x : p->cells[i].v)
			x = r.next();
	return p;
}

// Local work: containers built and torn down within the thread.
uint64_t local_work(Rng &r, int round)
{
	uint64_t h = static_cast<uint64_t>(round);

	std::unordered_map<std::string, std::vector<int>> index;
	for (int i = 0; i < 400; i++) {
		std::string w = make_word(r);
		index[w.substr(0, 2)].push_back(static_cast<int>(w.size()));
	}
	std::map<std::string, size_t> sorted;
	for (const auto &kv : index)
		sorted[kv.first] = kv.second.size();
	for (const auto &kv : sorted)
		h = mix(mix(h, hash_str(kv.first)), kv.second);

	std::vector<std::shared_ptr<std::string>> shared;
	for (int i = 0; i < 200; i++)
		shared.push_back(std::make_shared<std::string>(make_word(r)));
	std::vector<std::shared_ptr<std::string>> copy(shared.begin(), shared.end());
	shared.clear();
	for (const auto &sp : copy)
		h = mix(h, hash_str(*sp) + static_cast<uint64_t>(sp.use_count()));

	std::vector<std::unique_ptr<Cell>> cells;
	for (int i = 0; i < 64; i++) {
		cells.emplace_back(new Cell);
		if (reinterpret_cast<uintptr_t>(cells.back().get()) % alignof(Cell) != 0) {
			std::fprintf(stderr, "mt_cxx: misaligned Cell\n");
			std::exit(2);
		}
		cells.back()->v[0] = r.next();
		h = mix(h, cells.back()->v[0]);
	}

	for (int i = 0; i < 64; i++) {
		size_t n = 1 + r.below(4096);
		char *buf = new (std::nothrow) char[n];
		if (buf == nullptr) {
			std::fprintf(stderr, "mt_cxx: nothrow new[] failed\n");
			std::exit(2);
		}
		std::memset(buf, static_cast<int>(i), n);
		h = mix(h, static_cast<unsigned char>(buf[n - 1]) + n);
		delete[] buf;
		int *one = new (std::nothrow) int(i);
		h = mix(h, static_cast<uint64_t>(*one));
		delete one;
	}

	std::vector<double> big(20000 + r.below(50000), 1.5); // a large block now and then
	h = mix(h, static_cast<uint64_t>(big.size()));
	return h;
}

struct Shared {
	Queue queue;
	std::mutex mu;
	uint64_t consumed_sum = 0; // order-independent: sum of digests
	size_t consumed_count = 0;
};

void worker(int tid, int rounds, Shared &sh, uint64_t *out)
{
	Rng r(static_cast<uint64_t>(tid) + 1);
	uint64_t h = 0;
	uint64_t consumed = 0;
	size_t count = 0;
	// Each round pushes two parcels, then pops two. Every thread pushes before it pops, so
	// the queue is never empty while somebody waits on it, and as many parcels are popped
	// as were pushed: the queue is empty when all threads are done. Popped parcels mostly
	// come from other threads, so their memory is freed by a thread that did not allocate it.
	for (int round = 0; round < rounds; round++) {
		h = mix(h, local_work(r, round));
		for (int k = 0; k < 2; k++) {
			Parcel *p = make_parcel(r, tid, round);
			h = mix(h, p->digest());
			sh.queue.push(p);
		}
		for (int k = 0; k < 2; k++) {
			Parcel *p = sh.queue.pop();
			consumed += p->digest();
			count++;
			delete p;
		}
	}
	{
		std::lock_guard<std::mutex> lk(sh.mu);
		sh.consumed_sum += consumed; // a sum: independent of who consumed what
		sh.consumed_count += count;
	}
	*out = h;
}

} // namespace

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? std::atoi(argv[1]) : 150;
	int nthreads = argc > 2 ? std::atoi(argv[2]) : 6;
	if (rounds < 1)
		rounds = 1;
	if (nthreads < 2)
		nthreads = 2;
	if (nthreads > 16)
		nthreads = 16;

	Shared sh;
	std::vector<uint64_t> results(static_cast<size_t>(nthreads));
	std::vector<std::thread> threads;
	for (int t = 0; t < nthreads; t++)
		threads.emplace_back(worker, t, rounds, std::ref(sh), &results[static_cast<size_t>(t)]);
	for (auto &th : threads)
		th.join();

	uint64_t total = 0;
	for (int t = 0; t < nthreads; t++) {
		std::printf("thread %d: %016llx\n", t, static_cast<unsigned long long>(results[static_cast<size_t>(t)]));
		total = mix(total, results[static_cast<size_t>(t)]);
	}
	std::printf("parcels: %zu sum %016llx\n", sh.consumed_count, static_cast<unsigned long long>(sh.consumed_sum));
	total = mix(total, sh.consumed_sum);
	std::printf("checksum: %016llx\n", static_cast<unsigned long long>(total));
	return sh.consumed_count == static_cast<size_t>(2 * rounds * nthreads) ? 0 : 1;
}
