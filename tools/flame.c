/* tools/flame.c: `heapprof flame`, an SVG flame graph in the manner of Brendan Gregg's
 * flamegraph.pl: the root ("all") at the bottom, each caller below its callees, frame
 * widths proportional to the sample value, siblings in name order, warm colours hashed
 * from the name (so a function keeps its colour from one graph to the next).
 *
 * With --base, the graph of the growth NEW - BASE, as flamegraph.pl's difffolded and
 * pprof's -diff_base read it: stacks are matched by their frames' names, each stack's
 * delta is new - base, widths are the positive deltas only (what grew; what shrank is
 * summed in the subtitle, and drawn by swapping the two profiles), and each frame is
 * coloured by its net delta: red grew, blue shrank, grey unchanged.
 *
 * The layout is flamegraph.pl's single pass over sorted stacks: a frame opens where a
 * stack starts to differ from the previous one and closes where a later stack stops
 * sharing it. Frames narrower than 0.1 px are dropped (they cannot be seen or clicked).
 * Every frame carries its start and width in sample units (data-s, data-v), so that the
 * embedded script (click to zoom, search, the details line) computes exact shares. The
 * graph is complete without the script: every frame has a <title> tooltip.
 *
 * The SVG is written whole or not at all: to a temporary file renamed over OUT. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"
#include "flame.h"
#include "stacks.h"
#include "symbolize.h"
#include "units.h"

#define IMG_W 1200
#define XPAD 10
#define FRAME_H 16
#define TOP_PAD 56		/* title and subtitle */
#define BOTTOM_PAD 28		/* the details line */
#define FONT_SIZE 12
#define FONT_W 0.59		/* average glyph width of Verdana per font size unit */
#define MIN_W 0.1

typedef struct flame_opts {
	const char *sample, *out, *title, *base;
	int lines, no_symbolize;
	char deftitle[256];	/* backs title when --title is not given */
} flame_opts;

/* A stack with its value in both profiles (base 0 without --base). */
typedef struct dstack {
	const char **frames;	/* outermost first */
	size_t depth;
	int64_t base, cur;
	int64_t w;		/* its width: cur, or cur - base; 0 when not positive */
} dstack;

typedef struct frame {
	const char *name;
	size_t depth;		/* 0: the root */
	int64_t start, end;	/* in sample units, from the left edge */
	int64_t base, cur;	/* sums over every stack through the frame, drawn or not */
} frame;

/* A frame being built: where it opened and what it has summed so far. */
typedef struct open_frame {
	int64_t start, base, cur;
} open_frame;

typedef struct graph {
	frame *v;
	size_t n, cap;
	int64_t total;		/* the root's width */
	int64_t grew, shrank;	/* --base: sums of the positive and negative deltas */
	double maxabs;		/* --base: the largest |delta| of a frame drawn */
	double scale;		/* pixels per sample unit */
	int diff;
	const pf_value_type *vt;
} graph;

/* The SVG's destination: standard output, a device or pipe written in place, or a
 * temporary file renamed over path when complete. */
typedef struct sink {
	FILE *f;
	const char *path;	/* NULL: standard output */
	char *tmp;		/* NULL: written in place */
} sink;

static const char usage[] =
	"usage: heapprof flame [--sample TYPE] [--base BASE] [--lines] [--no-symbolize]\n"
	"                      [--title T] [-o OUT.svg] PROFILE\n"
	"\n"
	"Writes a flame graph of PROFILE as a self-contained SVG: hover for a frame's\n"
	"value and share, click to zoom, Search (or Ctrl-F) to highlight frames matching\n"
	"a regular expression, Escape to reset.\n"
	"\n"
	"  -o, --output FILE  where to write the SVG (default or '-': standard output);\n"
	"                     written whole or not at all\n"
	"  -s, --sample TYPE  alloc_space, alloc_objects, inuse_space or inuse_objects\n"
	"                     (default: the profile's default type)\n"
	"  -b, --base BASE    the graph of the growth PROFILE - BASE: widths by what grew,\n"
	"                     red grew, blue shrank (swap the two to draw what shrank)\n"
	"  -l, --lines        frames named \"function file:line\"\n"
	"      --no-symbolize names as stored in the profile: no DWARF lookup (by default\n"
	"                     file, line and inlined frames are added where the binaries\n"
	"                     and their debug information are found)\n"
	"  -t, --title T      the title (default: \"Heap profile: TYPE\")\n"
	"  -h, --help         this help\n";

