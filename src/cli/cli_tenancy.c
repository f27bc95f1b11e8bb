/*
 * cli_tenancy.c - who may do what: `vireo group ...`, `vireo user ...`,
 * `vireo quota ...`, `vireo acl ...`, `vireo token ...`, and `vireo chown`,
 * `vireo chgrp`, `vireo chmod` on VMs, images and hosts.
 *
 * The server decides who may call what (see src/ctl/vr_authz.h); these
 * commands only check their command line, send one request (quota show
 * and the tables send a second one to turn ids into names) and print the
 * answer: the server's JSON with -o json, else a table, `key: value`
 * lines, or one line saying what changed.
 *
 * Ids in the server's answers (a user's group, a group's administrators,
 * a token's group) are shown by name when the caller may list those
 * objects, else as ids.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_cmds.h"
#include "vr_util.h"

#define MAX_QUOTA ((int64_t)1 << 50) /* the server's bound on a limit */

enum {
    OPT_GROUP = 256,
    OPT_GROUPS,
    OPT_PASSWORD_STDIN,
    OPT_USER,
    OPT_ALL,
    OPT_VMS,
    OPT_CPU,
    OPT_MEMORY,
    OPT_DISK,
    OPT_IMAGES,
    OPT_IMAGE_STORAGE,
    OPT_DEFAULT_USER,
    OPT_RESOURCES,
    OPT_ID,
    OPT_RIGHTS,
    OPT_CLUSTER,
};

#define OUTPUT_HELP                                                            \
    "  -o, --output FMT   table or json\n"                                     \
    "  -h, --help         show this help\n"

/* ---- shared pieces */

/* The common options only, then between min and max arguments (`names`
 * describes them in messages).  Returns 0 with optind at the first
 * argument, or -1 when the command ends with *status (help was printed,
 * or a usage error reported). */
static int plain_args(struct cli *cli, int argc, char **argv, const char *help,
                      int min, int max, const char *names, int *status)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    int c;

    *status = CLI_OK;
    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, help, status)) != -1)
        return -1;
    *status = cli_check_args(cli, argc - optind, min, max, names);
    return *status == CLI_OK ? 0 : -1;
}

/* Send `body` (taken; may be NULL) and keep the answer in *ans (NULL if
 * `ans` is NULL, or for an empty answer).  Returns CLI_OK, or CLI_FAIL
 * after reporting. */
static int call(struct cli *cli, const char *method, const char *path,
                json_t *body, json_t **ans)
{
    struct vr_error err = VR_ERROR_INIT;
    int ret = cli_http_call(cli->http, method, path, body, 0, ans, &err);

    json_decref(body);
    return ret < 0 ? cli_fail(&err) : CLI_OK;
}

/* The result of a change: `json` (taken; may be NULL) with -o json, else
 * one line made safe for the terminal.  Returns CLI_OK. */
static int report(const struct cli *cli, json_t *json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int report(const struct cli *cli, json_t *json, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (cli->output == CLI_OUT_JSON) {
        if (json)
            cli_print_json(json);
    } else {
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        cli_sanitize(line);
        printf("%s\n", line);
    }
    json_decref(json);
    return CLI_OK;
}

/* The whole of a create command: POST `body` (taken) to `path`, print the
 * new object.  Returns the exit status. */
static int create_object(struct cli *cli, const char *path, json_t *body)
{
    json_t *ans = NULL;
    int status = call(cli, "POST", path, body, &ans);

    if (status == CLI_OK)
        cli_print_item(cli, ans);
    json_decref(ans);
    return status;
}

/* The whole of a delete command: one argument naming an object of `coll`,
 * DELETE it, then "<what> '<ref>' <done>" (JSON: {"<what>": ref,
 * "<done>": true}).  Returns the exit status. */
static int delete_object(struct cli *cli, int argc, char **argv,
                         const char *help, const char *coll, const char *names,
                         const char *what, const char *done)
{
    const struct cli_delete d = {help, coll, names, what, what, done};
    return cli_cmd_delete(cli, argc, argv, &d);
}

/* A comma-separated list of names as a JSON array of strings, each
 * checked with `ok` (NULL: any non-empty word).  An empty list is an
 * empty array.  NULL after a usage error (*status set). */
static json_t *word_list(const struct cli *cli, const char *opt, const char *s,
                         bool (*ok)(const char *), const char *what,
                         int *status)
{
    json_t *a = json_array();
    vr_autofree char *copy = vr_strdup(s);
    char *p = copy;

    while (*s) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        if (!*p || (ok && !ok(p))) {
            json_decref(a);
            *status = cli_usage(cli,
                                "%s takes a comma-separated list of %s, "
                                "not '%.64s'",
                                opt, what, s);
            return NULL;
        }
        json_array_append_new(a, json_string(p));
        if (!comma)
            break;
        p = comma + 1;
    }
    return a;
}

/* ---- ids to names */

/* Maps from ids (as strings) to names of the groups and the users the
 * caller may list; NULL when not needed or not allowed. */
struct names {
    json_t *groups;
    json_t *users;
};

/* {"<id>": "<name>"} of the objects of `path` the caller may list; NULL
 * if it may not (the tables then show ids). */
static json_t *name_map(struct cli *cli, const char *path)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *list, *map, *item;
    size_t i;

    if (cli_list_all(cli, path, NULL, &list, &err) < 0)
        return NULL;
    map = json_object();
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        char key[24];

        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(item, "id")));
        if (name)
            json_object_set_new(map, key, json_string(name));
    }
    json_decref(list);
    return map;
}

static void names_release(struct names *n)
{
    json_decref(n->groups);
    json_decref(n->users);
    memset(n, 0, sizeof(*n));
}

/* The name of the object whose id is `id` in `map`, else the id ("-" if
 * `id` is not a number).  Returns `buf` or a string of `map`. */
static const char *id_name(const json_t *map, const json_t *id, char *buf,
                           size_t size)
{
    const char *name;

    if (!json_is_integer(id))
        return "-";
    snprintf(buf, size, "%lld", (long long)json_integer_value(id));
    name = json_string_value(json_object_get(map, buf));
    return name ? name : buf;
}

/* The names of an array of ids, comma-separated, in `b` (initialised). */
static void id_names(const json_t *map, const json_t *ids, struct vr_buf *b)
{
    const json_t *id;
    char buf[24];
    size_t i;

    json_array_foreach(ids, i, id)
    {
        if (i)
            vr_buf_adds(b, ",");
        vr_buf_adds(b, id_name(map, id, buf, sizeof(buf)));
    }
}

/* A list command whose rows name other objects. */
struct ten_list {
    const char *help;        /* its --help text */
    const char *path;        /* the collection: "/api/v1/users" */
    const char *const *head; /* the table's column titles */
    size_t ncols;            /* how many titles (and cells a row) */
    bool need_groups;        /* rows name groups */
    bool need_users;         /* rows name users */
    /* Add the row of one item to `t` (t->ncols cells). */
    void (*add_row)(struct cli_table *t, const json_t *item,
                    const struct names *n);
};

