/* tools/flame.c: `heapprof flame`, an SVG flame graph in the manner of Brendan Gregg's
 * flamegraph.pl: the root ("all") at the bottom, each caller below its callees, frame
 * widths proportional to the sample value, siblings in name order, warm colours hashed
 * from the name (so a function keeps its colour from one graph to the next).
 *
 * The layout is flamegraph.pl's single pass over sorted stacks: a frame opens where a
 * stack starts to differ from the previous one and closes where a later stack stops
 * sharing it. Frames narrower than 0.1 px are dropped (they cannot be seen or clicked).
 * The embedded script adds click-to-zoom, a search box and a details line; the graph is
 * complete without it (every frame has a <title> tooltip). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "flame.h"
#include "stacks.h"
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
	const char *sample, *out, *title;
	char deftitle[256];	/* backs title when --title is not given */
} flame_opts;

typedef struct frame {
	const char *name;
	size_t depth;		/* 0: the root */
	int64_t start, end;	/* in sample units, from the left edge */
} frame;

typedef struct frames {
	frame *v;
	size_t n, cap;
	int64_t total;
	size_t maxdepth;	/* of the frames kept */
} frames;

static const char usage[] =
	"usage: heapprof flame [--sample TYPE] [--title T] [-o OUT.svg] PROFILE\n"
	"\n"
	"Writes a flame graph of PROFILE as a self-contained SVG (click a frame to zoom,\n"
	"Search to highlight functions by regular expression).\n"
	"\n"
	"  -o, --output FILE  where to write the SVG (default or '-': standard output)\n"
	"  -s, --sample TYPE  alloc_space, alloc_objects, inuse_space or inuse_objects\n"
	"                     (default: the profile's default type)\n"
	"  -t, --title T      the title (default: \"Heap profile: TYPE\")\n"
	"  -h, --help         this help\n";

/* Click-to-zoom and search. Events are delegated to the <svg> element so that a graph of
 * thousands of frames needs no per-frame handlers. Original geometry is kept in data-x /
 * data-w attributes, set on load. */
static const char script[] =
	"var W=1200,PAD=10,CW=12*0.59,frames,details,matched,unzoom;\n"
	"function init(evt){var svg=document.documentElement;\n"
	" frames=document.getElementById('frames');\n"
	" details=document.getElementById('details');\n"
	" matched=document.getElementById('matched');\n"
	" unzoom=document.getElementById('unzoom');\n"
	" var gs=frames.children;\n"
	" for(var i=0;i<gs.length;i++){var r=rect(gs[i]);\n"
	"  r.setAttribute('data-x',r.getAttribute('x'));\n"
	"  r.setAttribute('data-w',r.getAttribute('width'));\n"
	"  r.setAttribute('data-fill',r.getAttribute('fill'));}\n"
	" svg.addEventListener('click',function(e){var g=frame_of(e.target);\n"
	"  if(g)zoom(g);else if(e.target.id=='unzoom')reset();\n"
	"  else if(e.target.id=='search')ask();});\n"
	" svg.addEventListener('mouseover',function(e){var g=frame_of(e.target);\n"
	"  details.textContent=g?g.getElementsByTagName('title')[0].textContent:' ';});}\n"
	"function rect(g){return g.getElementsByTagName('rect')[0];}\n"
	"function frame_of(t){for(;t&&t!==frames;t=t.parentNode)\n"
	" if(t.parentNode===frames)return t;return null;}\n"
	"function name_of(g){var t=g.getElementsByTagName('title')[0].textContent;\n"
	" return t.substring(0,t.lastIndexOf(' ('));}\n"
	"function place(g,x,w,show){g.style.display=show?'':'none';if(!show)return;\n"
	" var r=rect(g),t=g.getElementsByTagName('text')[0],n=name_of(g),\n"
	"  c=Math.floor((w-6)/CW);\n"
	" r.setAttribute('x',x.toFixed(2));r.setAttribute('width',w.toFixed(2));\n"
	" t.setAttribute('x',(x+3).toFixed(2));\n"
	" t.textContent=c<3?'':n.length<=c?n:n.substring(0,c-2)+'..';}\n"
	"function geo(g){var r=rect(g);return{x:+r.getAttribute('data-x'),\n"
	" w:+r.getAttribute('data-w'),y:+r.getAttribute('y')};}\n"
	"function zoom(node){var z=geo(node),s=(W-2*PAD)/z.w,gs=frames.children,e=0.02;\n"
	" for(var i=0;i<gs.length;i++){var f=geo(gs[i]);\n"
	"  if(f.y>z.y&&f.x<=z.x+e&&f.x+f.w>=z.x+z.w-e){\n"
	"   place(gs[i],PAD,W-2*PAD,true);gs[i].setAttribute('class','parent');}\n"
	"  else if(f.y<=z.y&&f.x>=z.x-e&&f.x+f.w<=z.x+z.w+e){\n"
	"   place(gs[i],PAD+(f.x-z.x)*s,f.w*s,true);gs[i].removeAttribute('class');}\n"
	"  else place(gs[i],0,0,false);}\n"
	" unzoom.style.opacity=1;}\n"
	"function reset(){var gs=frames.children;\n"
	" for(var i=0;i<gs.length;i++){var f=geo(gs[i]);place(gs[i],f.x,f.w,true);\n"
	"  gs[i].removeAttribute('class');}\n"
	" unzoom.style.opacity=0;}\n"
	"function ask(){var t=prompt('Search (regular expression), empty to clear:','');\n"
	" if(t!==null)search(t);}\n"
	"function search(term){var re,gs=frames.children,spans=[],sum=0,end=-1;\n"
	" try{re=new RegExp(term);}catch(err){alert(err);return;}\n"
	" for(var i=0;i<gs.length;i++){var r=rect(gs[i]);\n"
	"  if(term!==''&&re.test(name_of(gs[i]))){r.setAttribute('fill','rgb(230,0,230)');\n"
	"   spans.push(geo(gs[i]));}else r.setAttribute('fill',r.getAttribute('data-fill'));}\n"
	" spans.sort(function(a,b){return a.x-b.x;});\n"
	" for(var j=0;j<spans.length;j++){var a=spans[j].x,b=a+spans[j].w;\n"
	"  if(a>=end){sum+=b-a;end=b;}else if(b>end){sum+=b-end;end=b;}}\n"
	" matched.textContent=term===''?' ':'Matched: '+(100*sum/(W-2*PAD)).toFixed(1)+'%';}\n";