/* Click-to-zoom, search and the details line. Events are delegated to the <svg> element
 * so that a graph of thousands of frames needs no per-frame handlers. zoom(g), unzoom()
 * and search(re) are global, for tests to call. */
static const char script[] =
	"'use strict';\n"
	"var W=1200,PAD=10,CW=12*0.59,HL='rgb(230,0,230)',fg,total,unit,details,matched,\n"
	" unzoomb,searchb,zoomed=null,searching=false;\n"
	"function init(evt){fg=document.getElementById('frames');\n"
	" total=+fg.getAttribute('data-total');unit=fg.getAttribute('data-unit');\n"
	" details=document.getElementById('details');\n"
	" matched=document.getElementById('matched');\n"
	" unzoomb=document.getElementById('unzoom');\n"
	" searchb=document.getElementById('search');\n"
	" for(var i=0,gs=fg.children;i<gs.length;i++){var r=rect(gs[i]);\n"
	"  r.setAttribute('data-fill',r.getAttribute('fill'));}\n"
	" var svg=fg.ownerSVGElement;\n"
	" svg.addEventListener('click',function(e){var g=frame_of(e.target);\n"
	"  if(g)zoom(g);else if(e.target===unzoomb)unzoom();\n"
	"  else if(e.target===searchb)ask();});\n"
	" svg.addEventListener('mouseover',function(e){show(frame_of(e.target));});\n"
	" window.addEventListener('keydown',function(e){\n"
	"  if(e.keyCode===114||((e.ctrlKey||e.metaKey)&&e.keyCode===70)){\n"
	"   e.preventDefault();ask();}\n"
	"  else if(e.keyCode===27){unzoom();search('');}});}\n"
	"function rect(g){return g.getElementsByTagName('rect')[0];}\n"
	"function title(g){return g.getElementsByTagName('title')[0].textContent;}\n"
	"function name_of(g){var t=title(g);return t.substring(0,t.lastIndexOf(' ('));}\n"
	"function frame_of(t){for(;t&&t!==fg;t=t.parentNode)\n"
	" if(t.parentNode===fg)return t;return null;}\n"
	"function geo(g){return{s:+g.getAttribute('data-s'),v:+g.getAttribute('data-v'),\n"
	" y:+rect(g).getAttribute('y')};}\n"
	"function pct(a,b){return(b?100*a/b:0).toFixed(2)+'%';}\n"
	"function fmt(v){var a=Math.abs(v),s=v<0?'-':'',u=['KiB','MiB','GiB'],i=0,x;\n"
	" if(unit!=='bytes')return ''+v;if(a<1024)return s+a+'B';\n"
	" for(x=a/1024;i<2&&x>=1023.95;i++)x/=1024;return s+x.toFixed(1)+u[i];}\n"
	"function show(g){var t=' ';\n"
	" if(g){t=title(g);if(zoomed&&g!==zoomed&&g.getAttribute('class')!=='parent')\n"
	"  t+=' | '+pct(geo(g).v,geo(zoomed).v)+' of '+name_of(zoomed);}\n"
	" details.textContent=t;}\n"
	"function place(g,x,w){var r=rect(g),t=g.getElementsByTagName('text')[0],\n"
	" n=name_of(g),c=Math.floor((w-6)/CW);g.style.display='';\n"
	" r.setAttribute('x',x.toFixed(2));r.setAttribute('width',w.toFixed(2));\n"
	" t.setAttribute('x',(x+3).toFixed(2));\n"
	" t.textContent=c<3?'':n.length<=c?n:n.substring(0,c-2)+'..';}\n"
	"function zoom(node){var z=geo(node),k=(W-2*PAD)/z.v;\n"
	" if(z.s===0&&z.v===total){unzoom();return;}\n"
	" for(var i=0,gs=fg.children;i<gs.length;i++){var g=gs[i],f=geo(g);\n"
	"  if(f.y>z.y&&f.s<=z.s&&f.s+f.v>=z.s+z.v){place(g,PAD,W-2*PAD);\n"
	"   g.setAttribute('class','parent');continue;}\n"
	"  g.removeAttribute('class');\n"
	"  if(f.y<=z.y&&f.s>=z.s&&f.s+f.v<=z.s+z.v)place(g,PAD+(f.s-z.s)*k,f.v*k);\n"
	"  else g.style.display='none';}\n"
	" zoomed=node;unzoomb.style.opacity='1';}\n"
	"function unzoom(){var k=(W-2*PAD)/(total||1);\n"
	" for(var i=0,gs=fg.children;i<gs.length;i++){var f=geo(gs[i]);\n"
	"  place(gs[i],PAD+f.s*k,f.v*k);gs[i].removeAttribute('class');}\n"
	" zoomed=null;unzoomb.style.opacity='0';}\n"
	"function ask(){if(searching){search('');return;}\n"
	" var t=prompt('Search (regular expression):','');if(t)search(t);}\n"
	"function search(term){var re=null,hit=[],sum=0,end=-1;\n"
	" if(term){try{re=new RegExp(term);}catch(err){\n"
	"  matched.textContent='Bad regular expression';return -1;}}\n"
	" for(var i=0,gs=fg.children;i<gs.length;i++){var g=gs[i],r=rect(g);\n"
	"  if(re&&re.test(name_of(g))){r.setAttribute('fill',HL);hit.push(geo(g));}\n"
	"  else r.setAttribute('fill',r.getAttribute('data-fill'));}\n"
	" hit.sort(function(a,b){return a.s-b.s||b.v-a.v;});\n"
	" for(var j=0;j<hit.length;j++)if(hit[j].s>=end){sum+=hit[j].v;end=hit[j].s+hit[j].v;}\n"
	" searching=!!re;searchb.textContent=re?'Reset Search':'Search';\n"
	" matched.textContent=re?'Matched: '+fmt(sum)+' ('+pct(sum,total)+')':' ';\n"
	" return sum;}\n";