/* The whole of such a list command (like cli_cmd_list()). */
static int ten_list(struct cli *cli, int argc, char **argv,
                    const struct ten_list *l)
{
    struct vr_error err = VR_ERROR_INIT;
    struct names n = {NULL, NULL};
    struct cli_table t;
    const json_t *item;
    json_t *list;
    size_t i;
    int status;

    if (plain_args(cli, argc, argv, l->help, 0, 0, "", &status) < 0 ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (cli_list_all(cli, l->path, NULL, &list, &err) < 0)
        return cli_fail(&err);
    if (cli->output == CLI_OUT_JSON) {
        cli_print_json(list);
        json_decref(list);
        return CLI_OK;
    }
    if (l->need_groups)
        n.groups = name_map(cli, "/api/v1/groups");
    if (l->need_users)
        n.users = name_map(cli, "/api/v1/users");
    cli_table_init(&t, l->head, l->ncols);
    json_array_foreach(json_object_get(list, "items"), i, item)
        l->add_row(&t, item, &n);
    cli_table_print(&t, stdout);
    cli_table_release(&t);
    names_release(&n);
    json_decref(list);
    return CLI_OK;
}

/* ---- passwords */

/* Wipe jansson's copy of the string member `key` of `body`. */
static void wipe_member(json_t *body, const char *key)
{
    char *s = (char *)json_string_value(json_object_get(body, key));

    if (s)
        memset(s, 0, strlen(s));
}

/* The new password of `user`: the first line of standard input, or asked
 * twice on the terminal.  NULL after reporting (*status set).  Free with
 * cli_secret_free(). */
static char *new_password(const char *user, bool from_stdin, int *status)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *prompt = NULL;
    char *pw, *again;

    if (from_stdin) {
        pw = cli_read_password("-", NULL, &err);
        if (!pw)
            *status = cli_fail(&err);
        return pw;
    }
    if (!isatty(STDIN_FILENO)) {
        *status = cli_failf("standard input is not a terminal: give the "
                            "password of '%s' on its first line with "
                            "--password-stdin",
                            user);
        return NULL;
    }
    prompt = vr_asprintf("New password for '%s': ", user);
    if (!(pw = cli_read_password(NULL, prompt, &err))) {
        *status = cli_fail(&err);
        return NULL;
    }
    if (!(again = cli_read_password(NULL, "Repeat it: ", &err))) {
        cli_secret_free(pw);
        *status = cli_fail(&err);
        return NULL;
    }
    if (strcmp(pw, again) != 0) {
        cli_secret_free(pw);
        cli_secret_free(again);
        *status = cli_failf("the two passwords differ");
        return NULL;
    }
    cli_secret_free(again);
    return pw;
}

/* Is USER (a reference) the caller's own account?  1 yes, 0 no, -1 after
 * reporting (*status set). */
static int own_account(struct cli *cli, const char *user, int *status)
{
    struct vr_error err = VR_ERROR_INIT;
    vr_autofree char *path = NULL;
    json_t *me = NULL, *them = NULL;
    int same;

    if (strcmp(user, "me") == 0)
        return 1;
    if (!(path = cli_ref_path(cli, "users", user, "", status)))
        return -1;
    if (cli_http_call(cli->http, "GET", "/api/v1/users/me", NULL, 0, &me,
                      &err) < 0 ||
        cli_http_call(cli->http, "GET", path, NULL, 0, &them, &err) < 0) {
        json_decref(me);
        *status = cli_fail(&err);
        return -1;
    }
    same = json_integer_value(json_object_get(me, "id")) ==
           json_integer_value(json_object_get(them, "id"));
    json_decref(me);
    json_decref(them);
    return same;
}

/* POST or PATCH a body holding a password (taken; the password in it is
 * wiped).  *ans as for call(). */
static int call_secret(struct cli *cli, const char *method, const char *path,
                       json_t *body, json_t **ans)
{
    struct vr_error err = VR_ERROR_INIT;
    int ret = cli_http_call(cli->http, method, path, body, 0, ans, &err);

    wipe_member(body, "password");
    wipe_member(body, "current_password");
    json_decref(body);
    return ret < 0 ? cli_fail(&err) : CLI_OK;
}

/* ---- group */

static const char group_help[] =
    "Usage: vireo group COMMAND [ARGS]\n"
    "\n"
    "Groups are the tenants: every user belongs to one primary group and\n"
    "possibly others, every VM and image to one group.\n"
    "\n"
    "Commands:\n"
    "  create NAME        create a group\n"
    "  list               list groups: ID NAME ADMINS VMS MEMORY\n"
    "  show GROUP         show a group (id or name), its quotas and usage\n"
    "  delete GROUP       delete a group no user or object belongs to\n"
    "  admin add GROUP USER\n"
    "                     make USER an administrator of GROUP\n"
    "  admin remove GROUP USER\n"
    "                     take that away\n"
    "  switch GROUP       work in another of your groups from now on\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char group_create_help[] =
    "Usage: vireo group create NAME\n"
    "\n"
    "Create a group (superusers only), with a rule letting its members\n"
    "create VMs and images in it.  Its quotas start unlimited: see 'vireo\n"
    "quota set --group'.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char group_list_help[] =
    "Usage: vireo group list\n"
    "\n"
    "List the groups you may see: ID NAME ADMINS VMS MEMORY (VMS and\n"
    "MEMORY are what the group's VMs use now).\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char group_show_help[] =
    "Usage: vireo group show GROUP\n"
    "\n"
    "Show a group (id or name): its administrators (user ids), its quota,\n"
    "the default quota of its users (user_quota) and its usage.\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table (key: value lines) or json\n"
    "  -h, --help         show this help\n";

static const char group_delete_help[] =
    "Usage: vireo group delete GROUP\n"
    "\n"
    "Delete a group (superusers only).  The built-in groups, and a group\n"
    "that users or objects still belong to, cannot be deleted.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char group_admin_help[] =
    "Usage: vireo group admin add|remove GROUP USER\n"
    "\n"
    "Make USER an administrator of GROUP, or no longer (superusers only).\n"
    "An administrator working in the group manages its users and all its\n"
    "objects.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char group_switch_help[] =
    "Usage: vireo group switch GROUP\n"
    "\n"
    "Work in GROUP, another of your groups: get a new token for it.  What\n"
    "you create from then on belongs to GROUP, and you see what GROUP may\n"
    "see.  The new token replaces the saved one in the config file (and\n"
    "the group is kept there for silent re-logins); when the token in use\n"
    "came from --token or $VIREO_TOKEN it is printed instead.\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table or json (json prints the server's answer)\n"
    "  -h, --help         show this help\n";

static int group_create(struct cli *cli, int argc, char **argv)
{
    struct vr_error err = VR_ERROR_INIT;
    int status;

    if (plain_args(cli, argc, argv, group_create_help, 1, 1, "NAME", &status) <
        0)
        return status;
    if (vr_name_check(argv[optind], "group name", &err) < 0)
        return cli_usage(cli, "%s", err.msg);
    if ((status = cli_connect(cli)) != CLI_OK)
        return status;
    return create_object(cli, "/api/v1/groups",
                         json_pack("{s:s}", "name", argv[optind]));
}

