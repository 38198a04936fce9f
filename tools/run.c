/* tools/run.c: `heapprof run`.
 *
 * Exit status: the program's own; if a signal killed it, heapprof kills itself with the
 * same signal (without a core dump), so a shell sees what it would have seen without
 * heapprof. heapprof's own failures use the codes of env(1) and nice(1): 125 (bad
 * options, the library not found, the output directory unusable), 126 (the command
 * cannot be executed), 127 (the command not found).
 *
 * Which files are the program's: the files named PREFIX.<pid>.<seq>.<trigger>.* that
 * appeared in PREFIX's directory while it ran (the directory is listed before and after).
 * The final profile is the last one of the program's own pid (its exit profile), or the
 * newest of any of its processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "run.h"
#include "top.h"
#include "units.h"

#ifndef HP_LIBDIR
#define HP_LIBDIR "/usr/local/lib"
#endif

enum { RUN_FAILED = 125, RUN_CANNOT_EXEC = 126, RUN_NOT_FOUND = 127 };

#define MAX_LISTED 10		/* profiles named in the summary; the rest are counted */

typedef struct run_opts {
	const char *rate, *prefix, *interval, *every;
	long top;		/* rows of the final profile's top; 0: no table */
	char abs_prefix[PATH_MAX];
	char dir[PATH_MAX];	/* abs_prefix's directory */
	const char *base;	/* abs_prefix's last component */
} run_opts;

typedef struct names {
	char **v;
	size_t n, cap;
} names;

static const char usage[] =
	"usage: heapprof run [OPTIONS] [--] CMD [ARGS...]\n"
	"\n"
	"Runs CMD under libheapprof (through LD_PRELOAD, which its children inherit, so\n"
	"every process of the program writes its own profiles), passes its exit status\n"
	"through, then lists the profiles it wrote and the top sites of the final one\n"
	"(on standard error).\n"
	"\n"
	"  -r, --rate SIZE       mean bytes between samples (default 512k; 1 records every\n"
	"                        allocation)\n"
	"  -p, --prefix P        profile names P.<pid>.<seq>.<trigger>.pb.gz (default\n"
	"                        ./heapprof; made absolute, so a program that changes\n"
	"                        directory still writes there)\n"
	"  -i, --interval SIZE   also a profile every SIZE bytes allocated (e.g. 100m)\n"
	"  -e, --every SECONDS   also a profile every SECONDS seconds\n"
	"  -n, --top N           rows of the final profile's top sites (default 5; 0: none)\n"
	"  -h, --help            this help\n"
	"\n"
	"Other settings pass through HEAPPROF (see heapprof(1)); kill -USR1 on heapprof's\n"
	"pid is passed on to the program (a profile now). The library is found next to\n"
	"this heapprof (build tree or install), or at $HEAPPROF_LIB.\n";

/* --- options ------------------------------------------------------------------------- */

__attribute__((format(printf, 1, 2)))
static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("heapprof: run: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see 'heapprof run --help')\n", stderr);
	return RUN_FAILED;
}

