/* vr_caps.c - libvirt capabilities and node device XML to the host model. */
#include <errno.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_priv.h"

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

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_cpu(const void *a, const void *b)
{
    const struct vr_host_cpu *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* An integer attribute; `dflt` if absent or not a number. */
static long prop_long(xmlNodePtr n, const char *name, int base, long dflt)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    char *end;
    long r = dflt;

    if (v && *v) {
        r = strtol((const char *)v, &end, base);
        if (*end)
            r = dflt;
    }
    xmlFree(v);
    return r;
}

static bool is_elem(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, name) == 0;
}

/* "0-3,8-11" from sorted CPU ids. */
static void format_cpu_list(const int *ids, int n, char *out, size_t size)
{
    struct vr_buf b = VR_BUF_INIT;

    vr_buf_init(&b);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1)
            j++;
        if (j == i)
            vr_buf_addf(&b, "%s%d", b.len ? "," : "", ids[i]);
        else
            vr_buf_addf(&b, "%s%d-%d", b.len ? "," : "", ids[i], ids[j]);
        i = j + 1;
    }
    vr_strlcpy(out, b.len ? b.data : "", size);
    vr_buf_release(&b);
}

/*
 * The <cpu id socket_id die_id core_id siblings/> children of one cell:
 * its CPU list and count, and one cpu_topo entry a thread.
 *
 * libvirt's core_id is the kernel's, unique within a die at least; so that
 * "same socket and same core" means SMT siblings on multi-die packages
 * too, a core on die d > 0 is recorded as d * 512 + core_id.  An offline
 * CPU has only an id: its socket and core are -1.
 */
static void cell_cpus(xmlNodePtr cpus, struct vr_host_cell *cell,
                      struct vr_host_caps *caps)
{
    int ids[VR_HOST_MAX_CPUS], n = 0;

    for (xmlNodePtr c = cpus->children; c; c = c->next) {
        long id, socket, die, core;
        if (!is_elem(c, "cpu"))
            continue;
        id = prop_long(c, "id", 10, -1);
        if (id < 0 || id > INT16_MAX)
            continue;
        cell->ncpus++;
        if (n < VR_HOST_MAX_CPUS)
            ids[n++] = (int)id;
        if (caps->ncpu_topo >= VR_HOST_MAX_CPUS)
            continue;
        socket = prop_long(c, "socket_id", 10, -1);
        die = prop_long(c, "die_id", 10, 0);
        core = prop_long(c, "core_id", 10, -1);
        if (core >= 0 && die > 0)
            core = die <= INT16_MAX / 512 ? core + die * 512 : -1;
        if (socket < 0 || socket > INT16_MAX || core < 0 || core > INT16_MAX)
            socket = core = -1;
        caps->cpu_topo[caps->ncpu_topo++] = (struct vr_host_cpu){
            .id = (int16_t)id,
            .cell = (int16_t)cell->id,
            .socket = (int16_t)socket,
            .core = (int16_t)core,
        };
    }
    qsort(ids, (size_t)n, sizeof(int), cmp_int);
    format_cpu_list(ids, n, cell->cpus, sizeof(cell->cpus));
}

/* <pages unit='KiB' size='2048'>512</pages>: the 2 MiB and 1 GiB pools
 * (the base 4 KiB pages are not a pool). */
static void cell_pages(xmlNodePtr pages, struct vr_host_cell *cell)
{
    xmlChar *unit = xmlGetProp(pages, BAD_CAST "unit");
    long size = prop_long(pages, "size", 10, 0);
    xmlChar *count;
    struct vr_host_pages *p;

    if (unit && xmlStrcasecmp(unit, BAD_CAST "KiB") != 0 &&
        xmlStrcasecmp(unit, BAD_CAST "K") != 0)
        size = 0;  /* libvirt always says KiB; anything else is not ours */
    xmlFree(unit);
    if ((size != 2048 && size != 1048576) ||
        cell->npages >= VR_HOST_MAX_PAGESIZES)
        return;
    p = &cell->pages[cell->npages++];
    p->size_kib = (uint32_t)size;
    count = xmlNodeGetContent(pages);
    p->total = count ? strtoull((const char *)count, NULL, 10) : 0;
    xmlFree(count);
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
    caps->ncpu_topo = 0;
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
                } else if (strcmp((const char *)c->name, "pages") == 0) {
                    cell_pages(c, hc);
                } else if (strcmp((const char *)c->name, "cpus") == 0) {
                    cell_cpus(c, hc, caps);
                }
            }
        }
    }
    xmlXPathFreeObject(cells);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    qsort(caps->cpu_topo, (size_t)caps->ncpu_topo, sizeof(caps->cpu_topo[0]),
          cmp_cpu);
    if (!caps->uuid[0])
        return vr_err(err, VR_E_HYPERVISOR, "capabilities have no host uuid");
    return 0;
}

/* ---- PCI node devices */