/* ID NAME ADMINS VMS MEMORY */
static void group_row(struct cli_table *t, const json_t *g,
                      const struct names *n)
{
    const json_t *usage = json_object_get(g, "usage");
    struct vr_buf admins;
    char id[24], vms[24], mem[16];

    vr_buf_init(&admins);
    id_names(n->users, json_object_get(g, "admins"), &admins);
    {
        const char *row[] = {
            cli_jint(g, "id", id, sizeof(id)),
            cli_jstr(g, "name"),
            admins.data,
            cli_jint(usage, "vms", vms, sizeof(vms)),
            cli_jsize(usage, "memory_mib", 1u << 20, mem, sizeof(mem)),
        };
        cli_table_add(t, row);
    }
    vr_buf_release(&admins);
}

static int group_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID", "NAME", "ADMINS", "VMS", "MEMORY"};
    static const struct ten_list l = {
        .help = group_list_help,
        .path = "/api/v1/groups",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .need_users = true,
        .add_row = group_row,
    };
    return ten_list(cli, argc, argv, &l);
}

static int group_show(struct cli *cli, int argc, char **argv)
{
    return cli_cmd_show(cli, argc, argv, group_show_help, "groups", "GROUP");
}

static int group_delete(struct cli *cli, int argc, char **argv)
{
    return delete_object(cli, argc, argv, group_delete_help, "groups", "GROUP",
                         "group", "deleted");
}

/* group admin add|remove: argv[0] says which. */
static int group_admin_set(struct cli *cli, int argc, char **argv)
{
    bool add = strcmp(argv[0], "add") == 0;
    vr_autofree char *path = NULL;
    vr_autofree char *esc = NULL;
    const char *group, *user;
    json_t *ans = NULL;
    int status;

    if (plain_args(cli, argc, argv, group_admin_help, 2, 2, "GROUP USER",
                   &status) < 0)
        return status;
    group = argv[optind];
    user = argv[optind + 1];
    if (!*user || strchr(user, '/'))
        return cli_usage(cli, "'%.64s' is not a user id or name", user);
    esc = cli_http_escape(user);
    if (add)
        path = cli_ref_path(cli, "groups", group, "/admins", &status);
    else {
        vr_autofree char *suffix = vr_asprintf("/admins/%s", esc);
        path = cli_ref_path(cli, "groups", group, suffix, &status);
    }
    if (!path || (status = cli_connect(cli)) != CLI_OK)
        return status;
    if ((status = call(cli, add ? "POST" : "DELETE", path,
                       add ? json_pack("{s:s}", "user", user) : NULL, &ans)) !=
        CLI_OK)
        return status;
    return report(cli, ans,
                  add ? "user '%s' is an administrator of group '%s'"
                      : "user '%s' is no longer an administrator of "
                        "group '%s'",
                  user, cli_jstr(ans, "name"));
}

static int group_admin(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"add", group_admin_set},
        {"remove", group_admin_set},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds),
                        group_admin_help);
}

static int group_switch(struct cli *cli, int argc, char **argv)
{
    struct vr_error err = VR_ERROR_INIT;
    const char *group, *token, *saved;
    bool was_saved;
    json_t *ans = NULL;
    int status;

    if (plain_args(cli, argc, argv, group_switch_help, 1, 1, "GROUP", &status) <
        0)
        return status;
    group = argv[optind];
    if ((status = cli_connect(cli)) != CLI_OK)
        return status;
    if ((status = call(cli, "POST", "/api/v1/tokens/switch",
                       json_pack("{s:s}", "group", group), &ans)) != CLI_OK)
        return status;
    token = json_string_value(json_object_get(ans, "token"));
    if (!token) {
        json_decref(ans);
        return cli_failf("the server sent no token");
    }
    saved = json_string_value(json_object_get(cli->config, "token"));
    was_saved = !cli->token_explicit && cli->config_applies && saved &&
                cli->token && strcmp(saved, cli->token) == 0;
    if (!was_saved) {
        if (cli->output == CLI_OUT_JSON)
            cli_print_json(ans);
        else
            printf("%s\n", token);
        json_decref(ans);
        return CLI_OK;
    }
    json_object_set_new(cli->config, "token", json_string(token));
    json_object_set_new(cli->config, "group", json_string(group));
    if (!json_object_get(cli->config, "url"))
        json_object_set_new(cli->config, "url", json_string(cli->url));
    if (cli_config_save(cli->config_path, cli->config, &err) < 0) {
        json_decref(ans);
        return cli_fail(&err);
    }
    json_object_del(ans, "token");
    return report(cli, ans,
                  "working in group '%s' (token saved in %s, expires %s)",
                  group, cli->config_path, cli_jstr(ans, "expires_at"));
}

int cli_cmd_group(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", group_create}, {"list", group_list},
        {"show", group_show},     {"delete", group_delete},
        {"admin", group_admin},   {"switch", group_switch},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), group_help);
}

/* ---- user */

static const char user_help[] =
    "Usage: vireo user COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  create NAME [--group G] [--groups G2,G3] [--password-stdin]\n"
    "                     create a user\n"
    "  list               list users: ID NAME GROUP ENABLED AUTH VMS\n"
    "  show USER          show a user (id, name, or 'me')\n"
    "  delete USER        delete a user who owns nothing\n"
    "  passwd USER [--password-stdin]\n"
    "                     set a user's password\n"
    "  enable USER        let a user log in again\n"
    "  disable USER       refuse a user's logins and tokens\n"
    "  set-groups USER [--group G] [--groups G2,G3]\n"
    "                     change a user's groups\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

#define PASSWORD_HELP                                                          \
    "  --password-stdin   read the password from the first line of\n"          \
    "                     standard input (without it, it is asked twice on\n"  \
    "                     the terminal)\n"

static const char user_create_help[] =
    "Usage: vireo user create NAME [--group G] [--groups G2,G3]\n"
    "                         [--password-stdin]\n"
    "\n"
    "Create a user in a primary group and possibly secondary ones.  It\n"
    "takes administering every group named: a superuser, or an\n"
    "administrator of the group working in it.\n"
    "\n"
    "Options:\n"
    "  --group G          the primary group (default: the group you work\n"
    "                     in)\n"
    "  --groups G2,G3     secondary groups, comma-separated\n" PASSWORD_HELP
        OUTPUT_HELP;

static const char user_list_help[] =
    "Usage: vireo user list\n"
    "\n"
    "List the users you may see: ID NAME GROUP ENABLED AUTH VMS (GROUP is\n"
    "the primary group, VMS how many VMs the user owns).\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char user_show_help[] =
    "Usage: vireo user show USER\n"
    "\n"
    "Show a user (id or name; 'me' is you): groups (ids), quota, usage.\n"
    "\n"
    "Options:\n"
    "  -o, --output FMT   table (key: value lines) or json\n"
    "  -h, --help         show this help\n";

