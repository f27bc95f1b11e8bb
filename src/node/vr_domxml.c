/*
 * vr_domxml.c - libvirt domain XML from a vr_dom_spec, with libxml2's
 * writer: every value is escaped by the writer, never pasted into a string.
 * Golden files: tests/data/domxml/.
 */
#include <libxml/xmlwriter.h>
#include <string.h>

#include "vr_node.h"

#define W_START(w, name) xmlTextWriterStartElement(w, BAD_CAST(name))
#define W_END(w) xmlTextWriterEndElement(w)
#define W_ATTR(w, k, v) xmlTextWriterWriteAttribute(w, BAD_CAST(k), BAD_CAST(v))
#define W_TEXT(w, name, v)                                                 \
    xmlTextWriterWriteElement(w, BAD_CAST(name), BAD_CAST(v))

static int spec_check(const struct vr_dom_spec *s, struct vr_error *err)
{
    if (!vr_uuid_valid(s->uuid))
        return vr_err(err, VR_E_INTERNAL, "domain spec: bad uuid");
    if (strcmp(s->hypervisor, "kvm") != 0 && strcmp(s->hypervisor, "qemu") != 0)
        return vr_err(err, VR_E_INTERNAL, "domain spec: bad hypervisor '%s'",
                      s->hypervisor);
    if (s->vcpus < 1 || s->memory_mib < VR_VM_MIN_MEMORY_MIB)
        return vr_err(err, VR_E_INTERNAL, "domain spec: bad size");
    for (int i = 0; i < s->ndisks; i++)
        if (s->disks[i].path[0] != '/')
            return vr_err(err, VR_E_INTERNAL, "domain spec: disk %d has no "
                          "path", i);
    return 0;
}

char *vr_domxml_render(const struct vr_dom_spec *s, struct vr_error *err)
{
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    char name[64], idbuf[32];
    char *out;

    if (spec_check(s, err) < 0)
        return NULL;
    buf = xmlBufferCreate();
    w = xmlNewTextWriterMemory(buf, 0);
    if (!buf || !w) {
        vr_err(err, VR_E_INTERNAL, "domain xml: out of memory");
        if (buf)
            xmlBufferFree(buf);
        return NULL;
    }
    xmlTextWriterSetIndent(w, 1);
    xmlTextWriterSetIndentString(w, BAD_CAST "  ");
    snprintf(name, sizeof(name), "vireo-%s", s->uuid);

    W_START(w, "domain");
    W_ATTR(w, "type", s->hypervisor);
    W_TEXT(w, "name", name);
    W_TEXT(w, "uuid", s->uuid);
    W_TEXT(w, "title", s->vm_name);

    W_START(w, "metadata");
    xmlTextWriterStartElementNS(w, BAD_CAST "vireo", BAD_CAST "vm",
                                BAD_CAST VR_DOMXML_NS);
    W_ATTR(w, "instance", s->instance);
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)s->vm_id);
    W_ATTR(w, "id", idbuf);
    W_ATTR(w, "name", s->vm_name);
    W_END(w);
    W_END(w); /* metadata */

    W_START(w, "memory");
    W_ATTR(w, "unit", "MiB");
    xmlTextWriterWriteFormatString(w, "%llu", (unsigned long long)s->memory_mib);
    W_END(w);
    W_START(w, "currentMemory");
    W_ATTR(w, "unit", "MiB");
    xmlTextWriterWriteFormatString(w, "%llu", (unsigned long long)s->memory_mib);
    W_END(w);
    W_START(w, "vcpu");
    W_ATTR(w, "placement", "static");
    xmlTextWriterWriteFormatString(w, "%d", s->vcpus);
    W_END(w);

    W_START(w, "os");
    W_START(w, "type");
    W_ATTR(w, "arch", "x86_64");
    W_ATTR(w, "machine", "q35");
    xmlTextWriterWriteString(w, BAD_CAST "hvm");
    W_END(w);
    W_START(w, "boot");
    W_ATTR(w, "dev", "hd");
    W_END(w);
    W_END(w); /* os */

    W_START(w, "features");
    W_START(w, "acpi");
    W_END(w);
    W_START(w, "apic");
    W_END(w);
    W_END(w);

    if (strcmp(s->hypervisor, "kvm") == 0) {
        W_START(w, "cpu");
        W_ATTR(w, "mode", "host-model");
        W_END(w);
    }
    W_START(w, "clock");
    W_ATTR(w, "offset", "utc");
    W_END(w);
    W_TEXT(w, "on_poweroff", "destroy");
    W_TEXT(w, "on_reboot", "restart");
    W_TEXT(w, "on_crash", "destroy");

    W_START(w, "devices");
    for (int i = 0; i < s->ndisks; i++) {
        const struct vr_dom_disk *d = &s->disks[i];
        W_START(w, "disk");
        W_ATTR(w, "type", "file");
        W_ATTR(w, "device", "disk");
        W_START(w, "driver");
        W_ATTR(w, "name", "qemu");
        W_ATTR(w, "type", d->format);
        W_ATTR(w, "discard", "unmap");
        W_END(w);
        W_START(w, "source");
        W_ATTR(w, "file", d->path);
        W_END(w);
        W_START(w, "target");
        W_ATTR(w, "dev", d->target);
        W_ATTR(w, "bus", "virtio");
        W_END(w);
        W_END(w);
    }
    for (int i = 0; i < s->nnics; i++) {
        const struct vr_vm_nic *n = &s->nics[i];
        W_START(w, "interface");
        W_ATTR(w, "type", n->mode);
        W_START(w, "mac");
        W_ATTR(w, "address", n->mac);
        W_END(w);
        W_START(w, "model");
        W_ATTR(w, "type", n->model);
        W_END(w);
        W_END(w);
    }
    W_START(w, "serial");
    W_ATTR(w, "type", "pty");
    if (s->console_log[0]) {
        W_START(w, "log");
        W_ATTR(w, "file", s->console_log);
        W_ATTR(w, "append", "off");
        W_END(w);
    }
    W_START(w, "target");
    W_ATTR(w, "port", "0");
    W_END(w);
    W_END(w); /* serial */
    W_START(w, "console");
    W_ATTR(w, "type", "pty");
    W_START(w, "target");
    W_ATTR(w, "type", "serial");
    W_ATTR(w, "port", "0");
    W_END(w);
    W_END(w);
    W_START(w, "graphics");
    W_ATTR(w, "type", "vnc");
    W_ATTR(w, "port", "-1");
    W_ATTR(w, "autoport", "yes");
    W_START(w, "listen");
    W_ATTR(w, "type", "address");
    W_ATTR(w, "address", "127.0.0.1");
    W_END(w);
    W_END(w);
    W_START(w, "video");
    W_START(w, "model");
    W_ATTR(w, "type", "vga");
    W_END(w);
    W_END(w);
    W_START(w, "memballoon");
    W_ATTR(w, "model", "none");
    W_END(w);
    W_END(w); /* devices */
    W_END(w); /* domain */
    xmlTextWriterEndDocument(w);
    xmlFreeTextWriter(w);
    out = vr_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return out;
}
