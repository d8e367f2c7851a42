/*
 * fs_opts.c - parsing and --help from a program's option table.
 */
#include "fs_opts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifndef FLOWSVC_VERSION
#error "FLOWSVC_VERSION (the CMake project version) must be defined"
#endif

#define HELP_WIDTH 79 /* columns of --help */
#define LEFT_MAX 28   /* widest "--name ARG" column before help wraps */

const char *
fs_opts_version(void)
{
	return FLOWSVC_VERSION;
}

int
fs_opts_usage_error(const fs_opts_prog *p, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\nTry '%s --help'.\n", p->name, what, p->name);
	return FS_OPTS_USAGE;
}

static const fs_opt *
find_opt(const fs_opts_prog *p, const char *name, size_t len)
{
	for (size_t i = 0; i < p->nopts; i++)
		if (strlen(p->opts[i].name) == len &&
		    strncmp(p->opts[i].name, name, len) == 0)
			return &p->opts[i];
	return NULL;
}

int
fs_opts_given(const fs_opts_prog *p, const fs_opts_result *res,
    const char *name)
{
	const fs_opt *o = find_opt(p, name, strlen(name));

	return o != NULL && (res->given >> (o - p->opts) & 1) != 0;
}

/* ---- values ----------------------------------------------------------------- */

static int
is_choice(const char *choices, const char *v)
{
	size_t n = strlen(v);

	while (choices != NULL && *choices != '\0') {
		const char *bar = strchr(choices, '|');
		size_t len = bar ? (size_t) (bar - choices) : strlen(choices);
		if (len == n && strncmp(choices, v, n) == 0)
			return 1;
		choices = bar ? bar + 1 : NULL;
	}
	return 0;
}

/* "a|b|c" as "a, b, c" for a message. */
static void
choice_list(const char *choices, char *out, size_t len)
{
	size_t k = 0;

	for (; *choices != '\0' && k + 3 < len; choices++) {
		if (*choices == '|') {
			out[k++] = ',';
			out[k++] = ' ';
		} else {
			out[k++] = *choices;
		}
	}
	out[k] = '\0';
}

/* Stores v as o's value in cfg. Returns 0, or -1 with why (one line,
 * without the program's name) in err. */
static int
set_value(const fs_opt *o, void *cfg, const char *v, char *err, size_t len)
{
	char *p = (char *) cfg + o->off;
	char *end;

	switch (o->type) {
	case FS_OPT_STR:
		*(const char **) (void *) p = v;
		return 0;
	case FS_OPT_CHOICE: {
		char list[256];
		if (is_choice(o->choices, v)) {
			*(const char **) (void *) p = v;
			return 0;
		}
		choice_list(o->choices, list, sizeof(list));
		snprintf(err, len, "--%s: '%s' is not one of %s", o->name, v,
		    list);
		return -1;
	}
	case FS_OPT_INT: {
		long long x;
		errno = 0;
		x = strtoll(v, &end, 10);
		if (((*v >= '0' && *v <= '9') ||
		        (*v == '-' && v[1] >= '0' && v[1] <= '9')) &&
		    *end == '\0' && errno == 0 && (double) x >= o->min &&
		    (o->max < o->min || (double) x <= o->max)) {
			*(long long *) (void *) p = x;
			return 0;
		}
		if (o->max < o->min)
			snprintf(err, len,
			    "--%s: '%s' is not an integer >= %.0f", o->name, v,
			    o->min);
		else
			snprintf(err, len,
			    "--%s: '%s' is not an integer in %.0f..%.0f",
			    o->name, v, o->min, o->max);
		return -1;
	}
	case FS_OPT_NUM: {
		double d;
		errno = 0;
		d = strtod(v, &end);
		if (end != v && *end == '\0' && errno == 0 && isfinite(d) &&
		    d >= o->min && d <= o->max) {
			*(double *) (void *) p = d;
			return 0;
		}
		snprintf(err, len, "--%s: '%s' is not a number in %g..%g",
		    o->name, v, o->min, o->max);
		return -1;
	}
	case FS_OPT_FLAG:
		*(int *) (void *) p = 1;
		return 0;
	case FS_OPT_LIST: {
		fs_opt_list *l = (fs_opt_list *) (void *) p;
		if (l->n == FS_OPT_LIST_MAX) {
			snprintf(err, len, "at most %d --%s options",
			    FS_OPT_LIST_MAX, o->name);
			return -1;
		}
		l->v[l->n++] = v;
		return 0;
	}
	}
	snprintf(err, len, "--%s: unknown option type", o->name);
	return -1;
}

