/* The host resource model: capabilities XML (cells, threads and their
 * siblings, huge page pools), PCI node device XML, and the host record's
 * JSON (topology, devices, config) both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_data.h"
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "vr_json.h"
#include "node_priv.h"

/* caps are large (cpu_topo, devs): on the heap */
static struct vr_host_caps *load_caps(const char *rel)
{
    struct vr_host_caps *c = vr_calloc(1, sizeof(*c));
    struct vr_error err = VR_ERROR_INIT;
    char *xml = load(rel);

    if (vr_caps_parse(xml, c, &err) < 0)
        fail_msg("%s: %s", rel, err.msg);
    free(xml);
    return c;
}

static const struct vr_host_cpu *cpu(const struct vr_host_caps *c, int id)
{
    static const struct vr_host_cpu none = {-1, -1, -1, -1};

    for (int i = 0; i < c->ncpu_topo; i++)
        if (c->cpu_topo[i].id == id)
            return &c->cpu_topo[i];
    fail_msg("no CPU %d", id);
    return &none;
}

static bool siblings(const struct vr_host_caps *c, int a, int b)
{
    const struct vr_host_cpu *x = cpu(c, a), *y = cpu(c, b);
    return x->socket >= 0 && x->socket == y->socket && x->core == y->core;
}

/* "0,8" or "0-3" as a set of ids (bit i set for id i < 1024). */
static void parse_list(const char *s, unsigned char *set, size_t n)
{
    memset(set, 0, n);
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (*end == '-')
            b = strtol(end + 1, &end, 10);
        for (long i = a; i <= b && i < (long)n; i++)
            set[i] = 1;
        s = *end == ',' ? end + 1 : end;
    }
}

/* The model's sibling relation (same socket, same core) is exactly the
 * siblings attribute libvirt wrote on every <cpu>; the model's cell of
 * each thread is the cell it is listed in; the topology is in id order. */
static void check_against_xml(const char *rel, const struct vr_host_caps *c)
{
    char *xml = load(rel);
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), rel, NULL, 0);
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr cpus = xmlXPathEvalExpression(
        BAD_CAST "/capabilities/host/topology/cells/cell/cpus/cpu", ctx);
    unsigned char want[1024];
    int n = cpus->nodesetval ? cpus->nodesetval->nodeNr : 0;

    assert_int_equal(c->ncpu_topo, n);
    for (int i = 1; i < c->ncpu_topo; i++)
        assert_true(c->cpu_topo[i - 1].id < c->cpu_topo[i].id);
    for (int i = 0; i < n; i++) {
        xmlNodePtr node = cpus->nodesetval->nodeTab[i];
        xmlChar *id = xmlGetProp(node, BAD_CAST "id");
        xmlChar *sib = xmlGetProp(node, BAD_CAST "siblings");
        xmlChar *cell = xmlGetProp(node->parent->parent, BAD_CAST "id");
        int me = atoi((const char *)id);

        assert_int_equal(cpu(c, me)->cell, atoi((const char *)cell));
        parse_list((const char *)sib, want, sizeof(want));
        for (int j = 0; j < c->ncpu_topo; j++) {
            int other = c->cpu_topo[j].id;
            if (siblings(c, me, other) != (bool)want[other])
                fail_msg("%s: CPUs %d and %d: siblings %d in the model, %d "
                         "in the XML", rel, me, other, siblings(c, me, other),
                         want[other]);
        }
        xmlFree(id);
        xmlFree(sib);
        xmlFree(cell);
    }
    xmlXPathFreeObject(cpus);
    xmlXPathFreeContext(ctx);
    xmlFreeDoc(doc);
    free(xml);
}

/* Distinct (socket, core) pairs: physical cores. */
static int count_cores(const struct vr_host_caps *c)
{
    int n = 0;
    for (int i = 0; i < c->ncpu_topo; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = siblings(c, c->cpu_topo[i].id, c->cpu_topo[j].id);
        n += !seen;
    }
    return n;
}

static void assert_pages(const struct vr_host_cell *cell, int i,
                         uint32_t size_kib, uint64_t total)
{
    assert_true(i < cell->npages);
    assert_int_equal(cell->pages[i].size_kib, size_kib);
    assert_int_equal(cell->pages[i].total, total);
    assert_int_equal(cell->pages[i].free, 0);  /* read by the node */
}

