/*
 * vireod - the Vireo daemon: controller and node roles in one process.
 *
 * Start-up order: configuration, state-directory lock, the TLS certificate
 * (made on first start), controller (store,
 * pools, local node, host registration, admin bootstrap), reconciler and
 * workers, then the API.  With --daemon the parent exits 0 only once the
 * API answers, so scripts can rely on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr_api.h"
#include "vr_ctl.h"
#include "vr_log.h"

#define MOD "vireod"
#define DEFAULT_CONFIG "/etc/vireo/vireod.conf"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: vireod [OPTION]...\n"
            "Run the Vireo daemon (controller and node roles).\n"
            "\n"
            "  -c, --config FILE     settings file (default " DEFAULT_CONFIG
            " if it exists)\n"
            "  -s, --state-dir DIR   state directory (default /var/lib/vireo)\n"
            "  -l, --listen ADDR     API address, IPV4:PORT (default\n"
            "                        127.0.0.1:8780); HTTPS unless the\n"
            "                        setting insecure_http is true\n"
            "  -o, --set KEY=VALUE   override one setting (repeatable)\n"
            "  -d, --daemon          detach; exit 0 once the API is up\n"
            "      --new-installation\n"
            "                        start with an empty store even though\n"
            "                        the state directory holds another\n"
            "                        installation's data (refused without\n"
            "                        it: an empty store there means a lost\n"
            "                        one); the old data is left alone\n"
            "  -h, --help            show this help\n"
            "  -V, --version         show the version\n"
            "\n"
            "Settings are listed in docs/operations.md.  SIGTERM or SIGINT\n"
            "stop the daemon; running VMs keep running and are adopted at\n"
            "the next start.\n");
}

struct overrides {
    char *state_dir;
    char *listen;
    char **sets;
    int nsets;
};

static int lock_state_dir(const char *dir, struct vr_error *err)
{
    char *path = vr_asprintf("%s/vireod.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    if (fd < 0) {
        vr_err(err, VR_E_INTERNAL, "unable to open '%s': %s", path,
               strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        vr_err(err, VR_E_CONFLICT, "another vireod is using '%s'", dir);
        free(path);
        close(fd);
        return -1;
    }
    free(path);
    return fd; /* held for the life of the process */
}

static int write_pidfile(const char *dir)
{
    char *path = vr_asprintf("%s/vireod.pid", dir);
    char buf[32];
    int ret;

    snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    ret = vr_write_file_atomic(path, buf, strlen(buf), 0600, NULL);
    free(path);
    return ret;
}