/* Makes o->prefix absolute and splits it; checks its directory is writable. */
static int set_prefix(run_opts *o)
{
	const char *p = o->prefix ? o->prefix : "heapprof";
	char cwd[PATH_MAX], *slash;
	int n;

	if (!p[0] || p[strlen(p) - 1] == '/')
		return bad("--prefix '%s' must end with a file name part (e.g. /tmp/app)", p);
	if (strchr(p, ','))
		return bad("--prefix '%s' cannot contain a comma (HEAPPROF separates its "
			   "settings with commas)", p);
	if (p[0] == '/') {
		n = snprintf(o->abs_prefix, sizeof(o->abs_prefix), "%s", p);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return bad("cannot find the current directory: %s", strerror(errno));
		n = snprintf(o->abs_prefix, sizeof(o->abs_prefix), "%s/%s",
			     strcmp(cwd, "/") ? cwd : "", p);
	}
	if (n < 0 || (size_t)n >= sizeof(o->abs_prefix) - 64)
		return bad("--prefix '%.80s...' is too long", p);
	memcpy(o->dir, o->abs_prefix, (size_t)n + 1);
	slash = strrchr(o->dir, '/');
	o->base = o->abs_prefix + (slash - o->dir) + 1;
	if (slash == o->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (access(o->dir, W_OK | X_OK) != 0) {
		fprintf(stderr, "heapprof: run: cannot write profiles in %s: %s (choose another "
			"directory with --prefix DIR/NAME)\n", o->dir, strerror(errno));
		return RUN_FAILED;
	}
	return 0;
}

/* Checks the values so that the library never has to fall back to a default. */
static int check_values(const run_opts *o)	/* 0 or RUN_FAILED */
{
	int64_t v;
	char *end;
	long s;

	if (o->rate && (un_parse_size(o->rate, &v) || v > ((int64_t)1 << 40)))
		return bad("--rate wants a size up to 1t such as 512k or 1, not '%s'", o->rate);
	if (o->interval && (un_parse_size(o->interval, &v) || v < 1 || v > ((int64_t)1 << 40)))
		return bad("--interval wants a size up to 1t such as 100m, not '%s'", o->interval);
	if (o->every) {
		errno = 0;
		s = strtol(o->every, &end, 10);
		if (end == o->every || *end || errno || s < 1 || s > 366L * 24 * 3600)
			return bad("--every wants a whole number of seconds >= 1, not '%s'",
				   o->every);
	}
	return 0;
}

/* Parses the options; returns -1 to go on (optind at CMD), else the exit status. */
static int parse(int argc, char **argv, run_opts *o)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "interval", required_argument, NULL, 'i' },
		{ "every", required_argument, NULL, 'e' },
		{ "top", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:r:p:i:e:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->rate = optarg; break;
		case 'p': o->prefix = optarg; break;
		case 'i': o->interval = optarg; break;
		case 'e': o->every = optarg; break;
		case 'n':
			o->top = strtol(optarg, &end, 10);
			if (end == optarg || *end || o->top < 0)
				return bad("--top wants a count >= 0, not '%s'", optarg);
			break;
		case 'h':
			fputs(usage, stdout);
			return CLI_OK;
		default:
			cli_bad_option("run", c, argv);
			return RUN_FAILED;
		}
	}
	if (optind >= argc)
		return bad("no command to run (heapprof run -- ./app ARGS)");
	return check_values(o) ? RUN_FAILED : -1;
}

/* --- the environment ------------------------------------------------------------------ */

static int is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The library to preload: $HEAPPROF_LIB; the build tree's when this heapprof is the build
 * tree's; else the installed one. */
static int find_library(char *out, size_t size)
{
	const char *env = getenv("HEAPPROF_LIB");
	char self[PATH_MAX];
	ssize_t n;

	if (env && env[0]) {
		if (env[0] != '/' || !is_file(env)) {
			fprintf(stderr, "heapprof: run: HEAPPROF_LIB=%s is not an absolute path to "
				"libheapprof.so (unset it to use the installed library)\n", env);
			return -1;
		}
		snprintf(out, size, "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
#ifdef HP_BUILD_TOOLDIR
	if (strcmp(self, HP_BUILD_TOOLDIR "/heapprof") == 0) {
		snprintf(out, size, "%s", HP_BUILD_LIBDIR "/libheapprof.so");
		if (is_file(out))
			return 0;
	}
#endif
	snprintf(out, size, "%s", HP_LIBDIR "/libheapprof.so");
	if (is_file(out))
		return 0;
	fprintf(stderr, "heapprof: run: the library %s is missing (run 'make install', or set "
		"HEAPPROF_LIB to the path of libheapprof.so)\n", out);
	return -1;
}

/* Sets LD_PRELOAD (the library first, once) and HEAPPROF (the user's settings, then
 * ours, which win). */
static int set_env(const run_opts *o, const char *lib)
{
	const char *pre = getenv("LD_PRELOAD"), *hp = getenv("HEAPPROF");
	char *v = NULL;
	int n;

	if (pre && strstr(pre, lib))
		n = asprintf(&v, "%s", pre);
	else if (pre && pre[0])
		n = asprintf(&v, "%s:%s", lib, pre);
	else
		n = asprintf(&v, "%s", lib);
	if (n < 0 || setenv("LD_PRELOAD", v, 1) != 0)
		goto nomem;
	free(v);
	n = asprintf(&v, "%s%sprefix=%s%s%s%s%s%s%s", hp && hp[0] ? hp : "",
		     hp && hp[0] ? "," : "", o->abs_prefix,
		     o->rate ? ",rate=" : "", o->rate ? o->rate : "",
		     o->interval ? ",interval=" : "", o->interval ? o->interval : "",
		     o->every ? ",every=" : "", o->every ? o->every : "");
	if (n < 0 || setenv("HEAPPROF", v, 1) != 0)
		goto nomem;
	free(v);
	return 0;
nomem:
	free(v);
	fprintf(stderr, "heapprof: run: out of memory\n");
	return -1;
}

/* --- profiles ------------------------------------------------------------------------- */

/* Whether name is BASE.<pid>.<seq>.<trigger>... ; sets *pid and *seq. */
static int profile_name(const char *name, const char *base, long *pid, long *seq)
{
	size_t bl = strlen(base);
	char *end;

	if (strncmp(name, base, bl) != 0 || name[bl] != '.')
		return 0;
	name += bl + 1;
	*pid = strtol(name, &end, 10);
	if (end == name || *end != '.')
		return 0;
	name = end + 1;
	*seq = strtol(name, &end, 10);
	return end != name && *end == '.' && end[1] != '\0';
}

static int names_add(names *s, const char *name)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strdup(name)))
		return -1;
	s->n++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the sorted set s holds name. */
