/*
 * fs_opts.h - command-line options from one table per program.
 *
 * A program describes each option once: name, value type, where the value
 * goes in its configuration struct, default, allowed range or choices and
 * help. fs_opts_parse applies the defaults, then argv; --help is generated
 * from the same table. Every program answers the same way:
 *
 *   --name value and --name=value; "--" ends the options; -h is --help
 *   --help     the program's one-line description, usage, the options
 *              (with their defaults), then the program's own notes; exit 0
 *   --version  "PROGRAM VERSION" (the CMake project's version); exit 0
 *   a mistake  one line "PROGRAM: unknown option '--x'" (or what else is
 *              wrong) and "Try 'PROGRAM --help'." on stderr; exit 2
 *
 * Values are not copied: strings point into argv (or the table, for
 * defaults) and live as long as they do.
 */
#ifndef PROTO_FS_OPTS_H
#define PROTO_FS_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fs_opt_type {
	FS_OPT_STR,    /* const char * */
	FS_OPT_CHOICE, /* const char *, one of choices ("a|b|c") */
	FS_OPT_INT,    /* long long in [min, max] */
	FS_OPT_NUM,    /* double in [min, max] */
	FS_OPT_FLAG,   /* int, 1 when given; takes no value */
	FS_OPT_LIST,   /* fs_opt_list: repeatable, every value in order */
};

/* FS_OPT_LIST's storage. The default, when there is one, is its only
 * value unless the option is given. */
#define FS_OPT_LIST_MAX 16
typedef struct fs_opt_list {
	const char *v[FS_OPT_LIST_MAX];
	int n;
} fs_opt_list;

/* max for FS_OPT_INT without an upper bound (up to LLONG_MAX). */
#define FS_OPT_NO_MAX (-1.0)

typedef struct fs_opt {
	const char *name; /* without the leading "--" */
	enum fs_opt_type type;
	size_t off;          /* of the value in the program's config struct */
	const char *def;     /* default, written as on the command line;
	                      * NULL: none (the value stays zero / NULL) */
	double min, max;     /* FS_OPT_INT, FS_OPT_NUM: the allowed range */
	const char *choices; /* FS_OPT_CHOICE: "a|b|c" */
	const char *arg;     /* the value's name in --help; NULL: by type */
	const char *help;
	unsigned tags; /* the program's own grouping (flowctl: the commands
	                * that take it); fs_opts_help can filter on it */
} fs_opt;

/* Rows of a table, one per macro: the name, the value's offset in the
 * program's config struct, the default (as on the command line; NULL:
 * none), then what the type needs, and the help. */
/* clang-format off */
#define FS_OPT_S(name_, off_, def_, arg_, help_)                              \
	{.name = name_, .type = FS_OPT_STR, .off = off_, .def = def_,         \
	    .arg = arg_, .help = help_}
#define FS_OPT_C(name_, off_, def_, choices_, help_)                          \
	{.name = name_, .type = FS_OPT_CHOICE, .off = off_, .def = def_,      \
	    .choices = choices_, .help = help_}
#define FS_OPT_I(name_, off_, def_, min_, max_, arg_, help_)                  \
	{.name = name_, .type = FS_OPT_INT, .off = off_, .def = def_,         \
	    .min = min_, .max = max_, .arg = arg_, .help = help_}
#define FS_OPT_F(name_, off_, help_)                                          \
	{.name = name_, .type = FS_OPT_FLAG, .off = off_, .help = help_}
#define FS_OPT_L(name_, off_, def_, arg_, help_)                              \
	{.name = name_, .type = FS_OPT_LIST, .off = off_, .def = def_,        \
	    .arg = arg_, .help = help_}

/* --log-format and --log-level, the same in every program that logs:
 * format and level are the offsets of two const char * in its config
 * (fs_log_setup_names reads them). */
#define FS_OPTS_LOG(format_off, level_off)                                    \
	FS_OPT_C("log-format", format_off, "text", "text|json",               \
	    "log lines as text, or as one JSON object per line"),             \
	{.name = "log-level", .type = FS_OPT_CHOICE, .off = level_off,        \
	    .def = "info", .choices = "debug|info|warn|error", .arg = "LEVEL",\
	    .help = "least severe level logged: debug, info, warn or error "  \
	            "(the access log is at info)"}
/* clang-format on */

typedef struct fs_opts_prog {
	const char *name;    /* "flow-service" */
	const char *summary; /* one line: what the program is */
	const char *usage;   /* after the name on the usage line */
	const char *notes;   /* printed after the options; NULL: none */
	const fs_opt *opts;
	size_t nopts;          /* at most 64 */
	unsigned builtin_tags; /* fs_opts_print lists --help and --version
	                        * under these tags too (always with 0) */
	int max_args;          /* arguments that are not options: 0 (none) to
	               * FS_OPTS_MAX_ARGS; more are a mistake */
} fs_opts_prog;

/* What fs_opts_parse found besides the values. */
#define FS_OPTS_MAX_ARGS 8
typedef struct fs_opts_result {
	uint64_t given; /* bit i: opts[i] was on the command line */
	const char *args[FS_OPTS_MAX_ARGS]; /* the other arguments, in order */
	int nargs;
} fs_opts_result;

enum {
	FS_OPTS_OK = 0,
	FS_OPTS_EXIT = 1,  /* --help or --version printed: exit 0 */
	FS_OPTS_USAGE = 2, /* a mistake, reported on stderr: exit 2 */
};

/* Sets every option's value in cfg to its default (zero, NULL or no
 * items without one), then applies argv[1..]. Options may come before,
 * between and after the other arguments. --help, -h and --version are
 * answered here, unless the table has an option of that name (then it is
 * the program's, e.g. flowctl's help for one command). Returns FS_OPTS_OK
 * with res filled, FS_OPTS_EXIT or FS_OPTS_USAGE; the return value is the
 * exit status to use for the latter two. */
int fs_opts_parse(const fs_opts_prog *p, void *cfg, int argc, char **argv,
    fs_opts_result *res);

/* Was opts[i] (by name) on the command line? */
int fs_opts_given(const fs_opts_prog *p, const fs_opts_result *res,
    const char *name);

/* Prints the help: summary line, usage line, options, notes. */
void fs_opts_help(FILE *f, const fs_opts_prog *p);

/* Prints the options whose tags intersect mask (0: every option), one per
 * entry, help wrapped under 80 columns, defaults stated. */
void fs_opts_print(FILE *f, const fs_opts_prog *p, unsigned mask);

/* The one answer to a usage mistake: "PROGRAM: <what>" and
 * "Try 'PROGRAM --help'." on stderr. Returns FS_OPTS_USAGE (2). */
int fs_opts_usage_error(const fs_opts_prog *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The version the programs report (the CMake project's). */
const char *fs_opts_version(void);

#endif
