/*
 * vireo.c - the `vireo` command: global options, dispatch, the connection
 * to vireod (URL, token, config file, silent re-login), and the small
 * command groups: login, logout, host, events.
 *
 * Where the server and the token come from, first match wins:
 *   URL:   --url, $VIREO_URL, the config's "url", https://127.0.0.1:8780
 *   token: --token, $VIREO_TOKEN, the config's "token"
 *   CA:    --ca-file, $VIREO_CA_FILE, the config's "ca_file", else the
 *          system's CA store
 *   pin:   the config's "fingerprint" (login: --fingerprint)
 * The config's token, password file, CA file and pin are used only against
 * the config's own URL (or any URL when the config names none), so that a
 * token is never sent to a server it was not issued by.
 *
 * An https:// server is always verified (chain and name, and the pin if
 * there is one); nothing is sent to a server that fails.  A pin alone
 * cannot anchor a chain, so `vireo login --fingerprint PIN` reads the
 * server's certificates (a handshake only), checks the server's key
 * against PIN, and keeps the top certificate of the chain as the config's
 * CA file (<config>-ca.pem) next to the pin.
 */
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_cmds.h"
#include "vr_tls.h"
#include "vr_util.h"

#define DEFAULT_URL "https://127.0.0.1:8780"
#define PAGE_SIZE 1000

enum {
    OPT_URL = 256,
    OPT_TOKEN,
    OPT_VERSION,
    OPT_USER,
    OPT_PASSWORD_STDIN,
    OPT_PASSWORD_FILE,
    OPT_PRINT_TOKEN,
    OPT_KINDS,
    OPT_FILTER,
    OPT_CA_FILE,
    OPT_FINGERPRINT,
    OPT_GROUP,
    /* host update */
    OPT_ENABLE,
    OPT_DISABLE,
    OPT_DEDICATED_CPUS,
    OPT_RESERVED_CPUS,
    OPT_RESERVED_MEMORY,
    OPT_CPU_RATIO,
    OPT_MEM_RATIO,
    OPT_LABEL,
    OPT_NO_LABELS,
    OPT_SRIOV_POOL,
    OPT_NO_SRIOV_POOLS,
    OPT_PCI_PASSTHROUGH,
    OPT_NO_PCI_PASSTHROUGH,
    OPT_CLUSTER,
    /* cluster create/update */
    OPT_REQUIREMENTS,
    OPT_NO_REQUIREMENTS,
    OPT_RANK,
    OPT_NO_RANK,
    /* host add */
    OPT_TRANSPORT,
    OPT_CAPS,
    OPT_CPUS,
    OPT_MEMORY,
};

static const char main_help[] =
    "Usage: vireo [GLOBAL OPTIONS] COMMAND [ARGS]...\n"
    "\n"
    "Manage Vireo virtual machines, images and hosts through the vireod\n"
    "REST API.\n"
    "\n"
    "Commands:\n"
    "  login     get an API token and save it in the config file\n"
    "  logout    revoke the saved token and forget it\n"
    "  vm        create, list, show, control and delete virtual machines\n"
    "  vm-group  create, list, show and delete VM groups (affinity and\n"
    "            anti-affinity between VMs)\n"
    "  image     upload, import, list, show and delete disk images\n"
    "  host      list, show and configure hypervisor hosts\n"
    "  cluster   create, list, show, update and delete clusters of hosts\n"
    "  job       list, show and wait for jobs\n"
    "  events    print the live event stream, one event a line\n"
    "  group     create, list, show and delete groups (tenants); their\n"
    "            administrators; switch the group you work in\n"
    "  user      create, list, show, delete, enable and disable users, set\n"
    "            their passwords and groups\n"
    "  quota     set and show the limits of users and groups\n"
    "  acl       create, list and delete ACL rules\n"
    "  token     list and revoke API tokens\n"
    "  chown     give VMs, images or hosts to another user\n"
    "  chgrp     move VMs, images or hosts to another group\n"
    "  chmod     set the permissions of VMs, images or hosts\n"
    "\n"
    "Global options (before the command):\n"
    "  --url URL          server base URL (default: $VIREO_URL, else the\n"
    "                     config file, else " DEFAULT_URL ")\n"
    "  --token TOKEN      API token (default: $VIREO_TOKEN, else the config\n"
    "                     file)\n"
    "  --ca-file FILE     CA certificates (PEM) to verify an https:// server\n"
    "                     with (default: $VIREO_CA_FILE, else the config\n"
    "                     file, else the system's CA store)\n"
    "  -o, --output FMT   output format: table (default) or json; also\n"
    "                     accepted after any command\n"
    "  -h, --help         show this help; 'vireo COMMAND --help' shows a\n"
    "                     command's\n"
    "  --version          show the version\n"
    "\n"
    "Config file: $VIREO_CONFIG, else ~/.config/vireo/config.json, written\n"
    "with mode 0600 by 'vireo login': {\"url\", \"token\", \"user\",\n"
    "\"group\", \"password_file\", \"ca_file\", \"fingerprint\"}.  With\n"
    "\"user\" and a readable \"password_file\", an expired token is renewed\n"
    "silently (working in \"group\" if set).\n"
    "\n"
    "The server's certificate is always verified; a server that fails gets\n"
    "no request (see 'vireo login --help' for --ca-file and --fingerprint).\n"
    "\n"
    "Exit status: 0 on success, 1 when the operation failed, 2 when the\n"
    "command line is wrong.\n";

/* ---- dispatch */

int cli_dispatch(struct cli *cli, int argc, char **argv,
                 const struct cli_subcmd *cmds, size_t ncmds, const char *help)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    const char *word;
    size_t used = strlen(cli->cmd);
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "+", opts, help, &status)) != -1)
        if (c == CLI_OPT_EXIT)
            return status;
    if (optind >= argc)
        return cli_usage(cli, "missing command after '%s'", cli->cmd);
    word = argv[optind];
    for (size_t i = 0; i < ncmds; i++) {
        if (strcmp(word, cmds[i].name) == 0) {
            snprintf(cli->cmd + used, sizeof(cli->cmd) - used, " %s", word);
            return cmds[i].run(cli, argc - optind, argv + optind);
        }
    }
    if (strcmp(word, "help") == 0) {
        fputs(help, stdout);
        return CLI_OK;
    }
    return cli_usage(cli, "unknown command '%s %.40s'", cli->cmd, word);
}

/* ---- connection */

static const char *cfg_str(const struct cli *cli, const char *key)
{
    const char *s = json_string_value(json_object_get(cli->config, key));
    return s && *s ? s : NULL;
}

static char *normalize_url(const char *url)
{
    char *s = vr_strdup(url);
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static bool can_relogin(const struct cli *cli)
{
    const char *pwfile = cfg_str(cli, "password_file");

    return !cli->relogin_tried && cli->config_applies && cfg_str(cli, "user") &&
           pwfile && access(pwfile, R_OK) == 0;
}

/* POST /tokens as `user`, working in `group` (NULL: the user's primary
 * group); takes and wipes `pw`.  *ans: the answer. */
static int request_token(struct cli *cli, const char *user, char *pw,
                         const char *group, json_t **ans, struct vr_error *err)
{
    json_t *body = json_pack("{s:s, s:s, s:s*}", "user", user, "password", pw,
                             "group", group);
    char *copy;
    int ret;

    cli_secret_free(pw);
    *ans = NULL;
    if (!body)
        return vr_err(err, VR_E_INVALID,
                      "the user name or the password is "
                      "not valid UTF-8");
    ret = cli_http_call(cli->http, "POST", "/api/v1/tokens", body,
                        CLI_HTTP_NOAUTH, ans, err);
    /* jansson keeps its own copy of the password: wipe it too */
    copy = (char *)json_string_value(json_object_get(body, "password"));
    memset(copy, 0, strlen(copy));
    json_decref(body);
    if (ret == 0 && !json_string_value(json_object_get(*ans, "token"))) {
        json_decref(*ans);
        *ans = NULL;
        return vr_err(err, VR_E_INTERNAL, "the server sent no token");
    }
    return ret;
}

/* Log in with the config's user and password file; use and save the new
 * token. */
static int relogin(struct cli *cli, struct vr_error *err)
{
    const char *user = cfg_str(cli, "user");
    char *pw = cli_read_password(cfg_str(cli, "password_file"), NULL, err);
    json_t *ans = NULL;
    const char *token;

    cli->relogin_tried = true;
    if (!pw ||
        request_token(cli, user, pw, cfg_str(cli, "group"), &ans, err) < 0) {
        vr_err_prefix(err, "unable to log in again as '%s'", user);
        return -1;
    }
    token = json_string_value(json_object_get(ans, "token"));
    cli_http_set_token(cli->http, token);
    cli_secret_free(cli->token);
    cli->token = vr_strdup(token);
    json_object_set_new(cli->config, "token", json_string(token));
    if (!cfg_str(cli, "url"))
        json_object_set_new(cli->config, "url", json_string(cli->url));
    json_decref(ans);
    /* keeping the token is a convenience: a failure costs a login later */
    cli_config_save(cli->config_path, cli->config, NULL);
    return 0;
}

/* The 401 hook: `err` holds the server's detail. */
static int on_unauthorized(struct cli_http *h, void *ctx, struct vr_error *err)
{
    struct cli *cli = ctx;
    char detail[VR_ERROR_MSG_SIZE];

    if (!cli->token_explicit && can_relogin(cli))
        return relogin(cli, err);
    if (!cli_http_has_token(h))
        return vr_err(err, VR_E_UNAUTHENTICATED,
                      "not logged in to %s: run "
                      "'vireo login' (or set VIREO_TOKEN)",
                      cli->url);
    vr_strlcpy(detail, err->msg, sizeof(detail));
    return vr_err(err, VR_E_UNAUTHENTICATED, "%.400s (run 'vireo login')",
                  detail);
}

static int load_config(struct cli *cli)
{
    struct vr_error err = VR_ERROR_INIT;

    if (cli->config)
        return CLI_OK;
    cli->config_path = cli_config_default_path(&err);
    if (!cli->config_path ||
        cli_config_load(cli->config_path, &cli->config, &err) < 0)
        return cli_fail(&err);
    return CLI_OK;
}

/* The CA file and the pin for cli->url (see the top of this file). */
static int resolve_trust(struct cli *cli)
{
    const char *ca = cli->opt_ca_file, *pin = cli->opt_pin;

    if (!ca || !*ca)
        ca = getenv("VIREO_CA_FILE");
    /* login --fingerprint is a new decision: the config's CA file, which
     * may come from an earlier one, is left out */
    if ((!ca || !*ca) && cli->config_applies && !cli->opt_pin)
        ca = cfg_str(cli, "ca_file");
    if (!pin && cli->config_applies)
        pin = cfg_str(cli, "fingerprint");
    if (strncmp(cli->url, "https://", 8) != 0)
        return CLI_OK; /* plain HTTP: there is nothing to verify */
    if (ca && *ca) {
        if (access(ca, R_OK) < 0)
            return cli_failf("unable to read the CA file '%s': %s", ca,
                             strerror(errno));
        cli->ca_file = vr_strdup(ca);
    }
    if (pin) {
        if (!vr_tls_pin_valid(pin))
            return cli_failf("the config's fingerprint '%.60s' is not "
                             "'sha256//' and 44 base64 characters",
                             pin);
        cli->pin = vr_strdup(pin);
    }
    return CLI_OK;
}

int cli_connect(struct cli *cli)
{
    struct vr_error err = VR_ERROR_INIT;
    const char *url = cli->opt_url, *token = cli->opt_token, *cfg_url;
    int rc;

    if (cli->http)
        return CLI_OK;
    if ((rc = load_config(cli)) != CLI_OK)
        return rc;
    if (!url || !*url)
        url = getenv("VIREO_URL");
    cfg_url = cfg_str(cli, "url");
    if (!url || !*url)
        url = cfg_url ? cfg_url : DEFAULT_URL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        if (url == cli->opt_url)
            return cli_usage(cli,
                             "--url must start with http:// or "
                             "https://, not '%.80s'",
                             url);
        return cli_failf("server URL must start with http:// or https://, "
                         "not '%.80s'",
                         url);
    }
    cli->url = normalize_url(url);
    if (cfg_url) {
        vr_autofree char *c = normalize_url(cfg_url);
        cli->config_applies = strcmp(c, cli->url) == 0;
    } else {
        cli->config_applies = true;
    }
    if ((rc = resolve_trust(cli)) != CLI_OK)
        return rc;
    if (!token || !*token)
        token = getenv("VIREO_TOKEN");
    cli->token_explicit = token && *token;
    if (!cli->token_explicit && cli->config_applies)
        token = cfg_str(cli, "token");
    cli->token = token && *token ? vr_strdup(token) : NULL;

    cli->http = cli_http_new(cli->url, &err);
    if (!cli->http)
        return cli_fail(&err);
    cli_http_set_trust(cli->http, cli->ca_file, cli->pin);
    cli_http_set_token(cli->http, cli->token);
    cli_http_set_reauth(cli->http, on_unauthorized, cli);
    /* no token yet but a password file: log in before the first call */
    if (!cli->token_explicit && !cli->token && can_relogin(cli) &&
        relogin(cli, &err) < 0)
        return cli_fail(&err);
    return CLI_OK;
}