static const char style[] =
	"text{font-family:Verdana,sans-serif;font-size:12px;fill:rgb(0,0,0)}\n"
	"#title{font-size:17px;text-anchor:middle}\n"
	"#subtitle{fill:rgb(96,96,96);text-anchor:middle}\n"
	".button{cursor:pointer;fill:rgb(51,51,51)}\n"
	"#frames g{cursor:pointer}\n"
	"#frames g:hover rect{stroke:rgb(0,0,0);stroke-width:0.5}\n"
	".parent{opacity:0.5}\n";

/* --- layout ---------------------------------------------------------------------- */

static int push(frames *f, const char *name, size_t depth, int64_t start, int64_t end)
{
	if (f->n == f->cap) {
		size_t ncap = f->cap ? f->cap * 2 : 1024;
		frame *nv = realloc(f->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		f->v = nv;
		f->cap = ncap;
	}
	f->v[f->n++] = (frame){ name, depth, start, end };
	return 0;
}

static int same(const char *a, const char *b)
{
	return a == b || strcmp(a, b) == 0;
}

/* Closes the frames of stack prev from depth index `from` up, at x. */
static int close_frames(frames *f, const st_stack *prev, size_t from, const int64_t *start,
			int64_t x)
{
	for (size_t i = prev->depth; i-- > from;)
		if (push(f, prev->frames[i], i + 1, start[i], x))
			return -1;
	return 0;
}

/* Only positive values can be drawn; heap profiles have no others. */
static int layout(const st_set *s, frames *f)
{
	int64_t *start = malloc((s->maxdepth + 1) * sizeof(*start)), x = 0;
	const st_stack *prev = NULL;
	int err = !start;

	for (size_t k = 0; !err && k < s->n; k++) {
		const st_stack *st = &s->stacks[k];
		size_t common = 0;
		if (st->value <= 0)
			continue;
		while (prev && common < prev->depth && common < st->depth &&
		       same(prev->frames[common], st->frames[common]))
			common++;
		err = prev && close_frames(f, prev, common, start, x);
		for (size_t i = common; i < st->depth; i++)
			start[i] = x;
		x += st->value;
		prev = st;
	}
	if (!err && prev)
		err = close_frames(f, prev, 0, start, x);
	if (!err)
		err = push(f, "all", 0, 0, x);
	f->total = x;
	free(start);
	return err ? -1 : 0;
}

/* --- SVG ----------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s, or 0 (XML must be well-formed UTF-8). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] < 0xf5 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return s[0] < 0xf5 ? n : 0;
}

/* Writes at most max characters of s, XML-escaped; control characters and invalid UTF-8
 * become '?', which XML 1.0 could not carry. */
static void put_xml(FILE *o, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t n = 0; *p && n < max; n++) {
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
}

/* flamegraph.pl's "hot" palette, driven by a hash of the name instead of rand(). */
static void colour(const char *name, int rgb[3])
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	rgb[0] = 205 + (int)(h % 51);
	rgb[1] = (int)((h >> 8) % 231);
	rgb[2] = (int)((h >> 20) % 56);
}

/* The name as it fits in w pixels: whole, cut with "..", or nothing below 3 glyphs. */
static void put_label(FILE *o, const char *name, double w)
{
	long fit = (long)((w - 6) / (FONT_SIZE * FONT_W));
	size_t len = strlen(name);

	if (fit < 3)
		return;
	if (len <= (size_t)fit) {
		put_xml(o, name, len);
		return;
	}
	put_xml(o, name, (size_t)fit - 2);
	fputs("..", o);
}