static const char user_delete_help[] =
    "Usage: vireo user delete USER\n"
    "\n"
    "Delete a user (id or name) who owns no VM or image, with its tokens.\n"
    "You cannot delete yourself.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char user_passwd_help[] =
    "Usage: vireo user passwd USER [--password-stdin]\n"
    "\n"
    "Set the password of USER (id, name, or 'me').  Changing your own\n"
    "password takes the current one too: it is asked first (with\n"
    "--password-stdin: the first line is the current password, the second\n"
    "the new one).  Every other session of the user ends: its tokens are\n"
    "revoked (yours stays when you change your own).\n"
    "\n"
    "Options:\n" PASSWORD_HELP OUTPUT_HELP;

static const char user_enable_help[] =
    "Usage: vireo user enable|disable USER\n"
    "\n"
    "Enable or disable a user (id or name).  A disabled user cannot log in\n"
    "and its tokens stop working; its objects stay.  You cannot disable\n"
    "yourself.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char user_set_groups_help[] =
    "Usage: vireo user set-groups USER [--group G] [--groups G2,G3]\n"
    "\n"
    "Change a user's primary group and/or secondary groups (superusers\n"
    "only).  --groups replaces every secondary group; --groups '' leaves\n"
    "none.  Tokens working in a group the user left stop working.\n"
    "\n"
    "Options:\n"
    "  --group G          the new primary group\n"
    "  --groups G2,G3     new secondary groups, comma-separated\n" OUTPUT_HELP;

static bool is_name(const char *s)
{
    return strchr(s, '/') == NULL;
}

static int user_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"group", required_argument, NULL, OPT_GROUP},
        {"groups", required_argument, NULL, OPT_GROUPS},
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    const char *group = NULL, *groups_opt = NULL, *name;
    bool pw_stdin = false;
    json_t *groups = NULL, *body, *ans = NULL;
    char *pw;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, user_create_help,
                           &status)) != -1) {
        switch (c) {
        case OPT_GROUP:
            group = optarg;
            break;
        case OPT_GROUPS:
            groups_opt = optarg;
            break;
        case OPT_PASSWORD_STDIN:
            pw_stdin = true;
            break;
        default:
            return status;
        }
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "NAME")) != CLI_OK)
        return status;
    name = argv[optind];
    if (vr_name_check(name, "user name", &err) < 0)
        return cli_usage(cli, "%s", err.msg);
    if (group && (!*group || strchr(group, '/')))
        return cli_usage(cli, "--group takes a group id or name");
    if (groups_opt && !(groups = word_list(cli, "--groups", groups_opt, is_name,
                                           "groups", &status)))
        return status;
    if ((status = cli_connect(cli)) != CLI_OK ||
        !(pw = new_password(name, pw_stdin, &status))) {
        json_decref(groups);
        return status;
    }
    body = json_pack("{s:s, s:s, s:s*, s:o*}", "name", name, "password", pw,
                     "group", group, "groups", groups);
    cli_secret_free(pw);
    if (!body)
        return cli_failf("the password or a group name is not valid UTF-8");
    if ((status = call_secret(cli, "POST", "/api/v1/users", body, &ans)) ==
        CLI_OK)
        cli_print_item(cli, ans);
    json_decref(ans);
    return status;
}

/* ID NAME GROUP ENABLED AUTH VMS */
static void user_row(struct cli_table *t, const json_t *u,
                     const struct names *n)
{
    char id[24], group[24], vms[24];
    const char *row[] = {
        cli_jint(u, "id", id, sizeof(id)),
        cli_jstr(u, "name"),
        id_name(n->groups, json_object_get(u, "group_id"), group,
                sizeof(group)),
        json_is_true(json_object_get(u, "enabled")) ? "yes" : "no",
        cli_jstr(u, "auth"),
        cli_jint(json_object_get(u, "usage"), "vms", vms, sizeof(vms)),
    };

    cli_table_add(t, row);
}

static int user_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID",      "NAME", "GROUP",
                                       "ENABLED", "AUTH", "VMS"};
    static const struct ten_list l = {
        .help = user_list_help,
        .path = "/api/v1/users",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .need_groups = true,
        .add_row = user_row,
    };
    return ten_list(cli, argc, argv, &l);
}

static int user_show(struct cli *cli, int argc, char **argv)
{
    return cli_cmd_show(cli, argc, argv, user_show_help, "users", "USER");
}

static int user_delete(struct cli *cli, int argc, char **argv)
{
    return delete_object(cli, argc, argv, user_delete_help, "users", "USER",
                         "user", "deleted");
}

static int user_passwd(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"password-stdin", no_argument, NULL, OPT_PASSWORD_STDIN},
        CLI_COMMON_OPTIONS,
        {0}};
    vr_autofree char *path = NULL;
    const char *user;
    bool pw_stdin = false;
    json_t *body;
    char *pw, *current = NULL;
    int c, self, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, user_passwd_help,
                           &status)) != -1) {
        if (c != OPT_PASSWORD_STDIN)
            return status;
        pw_stdin = true;
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "USER")) != CLI_OK)
        return status;
    user = argv[optind];
    if (!(path = cli_ref_path(cli, "users", user, "/password", &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if ((self = own_account(cli, user, &status)) < 0)
        return status;
    if (self) {
        struct vr_error err = VR_ERROR_INIT;
        current = pw_stdin ? cli_read_password("-", NULL, &err)
                           : isatty(STDIN_FILENO)
                                 ? cli_read_password(NULL, "Current password: ",
                                                     &err)
                                 : NULL;
        if (!current && !pw_stdin && !isatty(STDIN_FILENO))
            return cli_failf("standard input is not a terminal: give the "
                             "current password and the new one on its "
                             "first two lines with --password-stdin");
        if (!current)
            return cli_fail(&err);
    }
    if (!(pw = new_password(user, pw_stdin, &status))) {
        cli_secret_free(current);
        return status;
    }
    body = current ? json_pack("{s:s, s:s}", "password", pw,
                               "current_password", current)
                   : json_pack("{s:s}", "password", pw);
    cli_secret_free(pw);
    cli_secret_free(current);
    if (!body)
        return cli_failf("the password is not valid UTF-8");
    if ((status = call_secret(cli, "POST", path, body, NULL)) != CLI_OK)
        return status;
    if (strcmp(user, "me") == 0)
        return report(cli,
                      json_pack("{s:s, s:b}", "user", user, "password_set", 1),
                      "your password was changed");
    return report(cli, json_pack("{s:s, s:b}", "user", user, "password_set", 1),
                  "password of user '%s' changed", user);
}

/* user enable|disable: argv[0] says which. */
static int user_enable(struct cli *cli, int argc, char **argv)
{
    bool enable = strcmp(argv[0], "enable") == 0;
    vr_autofree char *path = NULL;
    json_t *ans = NULL;
    int status;

    if (plain_args(cli, argc, argv, user_enable_help, 1, 1, "USER", &status) <
            0 ||
        !(path = cli_ref_path(cli, "users", argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK ||
        (status = call(cli, "PATCH", path,
                       json_pack("{s:b}", "enabled", enable), &ans)) != CLI_OK)
        return status;
    return report(cli, ans, "user '%s' %s", cli_jstr(ans, "name"),
                  enable ? "enabled" : "disabled");
}

static int user_set_groups(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"group", required_argument, NULL, OPT_GROUP},
        {"groups", required_argument, NULL, OPT_GROUPS},
        CLI_COMMON_OPTIONS,
        {0}};
    vr_autofree char *path = NULL;
    const char *group = NULL, *groups_opt = NULL;
    struct vr_buf others;
    json_t *groups = NULL, *ans = NULL, *map;
    char gbuf[24];
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, user_set_groups_help,
                           &status)) != -1) {
        if (c == OPT_GROUP)
            group = optarg;
        else if (c == OPT_GROUPS)
            groups_opt = optarg;
        else
            return status;
    }
    if ((status = cli_check_args(cli, argc - optind, 1, 1, "USER")) != CLI_OK)
        return status;
    if (!group && !groups_opt)
        return cli_usage(cli, "give --group, --groups or both");
    if (group && (!*group || strchr(group, '/')))
        return cli_usage(cli, "--group takes a group id or name");
    if (groups_opt && !(groups = word_list(cli, "--groups", groups_opt, is_name,
                                           "groups", &status)))
        return status;
    if (!(path = cli_ref_path(cli, "users", argv[optind], "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK) {
        json_decref(groups);
        return status;
    }
    if ((status =
             call(cli, "PATCH", path,
                  json_pack("{s:s*, s:o*}", "group", group, "groups", groups),
                  &ans)) != CLI_OK)
        return status;
    if (cli->output == CLI_OUT_JSON) {
        cli_print_json(ans);
        json_decref(ans);
        return CLI_OK;
    }
    map = name_map(cli, "/api/v1/groups");
    vr_buf_init(&others);
    id_names(map, json_object_get(ans, "groups"), &others);
    report(cli, NULL, "user '%s': primary group '%s', other groups: %s",
           cli_jstr(ans, "name"),
           id_name(map, json_object_get(ans, "group_id"), gbuf, sizeof(gbuf)),
           others.len ? others.data : "none");
    vr_buf_release(&others);
    json_decref(map);
    json_decref(ans);
    return CLI_OK;
}

int cli_cmd_user(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", user_create},  {"list", user_list},
        {"show", user_show},      {"delete", user_delete},
        {"passwd", user_passwd},  {"enable", user_enable},
        {"disable", user_enable}, {"set-groups", user_set_groups},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), user_help);
}