/* ---- shared helpers of the commands */

int cli_list_all(struct cli *cli, const char *path, const char *query,
                 json_t **out, struct vr_error *err)
{
    json_t *all = NULL, *items = NULL;
    long long offset = 0;

    *out = NULL;
    for (;;) {
        vr_autofree char *url =
            vr_asprintf("%s?%s%slimit=%d&offset=%lld", path, query ? query : "",
                        query ? "&" : "", PAGE_SIZE, offset);
        json_t *page, *pitems;
        long long total;
        size_t n;

        if (cli_http_call(cli->http, "GET", url, NULL, 0, &page, err) < 0) {
            json_decref(all);
            return -1;
        }
        pitems = json_object_get(page, "items");
        if (!json_is_array(pitems)) {
            json_decref(page);
            json_decref(all);
            return vr_err(err, VR_E_INTERNAL,
                          "the server's list has no "
                          "'items'");
        }
        n = json_array_size(pitems);
        total = (long long)json_integer_value(json_object_get(page, "total"));
        if (!all) {
            all = page;
            items = pitems;
        } else {
            json_array_extend(items, pitems);
            json_decref(page);
        }
        offset += (long long)n;
        if (n == 0 || offset >= total)
            break;
    }
    json_object_set_new(all, "limit",
                        json_integer((json_int_t)json_array_size(items)));
    *out = all;
    return 0;
}

void cli_print_item(const struct cli *cli, const json_t *obj)
{
    if (cli->output == CLI_OUT_JSON)
        cli_print_json(obj);
    else
        cli_print_object(stdout, obj);
}

char *cli_ref_path(const struct cli *cli, const char *coll, const char *ref,
                   const char *suffix, int *status)
{
    vr_autofree char *esc = NULL;

    if (!*ref || strchr(ref, '/') || strcmp(ref, ".") == 0 ||
        strcmp(ref, "..") == 0) {
        *status = cli_usage(cli, "'%.64s' is not an id, a UUID or a name", ref);
        return NULL;
    }
    esc = cli_http_escape(ref);
    return vr_asprintf("/api/v1/%s/%s%s", coll, esc, suffix);
}

int cli_show(struct cli *cli, const char *coll, const char *ref)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *obj;
    int rc = CLI_OK;

    if (!(path = cli_ref_path(cli, coll, ref, "", &rc)) ||
        (rc = cli_connect(cli)) != CLI_OK)
        return rc;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &obj, &err) < 0)
        return cli_fail(&err);
    cli_print_item(cli, obj);
    json_decref(obj);
    return CLI_OK;
}

int cli_cmd_show(struct cli *cli, int argc, char **argv, const char *help,
                 const char *coll, const char *names)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, help, &status)) != -1)
        return status;
    if ((status = cli_check_args(cli, argc - optind, 1, 1, names)) != CLI_OK)
        return status;
    return cli_show(cli, coll, argv[optind]);
}

int cli_cmd_delete(struct cli *cli, int argc, char **argv,
                   const struct cli_delete *d)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    vr_autofree char *ref = NULL;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, d->help, &status)) !=
           -1)
        return status;
    if ((status = cli_check_args(cli, argc - optind, 1, 1, d->names)) !=
            CLI_OK ||
        !(path = cli_ref_path(cli, d->coll, argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (cli_http_call(cli->http, "DELETE", path, NULL, 0, NULL, &err) < 0)
        return cli_fail(&err);
    ref = vr_strdup(argv[optind]);
    if (cli->output == CLI_OUT_JSON) {
        json_t *j = json_pack("{s:s, s:b}", d->key, ref, d->done, 1);
        cli_print_json(j);
        json_decref(j);
    } else {
        cli_sanitize(ref);
        printf("%s '%s' %s\n", d->label, ref, d->done);
    }
    return CLI_OK;
}

/* The items of a list as a table on stdout. */
static void print_list_table(const struct cli_list *l, const json_t *list)
{
    struct cli_table t;
    const json_t *item;
    size_t i;

    cli_table_init(&t, l->head, l->ncols);
    json_array_foreach(json_object_get(list, "items"), i, item)
        l->add_row(&t, item);
    cli_table_print(&t, stdout);
    cli_table_release(&t);
}

int cli_cmd_list(struct cli *cli, int argc, char **argv,
                 const struct cli_list *l)
{
    /* the filter's row is skipped when there is none */
    const struct option opts[] = {
        {l->filter ? l->filter : "", required_argument, NULL, OPT_FILTER},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *query = NULL;
    const char *value = NULL;
    json_t *list;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", l->filter ? opts : opts + 1,
                           l->help, &status)) != -1) {
        if (c != OPT_FILTER)
            return status;
        value = optarg;
    }
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (value && (status = l->filter_query(cli, value, &query)) != CLI_OK)
        return status;
    if (cli_list_all(cli, l->path, query, &list, &err) < 0)
        return cli_fail(&err);
    if (cli->output == CLI_OUT_JSON)
        cli_print_json(list);
    else
        print_list_table(l, list);
    json_decref(list);
    return CLI_OK;
}

/* ---- login / logout */

static const char login_help[] =
    "Usage: vireo login [--user NAME] [--password-stdin | --password-file "
    "FILE]\n"
    "                   [--ca-file FILE] [--fingerprint PIN] [--print-token]\n"
    "                   [--group GROUP]\n"
    "\n"
    "Log in to the server and save the API token (with the server URL and\n"
    "how to trust it) in the config file.  Without a password option the\n"
    "password is asked on the terminal.\n"
    "\n"
    "The server's certificate is verified before anything is sent.  vireod\n"
    "makes its own CA at first start, which nothing trusts yet: give its\n"
    "certificate (<state_dir>/tls/ca.pem on the server) with --ca-file, or\n"
    "give the public key pin vireod logs at start-up with --fingerprint.\n"
    "Without either, an untrusted server makes login fail with the pin of\n"
    "the key it presented: compare it with vireod's log before using it.\n"
    "\n"
    "Options:\n"
    "  --user NAME           account name (default: the config's user, else\n"
    "                        admin)\n"
    "  --password-stdin      read the password from the first line of\n"
    "                        standard input\n"
    "  --password-file FILE  read the password from the first line of FILE;\n"
    "                        the user and FILE are kept in the config so\n"
    "                        that an expired token is renewed silently\n"
    "  --ca-file FILE        trust the CA certificates in FILE (PEM); kept in\n"
    "                        the config\n"
    "  --fingerprint PIN     trust only a server whose public key has this\n"
    "                        pin (sha256//...); kept in the config, with the\n"
    "                        CA certificate the server sent (checked against\n"
    "                        PIN first) as the CA file unless --ca-file\n"
    "  --print-token         print the token on standard output instead of\n"
    "                        saving it\n"
    "  --group GROUP         work in GROUP, one of the user's groups\n"
    "                        (default: the primary group); kept in the\n"
    "                        config for silent re-logins\n"
    "  -o, --output FMT      table or json (json prints the server's answer)\n"
    "  -h, --help            show this help\n";

/* Where login --fingerprint keeps the server's CA certificate: beside the
 * config, "<config without .json>-ca.pem". */
static char *pinned_ca_path(const char *config_path)
{
    size_t n = strlen(config_path);

    if (n > 5 && strcmp(config_path + n - 5, ".json") == 0)
        n -= 5;
    return vr_asprintf("%.*s-ca.pem", (int)n, config_path);
}