static void test_caps_kvm_guest(void **state)
{
    const char *f = "caps/kvm-guest-2cpu.xml";
    struct vr_host_caps *c = load_caps(f);

    (void)state;
    check_against_xml(f, c);
    assert_int_equal(c->ncells, 1);
    assert_int_equal(c->cells[0].ncpus, 2);
    assert_string_equal(c->cells[0].cpus, "0-1");
    assert_int_equal(c->ncpu_topo, 2);
    assert_false(siblings(c, 0, 1));
    assert_int_equal(count_cores(c), 2);
    /* pools exist (sizes the host supports) but are empty */
    assert_int_equal(c->cells[0].npages, 2);
    assert_pages(&c->cells[0], 0, 2048, 0);
    assert_pages(&c->cells[0], 1, 1048576, 0);
    free(c);
}

static void test_caps_server(void **state)
{
    const char *f = "caps/server-2s-smt.xml";
    struct vr_host_caps *c = load_caps(f);

    (void)state;
    check_against_xml(f, c);
    assert_string_equal(c->cpu_model, "Skylake-Server-IBRS");
    assert_int_equal(c->ncells, 2);
    assert_string_equal(c->cells[0].cpus, "0-3,8-11");
    assert_string_equal(c->cells[1].cpus, "4-7,12-15");
    assert_int_equal(c->cells[0].ncpus, 8);
    assert_int_equal(c->cells[1].ncpus, 8);
    assert_int_equal(c->cells[1].memory_kib, 67108864);
    assert_int_equal(c->ncpu_topo, 16);
    assert_int_equal(count_cores(c), 8);
    assert_true(siblings(c, 0, 8));
    assert_true(siblings(c, 7, 15));
    assert_false(siblings(c, 0, 4));  /* same core_id, other socket */
    assert_false(siblings(c, 0, 1));
    assert_int_equal(cpu(c, 12)->cell, 1);
    assert_int_equal(cpu(c, 12)->socket, 1);
    assert_int_equal(cpu(c, 12)->core, 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c->cells[i].npages, 2);
        assert_pages(&c->cells[i], 0, 2048, 2048);
        assert_pages(&c->cells[i], 1, 1048576, 4);
    }
    free(c);
}

static void test_caps_desktop(void **state)
{
    const char *f = "caps/desktop-1s.xml";
    struct vr_host_caps *c = load_caps(f);

    (void)state;
    check_against_xml(f, c);
    assert_int_equal(c->sockets, 1);
    assert_int_equal(c->cores, 4);
    assert_int_equal(c->threads, 2);
    assert_int_equal(c->ncells, 1);
    assert_string_equal(c->cells[0].cpus, "0-7");
    assert_int_equal(c->cells[0].ncpus, 8);
    assert_int_equal(c->cells[0].memory_kib, 32767112);
    assert_int_equal(count_cores(c), 4);
    for (int i = 0; i < 4; i++)
        assert_true(siblings(c, i, i + 4));
    assert_false(siblings(c, 0, 1));
    /* no 1 GiB pages on this CPU: one pool */
    assert_int_equal(c->cells[0].npages, 1);
    assert_pages(&c->cells[0], 0, 2048, 512);
    free(c);
}

static void test_caps_quad(void **state)
{
    const char *f = "caps/quad-cell.xml";
    struct vr_host_caps *c = load_caps(f);
    static const char *const lists[] = {"0-7,32-39", "8-15,40-47",
                                        "16-23,48-55", "24-31,56-63"};
    static const uint64_t p2m[] = {4096, 4096, 2048, 0};
    static const uint64_t p1g[] = {16, 16, 8, 0};

    (void)state;
    check_against_xml(f, c);
    assert_int_equal(c->ncells, 4);
    assert_int_equal(c->ncpu_topo, 64);
    assert_int_equal(count_cores(c), 32);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c->cells[i].id, i);
        assert_int_equal(c->cells[i].ncpus, 16);
        assert_string_equal(c->cells[i].cpus, lists[i]);
        assert_int_equal(c->cells[i].npages, 2);
        assert_pages(&c->cells[i], 0, 2048, p2m[i]);
        assert_pages(&c->cells[i], 1, 1048576, p1g[i]);
    }
    assert_int_equal(c->cells[1].memory_kib, 134217728);
    assert_true(siblings(c, 0, 32));
    assert_true(siblings(c, 31, 63));
    assert_false(siblings(c, 0, 8));
    assert_int_equal(cpu(c, 45)->cell, 1);
    assert_int_equal(cpu(c, 45)->socket, 1);
    assert_int_equal(cpu(c, 45)->core, 5);
    free(c);
}

