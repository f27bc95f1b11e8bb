/* vr_caps.c - libvirt capabilities XML to struct vr_host_caps. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

#include "vr_node.h"

static char *xp_str(xmlXPathContextPtr ctx, const char *expr)
{
    xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
    char *s = NULL;
    if (o) {
        xmlChar *v = xmlXPathCastToString(o);
        if (v && *v)
            s = vr_strdup((const char *)v);
        xmlFree(v);
        xmlXPathFreeObject(o);
    }
    return s;
}

static long xp_long(xmlXPathContextPtr ctx, const char *expr, long dflt)
{
    vr_autofree char *s = xp_str(ctx, expr);
    return s ? strtol(s, NULL, 10) : dflt;
}

static void copy_str(char *dst, size_t size, char *src)
{
    vr_strlcpy(dst, src ? src : "", size);
    free(src);
}

/* "0,1,2,5" from the <cpu id=.../> children of one cell. */
static void cell_cpu_list(xmlNodePtr cpus, struct vr_host_cell *cell)
{
    struct vr_buf b = VR_BUF_INIT;
    int prev = -2, start = -1;

    vr_buf_init(&b);
    for (xmlNodePtr c = cpus ? cpus->children : NULL; c; c = c->next) {
        xmlChar *id;
        int n;
        if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "cpu"))
            continue;
        id = xmlGetProp(c, BAD_CAST "id");
        n = id ? atoi((const char *)id) : -1;
        xmlFree(id);
        if (n < 0)
            continue;
        cell->ncpus++;
        if (n == prev + 1) {
            prev = n;
            continue;
        }
        if (start >= 0)
            vr_buf_addf(&b, start == prev ? "%s%d" : "%s%d-%d",
                        b.len ? "," : "", start, prev);
        start = prev = n;
    }
    if (start >= 0) {
        if (start == prev)
            vr_buf_addf(&b, "%s%d", b.len ? "," : "", start);
        else
            vr_buf_addf(&b, "%s%d-%d", b.len ? "," : "", start, prev);
    }
    vr_strlcpy(cell->cpus, b.data, sizeof(cell->cpus));
    vr_buf_release(&b);
}

int vr_caps_parse(const char *xml, struct vr_host_caps *caps,
                  struct vr_error *err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "caps.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    xmlXPathContextPtr ctx;
    xmlXPathObjectPtr cells;

    if (!doc)
        return vr_err(err, VR_E_HYPERVISOR, "unable to parse capabilities");
    ctx = xmlXPathNewContext(doc);
    copy_str(caps->uuid, sizeof(caps->uuid), xp_str(ctx, "string(/capabilities/host/uuid)"));
    copy_str(caps->arch, sizeof(caps->arch), xp_str(ctx, "string(/capabilities/host/cpu/arch)"));
    copy_str(caps->cpu_model, sizeof(caps->cpu_model),
             xp_str(ctx, "string(/capabilities/host/cpu/model)"));
    copy_str(caps->cpu_vendor, sizeof(caps->cpu_vendor),
             xp_str(ctx, "string(/capabilities/host/cpu/vendor)"));
    caps->sockets = (int)xp_long(ctx, "string(/capabilities/host/cpu/topology/@sockets)", 0);
    caps->cores = (int)xp_long(ctx, "string(/capabilities/host/cpu/topology/@cores)", 0);
    caps->threads = (int)xp_long(ctx, "string(/capabilities/host/cpu/topology/@threads)", 0);

    caps->ncells = 0;
    cells = xmlXPathEvalExpression(
        BAD_CAST "/capabilities/host/topology/cells/cell", ctx);
    if (cells && cells->nodesetval) {
        for (int i = 0; i < cells->nodesetval->nodeNr &&
                        caps->ncells < VR_HOST_MAX_CELLS; i++) {
            xmlNodePtr cell = cells->nodesetval->nodeTab[i];
            struct vr_host_cell *hc = &caps->cells[caps->ncells++];
            xmlChar *id = xmlGetProp(cell, BAD_CAST "id");
            memset(hc, 0, sizeof(*hc));
            hc->id = id ? atoi((const char *)id) : 0;
            xmlFree(id);
            for (xmlNodePtr c = cell->children; c; c = c->next) {
                if (c->type != XML_ELEMENT_NODE)
                    continue;
                if (strcmp((const char *)c->name, "memory") == 0) {
                    xmlChar *v = xmlNodeGetContent(c);
                    hc->memory_kib = v ? strtoull((const char *)v, NULL, 10) : 0;
                    xmlFree(v);
                } else if (strcmp((const char *)c->name, "cpus") == 0) {
                    cell_cpu_list(c, hc);
                }
            }
        }
    }
    xmlXPathFreeObject(cells);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (!caps->uuid[0])
        return vr_err(err, VR_E_HYPERVISOR, "capabilities have no host uuid");
    return 0;
}