static int names_has(const names *s, const char *name)
{
	return s->n && bsearch(&name, s->v, s->n, sizeof(*s->v), cmp_name) != NULL;
}

static void names_free(names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* The profile files in o->dir that are not in before (NULL: all of them), sorted by
 * name (so by pid, then sequence number within a pid of the same width). */
static int list_profiles(const run_opts *o, const names *before, names *out)
{
	DIR *d = opendir(o->dir);
	struct dirent *e;
	long pid, seq;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (profile_name(e->d_name, o->base, &pid, &seq) &&
		    (!before || !names_has(before, e->d_name)) && names_add(out, e->d_name)) {
			closedir(d);
			return -1;
		}
	closedir(d);
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_name);
	return 0;
}

/* The final profile: the highest sequence number of pid, else the newest file. */
static const char *final_profile(const run_opts *o, const names *got, long pid)
{
	const char *best = NULL;
	long bseq = -1, p, seq;
	time_t newest = 0;
	char path[2 * PATH_MAX + 2];
	struct stat st;

	for (size_t i = 0; i < got->n; i++)
		if (profile_name(got->v[i], o->base, &p, &seq) && p == pid && seq > bseq) {
			best = got->v[i];
			bseq = seq;
		}
	for (size_t i = 0; !best && i < got->n; i++) {
		snprintf(path, sizeof(path), "%s/%s", o->dir, got->v[i]);
		if (stat(path, &st) == 0 && st.st_mtime >= newest) {
			newest = st.st_mtime;
			best = got->v[i];
		}
	}
	return best;
}

/* Runs `heapprof top -n N PATH` with its output on standard error. */
static void show_top(const run_opts *o, const char *path)
{
	char n[32], *args[] = { (char *)"top", (char *)"-n", n, (char *)path, NULL };
	int saved;

	snprintf(n, sizeof(n), "%ld", o->top);
	fflush(stdout);
	saved = dup(1);
	if (saved < 0 || dup2(2, 1) < 0)
		return;
	optind = 1;
	top_main(4, args);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
}