static const char style[] =
	"text{font-family:Verdana,sans-serif;font-size:12px;fill:rgb(0,0,0)}\n"
	"#title{font-size:17px;text-anchor:middle}\n"
	"#subtitle{fill:rgb(96,96,96);text-anchor:middle}\n"
	"#empty{font-size:17px;text-anchor:middle;fill:rgb(96,96,96)}\n"
	".button{cursor:pointer;fill:rgb(51,51,51)}\n"
	"#frames g{cursor:pointer}\n"
	"#frames g:hover rect{stroke:rgb(0,0,0);stroke-width:0.5}\n"
	".parent{opacity:0.5}\n";

/* --- arithmetic on values from the file (never undefined behaviour) ----------------- */

/* x + w for x, w >= 0, stopping at INT64_MAX. */
static int64_t add_sat(int64_t x, int64_t w)
{
	return w > INT64_MAX - x ? INT64_MAX : x + w;
}

/* --- stacks of one profile or of a difference ---------------------------------------- */

/* A stack's width: its value, or with --base its growth; never negative. */
static void set_width(dstack *d, int diff)
{
	int64_t v = diff ? un_sub(d->cur, d->base) : d->cur;

	d->w = v > 0 ? v : 0;
}

/* The stacks of one profile as dstacks (base 0). Returns the array or NULL. */
static dstack *from_set(const st_set *s)
{
	dstack *d = malloc((s->n ? s->n : 1) * sizeof(*d));

	for (size_t i = 0; d && i < s->n; i++) {
		const st_stack *st = &s->stacks[i];
		d[i] = (dstack){ st->frames, st->depth, 0, st->value, 0 };
		set_width(&d[i], 0);
	}
	return d;
}

/* Merge-joins the sorted stacks of cur and base (same order: st_cmp) into dstacks
 * carrying both values; sets *n and sums the deltas into g. Returns the array or NULL. */