static void put_frame(FILE *o, const frame *fr, const frames *f, double scale, int height,
		      const pf_value_type *vt)
{
	double x = XPAD + (double)fr->start * scale, w = (double)(fr->end - fr->start) * scale;
	int y = height - BOTTOM_PAD - (int)(fr->depth + 1) * FRAME_H, rgb[3];
	char val[32];

	colour(fr->name, rgb);
	un_format(val, sizeof(val), fr->end - fr->start, vt->unit, 0);
	fputs("<g><title>", o);
	put_xml(o, fr->name, SIZE_MAX);
	fprintf(o, " (%s, %.2f%%)</title>", val, un_pct(fr->end - fr->start, f->total));
	fprintf(o, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" "
		"fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/>", x, y, w, FRAME_H - 1,
		rgb[0], rgb[1], rgb[2]);
	fprintf(o, "<text x=\"%.2f\" y=\"%.1f\">", x + 3, y + 11.5);
	put_label(o, fr->name, w);
	fputs("</text></g>\n", o);
}

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
	fprintf(o, "<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n", IMG_W - XPAD - 100,
		height - 10);
	fprintf(o, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD, height - 10);
}

static void write_svg(FILE *o, frames *f, const flame_opts *op, const pf_value_type *vt,
		      const char *path)
{
	double scale = f->total ? (double)(IMG_W - 2 * XPAD) / (double)f->total : 0;
	const char *base = strrchr(path, '/');
	char subtitle[512], tot[32];
	size_t maxdepth = 0;
	int height;

	for (size_t i = 0; i < f->n; i++)
		if ((double)(f->v[i].end - f->v[i].start) * scale >= MIN_W &&
		    f->v[i].depth > maxdepth)
			maxdepth = f->v[i].depth;
	height = TOP_PAD + (int)(maxdepth + 1) * FRAME_H + BOTTOM_PAD;
	un_format(tot, sizeof(tot), f->total, vt->unit, 0);
	snprintf(subtitle, sizeof(subtitle), "%s, total %s - %s", vt->type, tot,
		 base ? base + 1 : path);
	put_header(o, height, op, subtitle);
	fputs("<g id=\"frames\">\n", o);
	for (size_t i = 0; i < f->n; i++)
		if (f->total && (double)(f->v[i].end - f->v[i].start) * scale >= MIN_W)
			put_frame(o, &f->v[i], f, scale, height, vt);
	fputs("</g>\n</svg>\n", o);
}

/* --- command ------------------------------------------------------------------- */

static int parse(int argc, char **argv, flame_opts *o)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "sample", required_argument, NULL, 's' },
		{ "title", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:s:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->out = optarg; break;
		case 's': o->sample = optarg; break;
		case 't': o->title = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_bad_option("flame", c, argv);
		}
	}
	return -1;
}

/* Writes the graph to o->out (or stdout); a failed write removes the partial file. */
static int emit(frames *f, const flame_opts *o, const pf_value_type *vt, const char *path)
{
	int to_stdout = !o->out || !strcmp(o->out, "-");
	FILE *out = to_stdout ? stdout : fopen(o->out, "w");

	if (!out) {
		cli_error(o->out, "%s", strerror(errno));
		return CLI_BAD_FILE;
	}
	write_svg(out, f, o, vt, path);
	int bad = ferror(out) | (to_stdout ? fflush(out) : fclose(out));
	if (bad) {
		cli_error(to_stdout ? "stdout" : o->out, "write failed");
		if (!to_stdout)
			remove(o->out);
		return CLI_BAD_FILE;
	}
	return CLI_OK;
}

static int draw(const pf_profile *p, int sidx, flame_opts *o, const char *path)
{
	const pf_value_type *vt = &p->sample_types[sidx];
	frames f = { 0 };
	st_set set;
	int st;

	if (!o->title) {
		snprintf(o->deftitle, sizeof(o->deftitle), "Heap profile: %s", vt->type);
		o->title = o->deftitle;
	}
	if (st_build(p, sidx, &set)) {
		cli_error("flame", "out of memory");
		return CLI_BAD_FILE;
	}
	if (layout(&set, &f)) {
		cli_error("flame", "out of memory");
		st = CLI_BAD_FILE;
	} else {
		st = emit(&f, o, vt, path);
	}
	free(f.v);
	st_free(&set);
	return st;
}

int flame_main(int argc, char **argv)
{
	flame_opts o = { .title = NULL };
	pf_profile *p;
	int st = parse(argc, argv, &o), sidx;

	if (st >= 0)
		return st;
	if (!(p = cli_open("flame", argc, argv, o.sample, &sidx, &st)))
		return st;
	st = draw(p, sidx, &o, argv[optind]);	/* the one operand cli_open checked */
	pf_free(p);
	return st;
}
