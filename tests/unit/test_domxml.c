/* Domain XML against golden files (VIREO_REGENERATE=1 rewrites them),
 * and capabilities parsing of real and synthetic hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_node.h"

static char *data_path(const char *rel)
{
    const char *root = getenv("VIREO_SOURCE_ROOT");
    return vr_asprintf("%s/tests/data/%s", root ? root : "..", rel);
}

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
        cmocka_unit_test(test_caps_small),
        cmocka_unit_test(test_caps_server),
        cmocka_unit_test(test_caps_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