static dstack *from_sets(const st_set *cur, const st_set *base, size_t *n, graph *g)
{
	dstack *d = malloc((cur->n + base->n + 1) * sizeof(*d));
	size_t i = 0, j = 0, k = 0;

	while (d && (i < cur->n || j < base->n)) {
		const st_stack *a = i < cur->n ? &cur->stacks[i] : NULL;
		const st_stack *b = j < base->n ? &base->stacks[j] : NULL;
		int c = !a ? 1 : !b ? -1 : st_cmp(a, b);
		const st_stack *s = c <= 0 ? a : b;
		d[k] = (dstack){ s->frames, s->depth, c >= 0 ? b->value : 0,
				 c <= 0 ? a->value : 0, 0 };
		i += c <= 0;
		j += c >= 0;
		set_width(&d[k], 1);
		int64_t delta = un_sub(d[k].cur, d[k].base);
		if (delta > 0)
			g->grew = add_sat(g->grew, delta);
		else if (delta > INT64_MIN)
			g->shrank = -add_sat(-g->shrank, -delta);
		k++;
	}
	*n = k;
	return d;
}

/* --- layout ---------------------------------------------------------------------- */

/* Keeps a closed frame: of as it was opened and summed, ending at x. */
static int push(graph *g, const char *name, size_t depth, const open_frame *of, int64_t x)
{
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 1024;
		frame *nv = realloc(g->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		g->v = nv;
		g->cap = ncap;
	}
	g->v[g->n++] = (frame){ name, depth, of->start, x, of->base, of->cur };
	return 0;
}

/* Frame names are usually shared pointers into the profile: compare those first. */
static int same(const char *a, const char *b)
{
	return a == b || strcmp(a, b) == 0;
}

/* Closes the frames of stack prev from depth index `from` up, at x; frames that got no
 * width (every stack through them shrank or was empty) are not kept. */
static int close_frames(graph *g, const dstack *prev, size_t from, const open_frame *of,
			int64_t x)
{
	for (size_t i = prev->depth; i-- > from;)
		if (x > of[i + 1].start && push(g, prev->frames[i], i + 1, &of[i + 1], x))
			return -1;
	return 0;
}

/* Adds stack st, which shares its first `common` frames with the previous one, at x. */
static void open_frames(const dstack *st, size_t common, open_frame *of, int64_t x)
{
	for (size_t i = common; i < st->depth; i++)
		of[i + 1] = (open_frame){ x, 0, 0 };
	for (size_t i = 0; i <= st->depth; i++) {
		of[i].base = un_add(of[i].base, st->base);
		of[i].cur = un_add(of[i].cur, st->cur);
	}
}

/* One pass over the sorted stacks; of[0] is the root, of[i + 1] the frame at index i. */
static int layout(const dstack *s, size_t n, size_t maxdepth, graph *g)
{
	open_frame *of = calloc(maxdepth + 2, sizeof(*of));
	const dstack *prev = NULL;
	int64_t x = 0;
	int err = !of;

	for (size_t k = 0; !err && k < n; k++) {
		const dstack *st = &s[k];
		size_t common = 0;
		while (prev && common < prev->depth && common < st->depth &&
		       same(prev->frames[common], st->frames[common]))
			common++;
		err = prev && close_frames(g, prev, common, of, x);
		open_frames(st, common, of, x);
		x = add_sat(x, st->w);
		prev = st;
	}
	if (!err && prev)
		err = close_frames(g, prev, 0, of, x);
	if (!err)
		err = push(g, "all", 0, &of[0], x);
	g->total = x;
	free(of);
	return err ? -1 : 0;
}

/* --- SVG ----------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (s[0] >= 0x80) of a character XML 1.0
 * allows (no surrogates, no U+FFFE or U+FFFF), or 0. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n = s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 :
		   s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	if (!n)
		return 0;
	lo = s[0] == 0xe0 ? 0xa0 : s[0] == 0xf0 ? 0x90 : lo;
	hi = s[0] == 0xed ? 0x9f : s[0] == 0xf4 ? 0x8f : hi;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (s[0] == 0xef && s[1] == 0xbf && s[2] >= 0xbe)
		return 0;
	return n;
}

/* Writes at most max characters of s, XML-escaped; control characters and invalid UTF-8
 * become '?', which XML 1.0 could not carry. Returns the characters written. */
