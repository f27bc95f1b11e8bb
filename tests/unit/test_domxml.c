/* Domain XML against golden files (VIREO_REGENERATE=1 rewrites them),
 * and capabilities parsing of real and synthetic hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_data.h"

#include "node_priv.h"

static void golden(const char *name, const char *actual)
{
    char *path = data_path(name);
    char *expect = NULL;
    struct vr_error err = VR_ERROR_INIT;

    if (getenv("VIREO_REGENERATE")) {
        assert_int_equal(vr_write_file_atomic(path, actual, strlen(actual),
                                              0644, &err), 0);
        free(path);
        return;
    }
    if (vr_read_file(path, 1 << 20, &expect, NULL, &err) < 0)
        fail_msg("%s (run with VIREO_REGENERATE=1 to create it)", err.msg);
    if (strcmp(expect, actual) != 0)
        fail_msg("%s differs from the rendered XML:\n%s", path, actual);
    free(expect);
    free(path);
}

static struct vr_dom_spec base_spec(void)
{
    struct vr_dom_spec s;
    memset(&s, 0, sizeof(s));
    vr_strlcpy(s.uuid, "6f1c1d8e-3b0a-4c55-9d0e-2f1a7b9c0d11", sizeof(s.uuid));
    vr_strlcpy(s.vm_name, "web1", sizeof(s.vm_name));
    s.vm_id = 42;
    vr_strlcpy(s.instance, "0a0b0c0d-0000-4000-8000-000000000001",
               sizeof(s.instance));
    vr_strlcpy(s.hypervisor, "qemu", sizeof(s.hypervisor));
    s.vcpus = 2;
    s.memory_mib = 512;
    s.ndisks = 2;
    vr_strlcpy(s.disks[0].target, "vda", sizeof(s.disks[0].target));
    vr_strlcpy(s.disks[0].path,
               "/var/lib/vireo/datastores/system/6f1c1d8e-3b0a-4c55-9d0e-"
               "2f1a7b9c0d11/disk-0.qcow2", sizeof(s.disks[0].path));
    vr_strlcpy(s.disks[0].format, "qcow2", sizeof(s.disks[0].format));
    s.disks[0].boot = true;
    vr_strlcpy(s.disks[1].target, "vdb", sizeof(s.disks[1].target));
    vr_strlcpy(s.disks[1].path,
               "/var/lib/vireo/datastores/system/6f1c1d8e-3b0a-4c55-9d0e-"
               "2f1a7b9c0d11/disk-1.qcow2", sizeof(s.disks[1].path));
    vr_strlcpy(s.disks[1].format, "qcow2", sizeof(s.disks[1].format));
    s.nnics = 1;
    vr_strlcpy(s.nics[0].model, "virtio", sizeof(s.nics[0].model));
    vr_strlcpy(s.nics[0].mode, "user", sizeof(s.nics[0].mode));
    vr_strlcpy(s.nics[0].mac, "52:54:00:12:34:56", sizeof(s.nics[0].mac));
    vr_strlcpy(s.console_log,
               "/var/lib/vireo/datastores/system/6f1c1d8e-3b0a-4c55-9d0e-"
               "2f1a7b9c0d11/console.log", sizeof(s.console_log));
    return s;
}

static void test_tcg(void **state)
{
    struct vr_dom_spec s = base_spec();
    struct vr_error err = VR_ERROR_INIT;
    char *xml = vr_domxml_render(&s, &err);
    (void)state;
    assert_non_null(xml);
    golden("domxml/tcg-2disk.xml", xml);
    free(xml);
}

static void test_kvm(void **state)
{
    struct vr_dom_spec s = base_spec();
    struct vr_error err = VR_ERROR_INIT;
    char *xml;
    (void)state;
    vr_strlcpy(s.hypervisor, "kvm", sizeof(s.hypervisor));
    s.ndisks = 1;
    xml = vr_domxml_render(&s, &err);
    assert_non_null(xml);
    golden("domxml/kvm-1disk.xml", xml);
    free(xml);
}

/* Markup in a name is escaped by the writer, never interpreted. */
static void test_escaping(void **state)
{
    struct vr_dom_spec s = base_spec();
    struct vr_error err = VR_ERROR_INIT;
    char *xml;
    (void)state;
    vr_strlcpy(s.vm_name, "a<b>&'\"", sizeof(s.vm_name));
    xml = vr_domxml_render(&s, &err);
    assert_non_null(xml);
    assert_null(strstr(xml, "a<b>"));
    assert_non_null(strstr(xml, "a&lt;b&gt;&amp;"));
    free(xml);
}

