/*
 * cli_util.c - shared pieces of the `vireo` client (see cli_util.h).
 */
#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "vr_util.h"

#define MAX_SECRET 4096
#define MAX_CONFIG (64u << 10)

volatile sig_atomic_t cli_interrupted;

/* ---- errors */

int cli_fail(const struct vr_error *err)
{
    fprintf(stderr, "vireo: %s\n", err->msg[0] ? err->msg : "unknown error");
    return CLI_FAIL;
}

int cli_failf(const char *fmt, ...)
{
    va_list ap;

    fputs("vireo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_usage(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;

    fputs("vireo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'vireo%s%s --help')\n", cli->cmd[0] ? " " : "",
            cli->cmd);
    return CLI_USAGE;
}

/* ---- options */

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
}

int cli_set_output(struct cli *cli, const char *s)
{
    if (strcmp(s, "table") == 0)
        cli->output = CLI_OUT_TABLE;
    else if (strcmp(s, "json") == 0)
        cli->output = CLI_OUT_JSON;
    else
        return -1;
    return 0;
}

/* The option text of the element getopt just failed on. */
static void bad_option_name(int argc, char **argv, char *out, size_t size)
{
    const char *arg = optind - 1 < argc && optind > 0 ? argv[optind - 1] : "";
    if (optopt && optopt < 256 && !(arg[0] == '-' && arg[1] == '-'))
        snprintf(out, size, "-%c", optopt);
    else
        snprintf(out, size, "%.*s", (int)strcspn(arg, "="), arg);
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts, const char *help, int *status)
{
    char opts[96];
    char name[64];
    bool in_order = shortopts[0] == '+';

    /* ':' first: report a missing argument as ':' rather than '?' */
    snprintf(opts, sizeof(opts), "%s:ho:%s", in_order ? "+" : "",
             shortopts + (in_order ? 1 : 0));
    for (;;) {
        int c = getopt_long(argc, argv, opts, longopts, NULL);
        switch (c) {
        case 'h':
            fputs(help, stdout);
            *status = CLI_OK;
            return CLI_OPT_EXIT;
        case 'o':
            if (cli_set_output(cli, optarg) < 0) {
                *status = cli_usage(cli,
                                    "unknown output format '%s': use "
                                    "table or json",
                                    optarg);
                return CLI_OPT_EXIT;
            }
            break;
        case '?':
            bad_option_name(argc, argv, name, sizeof(name));
            *status = cli_usage(cli, "unknown option '%s'", name);
            return CLI_OPT_EXIT;
        case ':':
            bad_option_name(argc, argv, name, sizeof(name));
            *status = cli_usage(cli, "option '%s' needs a value", name);
            return CLI_OPT_EXIT;
        default:
            return c;
        }
    }
}

int cli_check_args(const struct cli *cli, int nargs, int min, int max,
                   const char *names)
{
    if (nargs < min)
        return cli_usage(cli, "missing argument %s", names);
    if (max >= 0 && nargs > max)
        return cli_usage(cli, "too many arguments (expected %s)",
                         max ? names : "none");
    return 0;
}

int cli_parse_int(const struct cli *cli, const char *opt, const char *s,
                  int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long n;

    errno = 0;
    n = strtoll(s, &end, 10);
    if (!*s || *end || errno || n < min || n > max)
        return cli_usage(cli,
                         "%s must be a whole number from %lld to %lld, "
                         "not '%.32s'",
                         opt, (long long)min, (long long)max, s);
    *out = n;
    return 0;
}

int cli_parse_size(const struct cli *cli, const char *opt, const char *s,
                   uint64_t default_unit, uint64_t *bytes)
{
    struct vr_error err = VR_ERROR_INIT;

    if (vr_parse_size(s, default_unit, bytes, &err) < 0)
        return cli_usage(cli, "%s: %s", opt, err.msg);
    return 0;
}

/* ---- output */

void cli_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

void cli_sanitize(char *s)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
        else if (*p < 0x20 || *p == 0x7f)
            *p = '?';
    }
}

