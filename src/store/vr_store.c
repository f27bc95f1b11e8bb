#include "vr_store.h"

#include <string.h>

#include "vr_util.h"

struct vr_store *vr_store_open(const char *url, struct vr_error *err)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        return vr_store_sqlite_open(url + 7, err);
    if (strncmp(url, "postgresql:", 11) == 0)
        vr_err(err, VR_E_INVALID, "the PostgreSQL store is not built in yet; "
               "use sqlite:PATH");
    else
        vr_err(err, VR_E_INVALID, "unknown store URL '%s' (expected "
               "sqlite:PATH)", url);
    return NULL;
}

void vr_store_free(struct vr_store *st)
{
    if (st)
        st->ops->close(st);
}