static size_t put_xml(FILE *o, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	for (; *p && n < max; n++) {
		size_t u = *p >= 0x80 ? utf8_len(p) : 1;
		if (*p == '&')
			fputs("&amp;", o);
		else if (*p == '<')
			fputs("&lt;", o);
		else if (*p == '>')
			fputs("&gt;", o);
		else if (*p == '"')
			fputs("&quot;", o);
		else if ((*p < 0x20 && *p != '\t') || u == 0)
			fputc('?', o);
		else
			fwrite(p, 1, u, o);
		p += u ? u : 1;
	}
	return n;
}

/* Characters in s as put_xml counts them. */
static size_t xml_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	for (; *p; n++) {
		size_t u = *p >= 0x80 ? utf8_len(p) : 1;
		p += u ? u : 1;
	}
	return n;
}

/* flamegraph.pl's "hot" palette, driven by a hash of the name instead of rand(). */
static void hot_colour(const char *name, int rgb[3])
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	rgb[0] = 205 + (int)(h % 51);
	rgb[1] = (int)((h >> 8) % 231);
	rgb[2] = (int)((h >> 20) % 56);
}

/* --base: red for growth, blue for shrinkage, deeper the larger |delta| is. */
static void diff_colour(int64_t delta, double maxabs, int rgb[3])
{
	double r = maxabs > 0 ? fabs((double)delta) / maxabs : 0;
	int c = 220 - (int)(190 * (r > 1 ? 1 : r));

	rgb[0] = delta < 0 ? c : delta > 0 ? 255 : 220;
	rgb[1] = delta ? c : 220;
	rgb[2] = delta > 0 ? c : delta < 0 ? 255 : 220;
}

/* The name as it fits in w pixels: whole, cut with "..", or nothing below 3 glyphs. */
static void put_label(FILE *o, const char *name, double w)
{
	double fit = (w - 6) / (FONT_SIZE * FONT_W);

	if (fit < 3)
		return;
	if ((double)xml_chars(name) <= fit) {
		put_xml(o, name, SIZE_MAX);
		return;
	}
	put_xml(o, name, (size_t)fit - 2);
	fputs("..", o);
}

/* What a frame's tooltip says after its name, " (40.0MiB, 98.87%)" or with --base
 * " (+40.0MiB, 98.87%; base 1.0MiB, new 41.0MiB, delta +40.0MiB)": never " (" inside,
 * the script finds the name by the last " (". */
static void put_share(FILE *o, const frame *fr, const graph *g)
{
	const char *unit = g->vt->unit;
	int64_t w = fr->end - fr->start, delta = un_sub(fr->cur, fr->base);
	char v[32], b[32], n[32], d[32];

	un_format(v, sizeof(v), w, unit, 0);
	if (!g->diff) {
		fprintf(o, " (%s, %.2f%%)", v, un_pct(w, g->total));
		return;
	}
	un_format(b, sizeof(b), fr->base, unit, 0);
	un_format(n, sizeof(n), fr->cur, unit, 0);
	un_format(d, sizeof(d), delta, unit, 0);
	fprintf(o, " (+%s, %.2f%%; base %s, new %s, delta %s%s)", v, un_pct(w, g->total), b, n,
		delta > 0 ? "+" : "", d);
}

/* One frame: <g data-s data-v><title/><rect/><text/></g>, depth rows above the bottom. */
static void put_frame(FILE *o, const frame *fr, const graph *g, int height)
{
	double x = XPAD + (double)fr->start * g->scale;
	double w = (double)(fr->end - fr->start) * g->scale;
	int y = height - BOTTOM_PAD - (int)(fr->depth + 1) * FRAME_H, rgb[3];

	if (g->diff)
		diff_colour(un_sub(fr->cur, fr->base), g->maxabs, rgb);
	else
		hot_colour(fr->name, rgb);
	fprintf(o, "<g data-s=\"%" PRId64 "\" data-v=\"%" PRId64 "\"><title>", fr->start,
		fr->end - fr->start);
	put_xml(o, fr->name, SIZE_MAX);
	put_share(o, fr, g);
	fprintf(o, "</title><rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>", x, y, w, FRAME_H - 1,
		rgb[0], rgb[1], rgb[2]);
	fprintf(o, "<text x=\"%.2f\" y=\"%.1f\">", x + 3, y + 11.5);
	put_label(o, fr->name, w);
	fputs("</text></g>\n", o);
}