/* An unsigned number (libvirt writes decimal or 0x-prefixed hex); -1 if
 * absent or not a number. */
static long xp_num(xmlXPathContextPtr ctx, const char *expr, int base)
{
    vr_autofree char *s = xp_str(ctx, expr);
    char *end;
    long v;

    if (!s)
        return -1;
    errno = 0;
    v = strtol(s, &end, base);
    return *end || errno || v < 0 ? -1 : v;
}

/* "0000:3b:00.1" from four numbers; false if one is out of range. */
static bool format_pci_addr(long domain, long bus, long slot, long function,
                            char *out, size_t size)
{
    if (domain < 0 || domain > 0xffff || bus < 0 || bus > 0xff || slot < 0 ||
        slot > 0x1f || function < 0 || function > 7)
        return false;
    snprintf(out, size, "%04lx:%02lx:%02lx.%lx", domain, bus, slot, function);
    return true;
}

#define PCI "/device/capability[@type='pci']"

static int nodedev_fill(xmlXPathContextPtr ctx, struct vr_host_dev *out)
{
    long cls, v;

    if (xp_num(ctx, "count(" PCI ")", 10) < 1)
        return 0;  /* not a PCI device */
    /* bridges carry the buses of other devices: never given to a guest */
    if (xp_num(ctx, "count(" PCI "/capability[@type='pci-bridge' or "
                    "@type='cardbus-bridge'])", 10) > 0)
        return 0;
    cls = xp_num(ctx, "string(" PCI "/class)", 16);
    if (cls >= 0) {
        out->pci_class = (uint32_t)cls & 0xffffffu;
        if ((out->pci_class >> 8) == 0x0604 || (out->pci_class >> 8) == 0x0600)
            return 0;  /* PCI-to-PCI bridge, host bridge */
    }
    if (!format_pci_addr(xp_num(ctx, "string(" PCI "/domain)", 0),
                         xp_num(ctx, "string(" PCI "/bus)", 0),
                         xp_num(ctx, "string(" PCI "/slot)", 0),
                         xp_num(ctx, "string(" PCI "/function)", 0), out->addr,
                         sizeof(out->addr)))
        return 0;
    copy_str(out->name, sizeof(out->name), xp_str(ctx, "string(/device/name)"));
    copy_str(out->driver, sizeof(out->driver),
             xp_str(ctx, "string(/device/driver/name)"));
    v = xp_num(ctx, "string(" PCI "/vendor/@id)", 16);
    out->vendor = v >= 0 && v <= 0xffff ? (uint16_t)v : 0;
    v = xp_num(ctx, "string(" PCI "/product/@id)", 16);
    out->product = v >= 0 && v <= 0xffff ? (uint16_t)v : 0;
    v = xp_num(ctx, "string(" PCI "/numa/@node)", 10);
    out->cell = v >= 0 && v <= INT16_MAX ? (int16_t)v : -1;
    if (xp_num(ctx, "count(" PCI "/capability[@type='virt_functions'])", 10) >
        0) {
        /* maxCount is the device's sriov_totalvfs; without it (old
         * libvirt) the VFs enabled are all we know of */
        v = xp_num(ctx, "string(" PCI "/capability[@type='virt_functions']"
                        "/@maxCount)", 10);
        if (v < 0)
            v = xp_num(ctx, "count(" PCI "/capability[@type='virt_functions']"
                            "/address)", 10);
        out->max_vfs = (int16_t)(v > INT16_MAX ? INT16_MAX : v < 0 ? 0 : v);
    }
    if (xp_num(ctx, "count(" PCI "/capability[@type='phys_function']/address)",
               10) > 0) {
#define PF PCI "/capability[@type='phys_function']/address"
        if (!format_pci_addr(xp_num(ctx, "string(" PF "/@domain)", 0),
                             xp_num(ctx, "string(" PF "/@bus)", 0),
                             xp_num(ctx, "string(" PF "/@slot)", 0),
                             xp_num(ctx, "string(" PF "/@function)", 0),
                             out->pf, sizeof(out->pf)))
            out->pf[0] = '\0';
#undef PF
    }
    return 1;
}

int vr_nodedev_parse(const char *xml, struct vr_host_dev *out,
                     struct vr_error *err)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "nodedev.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
    xmlXPathContextPtr ctx;
    xmlNodePtr root;
    int ret;

    memset(out, 0, sizeof(*out));
    out->cell = -1;
    if (!doc)
        return vr_err(err, VR_E_HYPERVISOR, "unable to parse node device XML");
    root = xmlDocGetRootElement(doc);
    if (!root || !is_elem(root, "device")) {
        xmlFreeDoc(doc);
        return vr_err(err, VR_E_HYPERVISOR,
                      "node device XML has no 'device' element");
    }
    ctx = xmlXPathNewContext(doc);
    ret = nodedev_fill(ctx, out);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    if (ret == 0) {
        memset(out, 0, sizeof(*out));
        out->cell = -1;
    }
    return ret;
}
