/*
 * cli_cmds.h - the command groups of `vireo` and what they share.
 *
 * A command function gets the words from its own name on (argv[0] is
 * "vm", "create", ...), parses its options with cli_getopt(), and returns
 * the exit status after printing its result or its one error line.
 */
#ifndef CLI_CMDS_H
#define CLI_CMDS_H

#include "cli_http.h"
#include "cli_util.h"

typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

/* One subcommand of a group ("vm start"). */
struct cli_subcmd {
    const char *name;
    cli_cmd_fn run;
};

/* Run the subcommand named by the first word after the group's options;
 * `help` is the group's help text.  argv[0] is the group word. */
int cli_dispatch(struct cli *cli, int argc, char **argv,
                 const struct cli_subcmd *cmds, size_t ncmds, const char *help);

/* Set up the server connection (URL, token, config, silent re-login) on
 * first use.  Returns CLI_OK, or the exit status after reporting. */
int cli_connect(struct cli *cli);

/* GET every page of a list ("/api/v1/vms", optional `query` without '?')
 * into one answer {"items": [...], "total", "offset", "limit"}. */
int cli_list_all(struct cli *cli, const char *path, const char *query,
                 json_t **out, struct vr_error *err);

/* "/api/v1/<coll>/<ref><suffix>" with `ref` (an id, UUID or name typed by
 * the user) escaped; NULL after a usage error (*status set) if `ref` could
 * not name anything (empty, '/', "." or ".."). Caller frees. */
char *cli_ref_path(const struct cli *cli, const char *coll, const char *ref,
                   const char *suffix, int *status);

/* GET "/api/v1/<coll>/<ref>" and print it (JSON or key: value lines). */
int cli_show(struct cli *cli, const char *coll, const char *ref);

/* Print one object as the output format asks. */
void cli_print_item(const struct cli *cli, const json_t *obj);

/* The whole of a show command ("vireo host show HOST"): the common options
 * (`help` for --help), exactly one reference argument (`names` names it in
 * messages: "HOST"), then cli_show() on `coll`.  Returns the exit status. */
int cli_cmd_show(struct cli *cli, int argc, char **argv, const char *help,
                 const char *coll, const char *names);

/* The whole of a delete command ("vireo image delete IMAGE"): the common
 * options, exactly one reference argument (`names` names it), DELETE
 * "/api/v1/<coll>/<ref>", then "<label> '<ref>' <done>" (JSON:
 * {"<key>": ref, "<done>": true}).  Returns the exit status. */
struct cli_delete {
    const char *help;
    const char *coll;        /* "images" */
    const char *names;       /* "IMAGE" */
    const char *key;         /* "image", "vm_group" */
    const char *label;       /* "image", "vm group" */
    const char *done;        /* "deleted", "revoked" */
};
int cli_cmd_delete(struct cli *cli, int argc, char **argv,
                   const struct cli_delete *d);

/* What a list command lists and how ("vireo vm list [--state S]"). */
struct cli_list {
    const char *help;        /* its --help text */
    const char *path;        /* the collection: "/api/v1/vms" */
    const char *const *head; /* the table's column titles */
    size_t ncols;            /* how many titles (and cells a row) */
    /* Add the row of one item of the list to `t` (t->ncols cells). */
    void (*add_row)(struct cli_table *t, const json_t *item);
    /* The long name of an option with a value that filters the list
     * ("state"), or NULL for none. */
    const char *filter;
    /* Once connected, turn the filter's value (the last one given) into
     * the query of the list (without '?'; *query is freed by the caller).
     * Returns CLI_OK, or the exit status after reporting. */
    int (*filter_query)(struct cli *cli, const char *value, char **query);
};

/* The whole of a list command: the common options and the filter, no
 * argument, every page of `l->path`, printed as JSON or as a table.
 * Returns the exit status. */
int cli_cmd_list(struct cli *cli, int argc, char **argv,
                 const struct cli_list *l);

/* The groups. */
int cli_cmd_login(struct cli *cli, int argc, char **argv);
int cli_cmd_logout(struct cli *cli, int argc, char **argv);
int cli_cmd_host(struct cli *cli, int argc, char **argv);
int cli_cmd_events(struct cli *cli, int argc, char **argv);
int cli_cmd_image(struct cli *cli, int argc, char **argv); /* cli_image.c */
int cli_cmd_vm(struct cli *cli, int argc, char **argv);    /* cli_vm.c */
int cli_cmd_job(struct cli *cli, int argc, char **argv);   /* cli_vm.c */
int cli_cmd_vm_group(struct cli *cli, int argc, char **argv); /* cli_vm.c */
/* cli_tenancy.c */
int cli_cmd_group(struct cli *cli, int argc, char **argv);
int cli_cmd_user(struct cli *cli, int argc, char **argv);
int cli_cmd_quota(struct cli *cli, int argc, char **argv);
int cli_cmd_acl(struct cli *cli, int argc, char **argv);
int cli_cmd_token(struct cli *cli, int argc, char **argv);
int cli_cmd_chown(struct cli *cli, int argc, char **argv);
int cli_cmd_chgrp(struct cli *cli, int argc, char **argv);
int cli_cmd_chmod(struct cli *cli, int argc, char **argv);

#endif