/* The value of an option without a default: zero, NULL, no items. */
static void
clear_value(const fs_opt *o, void *cfg)
{
	char *p = (char *) cfg + o->off;

	switch (o->type) {
	case FS_OPT_STR:
	case FS_OPT_CHOICE:
		*(const char **) (void *) p = NULL;
		break;
	case FS_OPT_INT:
		*(long long *) (void *) p = 0;
		break;
	case FS_OPT_NUM:
		*(double *) (void *) p = 0;
		break;
	case FS_OPT_FLAG:
		*(int *) (void *) p = 0;
		break;
	case FS_OPT_LIST:
		((fs_opt_list *) (void *) p)->n = 0;
		break;
	}
}

/* ---- help ----------------------------------------------------------------- */

static const char *
arg_name(const fs_opt *o)
{
	if (o->arg != NULL)
		return o->arg;
	switch (o->type) {
	case FS_OPT_CHOICE:
		return o->choices;
	case FS_OPT_INT:
	case FS_OPT_NUM:
		return "N";
	case FS_OPT_FLAG:
		return NULL;
	default:
		return "VALUE";
	}
}

/* Prints text word by word from column col, continuing lines at indent,
 * so that no line passes HELP_WIDTH (a longer word goes on alone). NBSP
 * joins two words that stay on one line; it prints as a space. */