/* ---- quota */

static const char quota_help[] =
    "Usage: vireo quota COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  set (--user U | --group G) [--vms N] [--cpu N] [--memory SIZE]\n"
    "      [--disk SIZE] [--images N] [--image-storage SIZE] [--default-user]\n"
    "                     set limits (superusers only)\n"
    "  show [--user U | --group G]\n"
    "                     show limits and usage (default: yours)\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char quota_set_help[] =
    "Usage: vireo quota set (--user U | --group G) [--vms N] [--cpu N]\n"
    "                       [--memory SIZE] [--disk SIZE] [--images N]\n"
    "                       [--image-storage SIZE] [--default-user]\n"
    "\n"
    "Set the limits of a user or of a group (superusers only); the limits\n"
    "not given stay as they are.  A user is held to its own limits and to\n"
    "its primary group's; a group's limits count everything its VMs and\n"
    "images use.  Then print the limits as 'quota show' does.\n"
    "\n"
    "Each value is a number (sizes: 512M, 20G, 1T; a bare number is MiB),\n"
    "'unlimited', or for a user 'default': the group's default for its\n"
    "users.\n"
    "\n"
    "Options:\n"
    "  --user U           the user (id or name)\n"
    "  --group G          the group (id or name)\n"
    "  --default-user     with --group: set the default limits of the\n"
    "                     group's users instead of the group's own\n"
    "  --vms N            how many VMs\n"
    "  --cpu N            how many vCPUs in all\n"
    "  --memory SIZE      memory of all VMs\n"
    "  --disk SIZE        system disks of all VMs\n"
    "  --images N         how many images\n"
    "  --image-storage SIZE\n"
    "                     stored size of all images\n" OUTPUT_HELP;

static const char quota_show_help[] =
    "Usage: vireo quota show [--user U | --group G]\n"
    "\n"
    "Show a quota: RESOURCE USED LIMIT.  For a user (default: you), a\n"
    "limit set to 'default' shows the group's default for its users that\n"
    "applies, followed by '(default)', or 'default' if you may not see the\n"
    "group.  For a group, USER-DEFAULT is that default.\n"
    "\n"
    "Options:\n"
    "  --user U           a user (id, name or 'me')\n"
    "  --group G          a group (id or name)\n"
    "  -o, --output FMT   table or json (json prints the user or group as\n"
    "                     the server sent it)\n"
    "  -h, --help         show this help\n";

/* The limits, in the order of the table, with their options. */
static const struct quota_res {
    const char *key;   /* in the API */
    const char *label; /* in the table */
    const char *opt;   /* of quota set */
    int opt_val;
    bool size; /* MiB */
} quota_res[] = {
    {"vms", "vms", "--vms", OPT_VMS, false},
    {"vcpus", "vcpus", "--cpu", OPT_CPU, false},
    {"memory_mib", "memory", "--memory", OPT_MEMORY, true},
    {"disk_mib", "disk", "--disk", OPT_DISK, true},
    {"images", "images", "--images", OPT_IMAGES, false},
    {"image_mib", "image-storage", "--image-storage", OPT_IMAGE_STORAGE, true},
};

/* A limit typed on the command line as JSON: a number (of MiB for sizes),
 * "unlimited", or "default" if `allow_default`.  NULL after a usage
 * error (*status set). */
static json_t *quota_value(const struct cli *cli, const struct quota_res *q,
                           const char *s, bool allow_default, int *status)
{
    char *end;
    long long n;

    if (strcmp(s, "unlimited") == 0)
        return json_string(s);
    if (strcmp(s, "default") == 0) {
        if (allow_default)
            return json_string(s);
        *status = cli_usage(cli,
                            "%s: 'default' is for users' limits (--user): "
                            "a group's are numbers or 'unlimited'",
                            q->opt);
        return NULL;
    }
    if (q->size) {
        uint64_t bytes;
        if ((*status = cli_parse_size(cli, q->opt, s, 1ULL << 20, &bytes)) !=
            CLI_OK)
            return NULL;
        if (bytes % (1ULL << 20) || (bytes >> 20) > (uint64_t)MAX_QUOTA) {
            *status = cli_usage(cli,
                                "%s must be a whole number of MiB, not "
                                "'%.32s'",
                                q->opt, s);
            return NULL;
        }
        return json_integer((json_int_t)(bytes >> 20));
    }
    errno = 0;
    n = strtoll(s, &end, 10);
    if (!*s || *end || errno || n < 0 || n > MAX_QUOTA) {
        *status = cli_usage(cli,
                            "%s must be a whole number, 'unlimited'%s, not "
                            "'%.32s'",
                            q->opt, allow_default ? " or 'default'" : "", s);
        return NULL;
    }
    return json_integer(n);
}