/* login --fingerprint without a CA file: read the server's certificates
 * (a handshake, nothing sent), check the server's key against the pin, and
 * trust the top certificate of its chain, written to *tmp_path (the caller
 * renames it into place once logged in, or removes it). */
static int pin_to_ca(struct cli *cli, char **tmp_path)
{
    struct vr_error err = VR_ERROR_INIT;
    char pin[VR_TLS_PIN_SIZE];
    vr_autofree char *leaf = NULL;
    vr_autofree char *top = NULL;
    vr_autofree char *final = pinned_ca_path(cli->config_path);
    vr_autofree char *dir = vr_strdup(cli->config_path);
    vr_autofree char *tmp = NULL;
    char *slash = strrchr(dir, '/');

    *tmp_path = NULL;
    if (cli_http_peer_chain(cli->http, &leaf, &top, &err) < 0 ||
        vr_tls_pin_pem(leaf, strlen(leaf), pin, &err) < 0)
        return cli_fail(&err);
    if (strcmp(pin, cli->pin) != 0)
        return cli_failf("the server's certificate is not trusted (its "
                         "public key pin is %s, not the --fingerprint "
                         "given)",
                         pin);
    if (slash)
        *slash = '\0';
    tmp = vr_asprintf("%s.new", final);
    if ((slash && vr_mkdir_p(dir, 0700, &err) < 0) ||
        vr_write_file_atomic(tmp, top, strlen(top), 0600, &err) < 0)
        return cli_fail(&err);
    free(cli->ca_file);
    cli->ca_file = vr_strdup(tmp);
    cli_http_set_trust(cli->http, cli->ca_file, cli->pin);
    *tmp_path = vr_steal_ptr(&tmp);
    return CLI_OK;
}

/* Before any password goes out, make sure the server is trusted; if it is
 * not and no pin was given, say what its pin is.  *tmp_ca as for
 * pin_to_ca(). */
static int login_trust(struct cli *cli, char **tmp_ca)
{
    struct vr_error err = VR_ERROR_INIT;
    char detail[VR_ERROR_MSG_SIZE];
    char pin[VR_TLS_PIN_SIZE];
    vr_autofree char *leaf = NULL;
    vr_autofree char *top = NULL;
    int rc;

    *tmp_ca = NULL;
    if (strncmp(cli->url, "https://", 8) != 0)
        return CLI_OK;
    if (cli->opt_pin && !cli->ca_file &&
        (rc = pin_to_ca(cli, tmp_ca)) != CLI_OK)
        return rc;
    /* a call without credentials first */
    if (cli_http_call(cli->http, "GET", "/api/v1/health", NULL,
                      CLI_HTTP_NOAUTH, NULL, &err) == 0)
        return CLI_OK;
    if (!cli_http_untrusted(cli->http) || cli->pin)
        return cli_fail(&err);
    vr_strlcpy(detail, err.msg, sizeof(detail));
    if (cli_http_peer_chain(cli->http, &leaf, &top, &err) < 0 ||
        vr_tls_pin_pem(leaf, strlen(leaf), pin, &err) < 0)
        return cli_failf("%s", detail);
    return cli_failf("%.300s; the server's public key pin is %s: if vireod "
                     "logged the same at start-up, run 'vireo login "
                     "--fingerprint %s'",
                     detail, pin, pin);
}

/* Record in the config how the server was trusted at login: the CA file
 * (an absolute path; a pinned CA moved into place) and the pin. */
static int save_trust(struct cli *cli, const char *tmp_ca,
                      struct vr_error *err)
{
    if (tmp_ca) {
        vr_autofree char *final = pinned_ca_path(cli->config_path);
        if (rename(tmp_ca, final) < 0)
            return vr_err(err, VR_E_INTERNAL, "unable to rename '%s': %s",
                          tmp_ca, strerror(errno));
        json_object_set_new(cli->config, "ca_file", json_string(final));
    } else if (cli->ca_file) {
        vr_autofree char *abs = realpath(cli->ca_file, NULL);
        json_object_set_new(cli->config, "ca_file",
                            json_string(abs ? abs : cli->ca_file));
    } else {
        json_object_del(cli->config, "ca_file");
    }
    if (cli->pin)
        json_object_set_new(cli->config, "fingerprint", json_string(cli->pin));
    else
        json_object_del(cli->config, "fingerprint");
    return 0;
}

static int login(struct cli *cli, const char *user, const char *group,
                 const char *pwfile, bool pw_stdin, bool print_token,
                 char **tmp_ca)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *user_copy = NULL;
    vr_autofree char *prompt = NULL;
    const char *token;
    json_t *ans;
    char *pw;
    int status;

    if ((status = cli_connect(cli)) != CLI_OK ||
        (status = login_trust(cli, tmp_ca)) != CLI_OK)
        return status;
    /* a copy: the config's own string is replaced below */
    user_copy = vr_strdup(user ? user
                          : cli->config_applies && cfg_str(cli, "user")
                              ? cfg_str(cli, "user")
                              : "admin");
    user = user_copy;
    prompt = vr_asprintf("Password for '%s' at %s: ", user, cli->url);
    pw = cli_read_password(pwfile ? pwfile
                           : pw_stdin ? "-"
                                      : NULL,
                           prompt, &err);
    if (!pw)
        return cli_fail(&err);
    if (request_token(cli, user, pw, group, &ans, &err) < 0)
        return cli_fail(&err);
    token = json_string_value(json_object_get(ans, "token"));
    if (print_token) {
        if (cli->output == CLI_OUT_JSON)
            cli_print_json(ans);
        else
            printf("%s\n", token);
        json_decref(ans);
        return CLI_OK;
    }
    if (!cli->config_applies ||
        (cfg_str(cli, "user") && strcmp(cfg_str(cli, "user"), user) != 0))
        json_object_del(cli->config, "password_file");
    json_object_set_new(cli->config, "url", json_string(cli->url));
    json_object_set_new(cli->config, "token", json_string(token));
    json_object_set_new(cli->config, "user", json_string(user));
    if (group)
        json_object_set_new(cli->config, "group", json_string(group));
    else
        json_object_del(cli->config, "group");
    if (pwfile)
        json_object_set_new(cli->config, "password_file",
                            json_string(pwfile));
    if (save_trust(cli, *tmp_ca, &err) < 0 ||
        cli_config_save(cli->config_path, cli->config, &err) < 0) {
        json_decref(ans);
        return cli_fail(&err);
    }
    if (cli->output == CLI_OUT_JSON) {
        json_object_del(ans, "token");
        cli_print_json(ans);
    } else {
        printf("logged in to %s as '%s' (token saved in %s, expires %s)\n",
               cli->url, user, cli->config_path, cli_jstr(ans, "expires_at"));
    }
    json_decref(ans);
    return CLI_OK;
}

int cli_cmd_login(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"print-token", no_argument, NULL, OPT_PRINT_TOKEN},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"fingerprint", required_argument, NULL, OPT_FINGERPRINT},
        {"group", required_argument, NULL, OPT_GROUP},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    const char *user = NULL, *pwfile = NULL, *ca_file = NULL, *pin = NULL;
    const char *group = NULL;
    bool pw_stdin = false, print_token = false;
    vr_autofree char *abs_pwfile = NULL;
    vr_autofree char *abs_ca = NULL;
    char *tmp_ca = NULL;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, login_help, &status)) !=
           -1) {
        switch (c) {
        case OPT_USER:
            user = optarg;
            break;
        case OPT_PASSWORD_STDIN:
            pw_stdin = true;
            break;
        case OPT_PASSWORD_FILE:
            pwfile = optarg;
            break;
        case OPT_PRINT_TOKEN:
            print_token = true;
            break;
        case OPT_CA_FILE:
            ca_file = optarg;
            break;
        case OPT_FINGERPRINT:
            pin = optarg;
            break;
        case OPT_GROUP:
            group = optarg;
            break;
        default:
            return status;
        }
    }
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK)
        return status;
    if (pw_stdin && pwfile)
        return cli_usage(cli, "--password-stdin and --password-file exclude "
                              "each other");
    if (user && vr_name_check(user, "user name", &err) < 0)
        return cli_usage(cli, "%s", err.msg);
    if (group && (!*group || strchr(group, '/')))
        return cli_usage(cli, "--group takes a group id or name");
    if (pin && !vr_tls_pin_valid(pin))
        return cli_usage(cli, "--fingerprint must be 'sha256//' and 44 "
                              "base64 characters, as vireod logs it");
    if (pwfile) {
        abs_pwfile = realpath(pwfile, NULL);
        if (!abs_pwfile)
            return cli_failf("unable to open '%s': %s", pwfile,
                             strerror(errno));
    }
    if (ca_file) {
        abs_ca = realpath(ca_file, NULL);
        if (!abs_ca)
            return cli_failf("unable to open '%s': %s", ca_file,
                             strerror(errno));
        cli->opt_ca_file = abs_ca;
    }
    cli->opt_pin = pin;
    cli->relogin_tried = true; /* this is the login */
    status =
        login(cli, user, group, abs_pwfile, pw_stdin, print_token, &tmp_ca);
    if (tmp_ca) {
        unlink(tmp_ca); /* still there: not logged in, or not saved */
        free(tmp_ca);
    }
    cli->opt_ca_file = NULL; /* pointed to abs_ca */
    return status;
}

static const char logout_help[] =
    "Usage: vireo logout\n"
    "\n"
    "Revoke the token in use on the server, and remove it and the password\n"
    "file setting from the config file.\n"
    "\n"
    "Options:\n"
    "  -h, --help   show this help\n";

int cli_cmd_logout(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    bool was_saved;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, logout_help, &status)) !=
           -1)
        return status;
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK)
        return status;
    cli->relogin_tried = true; /* never log in to log out */
    if ((status = cli_connect(cli)) != CLI_OK)
        return status;
    if (!cli->token) {
        printf("not logged in to %s\n", cli->url);
        return CLI_OK;
    }
    was_saved = cli->config_applies && cfg_str(cli, "token") &&
                strcmp(cfg_str(cli, "token"), cli->token) == 0;
    if (cli_http_call(cli->http, "DELETE", "/api/v1/tokens/current", NULL, 0,
                      NULL, &err) < 0 &&
        cli_http_status(cli->http) != 401)
        return cli_fail(&err);
    if (was_saved) {
        json_object_del(cli->config, "token");
        json_object_del(cli->config, "password_file");
        if (cli_config_save(cli->config_path, cli->config, &err) < 0)
            return cli_fail(&err);
    }
    printf("logged out of %s\n", cli->url);
    return CLI_OK;
}

