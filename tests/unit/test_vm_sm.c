/* The VM state machine: the table, the task rules, and the docs table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vr_vm.h"

static struct vr_vm vm_in(enum vr_vm_state st)
{
    struct vr_vm vm;
    memset(&vm, 0, sizeof(vm));
    vr_strlcpy(vm.hdr.name, "web1", sizeof(vm.hdr.name));
    vm.state = st;
    vm.start = true;
    return vm;
}

static void test_basic_rules(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm vm = vm_in(VR_VM_RUNNING);

    (void)state;
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_PAUSE, &err), 0);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_START, &err), -1);
    assert_int_equal(err.code, VR_E_STATE);
    assert_int_equal(vr_err_http_status(err.code), 409);
    assert_non_null(strstr(err.msg, "RUNNING"));

    vm = vm_in(VR_VM_POWEROFF);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_PAUSE, &err), -1);
    assert_string_equal(err.msg, "cannot pause vm 'web1': it is POWEROFF");
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_START, &err), 0);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_DELETE, &err), 0);

    vm = vm_in(VR_VM_SUSPENDED);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_RESUME, &err), 0);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_START, &err), 0);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_SUSPEND, &err), -1);
    assert_int_equal(vr_vm_sm_target(&vm, VR_OP_RESUME), VR_VM_RUNNING);
}

static void test_busy_and_failed(void **state)
{
    struct vr_error err = VR_ERROR_INIT;
    struct vr_vm vm = vm_in(VR_VM_RUNNING);

    (void)state;
    vr_vm_task_begin(&vm, VR_OP_STOP, 7);
    for (int op = VR_OP_START; op < VR_OP__LAST; op++) {
        int rc = vr_vm_sm_check(&vm, (enum vr_vm_op)op, &err);
        if (op == VR_OP_RECOVER || op == VR_OP_DELETE) {
            /* recover and delete take over from a running job */
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, VR_E_STATE);
            assert_non_null(strstr(err.msg, "busy"));
            assert_non_null(strstr(err.msg, "'stop'"));
        }
    }
    /* but not a delete from another delete */
    vr_vm_task_begin(&vm, VR_OP_DELETE, 8);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_DELETE, &err), -1);
    assert_non_null(strstr(err.msg, "busy"));
    vm = vm_in(VR_VM_FAILED);
    vm.task.op = VR_OP_CREATE;
    vm.task.status = VR_TASK_FAILED;
    vr_strlcpy(vm.task.phase, "disks", sizeof(vm.task.phase));
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_DELETE, &err), 0);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_RECOVER, &err), 0);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_START, &err), -1);
    assert_non_null(strstr(err.msg, "phase 'disks'"));

    /* nothing to recover on a healthy VM */
    vm = vm_in(VR_VM_RUNNING);
    assert_int_equal(vr_vm_sm_check(&vm, VR_OP_RECOVER, &err), -1);
    /* create is never a request on an existing VM */
    for (int s = 0; s < VR_VM__LAST; s++)
        assert_false(vr_vm_sm_allowed((enum vr_vm_state)s, VR_OP_CREATE));
}

static void test_names_roundtrip(void **state)
{
    (void)state;
    for (int s = 0; s < VR_VM__LAST; s++) {
        enum vr_vm_state out;
        assert_int_equal(vr_vm_state_parse(vr_vm_state_name((enum vr_vm_state)s),
                                           &out), 0);
        assert_int_equal(out, s);
    }
    for (int o = 1; o < VR_OP__LAST; o++) {
        enum vr_vm_op out;
        assert_int_equal(vr_vm_op_parse(vr_vm_op_name((enum vr_vm_op)o), &out),
                         0);
        assert_int_equal(out, o);
    }
    enum vr_vm_state st;
    assert_int_equal(vr_vm_state_parse("running", &st), -1);
}

static void test_targets(void **state)
{
    struct vr_vm vm = vm_in(VR_VM_PENDING);
    (void)state;
    assert_int_equal(vr_vm_sm_target(&vm, VR_OP_CREATE), VR_VM_RUNNING);
    vm.start = false;
    assert_int_equal(vr_vm_sm_target(&vm, VR_OP_CREATE), VR_VM_POWEROFF);
    assert_int_equal(vr_vm_sm_target(&vm, VR_OP_STOP), VR_VM_POWEROFF);
    assert_int_equal(vr_vm_sm_target(&vm, VR_OP_SUSPEND), VR_VM_SUSPENDED);
    assert_int_equal(vr_vm_sm_target(&vm, VR_OP_PAUSE), VR_VM_PAUSED);
}

/* docs/vm-states.md's table must say exactly what the code does. */
static void test_docs_table(void **state)
{
    const char *root = getenv("VIREO_SOURCE_ROOT");
    char path[512], line[1024];
    const char *cols[] = {"PENDING", "RUNNING", "PAUSED", "SUSPENDED",
                          "POWEROFF", "FAILED"};
    int rows = 0;
    FILE *f;

    (void)state;
    assert_non_null(root);
    snprintf(path, sizeof(path), "%s/docs/vm-states.md", root);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        char *cells[16];
        int n = 0;
        enum vr_vm_op op;
        char opname[32];

        if (sscanf(line, "| `%31[a-z]` |", opname) != 1 ||
            vr_vm_op_parse(opname, &op) < 0)
            continue;
        for (char *p = strtok(line, "|"); p && n < 16; p = strtok(NULL, "|"))
            cells[n++] = p;
        assert_true(n >= 7);
        for (int s = 0; s < 6; s++) {
            bool doc = strstr(cells[1 + s], "yes") != NULL;
            enum vr_vm_state st;
            assert_int_equal(vr_vm_state_parse(cols[s], &st), 0);
            if (doc != vr_vm_sm_allowed(st, op))
                fail_msg("docs/vm-states.md says %s is %sallowed in %s; the "
                         "code disagrees", opname, doc ? "" : "not ", cols[s]);
        }
        rows++;
    }
    fclose(f);
    /* every requestable operation has a row */
    assert_int_equal(rows, VR_OP__LAST - 2); /* all but none and create */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_rules),
        cmocka_unit_test(test_busy_and_failed),
        cmocka_unit_test(test_names_roundtrip),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_docs_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