/* A limit as text: a number or a size, "unlimited", "default". */
static const char *limit_text(const json_t *v, bool size, char *buf,
                              size_t bufsize)
{
    if (json_is_string(v)) {
        vr_strlcpy(buf, json_string_value(v), bufsize);
        return buf;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return "-";
    if (size)
        vr_format_size((uint64_t)json_integer_value(v) << 20, buf, bufsize);
    else
        snprintf(buf, bufsize, "%lld", (long long)json_integer_value(v));
    return buf;
}

/* The quota table of a user (`group` its primary group as far as the
 * caller may see it, or NULL) or of a group (`is_group`). */
static void print_quota(const json_t *obj, const json_t *group, bool is_group)
{
    static const char *const user_head[] = {"RESOURCE", "USED", "LIMIT"};
    static const char *const group_head[] = {"RESOURCE", "USED", "LIMIT",
                                             "USER-DEFAULT"};
    const json_t *limits = json_object_get(obj, "quota");
    const json_t *usage = json_object_get(obj, "usage");
    const json_t *dflt = is_group ? json_object_get(obj, "user_quota")
                                  : json_object_get(group, "user_quota");
    struct cli_table t;

    cli_table_init(&t, is_group ? group_head : user_head, is_group ? 4 : 3);
    for (size_t i = 0; i < VR_ARRAY_SIZE(quota_res); i++) {
        const struct quota_res *q = &quota_res[i];
        const json_t *lim = json_object_get(limits, q->key);
        char used[24], limit[48], own[24], def[24];
        const char *row[4];

        if (q->size)
            row[1] = cli_jsize(usage, q->key, 1u << 20, used, sizeof(used));
        else
            row[1] = cli_jint(usage, q->key, used, sizeof(used));
        row[0] = q->label;
        row[2] = limit_text(lim, q->size, own, sizeof(own));
        row[3] = NULL;
        if (is_group) {
            row[3] = limit_text(json_object_get(dflt, q->key), q->size, def,
                                sizeof(def));
        } else if (json_is_string(lim) &&
                   strcmp(json_string_value(lim), "default") == 0 &&
                   json_object_get(dflt, q->key)) {
            snprintf(limit, sizeof(limit), "%s (default)",
                     limit_text(json_object_get(dflt, q->key), q->size, def,
                                sizeof(def)));
            row[2] = limit;
        }
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout);
    cli_table_release(&t);
}

/* Print a user's or a group's quota as `quota show` does.  A user's group
 * is fetched for the defaults, if the caller may see it. */
static int show_quota(struct cli *cli, const json_t *obj, bool is_group)
{
    struct vr_error err = VR_ERROR_INIT;
    json_t *group = NULL;

    if (cli->output == CLI_OUT_JSON) {
        cli_print_json(obj);
        return CLI_OK;
    }
    if (!is_group) {
        const json_t *gid = json_object_get(obj, "group_id");
        if (json_is_integer(gid)) {
            vr_autofree char *path = vr_asprintf(
                "/api/v1/groups/%lld", (long long)json_integer_value(gid));
            if (cli_http_call(cli->http, "GET", path, NULL, 0, &group, &err) <
                0)
                group = NULL; /* not visible: "default" is shown */
        }
    }
    print_quota(obj, group, is_group);
    json_decref(group);
    return CLI_OK;
}

/* --user U or --group G (at most one; `required`): *coll and *ref. */
static int quota_target(const struct cli *cli, const char *user,
                        const char *group, bool required, const char **coll,
                        const char **ref)
{
    if (user && group)
        return cli_usage(cli, "give --user or --group, not both");
    if (required && !user && !group)
        return cli_usage(cli, "give --user or --group");
    *coll = group ? "groups" : "users";
    *ref = group ? group : user ? user : "me";
    return CLI_OK;
}

static int quota_set(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        {"default-user", no_argument, NULL, OPT_DEFAULT_USER},
        {"vms", required_argument, NULL, OPT_VMS},
        {"cpu", required_argument, NULL, OPT_CPU},
        {"memory", required_argument, NULL, OPT_MEMORY},
        {"disk", required_argument, NULL, OPT_DISK},
        {"images", required_argument, NULL, OPT_IMAGES},
        {"image-storage", required_argument, NULL, OPT_IMAGE_STORAGE},
        CLI_COMMON_OPTIONS,
        {0}};
    /* the values are checked once --user or --group is known */
    const char *values[VR_ARRAY_SIZE(quota_res)] = {NULL};
    const char *user = NULL, *group = NULL, *coll, *ref;
    vr_autofree char *path = NULL;
    bool default_user = false, any = false;
    json_t *limits, *body, *ans = NULL;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, quota_set_help,
                           &status)) != -1) {
        size_t i;
        if (c == OPT_USER)
            user = optarg;
        else if (c == OPT_GROUP)
            group = optarg;
        else if (c == OPT_DEFAULT_USER)
            default_user = true;
        else if (c == CLI_OPT_EXIT)
            return status;
        for (i = 0; i < VR_ARRAY_SIZE(quota_res); i++)
            if (c == quota_res[i].opt_val) {
                values[i] = optarg;
                any = true;
            }
    }
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK ||
        (status = quota_target(cli, user, group, true, &coll, &ref)) != CLI_OK)
        return status;
    if (default_user && !group)
        return cli_usage(cli, "--default-user goes with --group");
    if (!any)
        return cli_usage(cli, "give at least one limit (--vms, --cpu, "
                              "--memory, --disk, --images, --image-storage)");
    limits = json_object();
    for (size_t i = 0; i < VR_ARRAY_SIZE(quota_res); i++) {
        json_t *v;
        if (!values[i])
            continue;
        if (!(v = quota_value(cli, &quota_res[i], values[i], user != NULL,
                              &status))) {
            json_decref(limits);
            return status;
        }
        json_object_set_new(limits, quota_res[i].key, v);
    }
    body = default_user ? json_pack("{s:o}", "user_quota", limits) : limits;
    if (!(path = cli_ref_path(cli, coll, ref, "/quota", &status)) ||
        (status = cli_connect(cli)) != CLI_OK) {
        json_decref(body);
        return status;
    }
    if ((status = call(cli, "PUT", path, body, &ans)) == CLI_OK)
        status = show_quota(cli, ans, group != NULL);
    json_decref(ans);
    return status;
}

static int quota_show(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        CLI_COMMON_OPTIONS,
        {0}};
    struct vr_error err = VR_ERROR_INIT;
    const char *user = NULL, *group = NULL, *coll, *ref;
    vr_autofree char *path = NULL;
    json_t *obj;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, quota_show_help,
                           &status)) != -1) {
        if (c == OPT_USER)
            user = optarg;
        else if (c == OPT_GROUP)
            group = optarg;
        else
            return status;
    }
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK ||
        (status = quota_target(cli, user, group, false, &coll, &ref)) !=
            CLI_OK ||
        !(path = cli_ref_path(cli, coll, ref, "", &status)) ||
        (status = cli_connect(cli)) != CLI_OK)
        return status;
    if (cli_http_call(cli->http, "GET", path, NULL, 0, &obj, &err) < 0)
        return cli_fail(&err);
    status = show_quota(cli, obj, group != NULL);
    json_decref(obj);
    return status;
}