/* Everything before the frames: the <svg> element, style, script, background, title,
 * subtitle, the buttons and the two text lines the script fills. */
static void put_header(FILE *o, int height, const flame_opts *op, const char *subtitle)
{
	fprintf(o, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		"onload=\"init(evt)\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		IMG_W, height, IMG_W, height);
	fprintf(o, "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" "
		"x2=\"0\"><stop stop-color=\"#eeeeee\" offset=\"5%%\"/><stop "
		"stop-color=\"#eeeeb0\" offset=\"95%%\"/></linearGradient></defs>\n");
	fprintf(o, "<style type=\"text/css\">\n%s</style>\n", style);
	fprintf(o, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n", script);
	fprintf(o, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
		"fill=\"url(#background)\"/>\n", IMG_W, height);
	fprintf(o, "<text id=\"title\" x=\"%d\" y=\"24\">", IMG_W / 2);
	put_xml(o, op->title, SIZE_MAX);
	fprintf(o, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"42\">", IMG_W / 2);
	put_xml(o, subtitle, SIZE_MAX);
	fprintf(o, "</text>\n<text id=\"unzoom\" class=\"button\" x=\"%d\" y=\"24\" "
		"style=\"opacity:0\">Reset Zoom</text>\n", XPAD);
	fprintf(o, "<text id=\"search\" class=\"button\" x=\"%d\" y=\"24\">Search</text>\n",
		IMG_W - XPAD - 100);
	fprintf(o, "<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n", IMG_W - XPAD - 200,
		height - 10);
	fprintf(o, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 10);
}

/* Whether frame i is wide enough to draw. */
static int drawn(const graph *g, size_t i)
{
	return g->total > 0 && (double)(g->v[i].end - g->v[i].start) * g->scale >= MIN_W;
}

/* The subtitle: sample type, total (or growth), the file(s). */
static void subtitle_of(char *buf, size_t n, const graph *g, const char *path,
			const char *base)
{
	const char *unit = g->vt->unit, *b = strrchr(path, '/'), *bb;
	char tot[32], grew[32], shrank[32], net[32];

	un_format(tot, sizeof(tot), g->total, unit, 0);
	if (!g->diff) {
		snprintf(buf, n, "%s, total %s - %s", g->vt->type, tot, b ? b + 1 : path);
		return;
	}
	bb = strrchr(base, '/');
	un_format(grew, sizeof(grew), g->grew, unit, 0);
	un_format(shrank, sizeof(shrank), g->shrank, unit, 0);
	un_format(net, sizeof(net), un_add(g->grew, g->shrank), unit, 0);
	snprintf(buf, n, "%s from %s to %s: grew +%s (drawn), shrank %s, net %s%s",
		 g->vt->type, bb ? bb + 1 : base, b ? b + 1 : path, grew, shrank,
		 un_add(g->grew, g->shrank) > 0 ? "+" : "", net);
}

/* The whole SVG: height from the deepest frame drawn, then header, frames, end. */
static void write_svg(FILE *o, graph *g, const flame_opts *op, const char *path)
{
	char subtitle[1024];
	size_t maxdepth = 0;
	int height;

	g->scale = g->total > 0 ? (double)(IMG_W - 2 * XPAD) / (double)g->total : 0;
	for (size_t i = 0; i < g->n; i++) {
		if (!drawn(g, i))
			continue;
		maxdepth = g->v[i].depth > maxdepth ? g->v[i].depth : maxdepth;
		g->maxabs = fmax(g->maxabs, fabs((double)un_sub(g->v[i].cur, g->v[i].base)));
	}
	height = TOP_PAD + (int)(maxdepth + 1) * FRAME_H + BOTTOM_PAD;
	subtitle_of(subtitle, sizeof(subtitle), g, path, op->base);
	put_header(o, height, op, subtitle);
	if (g->total <= 0)
		fprintf(o, "<text id=\"empty\" x=\"%d\" y=\"%d\">%s</text>\n", IMG_W / 2,
			TOP_PAD + FRAME_H + 4, g->diff ? "No growth: nothing grew" : "No samples");
	fprintf(o, "<g id=\"frames\" data-total=\"%" PRId64 "\" data-unit=\"", g->total);
	put_xml(o, g->vt->unit, SIZE_MAX);
	fputs("\">\n", o);
	for (size_t i = 0; i < g->n; i++)
		if (drawn(g, i))
			put_frame(o, &g->v[i], g, height);
	fputs("</g>\n</svg>\n", o);
}

/* --- output: whole or not at all ---------------------------------------------------- */

/* Opens a temporary file in path's directory with the mode path has (or a new file
 * would get); sets s->tmp. Returns the stream or NULL (errno set). */
static FILE *open_temp(sink *s, const char *path)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path) + 1 : 0, fd, e;
	struct stat st;
	mode_t mode, um;
	FILE *f;

	if (asprintf(&s->tmp, "%.*s.heapprof-flame.XXXXXX", dirlen, path) < 0) {
		s->tmp = NULL;
		errno = ENOMEM;
		return NULL;
	}
	if ((fd = mkstemp(s->tmp)) < 0)
		goto fail;
	um = umask(0);
	umask(um);
	mode = stat(path, &st) == 0 ? st.st_mode & 07777 : 0666 & ~um;
	if (fchmod(fd, mode) == 0 && (f = fdopen(fd, "w")))
		return f;
	e = errno;
	close(fd);
	unlink(s->tmp);
	errno = e;
fail:
	e = errno;
	free(s->tmp);
	s->tmp = NULL;
	errno = e;
	return NULL;
}