/* ---- host */

static const char host_help[] =
    "Usage: vireo host COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  list          list the hosts: ID NAME STATE HYPERVISOR CPUS MEMORY\n"
    "  show HOST     show one host (id, UUID or name) with its capabilities,\n"
    "                its placement settings and what VMs hold there\n"
    "  update HOST   change a host's placement settings (superusers)\n"
    "  add NAME      add a host (superusers; today a simulated one)\n"
    "  delete HOST   remove a host that holds no VM (superusers)\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

static const char host_add_help[] =
    "Usage: vireo host add NAME --transport sim [--caps FILE | --cpus N\n"
    "                      --memory SIZE] [--cluster CLUSTER]\n"
    "\n"
    "Add a host (superusers).  Transport 'sim' makes a simulated host inside\n"
    "vireod: it keeps domains, reports states and events like a libvirt\n"
    "host, but runs no guest (for tests, mixed installations and scale\n"
    "benchmarks).  Its faults can be injected through the file\n"
    "<state_dir>/sim/<host uuid>.faults (docs/operations.md).\n"
    "\n"
    "Options:\n"
    "  --transport T      how the host is reached: sim\n"
    "  --caps FILE        its capabilities: a libvirt capabilities document\n"
    "                     (`virsh capabilities`): topology, NUMA cells, pages\n"
    "  --cpus N           without --caps: CPUs (2-512, default 16)\n"
    "  --memory SIZE      without --caps: memory (default 64G)\n"
    "  --cluster CLUSTER  the cluster it joins (default: 'default')\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

static const char host_delete_help[] =
    "Usage: vireo host delete HOST\n"
    "\n"
    "Remove a host (id, UUID or name; superusers).  Refused while VMs are on\n"
    "it, and for the host the vireod serves itself (disable it instead).\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

static const char host_list_help[] =
    "Usage: vireo host list\n"
    "\n"
    "List the hosts: ID NAME STATE HYPERVISOR CPUS MEMORY.\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

static const char host_show_help[] =
    "Usage: vireo host show HOST\n"
    "\n"
    "Show a host (id, UUID or name), its capabilities and its state: its\n"
    "NUMA cells (CPUs, memory, huge pages free/total), its PCI devices, its\n"
    "placement settings ('vireo host update') and its allocation: what the\n"
    "VMs placed there hold (shared vCPUs, memory, devices) and, per cell,\n"
    "the dedicated CPUs, whole cores and huge pages still free.\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table (key: value lines and tables) or json (the\n"
    "                     whole record, with the per-thread topology)\n"
    "  -h, --help         show this help\n";

/* ID NAME STATE HYPERVISOR CPUS MEMORY */
static void host_row(struct cli_table *t, const json_t *h)
{
    const json_t *caps = json_object_get(h, "capabilities");
    char id[24], cpus[24], mem[16];
    const char *row[] = {cli_jint(h, "id", id, sizeof(id)),
                         cli_jstr(h, "name"),
                         cli_jstr(h, "state"),
                         cli_jstr(h, "hypervisor"),
                         cli_jint(caps, "cpus", cpus, sizeof(cpus)),
                         cli_jsize(caps, "memory_kib", 1024, mem, sizeof(mem))};

    cli_table_add(t, row);
}

static int host_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID",         "NAME", "STATE",
                                       "HYPERVISOR", "CPUS", "MEMORY"};
    static const struct cli_list l = {
        .help = host_list_help,
        .path = "/api/v1/hosts",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .add_row = host_row,
    };
    return cli_cmd_list(cli, argc, argv, &l);
}

/* ---- host show: a summary of the resource model.  The record holds a
 * line per hardware thread and a member per PCI device; printed as key:
 * value lines a large host is thousands of lines, so the cells and the
 * devices are tables and the topology is summed up per cell. */

/* "2M" for 2048 KiB. */
static void page_size_name(json_int_t kib, char *buf, size_t size)
{
    vr_format_size((uint64_t)kib * 1024, buf, size);
}

/* Physical cores (distinct socket and core) among the threads of `cell`
 * in cpu_topology ([[id, cell, socket, core], ...]); 0 if unknown. */
static int cell_cores(const json_t *topo, json_int_t cell)
{
    size_t n = json_array_size(topo);
    int cores = 0;

    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(topo, i);
        json_int_t sock = json_integer_value(json_array_get(t, 2));
        json_int_t core = json_integer_value(json_array_get(t, 3));
        bool seen = false;

        if (json_integer_value(json_array_get(t, 1)) != cell || sock < 0)
            continue;
        for (size_t j = 0; j < i && !seen; j++) {
            const json_t *u = json_array_get(topo, j);
            seen = json_integer_value(json_array_get(u, 1)) == cell &&
                   json_integer_value(json_array_get(u, 2)) == sock &&
                   json_integer_value(json_array_get(u, 3)) == core;
        }
        cores += !seen;
    }
    return cores;
}

/* The huge page sizes found in member `key` of any cell (at most 4), in
 * sizes[], and a "<size> FREE/TOTAL" column title for each, in titles[]
 * pointed to by head[]; returns how many. */
static size_t page_columns(const json_t *cells, const char *key,
                           json_int_t sizes[4], char titles[4][32],
                           const char **head)
{
    const json_t *cell, *p;
    size_t nsizes = 0, i, k;

    json_array_foreach(cells, i, cell) {
        json_array_foreach(json_object_get(cell, key), k, p) {
            json_int_t sz = json_integer_value(json_object_get(p, "size_kib"));
            bool known = false;
            for (size_t s = 0; s < nsizes; s++)
                known = known || sizes[s] == sz;
            if (!known && nsizes < 4)
                sizes[nsizes++] = sz;
        }
    }
    for (size_t s = 0; s < nsizes; s++) {
        char name[16];
        page_size_name(sizes[s], name, sizeof(name));
        snprintf(titles[s], sizeof(titles[s]), "%s FREE/TOTAL", name);
        head[s] = titles[s];
    }
    return nsizes;
}

/* For each page size of page_columns(), "FREE/TOTAL" of the cell's pool
 * of that size in cell[key], or "-" where the cell has none. */
static void page_cells(const json_t *cell, const char *key,
                       const json_int_t *sizes, size_t nsizes,
                       char (*buf)[48], const char **out)
{
    const json_t *p;
    size_t k;

    for (size_t s = 0; s < nsizes; s++) {
        out[s] = "-";
        json_array_foreach(json_object_get(cell, key), k, p) {
            if (json_integer_value(json_object_get(p, "size_kib")) != sizes[s])
                continue;
            snprintf(buf[s], sizeof(buf[s]), "%lld/%lld",
                     (long long)json_integer_value(json_object_get(p, "free")),
                     (long long)json_integer_value(json_object_get(p, "total")));
            out[s] = buf[s];
        }
    }
}

/* CELL CPUS THREADS CORES MEMORY, then "<size> FREE/TOTAL" for each huge
 * page size of any cell. */
static void print_cells(FILE *out, const json_t *caps)
{
    const json_t *cells = json_object_get(caps, "numa_cells");
    const json_t *topo = json_object_get(caps, "cpu_topology");
    json_int_t sizes[4];
    size_t nsizes = 0, i;
    const char *head[5 + VR_ARRAY_SIZE(sizes)] = {"CELL", "CPUS", "THREADS",
                                                  "CORES", "MEMORY"};
    char titles[VR_ARRAY_SIZE(sizes)][32];
    const json_t *cell;
    struct cli_table t;

    nsizes = page_columns(cells, "pages", sizes, titles, head + 5);
    cli_table_init(&t, head, 5 + nsizes);
    json_array_foreach(cells, i, cell) {
        char id[24], threads[24], cores[24], mem[16];
        char pages[VR_ARRAY_SIZE(sizes)][48];
        const char *row[5 + VR_ARRAY_SIZE(sizes)] = {
            cli_jint(cell, "id", id, sizeof(id)), cli_jstr(cell, "cpus"),
            cli_jint(cell, "ncpus", threads, sizeof(threads)), "-",
            cli_jsize(cell, "memory_kib", 1024, mem, sizeof(mem))};
        int nc = cell_cores(topo, json_integer_value(json_object_get(cell,
                                                                     "id")));

        if (nc > 0) {
            snprintf(cores, sizeof(cores), "%d", nc);
            row[3] = cores;
        }
        page_cells(cell, "pages", sizes, nsizes, pages, row + 5);
        cli_table_add(&t, row);
    }
    cli_table_print(&t, out);
    cli_table_release(&t);
}

/* The kind of a device, from the base class of its PCI class code. */
static const char *pci_class_name(const char *hex)
{
    static const struct {
        const char *prefix, *name;
    } names[] = {
        {"0106", "sata"},     {"0108", "nvme"},    {"01", "storage"},
        {"0200", "ethernet"}, {"0207", "infiniband"}, {"02", "network"},
        {"0300", "vga"},      {"0302", "3d"},      {"03", "display"},
        {"04", "multimedia"}, {"0c03", "usb"},     {"12", "accelerator"},
    };

    for (size_t i = 0; hex && i < VR_ARRAY_SIZE(names); i++)
        if (strncmp(hex, names[i].prefix, strlen(names[i].prefix)) == 0)
            return names[i].name;
    return NULL;
}