int cli_cmd_quota(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"set", quota_set},
        {"show", quota_show},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), quota_help);
}

/* ---- acl */

static const char acl_help[] =
    "Usage: vireo acl COMMAND [ARGS]\n"
    "\n"
    "ACL rules grant rights beyond the objects' permissions (superusers\n"
    "only).\n"
    "\n"
    "Commands:\n"
    "  create (--user U | --group G | --all) --resources KINDS [--id N]\n"
    "         --rights RIGHTS\n"
    "                     add a rule\n"
    "  list               list rules: ID WHO RESOURCES ID RIGHTS\n"
    "  delete ID          delete a rule\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char acl_create_help[] =
    "Usage: vireo acl create (--user U | --group G | --all)\n"
    "                        --resources KINDS [--id N | --cluster C]\n"
    "                        --rights RIGHTS\n"
    "\n"
    "Grant RIGHTS on the objects of KINDS (or only object N of them, or\n"
    "only those in cluster C) to a user, to the sessions working in a\n"
    "group, or to everyone.\n"
    "\n"
    "Options:\n"
    "  --user U           the rule is for user U (id or name)\n"
    "  --group G          the rule is for group G (id or name)\n"
    "  --all              the rule is for everyone\n"
    "  --resources KINDS  comma-separated: vm, image, host, user, group,\n"
    "                     vm_group, cluster\n"
    "  --id N             only the object with id N\n"
    "  --cluster C        only the hosts of cluster C (id or name), and C\n"
    "                     itself (KINDS: host, cluster)\n"
    "  --rights RIGHTS    comma-separated: use, manage, admin, create\n"
    "                     (create: make new objects of KINDS)\n" OUTPUT_HELP;

static const char acl_list_help[] =
    "Usage: vireo acl list\n"
    "\n"
    "List the ACL rules: ID WHO RESOURCES ID RIGHTS.  WHO is user:NAME,\n"
    "group:NAME or all; the second ID is the one object the rule is\n"
    "about, cluster:ID for the objects in a cluster, or '-' for every\n"
    "object of those kinds.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char acl_delete_help[] = "Usage: vireo acl delete ID\n"
                                      "\n"
                                      "Delete an ACL rule.\n"
                                      "\n"
                                      "Options:\n" OUTPUT_HELP;

static bool word_in(const char *w, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(w, *set) == 0)
            return true;
    return false;
}

static bool is_res_kind(const char *w)
{
    static const char *const kinds[] = {"vm",       "image",   "host", "user",
                                        "group",    "vm_group", "cluster",
                                        NULL};
    return word_in(w, kinds);
}

static bool is_right(const char *w)
{
    static const char *const rights[] = {"use", "manage", "admin", "create",
                                         NULL};
    return word_in(w, rights);
}

static int acl_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"user", required_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        {"all", no_argument, NULL, OPT_ALL},
        {"resources", required_argument, NULL, OPT_RESOURCES},
        {"id", required_argument, NULL, OPT_ID},
        {"cluster", required_argument, NULL, OPT_CLUSTER},
        {"rights", required_argument, NULL, OPT_RIGHTS},
        CLI_COMMON_OPTIONS,
        {0}};
    const char *user = NULL, *group = NULL, *res_opt = NULL, *rights = NULL;
    const char *cluster = NULL;
    const char *who;
    bool all = false;
    int64_t id = 0;
    json_t *res, *chk, *body;
    int c, status = CLI_OK;

    cli_getopt_reset();
    while ((c = cli_getopt(cli, argc, argv, "", opts, acl_create_help,
                           &status)) != -1) {
        switch (c) {
        case OPT_USER:
            user = optarg;
            break;
        case OPT_GROUP:
            group = optarg;
            break;
        case OPT_ALL:
            all = true;
            break;
        case OPT_RESOURCES:
            res_opt = optarg;
            break;
        case OPT_ID:
            status = cli_parse_int(cli, "--id", optarg, 1, INT64_MAX, &id);
            break;
        case OPT_RIGHTS:
            rights = optarg;
            break;
        case OPT_CLUSTER:
            cluster = optarg;
            break;
        default:
            return status;
        }
        if (status != CLI_OK)
            return status;
    }
    if ((status = cli_check_args(cli, argc - optind, 0, 0, "")) != CLI_OK)
        return status;
    if ((user != NULL) + (group != NULL) + all != 1)
        return cli_usage(cli, "give one of --user, --group and --all");
    if (id && cluster)
        return cli_usage(cli, "--id and --cluster exclude each other");
    if (!res_opt || !*res_opt)
        return cli_usage(cli, "--resources is required");
    if (!rights || !*rights)
        return cli_usage(cli, "--rights is required");
    if (!(chk = word_list(cli, "--rights", rights, is_right,
                          "use, manage, admin, create", &status)))
        return status;
    json_decref(chk);
    if (!(res = word_list(cli, "--resources", res_opt, is_res_kind,
                          "vm, image, host, user, group, vm_group, cluster",
                          &status)))
        return status;
    if ((status = cli_connect(cli)) != CLI_OK) {
        json_decref(res);
        return status;
    }
    who = user ? "user" : group ? "group" : "all";
    body = json_pack("{s:s, s:s*, s:s*, s:o, s:s}", "who", who, "user", user,
                     "group", group, "resources", res, "rights", rights);
    if (!body)
        return cli_failf("the user or group name is not valid UTF-8");
    if (id)
        json_object_set_new(body, "resource_id", json_integer(id));
    if (cluster &&
        json_object_set_new(body, "cluster", json_string(cluster)) < 0) {
        json_decref(body);
        return cli_failf("the cluster name is not valid UTF-8");
    }
    return create_object(cli, "/api/v1/acls", body);
}

/* ID WHO RESOURCES ID RIGHTS */
static void acl_row(struct cli_table *t, const json_t *a, const struct names *n)
{
    const char *who = cli_jstr(a, "who");
    const json_t *r;
    struct vr_buf res;
    char id[24], rid[48], name[24], whotext[96];
    size_t i;

    if (strcmp(who, "user") == 0 || strcmp(who, "group") == 0)
        snprintf(whotext, sizeof(whotext), "%s:%s", who,
                 id_name(who[0] == 'u' ? n->users : n->groups,
                         json_object_get(a, "who_id"), name, sizeof(name)));
    else
        vr_strlcpy(whotext, who, sizeof(whotext));
    vr_buf_init(&res);
    json_array_foreach(json_object_get(a, "resources"), i, r)
    {
        if (i)
            vr_buf_adds(&res, ",");
        vr_buf_adds(&res, json_is_string(r) ? json_string_value(r) : "?");
    }
    {
        const char *row[] = {
            cli_jint(a, "id", id, sizeof(id)),
            whotext,
            res.data,
            json_is_integer(json_object_get(a, "cluster_id"))
                ? (snprintf(rid, sizeof(rid), "cluster:%lld",
                            (long long)json_integer_value(
                                json_object_get(a, "cluster_id"))),
                   rid)
                : cli_jint(a, "resource_id", rid, sizeof(rid)),
            cli_jstr(a, "rights"),
        };
        cli_table_add(t, row);
    }
    vr_buf_release(&res);
}