/* Opens the destination: "-" or NULL standard output; a device, pipe or socket in place;
 * anything else through a temporary file. Returns 0 or -1 (errno set). */
static int sink_open(sink *s, const char *path)
{
	struct stat st;

	*s = (sink){ stdout, NULL, NULL };
	if (!path || !strcmp(path, "-"))
		return 0;
	s->path = path;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		s->f = fopen(path, "w");
	else
		s->f = open_temp(s, path);
	return s->f ? 0 : -1;
}

/* Flushes and closes s, renaming the temporary file into place; on any failure the
 * temporary file is removed. Returns 0 or -1 (errno set). */
static int sink_close(sink *s)
{
	int e = 0;

	if (fflush(s->f) != 0 || ferror(s->f))
		e = errno ? errno : EIO;
	if (!e && s->tmp && fsync(fileno(s->f)) != 0)
		e = errno;
	if (s->f != stdout && fclose(s->f) != 0 && !e)
		e = errno;
	if (!e && s->tmp && rename(s->tmp, s->path) != 0)
		e = errno;
	if (e && s->tmp)
		unlink(s->tmp);
	free(s->tmp);
	s->tmp = NULL;
	errno = e;
	return e ? -1 : 0;
}

/* Writes the graph to o->out (or stdout); reports "OUT: cannot write: why". */
static int emit(graph *g, const flame_opts *o, const char *path)
{
	sink s;

	errno = 0;
	if (sink_open(&s, o->out) == 0) {
		write_svg(s.f, g, o, path);
		if (sink_close(&s) == 0)
			return CLI_OK;
	}
	cli_error(s.path ? s.path : "standard output", "cannot write: %s", strerror(errno));
	return CLI_BAD_FILE;
}

/* --- command ------------------------------------------------------------------- */

enum { OPT_NO_SYMBOLIZE = 256 };

/* Parses the options; returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, flame_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "sample", required_argument, NULL, 's' },
		{ "title", required_argument, NULL, 't' },
		{ "base", required_argument, NULL, 'b' },
		{ "lines", no_argument, NULL, 'l' },
		{ "no-symbolize", no_argument, NULL, OPT_NO_SYMBOLIZE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:s:t:b:lh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 's': o->sample = optarg; break;
		case 't': o->title = optarg; break;
		case 'b': o->base = optarg; break;
		case 'l': o->lines = 1; break;
		case OPT_NO_SYMBOLIZE: o->no_symbolize = 1; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_bad_option("flame", c, argv);
		}
	}
	return -1;
}

/* Adds file, line and inlined frames unless --no-symbolize: quietly by default (a
 * profile whose binaries are gone still gets its graph), with warnings for --lines. */