/* ADDRESS VENDOR:PRODUCT CLASS CELL PF/VFS DRIVER */
static void print_devices(FILE *out, const json_t *caps)
{
    static const char *const head[] = {"ADDRESS", "VENDOR:PRODUCT", "CLASS",
                                       "CELL",    "PF/VFS",         "DRIVER"};
    const json_t *devs = json_object_get(caps, "devices"), *d;
    struct cli_table t;
    size_t i;

    if (json_array_size(devs) == 0) {
        fprintf(out, "PCI devices: none\n");
        return;
    }
    cli_table_init(&t, head, VR_ARRAY_SIZE(head));
    json_array_foreach(devs, i, d) {
        char ids[16], cls[32], cell[24], sriov[48];
        const char *kind = pci_class_name(cli_jstr(d, "class"));
        const char *pf = json_string_value(json_object_get(d, "pf"));
        json_int_t vfs = json_integer_value(json_object_get(d, "max_vfs"));
        const char *row[] = {cli_jstr(d, "address"), ids, cls,
                             cli_jint(d, "cell", cell, sizeof(cell)), sriov,
                             cli_jstr(d, "driver")};

        snprintf(ids, sizeof(ids), "%.4s:%.4s", cli_jstr(d, "vendor"),
                 cli_jstr(d, "product"));
        snprintf(cls, sizeof(cls), "%.6s%s%s", cli_jstr(d, "class"),
                 kind ? " " : "", kind ? kind : "");
        if (pf && *pf)
            snprintf(sriov, sizeof(sriov), "VF of %.16s", pf);
        else if (vfs > 0)
            snprintf(sriov, sizeof(sriov), "PF, %lld VFs", (long long)vfs);
        else
            snprintf(sriov, sizeof(sriov), "-");
        cli_table_add(&t, row);
    }
    cli_table_print(&t, out);
    cli_table_release(&t);
}

/* A config array joined with ", ": labels as they are, SR-IOV pools as
 * "name (VFs of pf)"; "-" if empty.  Caller frees. */
static char *join_config(const json_t *arr)
{
    struct vr_buf b = VR_BUF_INIT;
    const json_t *v;
    size_t i;

    vr_buf_init(&b);
    json_array_foreach(arr, i, v) {
        if (json_is_string(v))
            vr_buf_addf(&b, "%s%s", b.len ? ", " : "", json_string_value(v));
        else if (json_is_object(v))
            vr_buf_addf(&b, "%s%s (VFs of %s)", b.len ? ", " : "",
                        cli_jstr(v, "name"), cli_jstr(v, "pf"));
    }
    if (!b.len)
        vr_buf_adds(&b, "-");
    return vr_buf_detach(&b);
}

/* A ratio: its value, or "inherited" when null. */
static void print_ratio(FILE *out, const char *label, const json_t *v)
{
    if (json_is_number(v))
        fprintf(out, "%s%g\n", label, json_number_value(v));
    else
        fprintf(out, "%sinherited\n", label);
}

static void print_config(FILE *out, const json_t *cfg)
{
    vr_autofree char *labels = join_config(json_object_get(cfg, "labels"));
    vr_autofree char *pools = join_config(json_object_get(cfg, "sriov_pools"));
    vr_autofree char *pci =
        join_config(json_object_get(cfg, "pci_passthrough"));
    vr_autofree char *ded = vr_strdup(cli_jstr(cfg, "dedicated_cpus"));
    vr_autofree char *res = vr_strdup(cli_jstr(cfg, "reserved_cpus"));
    char mem[16];

    cli_sanitize(labels);
    cli_sanitize(pools);
    cli_sanitize(pci);
    cli_sanitize(ded);
    cli_sanitize(res);
    fprintf(out, "config:\n");
    fprintf(out, "  dedicated CPUs:   %s\n", *ded ? ded : "-");
    fprintf(out, "  reserved CPUs:    %s\n", *res ? res : "-");
    fprintf(out, "  reserved memory:  %s\n",
            json_integer_value(json_object_get(cfg, "reserved_memory_mib"))
                ? cli_jsize(cfg, "reserved_memory_mib", 1024 * 1024, mem,
                            sizeof(mem))
                : "-");
    print_ratio(out, "  CPU ratio:        ", json_object_get(cfg, "cpu_ratio"));
    print_ratio(out, "  memory ratio:     ", json_object_get(cfg, "mem_ratio"));
    fprintf(out, "  labels:           %s\n", labels);
    fprintf(out, "  SR-IOV pools:     %s\n", pools);
    fprintf(out, "  PCI passthrough:  %s\n", pci);
}

/* ---- the allocation: what the scheduler has handed out on the host */

/* {"<vm id>": "<name>"} of the VMs the caller may list; NULL if it may
 * not (ids are shown then). */
static json_t *vm_names(struct cli *cli)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *list, *map, *vm;
    size_t i;

    if (cli_list_all(cli, "/api/v1/vms", NULL, &list, &err) < 0)
        return NULL;
    map = json_object();
    json_array_foreach(json_object_get(list, "items"), i, vm) {
        char key[24];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(vm, "id")));
        if (json_is_string(json_object_get(vm, "name")))
            json_object_set(map, key, json_object_get(vm, "name"));
    }
    json_decref(list);
    return map;
}

/* A MiB member as a size ("512M"; "0" rather than "0B"). */
static const char *alloc_mib(const json_t *obj, const char *key, char *buf,
                             size_t size)
{
    if (json_is_integer(json_object_get(obj, key)) &&
        json_integer_value(json_object_get(obj, key)) == 0)
        return "0";
    return cli_jsize(obj, key, 1u << 20, buf, size);
}

/* CELL FREE-DEDICATED FREE-THREADS FREE-CORES BOUND-MEMORY, then "<size>
 * FREE/TOTAL" for each huge page size of any cell. */
static void print_alloc_cells(FILE *out, const json_t *cells)
{
    json_int_t sizes[4];
    size_t nsizes = 0, i;
    const char *head[5 + VR_ARRAY_SIZE(sizes)] = {
        "CELL", "FREE DEDICATED CPUS", "FREE THREADS", "FREE CORES",
        "BOUND MEMORY"};
    char titles[VR_ARRAY_SIZE(sizes)][32];
    const json_t *cell;
    struct cli_table t;

    nsizes = page_columns(cells, "hugepages", sizes, titles, head + 5);
    cli_table_init(&t, head, 5 + nsizes);
    json_array_foreach(cells, i, cell) {
        char id[24], threads[24], cores[24], bound[16], mem[16], bm[40];
        char pages[VR_ARRAY_SIZE(sizes)][48];
        const char *row[5 + VR_ARRAY_SIZE(sizes)] = {
            cli_jint(cell, "id", id, sizeof(id)),
            cli_jstr(cell, "free_dedicated_cpus"),
            cli_jint(cell, "free_threads", threads, sizeof(threads)),
            cli_jint(cell, "free_cores", cores, sizeof(cores)), bm};

        snprintf(bm, sizeof(bm), "%s of %s",
                 alloc_mib(cell, "bound_memory_mib", bound, sizeof(bound)),
                 alloc_mib(cell, "memory_mib", mem, sizeof(mem)));
        page_cells(cell, "hugepages", sizes, nsizes, pages, row + 5);
        cli_table_add(&t, row);
    }
    cli_table_print(&t, out);
    cli_table_release(&t);
}

static void print_allocation(struct cli *cli, FILE *out, const json_t *a)
{
    const json_t *devs = json_object_get(a, "devices"), *d;
    vr_autofree char *shared = vr_strdup(cli_jstr(a, "shared_cpus"));
    json_t *names = NULL;
    char used[16], cap[16];
    bool any = false, looked = false;
    size_t i;

    cli_sanitize(shared);
    fprintf(out, "allocation:\n");
    fprintf(out, "  %-17s %lld placed, %lld running\n", "VMs:",
            (long long)json_integer_value(json_object_get(a, "vms")),
            (long long)json_integer_value(json_object_get(a, "running_vms")));
    fprintf(out, "  %-17s %s (%g of %g vCPUs used)\n", "shared CPUs:", shared,
            json_number_value(json_object_get(a, "shared_vcpus_used")),
            json_number_value(json_object_get(a, "shared_vcpus_capacity")));
    fprintf(out, "  %-17s %s of %s used\n", "memory:",
            alloc_mib(a, "memory_mib_used", used, sizeof(used)),
            alloc_mib(a, "memory_mib_capacity", cap, sizeof(cap)));
    json_array_foreach(devs, i, d) {
        json_int_t vm = json_integer_value(json_object_get(d, "vm_id"));
        const char *pool = json_string_value(json_object_get(d, "pool"));
        const char *name = NULL;
        char key[24];
        vr_autofree char *line = NULL;

        if (vm <= 0)
            continue;
        if (!looked) {
            names = vm_names(cli);
            looked = true;
        }
        snprintf(key, sizeof(key), "%lld", (long long)vm);
        name = json_string_value(json_object_get(names, key));
        line = vr_asprintf("%s (%s%s%svm %s%s%s)", cli_jstr(d, "address"),
                           pool && *pool ? "VF of pool " : "",
                           pool && *pool ? pool : "", pool && *pool ? ", " : "",
                           name ? "'" : "", name ? name : key, name ? "'" : "");
        cli_sanitize(line);
        fprintf(out, "  %-17s %s\n", any ? "" : "devices in use:", line);
        any = true;
    }
    if (!any)
        fprintf(out, "  %-17s none\n", "devices in use:");
    json_decref(names);
    fprintf(out, "\n");
    print_alloc_cells(out, json_object_get(a, "cells"));
}

/* The record as key: value lines without the bulky members, then the
 * cells, the devices, the config and the allocation. */
static void host_print(struct cli *cli, FILE *out, const json_t *h)
{
    const json_t *caps = json_object_get(h, "capabilities");
    const json_t *cfg = json_object_get(h, "config");
    const json_t *alloc = json_object_get(h, "allocation");
    json_t *top = json_copy((json_t *)h);

    json_object_del(top, "config");
    json_object_del(top, "allocation");
    if (json_is_object(caps)) {
        json_t *c = json_copy((json_t *)caps);
        json_object_del(c, "numa_cells");
        json_object_del(c, "cpu_topology");
        json_object_del(c, "devices");
        json_object_set_new(top, "capabilities", c);
    }
    cli_print_object(out, top);
    json_decref(top);
    if (json_is_object(caps)) {
        fprintf(out, "\n");
        print_cells(out, caps);
        fprintf(out, "\n");
        print_devices(out, caps);
    }
    if (json_is_object(cfg)) {
        fprintf(out, "\n");
        print_config(out, cfg);
    }
    if (json_is_object(alloc)) {
        fprintf(out, "\n");
        print_allocation(cli, out, alloc);
    }
}

static int host_show(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *h;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, host_show_help,
                           &status)) != -1)
        return status;
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "HOST")) !=
            CLI_OK ||
        !(path = cli_ref_path(cli, "hosts", argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &h, &err) < 0)
        return cli_fail(&err);
    if (cli->output == CLI_OUT_JSON)
        cli_print_json(h);
    else
        host_print(cli, stdout, h);
    json_decref(h);
    return CLI_OK;
}

/* ---- host update */