static int acl_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID", "WHO", "RESOURCES", "ID",
                                       "RIGHTS"};
    static const struct ten_list l = {
        .help = acl_list_help,
        .path = "/api/v1/acls",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .need_groups = true,
        .need_users = true,
        .add_row = acl_row,
    };
    return ten_list(cli, argc, argv, &l);
}

static int acl_delete(struct cli *cli, int argc, char **argv)
{
    return delete_object(cli, argc, argv, acl_delete_help, "acls", "ID", "acl",
                         "deleted");
}

int cli_cmd_acl(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"create", acl_create},
        {"list", acl_list},
        {"delete", acl_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), acl_help);
}

/* ---- token */

static const char token_help[] =
    "Usage: vireo token COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  list               list API tokens: ID NAME USER GROUP EXPIRES\n"
    "  revoke ID|current  revoke a token\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char token_list_help[] =
    "Usage: vireo token list\n"
    "\n"
    "List the API tokens you may see (yours; a superuser sees all): ID\n"
    "NAME USER GROUP EXPIRES.  GROUP is the group a token works in.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char token_revoke_help[] =
    "Usage: vireo token revoke ID|current\n"
    "\n"
    "Revoke a token at once ('current': the one in use; 'vireo logout'\n"
    "also forgets it).\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

/* ID NAME USER GROUP EXPIRES */
static void token_row(struct cli_table *t, const json_t *tok,
                      const struct names *n)
{
    char id[24], user[24], group[24];
    const char *row[] = {
        cli_jint(tok, "id", id, sizeof(id)),
        cli_jstr(tok, "name"),
        id_name(n->users, json_object_get(tok, "owner_id"), user, sizeof(user)),
        id_name(n->groups, json_object_get(tok, "group_id"), group,
                sizeof(group)),
        cli_jstr(tok, "expires_at"),
    };

    cli_table_add(t, row);
}

static int token_list(struct cli *cli, int argc, char **argv)
{
    static const char *const head[] = {"ID", "NAME", "USER", "GROUP",
                                       "EXPIRES"};
    static const struct ten_list l = {
        .help = token_list_help,
        .path = "/api/v1/tokens",
        .head = head,
        .ncols = VR_ARRAY_SIZE(head),
        .need_groups = true,
        .need_users = true,
        .add_row = token_row,
    };
    return ten_list(cli, argc, argv, &l);
}

static int token_revoke(struct cli *cli, int argc, char **argv)
{
    return delete_object(cli, argc, argv, token_revoke_help, "tokens",
                         "ID|current", "token", "revoked");
}

int cli_cmd_token(struct cli *cli, int argc, char **argv)
{
    static const struct cli_subcmd cmds[] = {
        {"list", token_list},
        {"revoke", token_revoke},
    };
    return cli_dispatch(cli, argc, argv, cmds, VR_ARRAY_SIZE(cmds), token_help);
}

/* ---- chown, chgrp, chmod */

static const char chown_help[] =
    "Usage: vireo chown KIND USER ID...\n"
    "\n"
    "Give objects of KIND (vm, image, host or vm_group; by id or name) to\n"
    "USER, all or none.  Their usage moves to USER's quota, which must\n"
    "allow it.  A superuser may give to anyone, a group administrator to\n"
    "the members of its group.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char chgrp_help[] =
    "Usage: vireo chgrp KIND GROUP ID...\n"
    "\n"
    "Move objects of KIND (vm, image, host or vm_group; by id or name) to\n"
    "GROUP, all or none; GROUP must be one of yours (a superuser: any).\n"
    "Their usage moves to GROUP's quota, which must allow it.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static const char chmod_help[] =
    "Usage: vireo chmod KIND MODE ID...\n"
    "\n"
    "Set the permissions of objects of KIND (vm, image, host or\n"
    "vm_group; by id or name), all or none.  MODE is three octal digits\n"
    "for the owner, the group and everyone else, each a sum of use (4),\n"
    "manage (2) and admin (1): 'chmod image 644 debian' lets every tenant\n"
    "use the image.\n"
    "\n"
    "Options:\n" OUTPUT_HELP;

static bool is_mode(const char *s)
{
    return strlen(s) == 3 && strspn(s, "01234567") == 3;
}

/* chown, chgrp and chmod: argv[0] says which. */
static int change_objects(struct cli *cli, int argc, char **argv)
{
    static const char *const kinds[] = {"vm", "image", "host", "vm_group",
                                        NULL};
    const bool is_chown = strcmp(argv[0], "chown") == 0;
    const bool is_chgrp = strcmp(argv[0], "chgrp") == 0;
    const char *help = is_chown   ? chown_help
                       : is_chgrp ? chgrp_help
                                  : chmod_help;
    const char *field = is_chown ? "user" : is_chgrp ? "group" : "permissions";
    const char *kind, *value;
    json_t *ids, *body;
    size_t nids;
    int status;

    if (plain_args(cli, argc, argv, help, 3, -1,
                   is_chown   ? "KIND USER ID..."
                   : is_chgrp ? "KIND GROUP ID..."
                              : "KIND MODE ID...",
                   &status) < 0)
        return status;
    kind = argv[optind];
    value = argv[optind + 1];
    if (!word_in(kind, kinds))
        return cli_usage(cli, "KIND must be vm, image, host or vm_group, not "
                         "'%.32s'", kind);
    if (!is_chown && !is_chgrp && !is_mode(value))
        return cli_usage(cli,
                         "MODE must be three octal digits like 644, not "
                         "'%.32s'",
                         value);
    if (!*value)
        return cli_usage(cli, "the %s is empty", field);
    ids = json_array();
    for (int i = optind + 2; i < argc; i++) {
        if (!*argv[i]) {
            json_decref(ids);
            return cli_usage(cli, "an empty id");
        }
        json_array_append_new(ids, json_string(argv[i]));
    }
    nids = json_array_size(ids);
    if ((status = cli_connect(cli)) != CLI_OK) {
        json_decref(ids);
        return status;
    }
    body = json_pack("{s:s, s:o, s:s}", "kind", kind, "ids", ids, field, value);
    if (!body)
        return cli_failf("an id or the %s is not valid UTF-8", field);
    if ((status = call(cli, "POST", "/api/v1/ownership", body, NULL)) != CLI_OK)
        return status;
    return report(
        cli, json_pack("{s:s, s:I}", "kind", kind, "changed", (json_int_t)nids),
        "%zu %s%s changed", nids, kind, nids == 1 ? "" : "s");
}

int cli_cmd_chown(struct cli *cli, int argc, char **argv)
{
    return change_objects(cli, argc, argv);
}

int cli_cmd_chgrp(struct cli *cli, int argc, char **argv)
{
    return change_objects(cli, argc, argv);
}

int cli_cmd_chmod(struct cli *cli, int argc, char **argv)
{
    return change_objects(cli, argc, argv);
}