static void test_caps_asymmetric(void **state)
{
    const char *f = "caps/asymmetric.xml";
    struct vr_host_caps *c = load_caps(f);

    (void)state;
    check_against_xml(f, c);
    /* libvirt's flat topology for a host it cannot describe evenly */
    assert_int_equal(c->cores, 16);
    assert_int_equal(c->threads, 1);
    assert_int_equal(c->ncells, 2);
    assert_int_equal(c->cells[0].ncpus, 12);
    assert_string_equal(c->cells[0].cpus, "0-5,10-15");
    assert_int_equal(c->cells[0].memory_kib, 96ULL << 20);
    assert_int_equal(c->cells[1].ncpus, 4);
    assert_string_equal(c->cells[1].cpus, "6-9");
    assert_int_equal(c->cells[1].memory_kib, 32ULL << 20);
    assert_int_equal(c->ncpu_topo, 16);
    assert_int_equal(count_cores(c), 10);
    assert_true(siblings(c, 0, 10));
    assert_true(siblings(c, 5, 15));
    for (int i = 6; i <= 9; i++) {
        assert_int_equal(cpu(c, i)->cell, 1);
        for (int j = 0; j < 16; j++)
            assert_true(siblings(c, i, j) == (i == j));
    }
    assert_pages(&c->cells[0], 0, 2048, 8192);
    assert_pages(&c->cells[0], 1, 1048576, 32);
    assert_pages(&c->cells[1], 0, 2048, 1024);
    assert_pages(&c->cells[1], 1, 1048576, 0);
    free(c);
}

/* Offline CPUs (only an id), a second die, CPUs out of order, a pool
 * size that is not ours. */