static void test_refuses_bad_spec(void **state)
{
    struct vr_dom_spec s = base_spec();
    struct vr_error err = VR_ERROR_INIT;
    (void)state;
    vr_strlcpy(s.hypervisor, "xen", sizeof(s.hypervisor));
    assert_null(vr_domxml_render(&s, &err));
    s = base_spec();
    s.disks[1].path[0] = '\0';
    assert_null(vr_domxml_render(&s, &err));
    s = base_spec();
    vr_strlcpy(s.uuid, "../../etc", sizeof(s.uuid));
    assert_null(vr_domxml_render(&s, &err));
}

/* ---- placement in the domain: what vr_placement_spec() makes of plans
 * on tests/data/caps/server-2s-smt.xml (cell 0: CPUs 0-3,8-11; cell 1:
 * 4-7,12-15; siblings i and i+8) and asymmetric.xml */

/* A KVM VM placed on cell 1 of the server (dedicated CPUs 4-7,12-15; the
 * shared ones, 0-3,8-11, run the emulator). */
static struct vr_dom_spec pinned_spec(int vcpus, const int *pins)
{
    struct vr_dom_spec s = base_spec();

    vr_strlcpy(s.hypervisor, "kvm", sizeof(s.hypervisor));
    s.ndisks = 1;
    s.vcpus = vcpus;
    s.memory_mib = 4096;
    s.pinned = true;
    for (int i = 0; i < VR_WIRE_MAX_VCPUS; i++)
        s.vcpupin[i] = i < vcpus ? (int16_t)pins[i] : -1;
    vr_strlcpy(s.emulatorpin, "0-3,8-11", sizeof(s.emulatorpin));
    vr_strlcpy(s.nodeset, "1", sizeof(s.nodeset)); /* the implicit node */
    return s;
}

static void render_golden(const struct vr_dom_spec *s, const char *name)
{
    struct vr_error err = VR_ERROR_INIT;
    char *xml = vr_domxml_render(s, &err);

    if (!xml)
        fail_msg("%s: %s", name, err.msg);
    golden(name, xml);
    free(xml);
}

/* thread: vCPU i on its own thread */
static void test_cpu_thread(void **state)
{
    static const int pins[] = {4, 5, 6, 7};
    struct vr_dom_spec s = pinned_spec(4, pins);
    (void)state;
    render_golden(&s, "domxml/cpu-thread.xml");
}

/* core: one vCPU a core, the siblings (12-14) idle */
static void test_cpu_core(void **state)
{
    static const int pins[] = {4, 5, 6};
    struct vr_dom_spec s = pinned_spec(3, pins);
    (void)state;
    render_golden(&s, "domxml/cpu-core.xml");
}

/* isolate: 4 vCPUs on both threads of cores 4/12 and 5/13, the guest
 * told it has 2 cores of 2 threads (vCPUs 0-1 and 2-3 are siblings, as
 * their host threads are) */
static void test_cpu_isolate(void **state)
{
    static const int pins[] = {4, 12, 5, 13};
    struct vr_dom_spec s = pinned_spec(4, pins);
    (void)state;
    s.sockets = 1;
    s.cores = 2;
    s.threads = 2;
    render_golden(&s, "domxml/cpu-isolate.xml");
}

/* A shared VM in 1 GiB pages of cell 0, floating over cell 0's shared
 * CPUs. */
static void test_hugepages(void **state)
{
    struct vr_dom_spec s = base_spec();
    (void)state;
    vr_strlcpy(s.hypervisor, "kvm", sizeof(s.hypervisor));
    s.ndisks = 1;
    s.memory_mib = 4096;
    s.hugepage_kib = 1048576;
    vr_strlcpy(s.cpuset, "0-3,8-11", sizeof(s.cpuset));
    vr_strlcpy(s.nodeset, "0", sizeof(s.nodeset));
    render_golden(&s, "domxml/hugepages-1g.xml");
}

/* Guest NUMA node i: its vCPUs, memory and the host cell it is bound to. */
static void set_cell(struct vr_dom_spec *s, int i, const char *vcpus,
                     uint64_t memory_mib, int host_cell)
{
    vr_strlcpy(s->cells[i].vcpus, vcpus, sizeof(s->cells[i].vcpus));
    s->cells[i].memory_mib = memory_mib;
    s->cells[i].host_cell = host_cell;
}

/* Uneven guest NUMA nodes on the asymmetric host (cell 0: 0-5,10-15 with
 * SMT; cell 1: 6-9): node 0 (2 vCPUs, 24 GiB) on cell 1, node 1 (8 vCPUs,
 * 40 GiB) on cell 0, each vCPU pinned; every CPU dedicated, so the
 * emulator runs on the VM's own CPUs; 2 MiB pages. */
