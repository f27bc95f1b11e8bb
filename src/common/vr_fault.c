#include "vr_fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vr_log.h"
#include "vr_util.h"

void vr_fault_point(const char *name)
{
    const char *kill_at = getenv("VIREO_FAULT_POINT");
    const char *hang_at = getenv("VIREO_FAULT_HANG");

    if (kill_at && strcmp(kill_at, name) == 0) {
        VR_WARN("fault", "fault point '%s' reached: killing myself (SIGKILL)",
                name);
        kill(getpid(), SIGKILL);
    }
    if (hang_at && strcmp(hang_at, name) == 0) {
        const char *s = getenv("VIREO_FAULT_HANG_S");
        int secs = s ? atoi(s) : 30;
        VR_WARN("fault", "fault point '%s' reached: hanging for %d s", name,
                secs);
        vr_sleep_ms((int64_t)secs * 1000);
    }
}