static void test_caps_edge(void **state)
{
    static const char xml[] =
        "<capabilities><host><uuid>c12a18ca-e241-42fb-af35-6ba67365e6a1"
        "</uuid><topology><cells num='1'><cell id='0'>"
        "<memory unit='KiB'>1048576</memory>"
        "<pages unit='KiB' size='4'>262144</pages>"
        "<pages unit='KiB' size='2048'>7</pages>"
        "<pages unit='KiB' size='16384'>3</pages>"
        "<cpus num='5'>"
        "<cpu id='3' socket_id='0' die_id='1' core_id='0' siblings='3'/>"
        "<cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,1'/>"
        "<cpu id='1' socket_id='0' die_id='0' core_id='0' siblings='0,1'/>"
        "<cpu id='2'/>"
        "<cpu id='4'/>"
        "</cpus></cell></cells></topology></host></capabilities>";
    struct vr_host_caps *c = vr_calloc(1, sizeof(*c));
    struct vr_error err = VR_ERROR_INIT;

    (void)state;
    assert_int_equal(vr_caps_parse(xml, c, &err), 0);
    assert_int_equal(c->cells[0].ncpus, 5);
    assert_string_equal(c->cells[0].cpus, "0-4");
    assert_int_equal(c->ncpu_topo, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(c->cpu_topo[i].id, i);
    assert_true(siblings(c, 0, 1));
    assert_false(siblings(c, 0, 3));  /* core 0 of another die */
    assert_int_equal(cpu(c, 2)->socket, -1);
    assert_int_equal(cpu(c, 2)->core, -1);
    assert_false(siblings(c, 2, 4));
    assert_int_equal(c->cells[0].npages, 1);
    assert_pages(&c->cells[0], 0, 2048, 7);
    free(c);
}

/* ---- node devices */

static int parse_dev(const char *rel, struct vr_host_dev *d)
{
    struct vr_error err = VR_ERROR_INIT;
    char *xml = load(rel);
    int r = vr_nodedev_parse(xml, d, &err);

    if (r < 0)
        fail_msg("%s: %s", rel, err.msg);
    free(xml);
    return r;
}

static void test_nodedev_pf(void **state)
{
    struct vr_host_dev d;

    (void)state;
    assert_int_equal(parse_dev("nodedev/x710-pf.xml", &d), 1);
    assert_string_equal(d.addr, "0000:af:00.0");
    assert_int_equal(d.vendor, 0x8086);
    assert_int_equal(d.product, 0x1572);
    assert_int_equal(d.pci_class, 0x020000);
    assert_int_equal(d.cell, 1);
    assert_string_equal(d.pf, "");
    assert_int_equal(d.max_vfs, 64);
    assert_string_equal(d.name, "pci_0000_af_00_0");
    assert_string_equal(d.driver, "i40e");
}

static void test_nodedev_vfs(void **state)
{
    struct vr_host_dev d;

    (void)state;
    assert_int_equal(parse_dev("nodedev/x710-vf0.xml", &d), 1);
    assert_string_equal(d.addr, "0000:af:02.0");
    assert_int_equal(d.vendor, 0x8086);
    assert_int_equal(d.product, 0x154c);
    assert_int_equal(d.pci_class, 0x020000);
    assert_int_equal(d.cell, 1);
    assert_string_equal(d.pf, "0000:af:00.0");
    assert_int_equal(d.max_vfs, 0);
    assert_string_equal(d.name, "pci_0000_af_02_0");
    assert_string_equal(d.driver, "iavf");

    assert_int_equal(parse_dev("nodedev/x710-vf1.xml", &d), 1);
    assert_string_equal(d.addr, "0000:af:02.1");
    assert_string_equal(d.pf, "0000:af:00.0");
    assert_string_equal(d.driver, "vfio-pci");
}

static void test_nodedev_gpu(void **state)
{
    struct vr_host_dev d;

    (void)state;
    assert_int_equal(parse_dev("nodedev/nvidia-t4.xml", &d), 1);
    assert_string_equal(d.addr, "0000:3b:00.0");
    assert_int_equal(d.vendor, 0x10de);
    assert_int_equal(d.product, 0x1eb8);
    assert_int_equal(d.pci_class, 0x030200);
    assert_int_equal(d.cell, 0);
    assert_string_equal(d.pf, "");
    assert_int_equal(d.max_vfs, 0);
    assert_string_equal(d.driver, "nvidia");
}

static void test_nodedev_no_numa(void **state)
{
    struct vr_host_dev d;

    (void)state;
    assert_int_equal(parse_dev("nodedev/sata-no-numa.xml", &d), 1);
    assert_string_equal(d.addr, "0000:00:17.0");
    assert_int_equal(d.pci_class, 0x010601);
    assert_int_equal(d.cell, -1);
    assert_string_equal(d.driver, "ahci");
}

static void test_nodedev_skipped(void **state)
{
    static const char no_slot[] =
        "<device><name>pci_0000_00_05_0</name><capability type='pci'>"
        "<class>0x020000</class><domain>0</domain><bus>0</bus>"
        "<function>0</function><product id='0x1041'/>"
        "<vendor id='0x1af4'/></capability></device>";
    static const char bad_slot[] =
        "<device><name>pci_0000_00_05_0</name><capability type='pci'>"
        "<domain>0</domain><bus>0</bus><slot>32</slot>"
        "<function>0</function></capability></device>";
    static const char net[] =
        "<device><name>net_eth0_52_54_00_12_34_56</name>"
        "<capability type='net'><interface>eth0</interface></capability>"
        "</device>";
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host_dev d;

    (void)state;
    assert_int_equal(parse_dev("nodedev/pci-bridge.xml", &d), 0);
    assert_string_equal(d.addr, "");
    assert_int_equal(parse_dev("nodedev/host-bridge.xml", &d), 0);
    assert_int_equal(vr_nodedev_parse(no_slot, &d, &err), 0);
    assert_int_equal(vr_nodedev_parse(bad_slot, &d, &err), 0);
    assert_int_equal(vr_nodedev_parse(net, &d, &err), 0);
    assert_int_equal(vr_nodedev_parse("not xml", &d, &err), -1);
    assert_int_equal(vr_nodedev_parse("<capabilities/>", &d, &err), -1);
}

/* ---- JSON */

static const char *const dev_files[] = {
    "nodedev/sata-no-numa.xml", "nodedev/nvidia-t4.xml",
    "nodedev/x710-pf.xml",      "nodedev/x710-vf0.xml",
    "nodedev/x710-vf1.xml",
};

static struct vr_host *full_host(void)
{
    struct vr_host *h = vr_calloc(1, sizeof(*h));
    struct vr_host_caps *c = load_caps("caps/quad-cell.xml");

    h->hdr.id = 7;
    vr_strlcpy(h->hdr.uuid, c->uuid, sizeof(h->hdr.uuid));
    vr_strlcpy(h->hdr.name, "quad", sizeof(h->hdr.name));
    h->hdr.perms = 0640;
    h->hdr.created_at = 1700000000123;
    h->hdr.updated_at = 1700000000456;
    h->state = VR_HOST_MONITORED;
    h->enabled = true;
    vr_strlcpy(h->transport, "local", sizeof(h->transport));
    vr_strlcpy(h->hypervisor, "kvm", sizeof(h->hypervisor));
    h->monitored_at = 1700000000789;
    h->caps = *c;
    free(c);
    h->caps.cpus = 64;
    h->caps.memory_kib = 4ULL * 134217728;
    h->caps.free_memory_kib = 123456789;
    h->caps.disk_free_mib = 912345;
    h->caps.cells[0].pages[0].free = 4000;
    h->caps.cells[2].pages[1].free = 3;
    for (size_t i = 0; i < VR_ARRAY_SIZE(dev_files); i++)
        assert_int_equal(parse_dev(dev_files[i], &h->caps.devs[h->caps.ndevs++]),
                         1);
    vr_host_conf_defaults(&h->conf);
    vr_strlcpy(h->conf.dedicated_cpus, "4-15,36-47",
               sizeof(h->conf.dedicated_cpus));
    vr_strlcpy(h->conf.reserved_cpus, "0-1,32-33",
               sizeof(h->conf.reserved_cpus));
    h->conf.reserved_memory_mib = 8192;
    h->conf.cpu_ratio = 2.5;
    h->conf.mem_ratio = 1.25;
    h->conf.nlabels = 2;
    vr_strlcpy(h->conf.labels[0], "gpu", sizeof(h->conf.labels[0]));
    vr_strlcpy(h->conf.labels[1], "rack=b12", sizeof(h->conf.labels[1]));
    h->conf.npools = 1;
    vr_strlcpy(h->conf.pools[0].name, "physnet1", sizeof(h->conf.pools[0].name));
    vr_strlcpy(h->conf.pools[0].pf, "0000:af:00.0", sizeof(h->conf.pools[0].pf));
    return h;
}

/* to_json, through text, then from_json into a zeroed host. */
static struct vr_host *round_trip(const struct vr_host *h, json_t **jout)
{
    struct vr_host *got = vr_calloc(1, sizeof(*got));
    struct vr_error err = VR_ERROR_INIT;
    json_t *j = vr_host_kind.to_json(h, true), *back;
    char *text = vr_json_dump(j);

    back = json_loads(text, 0, NULL);
    assert_non_null(back);
    assert_int_equal(vr_host_kind.from_json(got, back, &err), 0);
    free(text);
    json_decref(back);
    if (jout)
        *jout = j;
    else
        json_decref(j);
    return got;
}

static void test_json_round_trip(void **state)
{
    struct vr_host *h = full_host(), *got;
    json_t *j;

    (void)state;
    got = round_trip(h, &j);
    assert_int_equal(got->caps.ncpu_topo, 64);
    assert_int_equal(got->caps.ndevs, 5);
    assert_string_equal(got->conf.pools[0].pf, "0000:af:00.0");
    assert_memory_equal(&got->caps, &h->caps, sizeof(h->caps));
    assert_memory_equal(&got->conf, &h->conf, sizeof(h->conf));
    assert_memory_equal(got, h, sizeof(*h));
    free(got);
    json_decref(j);
    free(h);
}

/* What the record looks like: compact topology, hex ids, null for "none". */
static void test_json_shape(void **state)
{
    struct vr_host *h = full_host(), *got;
    const json_t *caps, *cfg, *t, *d, *p;
    json_t *j;

    (void)state;
    got = round_trip(h, &j);
    caps = json_object_get(j, "capabilities");
    cfg = json_object_get(j, "config");
    t = json_array_get(json_object_get(caps, "cpu_topology"), 45);
    assert_int_equal(json_array_size(t), 4);
    assert_int_equal(json_integer_value(json_array_get(t, 0)), 45);
    assert_int_equal(json_integer_value(json_array_get(t, 1)), 1);
    assert_int_equal(json_integer_value(json_array_get(t, 2)), 1);
    assert_int_equal(json_integer_value(json_array_get(t, 3)), 5);
    d = json_array_get(json_object_get(caps, "devices"), 0);  /* SATA */
    assert_string_equal(json_string_value(json_object_get(d, "address")),
                        "0000:00:17.0");
    assert_string_equal(json_string_value(json_object_get(d, "vendor")),
                        "8086");
    assert_string_equal(json_string_value(json_object_get(d, "product")),
                        "a182");
    assert_string_equal(json_string_value(json_object_get(d, "class")),
                        "010601");
    assert_true(json_is_null(json_object_get(d, "cell")));
    assert_true(json_is_null(json_object_get(d, "pf")));
    d = json_array_get(json_object_get(caps, "devices"), 3);  /* a VF */
    assert_string_equal(json_string_value(json_object_get(d, "pf")),
                        "0000:af:00.0");
    assert_int_equal(json_integer_value(json_object_get(d, "cell")), 1);
    p = json_array_get(json_object_get(json_array_get(
                           json_object_get(caps, "numa_cells"), 0), "pages"),
                       0);
    assert_int_equal(json_integer_value(json_object_get(p, "size_kib")), 2048);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 4096);
    assert_int_equal(json_integer_value(json_object_get(p, "free")), 4000);
    assert_int_equal(json_integer_value(json_object_get(caps, "disk_free_mib")),
                     912345);
    assert_true(json_real_value(json_object_get(cfg, "cpu_ratio")) == 2.5);
    assert_int_equal(json_array_size(json_object_get(cfg, "labels")), 2);
    assert_int_equal(json_array_size(json_object_get(cfg, "sriov_pools")), 1);
    free(got);
    json_decref(j);
    free(h);
}