/* A scalar as text ("-" for null).  Caller frees. */
static char *scalar_text(const json_t *v)
{
    char *s;

    switch (json_typeof(v)) {
    case JSON_STRING:
        s = vr_strdup(json_string_value(v));
        break;
    case JSON_INTEGER:
        s = vr_asprintf("%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        s = vr_asprintf("%g", json_real_value(v));
        break;
    case JSON_TRUE:
        s = vr_strdup("true");
        break;
    case JSON_FALSE:
        s = vr_strdup("false");
        break;
    default:
        s = vr_strdup("-");
        break;
    }
    cli_sanitize(s);
    return s;
}

static bool is_container(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static void print_value(FILE *out, const json_t *v, int indent);

/* Members of `obj` at `indent`; `first_prefix` replaces the indentation
 * of the first line (for "- " list items). */
static void print_members(FILE *out, const json_t *obj, int indent,
                          const char *first_prefix)
{
    const char *key;
    const json_t *v;
    size_t width = 0;
    bool first = true;

    json_object_foreach((json_t *)obj, key,
                        v) if (!is_container(v) && strlen(key) > width) width =
        strlen(key);
    json_object_foreach((json_t *)obj, key, v)
    {
        vr_autofree char *k = vr_strdup(key);

        cli_sanitize(k);
        if (first && first_prefix)
            fprintf(out, "%*s%s", indent - (int)strlen(first_prefix), "",
                    first_prefix);
        else
            fprintf(out, "%*s", indent, "");
        first = false;
        if (is_container(v)) {
            fprintf(out, "%s:\n", k);
            print_value(out, v, indent + 2);
        } else {
            vr_autofree char *s = json_is_array(v)    ? vr_strdup("[]")
                                  : json_is_object(v) ? vr_strdup("{}")
                                                      : scalar_text(v);
            fprintf(out, "%s:%*s %s\n", k, (int)(width - strlen(k)), "", s);
        }
    }
}

static void print_value(FILE *out, const json_t *v, int indent)
{
    size_t i;
    const json_t *e;

    if (json_is_object(v)) {
        print_members(out, v, indent, NULL);
        return;
    }
    json_array_foreach((json_t *)v, i, e)
    {
        if (json_is_object(e) && json_object_size(e) > 0) {
            print_members(out, e, indent + 2, "- ");
        } else if (is_container(e)) {
            fprintf(out, "%*s-\n", indent, "");
            print_value(out, e, indent + 2);
        } else {
            vr_autofree char *s = scalar_text(e);
            fprintf(out, "%*s- %s\n", indent, "", s);
        }
    }
}

void cli_print_object(FILE *out, const json_t *obj)
{
    if (json_is_object(obj))
        print_members(out, obj, 0, NULL);
    else
        print_value(out, obj, 0);
}

void cli_table_init(struct cli_table *t, const char *const head[], size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    cli_table_add(t, head);
}

void cli_table_add(struct cli_table *t, const char *const cells[])
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->cells = vr_realloc(t->cells, t->cap * t->ncols * sizeof(char *));
    }
    for (size_t c = 0; c < t->ncols; c++) {
        char *s = vr_strdup(cells[c] && *cells[c] ? cells[c] : "-");
        cli_sanitize(s);
        t->cells[t->nrows * t->ncols + c] = s;
    }
    t->nrows++;
}

void cli_table_print(const struct cli_table *t, FILE *out)
{
    vr_autofree size_t *width = vr_calloc(t->ncols, sizeof(size_t));

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > width[c])
                width[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols)
                fprintf(out, "%s\n", s);
            else
                fprintf(out, "%-*s  ", (int)width[c], s);
        }
    }
}

void cli_table_release(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

const char *cli_jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && *s ? s : "-";
}

const char *cli_jint(const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        return "-";
    snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    return buf;
}

const char *cli_jsize(const json_t *obj, const char *key, uint64_t unit,
                      char *buf, size_t size)
{
    const json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return "-";
    vr_format_size((uint64_t)json_integer_value(v) * unit, buf, size);
    return buf;
}

/* ---- terminal */

void cli_status_line(const struct cli *cli, const char *fmt, ...)
{
    char line[160];
    va_list ap;

    if (!cli->tty_err)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cli_sanitize(line);
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
}

void cli_status_clear(const struct cli *cli)
{
    if (!cli->tty_err)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
}

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_signals(bool on)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_secret_free(char *s)
{
    if (!s)
        return;
    memset(s, 0, strlen(s));
    free(s);
}

/* Read one line (without its end) from fd; at most MAX_SECRET bytes.
 * `what` names the source in messages. */