static void tell_parent(int fd, char status)
{
    if (fd < 0)
        return;
    if (write(fd, &status, 1) < 0) {
        /* the parent is gone; nothing to tell */
    }
    close(fd);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"set", required_argument, NULL, 'o'},
        {"daemon", no_argument, NULL, 'd'},
        {"new-installation", no_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct vr_error err = VR_ERROR_INIT;
    struct vr_config cfg;
    struct overrides ov;
    const char *config = NULL;
    bool daemonize = false, new_installation = false;
    int ready_fd = -1, opt, sig, lock_fd;
    struct vr_ctl ctl;
    struct vr_api *api = NULL;
    enum vr_log_level level;
    FILE *logf = NULL;
    sigset_t sigs;

    /* Signals are taken synchronously by main(), blocked before anything
     * else (a SIGHUP or SIGTERM during start-up waits for the start to
     * end instead of killing a half-started daemon); every thread
     * inherits the mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&ov, 0, sizeof(ov));
    ov.sets = vr_calloc((size_t)argc, sizeof(char *));
    while ((opt = getopt_long(argc, argv, "c:s:l:o:dhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 's': ov.state_dir = optarg; break;
        case 'l': ov.listen = optarg; break;
        case 'o': ov.sets[ov.nsets++] = optarg; break;
        case 'd': daemonize = true; break;
        case 'N': new_installation = true; break;
        case 'h': usage(stdout); free(ov.sets); return 0;
        case 'V': printf("vireod %s\n", VIREO_VERSION); free(ov.sets); return 0;
        default: usage(stderr); free(ov.sets); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vireod: unexpected argument '%s'\n", argv[optind]);
        free(ov.sets);
        return 2;
    }

    vr_config_defaults(&cfg, NULL);
    if (config || access(DEFAULT_CONFIG, F_OK) == 0) {
        if (vr_config_load(&cfg, config ? config : DEFAULT_CONFIG, &err) < 0)
            goto fatal_early;
    }
    if ((ov.state_dir && vr_config_set(&cfg, "state_dir", ov.state_dir, &err) < 0) ||
        (ov.listen && vr_config_set(&cfg, "listen", ov.listen, &err) < 0))
        goto fatal_early;
    for (int i = 0; i < ov.nsets; i++) {
        char *eq = strchr(ov.sets[i], '=');
        if (!eq) {
            vr_err(&err, VR_E_INVALID, "--set expects KEY=VALUE, not '%s'",
                   ov.sets[i]);
            goto fatal_early;
        }
        *eq = '\0';
        if (vr_config_set(&cfg, ov.sets[i], eq + 1, &err) < 0)
            goto fatal_early;
    }
    vr_config_finish(&cfg);
    cfg.new_installation = new_installation;
    if (vr_log_level_parse(cfg.log_level, &level) < 0) {
        vr_err(&err, VR_E_INVALID, "log_level must be debug, info, warn or "
               "error");
        goto fatal_early;
    }
    if (vr_api_check_listen(&cfg, &err) < 0 ||
        vr_mkdir_p(cfg.state_dir, 0711, &err) < 0)
        goto fatal_early;
    if (daemonize && !cfg.log_file[0]) {
        free(cfg.log_file);
        cfg.log_file = vr_asprintf("%s/vireod.log", cfg.state_dir);
    }
    if (cfg.log_file[0]) {
        logf = fopen(cfg.log_file, "ae");
        if (!logf) {
            vr_err(&err, VR_E_INTERNAL, "unable to open log '%s': %s",
                   cfg.log_file, strerror(errno));
            goto fatal_early;
        }
    }
    vr_log_init(logf, level);

    if (daemonize) {
        int pfd[2];
        pid_t pid;
        char status = 1;

        if (pipe2(pfd, O_CLOEXEC) < 0) {
            vr_err(&err, VR_E_INTERNAL, "pipe: %s", strerror(errno));
            goto fatal_early;
        }
        pid = fork();
        if (pid < 0) {
            vr_err(&err, VR_E_INTERNAL, "fork: %s", strerror(errno));
            goto fatal_early;
        }
        if (pid > 0) {
            close(pfd[1]);
            if (read(pfd[0], &status, 1) != 1)
                status = 1;
            if (status != 0)
                fprintf(stderr, "vireod: failed to start; see %s\n",
                        cfg.log_file);
            vr_config_release(&cfg);
            free(ov.sets);
            return status;
        }
        close(pfd[0]);
        ready_fd = pfd[1];
        setsid();
        {
            int devnull = open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                dup2(devnull, 0);
                dup2(devnull, 1);
                dup2(devnull, 2);
                if (devnull > 2)
                    close(devnull);
            }
        }
    }
    /* nothing vireod makes is for other local users (docs/security.md);
     * what QEMU must reach is opened up explicitly */
    umask(077);

    lock_fd = lock_state_dir(cfg.state_dir, &err);
    if (lock_fd < 0)
        goto fatal;
    /* the certificate is made (first start) and checked before anything
     * else starts, so that a bad one fails at once */
    if (vr_api_tls_prepare(&cfg, &err) < 0) {
        close(lock_fd);
        goto fatal;
    }
    if (vr_ctl_init(&ctl, &cfg, &err) < 0 || vr_ctl_start(&ctl, &err) < 0)
        goto fatal_ctl;
    api = vr_api_start(&ctl, &err);
    if (!api)
        goto fatal_ctl;
    write_pidfile(cfg.state_dir);
    VR_INFO(MOD, "vireod %s ready (instance %s, state in %s)", VIREO_VERSION,
            ctl.instance, cfg.state_dir);
    tell_parent(ready_fd, 0);
    ready_fd = -1;

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            VR_INFO(MOD, "SIGHUP: nothing to reload yet");
            continue;
        }
        break;
    }
    VR_INFO(MOD, "stopping (signal %d)", sig);
    vr_ctl_stop_begin(&ctl);
    vr_api_stop(api);
    vr_ctl_shutdown(&ctl);
    {
        char *pid = vr_asprintf("%s/vireod.pid", cfg.state_dir);
        unlink(pid);
        free(pid);
    }
    VR_INFO(MOD, "stopped");
    close(lock_fd);
    vr_config_release(&cfg);
    free(ov.sets);
    if (logf)
        fclose(logf);
    return 0;

fatal_ctl:
    vr_ctl_shutdown(&ctl);
fatal:
    if (logf)
        VR_ERROR(MOD, "%s", err.msg);
    fprintf(stderr, "vireod: %s\n", err.msg);
    tell_parent(ready_fd, 1);
    vr_config_release(&cfg);
    free(ov.sets);
    if (logf)
        fclose(logf);
    return 1;
fatal_early:
    fprintf(stderr, "vireod: %s\n", err.msg);
    vr_config_release(&cfg);
    free(ov.sets);
    return 1;
}