static const char host_update_help[] =
    "Usage: vireo host update HOST [--enable|--disable]\n"
    "                         [--dedicated-cpus LIST] [--reserved-cpus LIST]\n"
    "                         [--reserved-memory SIZE] [--cpu-ratio X]\n"
    "                         [--mem-ratio X] [--label L]... [--no-labels]\n"
    "                         [--sriov-pool NAME=PF]... [--no-sriov-pools]\n"
    "                         [--pci-passthrough SPEC]...\n"
    "                         [--no-pci-passthrough] [--cluster C]\n"
    "\n"
    "Change the placement settings of a host (id, UUID or name; superusers\n"
    "only).  What is not given is kept.  A repeatable option replaces the\n"
    "whole list: give every label (pool, device) the host is to have.  The\n"
    "server checks the settings against the host (its CPUs, its devices)\n"
    "and the VMs placed on it, and prints the host's new settings.\n"
    "\n"
    "Options:\n"
    "  --enable           let the scheduler place VMs on the host\n"
    "  --disable          place no more VMs on the host (those there stay)\n"
    "  --dedicated-cpus LIST\n"
    "                     the host CPUs for pinned vCPUs (CPU policies\n"
    "                     thread, core and isolate), e.g. 4-15,20; '' for\n"
    "                     none.  The other CPUs run shared vCPUs.\n"
    "  --reserved-cpus LIST\n"
    "                     host CPUs no VM gets (kept for the host); ''\n"
    "                     for none\n"
    "  --reserved-memory SIZE\n"
    "                     memory no VM gets, e.g. 2G (a bare number is MiB;\n"
    "                     0 for none)\n"
    "  --cpu-ratio X      overcommit of the shared CPUs: vCPUs that may run\n"
    "                     on each (0.1 to 64), or 'inherit': the cluster's,\n"
    "                     else the daemon's host_cpu_ratio (4 by default)\n"
    "  --mem-ratio X      overcommit of the memory (0.1 to 4), or 'inherit'\n"
    "                     (the cluster's, else host_mem_ratio: 1)\n"
    "  --cluster C        move the host to cluster C (name or id)\n"
    "  --label L          a label of the host, for requirements such as\n"
    "                     'LABELS has \"ssd\"'; repeat for each label\n"
    "  --no-labels        remove every label\n"
    "  --sriov-pool NAME=PF\n"
    "                     lend the VFs of the SR-IOV physical function at\n"
    "                     address PF (e.g. 0000:3b:00.0) as the pool NAME\n"
    "                     (vm create --sriov NAME); repeat for each pool\n"
    "  --no-sriov-pools   remove every SR-IOV pool\n"
    "  --pci-passthrough SPEC\n"
    "                     let VMs have the devices matching SPEC whole (vm\n"
    "                     create --pci): VENDOR:PRODUCT (8086:1572),\n"
    "                     class=HEX (class=0x0302) or an address\n"
    "                     (0000:3b:00.0); repeat for more\n"
    "  --no-pci-passthrough\n"
    "                     no device may be passed through\n"
    "  -o, --output FMT   table (the new settings) or json (the host)\n"
    "  -h, --help         show this help\n";

/* A ratio option: a finite number (the server checks its range), or
 * "inherit" (null: the cluster's, else the daemon's). */
static int parse_ratio(const struct cli *cli, const char *opt, const char *s,
                       json_t *body, const char *key)
{
    char *end;
    double v;

    if (strcmp(s, "inherit") == 0) {
        json_object_set_new(body, key, json_null());
        return CLI_OK;
    }
    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !(v > 0) || v > 1e6)
        return cli_usage(cli, "%s must be a positive number or 'inherit', "
                         "not '%.32s'", opt, s);
    json_object_set_new(body, key, json_real(v));
    return CLI_OK;
}

/* A string option into `body` (`key` as a string, or appended to the
 * array `key` if `list`). */
static int set_string(const struct cli *cli, const char *opt, const char *s,
                      json_t *body, const char *key, bool list)
{
    json_t *v = json_string(s);

    if (!v)
        return cli_usage(cli, "the value of %s is not valid UTF-8", opt);
    if (list)
        json_array_append_new(json_object_get(body, key), v);
    else
        json_object_set_new(body, key, v);
    return CLI_OK;
}

/* One option of host update into `body`.  `lists` notes which list
 * options were given (bit 0: --label, 1: --sriov-pool, 2:
 * --pci-passthrough; +3 for their --no- forms). */
static int host_update_option(const struct cli *cli, int c, const char *arg,
                              json_t *body, unsigned *lists)
{
    static const struct {
        int add, clear;
        const char *key, *add_name, *clear_name;
    } list_opts[] = {
        {OPT_LABEL, OPT_NO_LABELS, "labels", "--label", "--no-labels"},
        {OPT_SRIOV_POOL, OPT_NO_SRIOV_POOLS, "sriov_pools", "--sriov-pool",
         "--no-sriov-pools"},
        {OPT_PCI_PASSTHROUGH, OPT_NO_PCI_PASSTHROUGH, "pci_passthrough",
         "--pci-passthrough", "--no-pci-passthrough"},
    };
    uint64_t bytes;
    int rc;

    for (unsigned i = 0; i < VR_ARRAY_SIZE(list_opts); i++) {
        if (c != list_opts[i].add && c != list_opts[i].clear)
            continue;
        *lists |= 1u << (i + (c == list_opts[i].clear ? 3 : 0));
        if ((*lists >> i & 1) && (*lists >> (i + 3) & 1))
            return cli_usage(cli, "%s and %s exclude each other",
                             list_opts[i].add_name, list_opts[i].clear_name);
        if (!json_is_array(json_object_get(body, list_opts[i].key)))
            json_object_set_new(body, list_opts[i].key, json_array());
        if (c == list_opts[i].clear)
            return CLI_OK;
        if (c == OPT_SRIOV_POOL) {
            const char *eq = strchr(arg, '=');
            vr_autofree char *name =
                vr_strndup(arg, eq ? (size_t)(eq - arg) : 0);
            json_t *pool;

            if (!eq || eq == arg || !eq[1])
                return cli_usage(cli,
                                 "--sriov-pool must be NAME=PF, e.g. "
                                 "net-a=0000:3b:00.0, not '%.64s'",
                                 arg);
            pool = json_pack("{s:s, s:s}", "name", name, "pf", eq + 1);
            if (!pool)
                return cli_usage(cli, "the value of --sriov-pool is not "
                                      "valid UTF-8");
            json_array_append_new(json_object_get(body, "sriov_pools"), pool);
            return CLI_OK;
        }
        return set_string(cli, list_opts[i].add_name, arg, body,
                          list_opts[i].key, true);
    }
    switch (c) {
    case OPT_ENABLE:
    case OPT_DISABLE:
        if (json_is_boolean(json_object_get(body, "enabled")) &&
            json_is_true(json_object_get(body, "enabled")) != (c == OPT_ENABLE))
            return cli_usage(cli, "--enable and --disable exclude each other");
        json_object_set_new(body, "enabled", json_boolean(c == OPT_ENABLE));
        return CLI_OK;
    case OPT_DEDICATED_CPUS:
        return set_string(cli, "--dedicated-cpus", arg, body, "dedicated_cpus",
                          false);
    case OPT_RESERVED_CPUS:
        return set_string(cli, "--reserved-cpus", arg, body, "reserved_cpus",
                          false);
    case OPT_RESERVED_MEMORY:
        if ((rc = cli_parse_size(cli, "--reserved-memory", arg, 1ULL << 20,
                                 &bytes)) != CLI_OK)
            return rc;
        if (bytes % (1ULL << 20) || bytes >> 20 > (1ULL << 40))
            return cli_usage(cli,
                             "--reserved-memory must be a whole number of "
                             "MiB, not '%.32s'",
                             arg);
        json_object_set_new(body, "reserved_memory",
                            json_integer((json_int_t)(bytes >> 20)));
        return CLI_OK;
    case OPT_CPU_RATIO:
        return parse_ratio(cli, "--cpu-ratio", arg, body, "cpu_ratio");
    case OPT_MEM_RATIO:
        return parse_ratio(cli, "--mem-ratio", arg, body, "mem_ratio");
    case OPT_CLUSTER:
        return set_string(cli, "--cluster", arg, body, "cluster", false);
    case OPT_REQUIREMENTS:
    case OPT_RANK: {
        const char *key = c == OPT_RANK ? "rank" : "requirements";
        if (json_is_null(json_object_get(body, key)))
            return cli_usage(cli, "--%s and --no-%s exclude each other", key,
                             key);
        return set_string(cli, c == OPT_RANK ? "--rank" : "--requirements",
                          arg, body, key, false);
    }
    case OPT_NO_REQUIREMENTS:
    case OPT_NO_RANK: {
        const char *key = c == OPT_RANK || c == OPT_NO_RANK ? "rank"
                                                            : "requirements";
        if (json_is_string(json_object_get(body, key)))
            return cli_usage(cli, "--%s and --no-%s exclude each other", key,
                             key);
        json_object_set_new(body, key, json_null());
        return CLI_OK;
    }
    default:
        return CLI_OK;
    }
}