static void summary(const run_opts *o, const names *before, long pid, const char *status)
{
	names got = { 0 };
	const char *fin;
	char path[2 * PATH_MAX + 2];
	long procs = 0, p, seq, last = -1;

	if (list_profiles(o, before, &got)) {
		fprintf(stderr, "heapprof: run: cannot list %s: %s\n", o->dir, strerror(errno));
		names_free(&got);
		return;
	}
	if (!got.n) {
		fprintf(stderr, "heapprof: %s; it wrote no profile (a static or set-uid program "
			"ignores LD_PRELOAD; a program that ends with _exit or a signal writes no "
			"exit profile)\n",
			status);
		names_free(&got);
		return;
	}
	for (size_t i = 0; i < got.n; i++)
		if (profile_name(got.v[i], o->base, &p, &seq) && p != last) {
			procs++;
			last = p;
		}
	fprintf(stderr, "heapprof: %s; %zu profile%s of %ld process%s in %s:\n", status, got.n,
		got.n == 1 ? "" : "s", procs, procs == 1 ? "" : "es", o->dir);
	for (size_t i = 0; i < got.n && i < MAX_LISTED; i++)
		fprintf(stderr, "  %s\n", got.v[i]);
	if (got.n > MAX_LISTED)
		fprintf(stderr, "  ... and %zu more\n", got.n - MAX_LISTED);
	fin = final_profile(o, &got, pid);
	if (fin && o->top) {
		snprintf(path, sizeof(path), "%s/%s", o->dir, fin);
		fprintf(stderr, "heapprof: top sites of %s:\n", fin);
		show_top(o, path);
	}
	names_free(&got);
}

/* --- the child ------------------------------------------------------------------------ */

static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* Terminal signals reach the program through its process group; heapprof waits them
 * out. Signals sent to heapprof alone are passed on. */
static void handle_signals(void)
{
	static const int fwd[] = { SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaction(fwd[i], &sa, NULL);
}

/* Forks and execs argv; the exec error (if any) comes back through a close-on-exec pipe.
 * Returns the pid, or -(exit status) when the command could not run. */
static pid_t start(char **argv)
{
	int fds[2], err = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		fprintf(stderr, "heapprof: run: pipe: %s\n", strerror(errno));
		return -RUN_FAILED;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "heapprof: run: fork: %s\n", strerror(errno));
		return -RUN_FAILED;
	}
	if (pid == 0) {
		close(fds[0]);
		execvp(argv[0], argv);
		err = errno;
		if (write(fds[1], &err, sizeof(err)) < 0)
			_exit(RUN_CANNOT_EXEC);
		_exit(err == ENOENT ? RUN_NOT_FOUND : RUN_CANNOT_EXEC);
	}
	close(fds[1]);
	do
		n = read(fds[0], &err, sizeof(err));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == (ssize_t)sizeof(err)) {
		waitpid(pid, NULL, 0);
		fprintf(stderr, "heapprof: run: %s: %s\n", argv[0], strerror(err));
		return err == ENOENT ? -RUN_NOT_FOUND : -RUN_CANNOT_EXEC;
	}
	return pid;
}

/* Ends heapprof the way the program ended. */
static int pass_status(int ws)
{
	struct rlimit none = { 0, 0 };
	sigset_t set;

	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	signal(WTERMSIG(ws), SIG_DFL);
	setrlimit(RLIMIT_CORE, &none);
	sigemptyset(&set);
	sigaddset(&set, WTERMSIG(ws));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(WTERMSIG(ws));
	return 128 + WTERMSIG(ws);
}

int run_main(int argc, char **argv)
{
	run_opts o = { .top = 5 };
	names before = { 0 };
	char lib[PATH_MAX], status[PATH_MAX + 128];
	int st = parse(argc, argv, &o), ws;
	pid_t pid;

	if (st >= 0)
		return st;
	if (set_prefix(&o) || find_library(lib, sizeof(lib)) || set_env(&o, lib))
		return RUN_FAILED;
	if (list_profiles(&o, NULL, &before)) {
		fprintf(stderr, "heapprof: run: cannot list %s: %s\n", o.dir, strerror(errno));
		return RUN_FAILED;
	}
	handle_signals();
	pid = start(argv + optind);
	if (pid < 0) {
		names_free(&before);
		return -pid;
	}
	child_pid = pid;
	while (waitpid(pid, &ws, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "heapprof: run: waitpid: %s\n", strerror(errno));
			return RUN_FAILED;
		}
	child_pid = 0;
	if (WIFEXITED(ws))
		snprintf(status, sizeof(status), "%s (pid %ld) exited with status %d",
			 argv[optind], (long)pid, WEXITSTATUS(ws));
	else
		snprintf(status, sizeof(status), "%s (pid %ld) was killed by SIG%s", argv[optind],
			 (long)pid, sigabbrev_np(WTERMSIG(ws)) ? sigabbrev_np(WTERMSIG(ws)) : "?");
	summary(&o, &before, pid, status);
	names_free(&before);
	return pass_status(ws);
}