/* A record from before hosts had a config gets the defaults. */
static void test_conf_defaults(void **state)
{
    struct vr_host *h = full_host(), *got;
    struct vr_error err = VR_ERROR_INIT;
    struct vr_host_conf dflt, c;
    json_t *j;

    (void)state;
    vr_host_conf_defaults(&dflt);
    assert_string_equal(dflt.dedicated_cpus, "");
    assert_string_equal(dflt.reserved_cpus, "");
    assert_int_equal(dflt.reserved_memory_mib, 0);
    /* ratios inherited: the cluster's, else the daemon's */
    assert_true(dflt.cpu_ratio == 0);
    assert_true(dflt.mem_ratio == 0);
    assert_int_equal(dflt.nlabels, 0);
    assert_int_equal(dflt.npools, 0);

    j = vr_host_kind.to_json(h, true);
    json_object_del(j, "config");
    got = vr_calloc(1, sizeof(*got));
    assert_int_equal(vr_host_kind.from_json(got, j, &err), 0);
    assert_memory_equal(&got->conf, &dflt, sizeof(dflt));
    json_decref(j);

    /* members left out keep their defaults */
    j = json_pack("{s:f, s:[s]}", "mem_ratio", 1.5, "labels", "ssd");
    vr_host_conf_from_json(&c, j);
    assert_true(c.cpu_ratio == 0);
    assert_true(c.mem_ratio == 1.5);
    json_decref(j);

    /* an inherited ratio is null in JSON, and comes back as 0 */
    j = vr_host_conf_to_json(&c);
    assert_true(json_is_null(json_object_get(j, "cpu_ratio")));
    assert_true(json_real_value(json_object_get(j, "mem_ratio")) == 1.5);
    vr_host_conf_from_json(&c, j);
    assert_true(c.cpu_ratio == 0);
    assert_int_equal(c.nlabels, 1);
    assert_string_equal(c.labels[0], "ssd");
    json_decref(j);
    vr_host_conf_from_json(&c, NULL);
    assert_memory_equal(&c, &dflt, sizeof(dflt));
    free(got);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_kvm_guest),
        cmocka_unit_test(test_caps_server),
        cmocka_unit_test(test_caps_desktop),
        cmocka_unit_test(test_caps_quad),
        cmocka_unit_test(test_caps_asymmetric),
        cmocka_unit_test(test_caps_edge),
        cmocka_unit_test(test_nodedev_pf),
        cmocka_unit_test(test_nodedev_vfs),
        cmocka_unit_test(test_nodedev_gpu),
        cmocka_unit_test(test_nodedev_no_numa),
        cmocka_unit_test(test_nodedev_skipped),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_conf_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