static int host_update(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"enable", no_argument, NULL, OPT_ENABLE},
        {"disable", no_argument, NULL, OPT_DISABLE},
        {"dedicated-cpus", required_argument, NULL, OPT_DEDICATED_CPUS},
        {"reserved-cpus", required_argument, NULL, OPT_RESERVED_CPUS},
        {"reserved-memory", required_argument, NULL, OPT_RESERVED_MEMORY},
        {"cpu-ratio", required_argument, NULL, OPT_CPU_RATIO},
        {"mem-ratio", required_argument, NULL, OPT_MEM_RATIO},
        {"label", required_argument, NULL, OPT_LABEL},
        {"no-labels", no_argument, NULL, OPT_NO_LABELS},
        {"sriov-pool", required_argument, NULL, OPT_SRIOV_POOL},
        {"no-sriov-pools", no_argument, NULL, OPT_NO_SRIOV_POOLS},
        {"pci-passthrough", required_argument, NULL, OPT_PCI_PASSTHROUGH},
        {"no-pci-passthrough", no_argument, NULL, OPT_NO_PCI_PASSTHROUGH},
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *body = json_object(), *h = NULL;
    unsigned lists = 0;
    int c, status = CLI_OK, ret;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, host_update_help,
                           &status)) != -1) {
        if (c == CLI_OPT_EXIT ||
            (status = host_update_option(cli, c, optarg, body, &lists)) !=
                CLI_OK) {
            json_decref(body);
            return status;
        }
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "HOST")) ==
            CLI_OK &&
        json_object_size(body) == 0)
        status = cli_usage(cli, "nothing to change: give at least one "
                                "setting");
    if (status != CLI_OK ||
        !(path = cli_ref_path(cli, "hosts", argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK) {
        json_decref(body);
        return status;
    }
    ret = cli_http_call(cli->http, "PATCH", path, body, 0, &h, &err);
    json_decref(body);
    if (ret < 0)
        return cli_fail(&err);
    if (cli->output == CLI_OUT_JSON) {
        cli_print_json(h);
    } else {
        vr_autofree char *name = vr_strdup(cli_jstr(h, "name"));
        cli_sanitize(name);
        printf("host '%s' updated: %s\n", name,
               json_is_true(json_object_get(h, "enabled")) ? "enabled"
                                                           : "disabled");
        if (json_is_object(json_object_get(h, "config")))
            print_config(stdout, json_object_get(h, "config"));
    }
    json_decref(h);
    return CLI_OK;
}

static int host_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"transport", required_argument, NULL, OPT_TRANSPORT},
        {"caps", required_argument, NULL, OPT_CAPS},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    json_t *body = json_object(), *h = NULL;
    const char *caps = NULL;
    int c, status = CLI_OK, ret;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, host_add_help,
                           &status)) != -1) {
        char *end = NULL;
        long n;
        uint64_t bytes;

        switch (c) {
        case CLI_OPT_EXIT:
            break;
        case OPT_TRANSPORT:
            json_object_set_new(body, "transport", json_string(optarg));
            break;
        case OPT_CAPS:
            caps = optarg;
            break;
        case OPT_CPUS:
            n = strtol(optarg, &end, 10);
            if (end == optarg || *end || n < 2 || n > 512)
                status = cli_usage(cli, "--cpus must be a number from 2 to "
                                   "512, not '%.32s'", optarg);
            else
                json_object_set_new(body, "cpus", json_integer(n));
            break;
        case OPT_MEMORY:
            status = cli_parse_size(cli, "--memory", optarg, 1ULL << 20,
                                    &bytes);
            if (status == CLI_OK)
                json_object_set_new(body, "memory",
                                    json_integer((json_int_t)(bytes >> 20)));
            break;
        case OPT_CLUSTER:
            json_object_set_new(body, "cluster", json_string(optarg));
            break;
        default:
            break;
        }
        if (c == CLI_OPT_EXIT || status != CLI_OK) {
            json_decref(body);
            return status;
        }
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "NAME")) ==
            CLI_OK &&
        !json_object_get(body, "transport"))
        status = cli_usage(cli, "--transport is required (sim)");
    if (status == CLI_OK && caps &&
        (json_object_get(body, "cpus") || json_object_get(body, "memory")))
        status = cli_usage(cli, "--caps excludes --cpus and --memory");
    if (status == CLI_OK && caps) {
        char *xml = NULL;
        size_t len = 0;
        if (vr_read_file(caps, 1 << 20, &xml, &len, &err) < 0) {
            json_decref(body);
            return cli_fail(&err);
        }
        json_object_set_new(body, "capabilities", json_string(xml));
        free(xml);
        if (!json_object_get(body, "capabilities")) {
            json_decref(body);
            return cli_failf("'%s' is not UTF-8 text", caps);
        }
    }
    if (status != CLI_OK || (status = cli_connect(cli)) != CLI_OK) {
        json_decref(body);
        return status;
    }
    json_object_set_new(body, "name", json_string(argv[optind]));
    ret = cli_http_call(cli->http, "POST", "/api/v1/hosts", body, 0, &h,
                        &err);
    json_decref(body);
    if (ret < 0)
        return cli_fail(&err);
    if (cli->output == CLI_OUT_JSON) {
        cli_print_json(h);
    } else {
        vr_autofree char *name = vr_strdup(cli_jstr(h, "name"));
        char id[24];
        cli_sanitize(name);
        printf("host '%s' added (id %s): %s\n", name,
               cli_jint(h, "id", id, sizeof(id)), cli_jstr(h, "state"));
    }
    json_decref(h);
    return CLI_OK;
}

static int host_delete(struct cli *cli, int argc, char **argv)
{
    static const struct cli_delete d = {host_delete_help, "hosts", "HOST",
                                        "host", "host", "removed"};
    return cli_cmd_delete(cli, argc, argv, &d);
}

int cli_cmd_host(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"list", host_list},
        {"show", host_show},
        {"update", host_update},
        {"add", host_add},
        {"delete", host_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), host_help);
}

/* ---- events (Server-Sent Events) */

static const char events_help[] =
    "Usage: vireo events [--kinds KIND,...]\n"
    "\n"
    "Print the server's events as they happen, one line each: the event\n"
    "kind, then its JSON.  Runs until interrupted.\n"
    "\n"
    "Options:\n"
    "  --kinds LIST       comma-separated kinds to receive: vm, job, image,\n"
    "                     host (default: all)\n"
    "  -o, --output FMT   table (\"KIND JSON\" lines) or json (one JSON\n"
    "                     object a line: {\"event\", \"id\", \"data\"})\n"
    "  -h, --help         show this help\n";

/* The parser of an event stream: lines accumulate until a blank one. */
struct sse {
    const struct cli *cli;
    struct vr_buf line; /* the current, incomplete line */
    struct vr_buf data; /* data: lines of the current event */
    char event[32];
    char id[32];
};

static void sse_dispatch(struct sse *s)
{
    if (s->data.len == 0 && !s->event[0])
        return;
    if (s->data.len && s->data.data[s->data.len - 1] == '\n')
        s->data.data[--s->data.len] = '\0';
    if (s->cli->output == CLI_OUT_JSON) {
        json_t *data = json_loadb(s->data.data, s->data.len, 0, NULL);
        json_t *line = json_pack("{s:s, s:s?, s:o}", "event",
                                 s->event[0] ? s->event : "message", "id",
                                 s->id[0] ? s->id : NULL, "data",
                                 data ? data : json_string(s->data.data));
        char *text = json_dumps(line, JSON_COMPACT);
        if (text) {
            puts(text);
            free(text);
        }
        json_decref(line);
    } else {
        cli_sanitize(s->data.data);
        printf("%s %s\n", s->event[0] ? s->event : "message", s->data.data);
    }
    fflush(stdout);
    s->data.len = 0;
    s->data.data[0] = '\0';
    s->event[0] = '\0';
}

static void sse_line(struct sse *s, char *line)
{
    char *colon, *value;

    if (!*line) {
        sse_dispatch(s);
        return;
    }
    if (*line == ':')
        return; /* a comment (keep-alive) */
    colon = strchr(line, ':');
    value = colon ? colon + 1 : line + strlen(line);
    if (colon)
        *colon = '\0';
    if (*value == ' ')
        value++;
    if (strcmp(line, "event") == 0) {
        vr_strlcpy(s->event, value, sizeof(s->event));
        cli_sanitize(s->event);
    } else if (strcmp(line, "data") == 0) {
        vr_buf_adds(&s->data, value);
        vr_buf_add(&s->data, "\n", 1);
    } else if (strcmp(line, "id") == 0) {
        vr_strlcpy(s->id, value, sizeof(s->id));
        cli_sanitize(s->id);
    }
}

static int sse_chunk(const char *data, size_t len, void *ctx)
{
    struct sse *s = ctx;

    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            if (s->line.len && s->line.data[s->line.len - 1] == '\r')
                s->line.data[--s->line.len] = '\0';
            sse_line(s, s->line.data);
            s->line.len = 0;
            s->line.data[0] = '\0';
        } else if (s->line.len < CLI_HTTP_MAX_BODY) {
            vr_buf_add(&s->line, &data[i], 1);
        }
    }
    return ferror(stdout) ? -1 : 0;
}

int cli_cmd_events(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kinds", required_argument, NULL, OPT_KINDS}, CLI_COMMON_OPTIONS, {0}};
    struct vr_error err = VR_ERROR_INIT;
    const char *kinds = NULL;
    vr_autofree char *path = NULL;
    struct sse s;
    int c, status = CLI_OK, ret;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, events_help, &status)) !=
           -1) {
        if (c != OPT_KINDS)
            return status;
        kinds = optarg;
    }
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (kinds) {
        vr_autofree char *esc = cli_http_escape(kinds);
        path = vr_asprintf("/api/v1/events?kinds=%s", esc);
    } else {
        path = vr_strdup("/api/v1/events");
    }
    memset(&s, 0, sizeof(s));
    s.cli = cli;
    vr_buf_init(&s.line);
    vr_buf_init(&s.data);
    ret = cli_http_stream(cli->http, path, sse_chunk, &s, &err);
    vr_buf_release(&s.line);
    vr_buf_release(&s.data);
    if (ret < 0 && cli_http_status(cli->http) != 200)
        return cli_fail(&err);
    return cli_failf("the server closed the event stream");
}

/* ---- cluster */

static const char cluster_help[] =
    "Usage: vireo cluster COMMAND [ARGS]\n"
    "\n"
    "A cluster is a set of hosts managed alike: its overcommit ratios apply\n"
    "to the hosts that set none of their own, its labels are the hosts'\n"
    "CLUSTER_LABELS, and its requirements and rank judge its hosts for VMs\n"
    "that bring none.  Every host is in one cluster: 'default' unless moved\n"
    "(vireo host update HOST --cluster C).  Superusers manage clusters.\n"
    "\n"
    "Commands:\n"
    "  create NAME [SETTINGS]  create a cluster\n"
    "  list                    list the clusters: ID NAME CPU-RATIO\n"
    "                          MEM-RATIO LABELS REQUIREMENTS RANK\n"
    "  show CLUSTER            show one cluster (id or name)\n"
    "  update CLUSTER SETTINGS change a cluster's settings\n"
    "  delete CLUSTER          delete a cluster without hosts\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