static int symbolize(pf_profile *p, const flame_opts *o)
{
	char err[512] = "";

	if (o->no_symbolize)
		return CLI_OK;
	if (o->lines)
		return cli_symbolize("flame", p) < 0 ? CLI_BAD_FILE : CLI_OK;
	if (sy_symbolize(p, 1, err, sizeof(err)) < 0) {
		cli_error("flame", "%s (or use --no-symbolize)",
			  err[0] ? err : "symbolization failed");
		return CLI_BAD_FILE;
	}
	return CLI_OK;
}

/* The stacks of sample type sidx of p, named as --lines asks. */
static int stacks_of(const pf_profile *p, int sidx, const flame_opts *o, st_set *s)
{
	int r = o->lines ? st_build_lines(p, sidx, s) : st_build(p, sidx, s);

	if (r)
		cli_error("flame", "out of memory");
	return r;
}

/* Lays out and writes the graph of cur (minus base when given). */
static int draw(const pf_profile *cur, const pf_profile *base, int sidx, int bidx,
		flame_opts *o, const char *path)
{
	graph g = { .diff = base != NULL, .vt = &cur->sample_types[sidx] };
	st_set sc, sb = { 0 };
	dstack *d = NULL;
	size_t n = 0;
	int st = CLI_BAD_FILE;

	if (!o->title) {
		snprintf(o->deftitle, sizeof(o->deftitle), "Heap %s: %s",
			 base ? "growth" : "profile", g.vt->type);
		o->title = o->deftitle;
	}
	if (stacks_of(cur, sidx, o, &sc))
		return CLI_BAD_FILE;
	if (!base || !stacks_of(base, bidx, o, &sb)) {
		n = sc.n;
		d = base ? from_sets(&sc, &sb, &n, &g) : from_set(&sc);
		if (!d || layout(d, n, sc.maxdepth > sb.maxdepth ? sc.maxdepth : sb.maxdepth, &g))
			cli_error("flame", "out of memory");
		else
			st = emit(&g, o, path);
	}
	free(g.v);
	free(d);
	st_free(&sc);
	st_free(&sb);
	return st;
}

/* Loads --base and picks the sample type cur's sidx names; both must have it, in the
 * same unit. Returns the profile, or NULL with the exit status in *st. */
static pf_profile *open_base(const flame_opts *o, const pf_profile *cur, int sidx,
			     int *bidx, int *st)
{
	const pf_value_type *vt = &cur->sample_types[sidx];
	pf_profile *b;

	*st = CLI_BAD_FILE;
	if (!(b = cli_load(o->base)))
		return NULL;
	*bidx = cli_sample("flame", b, o->base, vt->type);
	if (*bidx < 0) {
		*st = -*bidx;
	} else if (strcmp(b->sample_types[*bidx].unit, vt->unit)) {
		*st = cli_usage("flame", "sample type '%s' is in %s in the profile but in %s "
				"in %s", vt->type, vt->unit, b->sample_types[*bidx].unit, o->base);
	} else if ((*st = symbolize(b, o)) == CLI_OK) {
		return b;
	}
	pf_free(b);
	return NULL;
}

/* Loads PROFILE (and --base), symbolizes, draws. */
int flame_main(int argc, char **argv)
{
	flame_opts o = { .title = NULL };
	pf_profile *p, *b = NULL;
	int st = parse(argc, argv, &o), sidx, bidx = 0;

	if (st >= 0)
		return st;
	if (!(p = cli_open("flame", argc, argv, o.sample, &sidx, &st)))
		return st;
	const char *path = argv[optind];	/* the one operand cli_open checked */
	st = symbolize(p, &o);
	if (st == CLI_OK && (!o.base || (b = open_base(&o, p, sidx, &bidx, &st))))
		st = draw(p, b, sidx, bidx, &o, path);
	if (b)
		pf_free(b);
	pf_free(p);
	return st;
}