static char *read_line_fd(int fd, const char *what, struct vr_error *err)
{
    char *line = vr_malloc(MAX_SECRET + 1);
    size_t n = 0;

    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR && !cli_interrupted)
            continue;
        if (r < 0) {
            if (cli_interrupted)
                vr_err(err, VR_E_INTERNAL, "interrupted");
            else
                vr_err(err, VR_E_INTERNAL, "unable to read %s: %s", what,
                       strerror(errno));
            goto fail;
        }
        if (r == 0 || ch == '\n')
            break;
        if (n == MAX_SECRET) {
            vr_err(err, VR_E_INVALID, "the password in %s is too long", what);
            goto fail;
        }
        line[n++] = ch;
    }
    if (n > 0 && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return line;
fail:
    sodium_memzero(line, MAX_SECRET + 1);
    free(line);
    return NULL;
}

static char *prompt_password(const char *prompt, struct vr_error *err)
{
    struct termios old, quiet;
    char *pw;
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);

    if (fd < 0 || tcgetattr(fd, &old) < 0) {
        if (fd >= 0)
            close(fd);
        vr_err(err, VR_E_INVALID,
               "no terminal to ask for the password; use "
               "--password-stdin or --password-file");
        return NULL;
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    quiet.c_lflag |= ICANON;
    if (write(fd, prompt, strlen(prompt)) < 0) {
        /* the prompt is a courtesy; read anyway */
    }
    cli_catch_signals(true);
    tcsetattr(fd, TCSAFLUSH, &quiet);
    pw = read_line_fd(fd, "the terminal", err);
    tcsetattr(fd, TCSAFLUSH, &old);
    cli_catch_signals(false);
    if (write(fd, "\n", 1) < 0) {
        /* nothing to do */
    }
    close(fd);
    return pw;
}

char *cli_read_password(const char *path, const char *prompt,
                        struct vr_error *err)
{
    char *pw;
    int fd;

    if (!path)
        pw = prompt_password(prompt, err);
    else if (strcmp(path, "-") == 0)
        pw = read_line_fd(STDIN_FILENO, "standard input", err);
    else {
        vr_autofree char *what = vr_asprintf("'%s'", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            vr_err(err, VR_E_INVALID, "unable to open '%s': %s", path,
                   strerror(errno));
            return NULL;
        }
        pw = read_line_fd(fd, what, err);
        close(fd);
    }
    if (pw && !*pw) {
        cli_secret_free(pw);
        vr_err(err, VR_E_INVALID, "the password is empty");
        return NULL;
    }
    return pw;
}

/* ---- config */

char *cli_config_default_path(struct vr_error *err)
{
    const char *env = getenv("VIREO_CONFIG");
    const char *home = getenv("HOME");

    if (env && *env)
        return vr_strdup(env);
    if (!home || !*home) {
        vr_err(err, VR_E_INVALID,
               "neither VIREO_CONFIG nor HOME is set: "
               "no place for the config file");
        return NULL;
    }
    return vr_asprintf("%s/.config/vireo/config.json", home);
}

int cli_config_load(const char *path, json_t **out, struct vr_error *err)
{
    vr_autofree char *data = NULL;
    struct vr_error rerr = VR_ERROR_INIT;
    json_error_t jerr;
    size_t len;

    *out = NULL;
    if (vr_read_file(path, MAX_CONFIG, &data, &len, &rerr) < 0) {
        if (rerr.code == VR_E_NOT_FOUND) {
            *out = json_object();
            return 0;
        }
        return vr_err(err, VR_E_INVALID, "config: %s", rerr.msg);
    }
    *out = json_loadb(data, len, 0, &jerr);
    if (!*out)
        return vr_err(err, VR_E_INVALID,
                      "config file '%s' is not valid "
                      "JSON: %s (line %d)",
                      path, jerr.text, jerr.line);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return vr_err(err, VR_E_INVALID,
                      "config file '%s' must hold a JSON "
                      "object",
                      path);
    }
    return 0;
}

int cli_config_save(const char *path, const json_t *cfg, struct vr_error *err)
{
    vr_autofree char *dir = vr_strdup(path);
    char *slash = strrchr(dir, '/');
    char *text;
    int ret;

    if (slash && slash != dir) {
        *slash = '\0';
        if (vr_mkdir_p(dir, 0700, err) < 0)
            return -1;
    }
    text = json_dumps(cfg, JSON_INDENT(2));
    if (!text)
        return vr_err(err, VR_E_INTERNAL, "unable to encode the config");
    {
        size_t n = strlen(text);
        char *withnl = vr_malloc(n + 2);
        memcpy(withnl, text, n);
        withnl[n] = '\n';
        withnl[n + 1] = '\0';
        ret = vr_write_file_atomic(path, withnl, n + 1, 0600, err);
        cli_secret_free(withnl);
    }
    cli_secret_free(text);
    return ret;
}
