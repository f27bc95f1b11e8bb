/*
 * cli_util.h - what every command of the `vireo` client shares: the
 * invocation context, exit statuses, option parsing, error reporting,
 * output (tables, `key: value` listings, JSON), the config file, the
 * terminal (status line, password prompt) and local validation.
 *
 * Error reporting: helpers below the commands (HTTP, config, files) return
 * -1 and fill a `struct vr_error`; the command that called them reports it
 * once with cli_fail() and returns the exit status.  Every message is one
 * line on stderr, "vireo: message".
 */
#ifndef CLI_UTIL_H
#define CLI_UTIL_H

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vr_error.h"

struct cli_http;

/* Exit statuses of the command. */
enum {
    CLI_OK = 0,
    CLI_FAIL = 1,  /* the operation failed (API error, network, files) */
    CLI_USAGE = 2, /* the command line is wrong */
};

enum cli_output {
    CLI_OUT_TABLE,
    CLI_OUT_JSON,
};

/* The invocation: global options, where the server is, the loaded config.
 * Strings are owned by the struct unless said otherwise. */
struct cli {
    char cmd[64]; /* command words for messages: "vm create" */
    enum cli_output output;
    const char *opt_url;   /* --url (points into argv) */
    const char *opt_token; /* --token (points into argv) */
    const char *opt_ca_file; /* --ca-file (argv, or login's absolute path) */
    const char *opt_pin;   /* login's --fingerprint (points into argv) */
    char *config_path;     /* $VIREO_CONFIG or ~/.config/vireo/... */
    json_t *config;        /* loaded config (an object), or NULL */
    bool config_applies;   /* the config's url is the one in use */
    char *url;             /* base URL in use, no trailing '/' */
    char *token;           /* token in use, or NULL */
    bool token_explicit;   /* from --token or $VIREO_TOKEN */
    char *ca_file;         /* CA certificates trusted, NULL: the system's */
    char *pin;             /* public-key pin required, or NULL */
    bool relogin_tried;    /* one silent re-login per run */
    struct cli_http *http; /* NULL until cli_connect() */
    bool tty_err;          /* stderr is a terminal */
};

/* SIGINT/SIGTERM seen while a handler from cli_catch_signals() was set. */
extern volatile sig_atomic_t cli_interrupted;

/* ---- errors and exit statuses (each returns the exit status) */

/* "vireo: <message>" for a failed operation; returns CLI_FAIL. */
int cli_fail(const struct vr_error *err);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "vireo: <message> (see 'vireo <cmd> --help')"; returns CLI_USAGE. */
int cli_usage(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- option parsing
 *
 * A wrapper of getopt_long() that also accepts -h/--help and -o/--output
 * after any command.  Use CLI_COMMON_OPTIONS at the end of the long option
 * table (before the zero row), and a short-option string without "h" and
 * "o:".  Returns the option like getopt_long, -1 at the end of the options,
 * or CLI_OPT_EXIT when the caller must return *status (help was printed, or
 * a usage error was reported). */
#define CLI_OPT_EXIT (-2)
#define CLI_COMMON_OPTIONS                                                     \
    {"help", no_argument, NULL, 'h'},                                          \
    {                                                                          \
        "output", required_argument, NULL, 'o'                                 \
    }

void cli_getopt_reset(void);
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *help, int *status);

/* Set the output format from a string; -1 on an unknown one. */
int cli_set_output(struct cli *cli, const char *s);

/* Check the positional arguments after the options: between min and max of
 * them (max < 0: any).  `names` describes them for the message ("VM").
 * Returns 0, or CLI_USAGE after reporting. */
int cli_check_args(const struct cli *cli, int nargs, int min, int max,
                   const char *names);

/* Parse a positive decimal integer in [min, max] given to option `opt`. */
int cli_parse_int(const struct cli *cli, const char *opt, const char *s,
                  int64_t min, int64_t max, int64_t *out);

/* ---- output */

/* Print a JSON value pretty-printed, followed by a newline, to stdout. */
void cli_print_json(const json_t *j);

/* Print an object as aligned "key: value" lines; nested objects and
 * arrays are indented below their key; null prints as "-". */
void cli_print_object(FILE *out, const json_t *obj);

/* A table of text cells with a header; columns are aligned on print. */
struct cli_table {
    size_t ncols;
    size_t nrows; /* rows, the header included */
    size_t cap;
    char **cells; /* nrows * ncols owned strings */
};

void cli_table_init(struct cli_table *t, const char *const head[],
                    size_t ncols);
/* Add a row of exactly t->ncols strings (copied; NULL prints as "-"). */
void cli_table_add(struct cli_table *t, const char *const cells[]);
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_release(struct cli_table *t);

/* Accessors that turn JSON members into text for tables.  The returned
 * pointer is `buf` or a string inside `obj`; "-" for null or absent. */
const char *cli_jstr(const json_t *obj, const char *key);
const char *cli_jint(const json_t *obj, const char *key, char *buf,
                     size_t size);
/* Integer member times `unit`, as a human size ("512M"); "-" if absent. */
const char *cli_jsize(const json_t *obj, const char *key, uint64_t unit,
                      char *buf, size_t size);

/* Replace control characters in place so that server text cannot drive
 * the terminal: line breaks and tabs become spaces, others '?'. */
void cli_sanitize(char *s);

/* ---- terminal */

/* Rewrite the one-line status on stderr (only if stderr is a terminal);
 * NULL clears it. */
void cli_status_line(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_status_clear(const struct cli *cli);

/* Catch SIGINT and SIGTERM into cli_interrupted (no SA_RESTART), or
 * restore the default actions. */
void cli_catch_signals(bool on);

/* Read a password: the first line of `path`, of stdin (path "-"), or
 * asked on the terminal with echo off (path NULL; `prompt` is shown).
 * The caller frees the result with cli_secret_free(). */
char *cli_read_password(const char *path, const char *prompt,
                        struct vr_error *err);
void cli_secret_free(char *s);

/* ---- config file: a JSON object {"url","token","user","group",
 * "password_file","ca_file","fingerprint"} */

/* $VIREO_CONFIG, else $HOME/.config/vireo/config.json (caller frees). */
char *cli_config_default_path(struct vr_error *err);
/* Load; a missing file gives an empty object.  New reference in *out. */
int cli_config_load(const char *path, json_t **out, struct vr_error *err);
/* Write atomically with mode 0600, creating the directory (0700). */
int cli_config_save(const char *path, const json_t *cfg, struct vr_error *err);

/* ---- local validation */

/* A size option ("512M", "1G"; bare numbers are in `default_unit`). */
int cli_parse_size(const struct cli *cli, const char *opt, const char *s,
                   uint64_t default_unit, uint64_t *bytes);

#endif