#define CLUSTER_SETTINGS_HELP                                              \
    "  --cpu-ratio X      vCPUs per shared host CPU for its hosts that set\n" \
    "                     none (0.1 to 64), or 'inherit': the daemon's\n"    \
    "                     host_cpu_ratio\n"                                  \
    "  --mem-ratio X      memory overcommit likewise (0.1 to 4, or\n"        \
    "                     'inherit')\n"                                      \
    "  --label L          a label (CLUSTER_LABELS in expressions); repeat\n" \
    "                     for each: the list replaces the cluster's\n"       \
    "  --no-labels        remove every label\n"                             \
    "  --requirements EXPR\n"                                               \
    "                     what its hosts must satisfy for a VM without\n"    \
    "                     requirements of its own, e.g. 'FREE_MEMORY > 1G'\n"\
    "  --no-requirements  none (the daemon's sched_requirements apply)\n"   \
    "  --rank EXPR        how its hosts rank for a VM without its own rank\n"\
    "  --no-rank          none (the daemon's sched_rank or policy)\n"       \
    "  -o, --output FMT   table or json\n"                                  \
    "  -h, --help         show this help\n"

static const char cluster_create_help[] =
    "Usage: vireo cluster create NAME [--cpu-ratio X] [--mem-ratio X]\n"
    "                            [--label L]... [--requirements EXPR]\n"
    "                            [--rank EXPR]\n"
    "\n"
    "Create a cluster (superusers).  The server checks the expressions and\n"
    "points at the column of a mistake.\n"
    "\n"
    "Options:\n" CLUSTER_SETTINGS_HELP;

static const char cluster_update_help[] =
    "Usage: vireo cluster update CLUSTER [--cpu-ratio X] [--mem-ratio X]\n"
    "                            [--label L]... [--no-labels]\n"
    "                            [--requirements EXPR] [--no-requirements]\n"
    "                            [--rank EXPR] [--no-rank]\n"
    "\n"
    "Change a cluster's settings (id or name; superusers).  What is not\n"
    "given is kept.  Its hosts and the VMs waiting for a host follow at\n"
    "once.\n"
    "\n"
    "Options:\n" CLUSTER_SETTINGS_HELP;

static const char cluster_list_help[] =
    "Usage: vireo cluster list\n"
    "\n"
    "List the clusters you may see: ID NAME CPU-RATIO MEM-RATIO LABELS\n"
    "REQUIREMENTS RANK ('-': inherited or none).\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

static const char cluster_show_help[] =
    "Usage: vireo cluster show CLUSTER\n"
    "\n"
    "Show a cluster (id or name).\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

static const char cluster_delete_help[] =
    "Usage: vireo cluster delete CLUSTER\n"
    "\n"
    "Delete a cluster (id or name; superusers).  Refused for 'default' and\n"
    "while hosts are in the cluster: move them first.\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json\n"
    "  -h, --help         show this help\n";

/* create NAME / update CLUSTER: the settings into a body, then the call. */
static int cluster_write(struct cli *cli, int argc, char **argv, bool create)
{
    static const struct option opts[] = {
        {"cpu-ratio", required_argument, NULL, OPT_CPU_RATIO},
        {"mem-ratio", required_argument, NULL, OPT_MEM_RATIO},
        {"label", required_argument, NULL, OPT_LABEL},
        {"no-labels", no_argument, NULL, OPT_NO_LABELS},
        {"requirements", required_argument, NULL, OPT_REQUIREMENTS},
        {"no-requirements", no_argument, NULL, OPT_NO_REQUIREMENTS},
        {"rank", required_argument, NULL, OPT_RANK},
        {"no-rank", no_argument, NULL, OPT_NO_RANK},
        CLI_COMMON_OPTIONS,
        {0}};
    const char *help = create ? cluster_create_help : cluster_update_help;
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *body = json_object(), *ans = NULL;
    unsigned lists = 0;
    int c, status = CLI_OK, ret;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, help, &status)) != -1) {
        if (create && (c == OPT_NO_LABELS || c == OPT_NO_REQUIREMENTS ||
                       c == OPT_NO_RANK))
            status = cli_usage(cli, "the --no- options are for update");
        if (c == CLI_OPT_EXIT || status != CLI_OK ||
            (status = host_update_option(cli, c, optarg, body, &lists)) !=
                CLI_OK) {
            json_decref(body);
            return status;
        }
    }
    status = cli_check_args(cli, argc - optind, 1, 1,
                            create ? "NAME" : "CLUSTER");
    if (status == CLI_OK && create) {
        if (vr_name_check(argv[optind], "cluster name", &err) < 0)
            status = cli_usage(cli, "%s", err.msg);
        else
            json_object_set_new(body, "name", json_string(argv[optind]));
        path = vr_strdup("/api/v1/clusters");
    } else if (status == CLI_OK) {
        if (json_object_size(body) == 0)
            status = cli_usage(cli, "nothing to change: give at least one "
                                    "setting");
        else
            path = cli_ref_path(cli, "clusters", argv[optind], "", &status);
    }
    if (status != CLI_OK || !path || (status = cli_connect(cli)) != CLI_OK) {
        json_decref(body);
        return status;
    }
    ret = cli_http_call(cli->http, create ? "POST" : "PATCH", path, body, 0,
                        &ans, &err);
    json_decref(body);
    if (ret < 0)
        return cli_fail(&err);
    cli_print_item(cli, ans);
    json_decref(ans);
    return CLI_OK;
}

static int cluster_create(struct cli *cli, int argc, char **argv)
{
    return cluster_write(cli, argc, argv, true);
}

static int cluster_update(struct cli *cli, int argc, char **argv)
{
    return cluster_write(cli, argc, argv, false);
}

static const char *ratio_cell(const json_t *v, char *buf, size_t size)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, size, "%g", json_number_value(v));
    return buf;
}

/* ID NAME CPU-RATIO MEM-RATIO LABELS REQUIREMENTS RANK */
static void cluster_row(struct cli_table *t, const json_t *c)
{
    vr_autofree char *labels = join_config(json_object_get(c, "labels"));
    char id[24], cpu[24], mem[24];
    const char *reqs = cli_jstr(c, "requirements");
    const char *rank = cli_jstr(c, "rank");
    const char *row[] = {
        cli_jint(c, "id", id, sizeof(id)), cli_jstr(c, "name"),
        ratio_cell(json_object_get(c, "cpu_ratio"), cpu, sizeof(cpu)),
        ratio_cell(json_object_get(c, "mem_ratio"), mem, sizeof(mem)),
        labels, *reqs ? reqs : "-", *rank ? rank : "-"};

    cli_table_add(t, row);
}

static int cluster_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID",        "NAME",   "CPU RATIO",
                                       "MEM RATIO", "LABELS", "REQUIREMENTS",
                                       "RANK"};
    static const struct cli_list l = {
        .help = cluster_list_help,
        .path = "/api/v1/clusters",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .add_row = cluster_row,
    };
    return cli_cmd_list(cli, argc, argv, &l);
}

static int cluster_show(struct cli *cli, int argc, char **argv)
{
    return cli_cmd_show(cli, argc, argv, cluster_show_help, "clusters",
                        "CLUSTER");
}

static int cluster_delete(struct cli *cli, int argc, char **argv)
{
    static const struct cli_delete d = {cluster_delete_help, "clusters",
                                        "CLUSTER", "cluster", "cluster",
                                        "deleted"};
    return cli_cmd_delete(cli, argc, argv, &d);
}

static int cli_cmd_cluster(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", cluster_create}, {"list", cluster_list},
        {"show", cluster_show},     {"update", cluster_update},
        {"delete", cluster_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds),
                        cluster_help);
}

/* ---- main */

static int run(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, OPT_URL},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"ca-file", required_argument, NULL, OPT_CA_FILE},
        {"version", no_argument, NULL, OPT_VERSION},
        CLI_COMMON_OPTIONS,
        {0}};
    static const struct {
        const char *name;
        cli_cmd_fn run;
    } groups[] = {
        {"login", cli_cmd_login},   {"logout", cli_cmd_logout},
        {"vm", cli_cmd_vm},         {"image", cli_cmd_image},
        {"host", cli_cmd_host},     {"job", cli_cmd_job},
        {"events", cli_cmd_events}, {"group", cli_cmd_group},
        {"user", cli_cmd_user},     {"quota", cli_cmd_quota},
        {"acl", cli_cmd_acl},       {"token", cli_cmd_token},
        {"chown", cli_cmd_chown},   {"chgrp", cli_cmd_chgrp},
        {"chmod", cli_cmd_chmod},   {"vm-group", cli_cmd_vm_group},
        {"cluster", cli_cmd_cluster},
    };
    int c, status = CLI_OK;
    const char *word;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "+", opts, main_help, &status)) !=
           -1) {
        switch (c) {
        case OPT_URL:
            cli->opt_url = optarg;
            break;
        case OPT_TOKEN:
            cli->opt_token = optarg;
            break;
        case OPT_CA_FILE:
            cli->opt_ca_file = optarg;
            break;
        case OPT_VERSION:
            printf("vireo %s\n", VIREO_VERSION);
            return CLI_OK;
        default:
            return status;
        }
    }
    if (optind >= argc)
        return cli_usage(cli, "missing command");
    word = argv[optind];
    if (strcmp(word, "help") == 0) {
        fputs(main_help, stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < VR_ARRAY_SIZE(groups); i++) {
        if (strcmp(word, groups[i].name) == 0) {
            vr_strlcpy(cli->cmd, word, sizeof(cli->cmd));
            return groups[i].run(cli, argc - optind, argv + optind);
        }
    }
    return cli_usage(cli, "unknown command '%.40s'", word);
}

int main(int argc, char **argv)
{
    struct cli cli;
    int status;

    memset(&cli, 0, sizeof(cli));
    cli.tty_err = isatty(STDERR_FILENO);
    if (sodium_init() < 0) {
        fputs("vireo: unable to initialise libsodium\n", stderr);
        return CLI_FAIL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("vireo: unable to initialise libcurl\n", stderr);
        return CLI_FAIL;
    }
    status = run(&cli, argc, argv);
    cli_http_free(cli.http);
    json_decref(cli.config);
    free(cli.config_path);
    free(cli.url);
    free(cli.ca_file);
    free(cli.pin);
    cli_secret_free(cli.token);
    curl_global_cleanup();
    if ((fflush(stdout) != 0 || ferror(stdout)) && status == CLI_OK) {
        fprintf(stderr, "vireo: unable to write the output: %s\n",
                strerror(errno));
        status = CLI_FAIL;
    }
    return status;
}