#define NBSP '\x01'
static void
wrap(FILE *f, const char *text, int col, int indent)
{
	const char *w = text;

	while (*w != '\0') {
		const char *e = w;
		int len;

		while (*e != '\0' && *e != ' ')
			e++;
		len = (int) (e - w);
		if (col > indent && col + 1 + len > HELP_WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		for (int k = 0; k < len; k++)
			fputc(w[k] == NBSP ? ' ' : w[k], f);
		col += len;
		while (*e == ' ')
			e++;
		w = e;
	}
	fputc('\n', f);
}

/* "  --name ARG  help...", the help in a column two past width, or on the
 * next line when the left part is wider. */
static void
print_one(FILE *f, const char *left, const char *help, int width)
{
	int col = fprintf(f, "  %s", left);

	if (col > width + 2)
		fprintf(f, "\n%*s", width + 4, "");
	else
		fprintf(f, "%*s", width + 4 - col, "");
	wrap(f, help, width + 4, width + 4);
}

void
fs_opts_print(FILE *f, const fs_opts_prog *p, unsigned mask)
{
	int width = 0;
	int own_help = find_opt(p, "help", 4) != NULL;
	int own_version = find_opt(p, "version", 7) != NULL;
	int builtin = mask == 0 || (mask & p->builtin_tags) != 0;

	for (size_t i = 0; i < p->nopts; i++) {
		const char *a = arg_name(&p->opts[i]);
		int w = 2 + (int) strlen(p->opts[i].name) +
		    (a ? 1 + (int) strlen(a) : 0);
		if ((mask == 0 || (p->opts[i].tags & mask)) && w > width &&
		    w <= LEFT_MAX)
			width = w;
	}
	if (width < 11)
		width = 11; /* "--version" */
	for (size_t i = 0; i < p->nopts; i++) {
		const fs_opt *o = &p->opts[i];
		const char *a = arg_name(o);
		char left[128], help[1024];

		if (mask != 0 && !(o->tags & mask))
			continue;
		snprintf(left, sizeof(left), "--%s%s%s", o->name, a ? " " : "",
		    a ? a : "");
		if (o->def != NULL && o->type != FS_OPT_FLAG)
			snprintf(help, sizeof(help), "%s (default:%c%s)",
			    o->help, NBSP, o->def[0] ? o->def : "\"\"");
		else
			snprintf(help, sizeof(help), "%s", o->help);
		print_one(f, left, help, width);
	}
	if (builtin && !own_help)
		print_one(f, "--help", "show this help and exit", width);
	if (builtin && !own_version)
		print_one(f, "--version", "show the version and exit", width);
}

void
fs_opts_help(FILE *f, const fs_opts_prog *p)
{
	fprintf(f, "%s - %s\n\nUsage: %s %s\n\nOptions:\n", p->name,
	    p->summary, p->name, p->usage ? p->usage : "[options]");
	fs_opts_print(f, p, 0);
	if (p->notes != NULL)
		fprintf(f, "\n%s", p->notes);
	fflush(f);
}

/* ---- parsing --------------------------------------------------------------- */

int
fs_opts_parse(const fs_opts_prog *p, void *cfg, int argc, char **argv,
    fs_opts_result *res)
{
	char err[512];
	int no_more = 0;

	memset(res, 0, sizeof(*res));
	if (p->nopts > 64 || p->max_args > FS_OPTS_MAX_ARGS)
		abort(); /* a table too big is a programming error */
	for (size_t i = 0; i < p->nopts; i++) {
		const fs_opt *o = &p->opts[i];
		clear_value(o, cfg);
		if (o->def != NULL && o->type != FS_OPT_LIST &&
		    set_value(o, cfg, o->def, err, sizeof(err)) != 0)
			abort(); /* a bad default is a programming error */
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val;
		const fs_opt *o;
		size_t len;

		if (!no_more && strcmp(a, "--") == 0) {
			no_more = 1;
			continue;
		}
		if (no_more || a[0] != '-' || a[1] == '\0') {
			if (res->nargs >= p->max_args)
				return fs_opts_usage_error(p,
				    "unexpected argument '%s'", a);
			res->args[res->nargs++] = a;
			continue;
		}
		if (a[1] != '-' && strcmp(a, "-h") != 0)
			return fs_opts_usage_error(p, "unknown option '%s'",
			    a);
		name = a[1] == '-' ? a + 2 : "help";
		eq = strchr(name, '=');
		len = eq ? (size_t) (eq - name) : strlen(name);
		if ((o = find_opt(p, name, len)) == NULL) {
			if (len == 4 && strncmp(name, "help", 4) == 0) {
				fs_opts_help(stdout, p);
				return FS_OPTS_EXIT;
			}
			if (len == 7 && strncmp(name, "version", 7) == 0) {
				printf("%s %s\n", p->name, FLOWSVC_VERSION);
				fflush(stdout);
				return FS_OPTS_EXIT;
			}
			return fs_opts_usage_error(p,
			    "unknown option '--%.*s'", (int) len, name);
		}
		res->given |= (uint64_t) 1 << (o - p->opts);
		if (o->type == FS_OPT_FLAG) {
			if (eq != NULL)
				return fs_opts_usage_error(p,
				    "--%s takes no value", o->name);
			val = "1";
		} else if (eq != NULL) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			return fs_opts_usage_error(p,
			    "--%s needs a value (%s)", o->name, arg_name(o));
		}
		if (set_value(o, cfg, val, err, sizeof(err)) != 0)
			return fs_opts_usage_error(p, "%s", err);
	}
	/* A list's default stands only when the option was not given. */
	for (size_t i = 0; i < p->nopts; i++) {
		const fs_opt *o = &p->opts[i];
		fs_opt_list *l =
		    (fs_opt_list *) (void *) ((char *) cfg + o->off);
		if (o->type == FS_OPT_LIST && o->def != NULL && l->n == 0)
			l->v[l->n++] = o->def;
	}
	return FS_OPTS_OK;
}