static void test_numa_asymmetric(void **state)
{
    static const int pins[] = {6, 7, 0, 1, 2, 3, 4, 5, 10, 11};
    struct vr_dom_spec s = pinned_spec(10, pins);
    (void)state;
    s.memory_mib = 24576 + 40960;
    vr_strlcpy(s.emulatorpin, "0-7,10-11", sizeof(s.emulatorpin));
    vr_strlcpy(s.nodeset, "0-1", sizeof(s.nodeset));
    s.hugepage_kib = 2048;
    s.ncells = 2;
    set_cell(&s, 0, "0-1", 24576, 1);
    set_cell(&s, 1, "2-9", 40960, 0);
    render_golden(&s, "domxml/numa-asymmetric.xml");
}

/* A shared VM with guest NUMA nodes (floating vCPUs, memory bound node by
 * node) under TCG. */
static void test_numa_shared(void **state)
{
    struct vr_dom_spec s = base_spec();
    (void)state;
    s.vcpus = 3;
    s.memory_mib = 3072;
    vr_strlcpy(s.nodeset, "2-3", sizeof(s.nodeset));
    s.ncells = 2;
    set_cell(&s, 0, "0", 1024, 3);
    set_cell(&s, 1, "1-2", 2048, 2);
    render_golden(&s, "domxml/numa-shared-tcg.xml");
}

/* A GPU and an SR-IOV VF, handed over with libvirt managing the binding. */
static void test_hostdev(void **state)
{
    struct vr_dom_spec s = base_spec();
    (void)state;
    vr_strlcpy(s.hypervisor, "kvm", sizeof(s.hypervisor));
    s.ndisks = 1;
    s.memory_mib = 2048;
    s.nhostdevs = 2;
    vr_strlcpy(s.hostdevs[0], "0000:3b:00.0", sizeof(s.hostdevs[0]));
    vr_strlcpy(s.hostdevs[1], "0000:af:02.1", sizeof(s.hostdevs[1]));
    render_golden(&s, "domxml/hostdev.xml");
}

/* Placement fields that cannot be rendered are refused. */
static void test_refuses_bad_placement(void **state)
{
    struct vr_dom_spec s = base_spec();
    struct vr_error err = VR_ERROR_INIT;
    (void)state;
    s.nhostdevs = 1;
    vr_strlcpy(s.hostdevs[0], "3b:00.0", sizeof(s.hostdevs[0]));
    assert_null(vr_domxml_render(&s, &err));
    s = base_spec();
    s.ncells = VR_WIRE_MAX_CELLS + 1;
    assert_null(vr_domxml_render(&s, &err));
}

static void load_caps(const char *name, struct vr_host_caps *caps)
{
    char *path = data_path(name), *xml = NULL;
    struct vr_error err = VR_ERROR_INIT;
    assert_int_equal(vr_read_file(path, 1 << 20, &xml, NULL, &err), 0);
    memset(caps, 0, sizeof(*caps));
    if (vr_caps_parse(xml, caps, &err) < 0)
        fail_msg("%s: %s", name, err.msg);
    free(xml);
    free(path);
}

static void test_caps_small(void **state)
{
    struct vr_host_caps c;
    (void)state;
    load_caps("caps/kvm-guest-2cpu.xml", &c);
    assert_string_equal(c.arch, "x86_64");
    assert_string_equal(c.cpu_vendor, "Intel");
    assert_true(c.cpu_model[0] != '\0');
    assert_int_equal(c.ncells, 1);
    assert_int_equal(c.cells[0].ncpus, 2);
    assert_string_equal(c.cells[0].cpus, "0-1");
    assert_true(c.cells[0].memory_kib > 0);
    assert_true(vr_uuid_valid(c.uuid));
}

static void test_caps_server(void **state)
{
    struct vr_host_caps c;
    (void)state;
    load_caps("caps/server-2s-smt.xml", &c);
    assert_string_equal(c.cpu_model, "Skylake-Server-IBRS");
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.ncells, 2);
    assert_int_equal(c.cells[0].ncpus, 8);
    assert_string_equal(c.cells[0].cpus, "0-3,8-11");
    assert_string_equal(c.cells[1].cpus, "4-7,12-15");
    assert_int_equal(c.cells[1].memory_kib, 67108864);
}

static void test_caps_garbage(void **state)
{
    struct vr_host_caps c;
    struct vr_error err = VR_ERROR_INIT;
    (void)state;
    assert_int_equal(vr_caps_parse("<capabilities/>", &c, &err), -1);
    assert_int_equal(vr_caps_parse("not xml", &c, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcg),
        cmocka_unit_test(test_kvm),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_refuses_bad_spec),
        cmocka_unit_test(test_cpu_thread),
        cmocka_unit_test(test_cpu_core),
        cmocka_unit_test(test_cpu_isolate),
        cmocka_unit_test(test_hugepages),
        cmocka_unit_test(test_numa_asymmetric),
        cmocka_unit_test(test_numa_shared),
        cmocka_unit_test(test_hostdev),
        cmocka_unit_test(test_refuses_bad_placement),
        cmocka_unit_test(test_caps_small),
        cmocka_unit_test(test_caps_server),
        cmocka_unit_test(test_caps_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
