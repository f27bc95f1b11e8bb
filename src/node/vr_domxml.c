/*
 * vr_domxml.c - libvirt domain XML from a vr_dom_spec, with libxml2's
 * writer: every value is escaped by the writer, never pasted into a string.
 * Golden files: tests/data/domxml/.
 */
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <string.h>

#include "node_priv.h"

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
    if (s->vcpus < 1 || s->memory_mib < VR_DOM_MIN_MEMORY_MIB)
        return vr_err(err, VR_E_INTERNAL, "domain spec: bad size");
    if (s->ndisks < 0 || s->ndisks > VR_WIRE_MAX_DISKS || s->nnics < 0 ||
        s->nnics > VR_WIRE_MAX_NICS || s->nhostdevs < 0 ||
        s->nhostdevs > VR_WIRE_MAX_HOSTDEVS)
        return vr_err(err, VR_E_INTERNAL, "domain spec: bad device count");
    for (int i = 0; i < s->ndisks; i++)
        if (s->disks[i].path[0] != '/')
            return vr_err(err, VR_E_INTERNAL, "domain spec: disk %d has no "
                          "path", i);
    for (int i = 0; i < s->nhostdevs; i++) {
        unsigned a, b, c, d;
        if (sscanf(s->hostdevs[i], "%4x:%2x:%2x.%1x", &a, &b, &c, &d) != 4)
            return vr_err(err, VR_E_INTERNAL, "domain spec: bad PCI address "
                          "'%.16s'", s->hostdevs[i]);
    }
    if (s->ncells < 0 || s->ncells > VR_WIRE_MAX_CELLS ||
        s->vcpus > VR_WIRE_MAX_VCPUS)
        return vr_err(err, VR_E_INTERNAL, "domain spec: bad NUMA layout");
    return 0;
}

/* <cputune>: each pinned vCPU on its host CPU, the emulator threads
 * on the shared CPUs. */
static void write_cputune(xmlTextWriterPtr w, const struct vr_dom_spec *s)
{
    char num[16];

    if (!s->pinned && !s->emulatorpin[0])
        return;
    W_START(w, "cputune");
    for (int i = 0; s->pinned && i < s->vcpus; i++) {
        if (s->vcpupin[i] < 0)
            continue;
        W_START(w, "vcpupin");
        snprintf(num, sizeof(num), "%d", i);
        W_ATTR(w, "vcpu", num);
        snprintf(num, sizeof(num), "%d", s->vcpupin[i]);
        W_ATTR(w, "cpuset", num);
        W_END(w);
    }
    if (s->emulatorpin[0]) {
        W_START(w, "emulatorpin");
        W_ATTR(w, "cpuset", s->emulatorpin);
        W_END(w);
    }
    W_END(w);
}

/* <numatune>: memory strictly from the host cells of the plan, and each
 * guest cell from its host cell. */
static void write_numatune(xmlTextWriterPtr w, const struct vr_dom_spec *s)
{
    char num[16];

    if (!s->nodeset[0])
        return;
    W_START(w, "numatune");
    W_START(w, "memory");
    W_ATTR(w, "mode", "strict");
    W_ATTR(w, "nodeset", s->nodeset);
    W_END(w);
    for (int i = 0; i < s->ncells; i++) {
        W_START(w, "memnode");
        snprintf(num, sizeof(num), "%d", i);
        W_ATTR(w, "cellid", num);
        W_ATTR(w, "mode", "strict");
        snprintf(num, sizeof(num), "%d", s->cells[i].host_cell);
        W_ATTR(w, "nodeset", num);
        W_END(w);
    }
    W_END(w);
}

static void write_memory_backing(xmlTextWriterPtr w,
                                 const struct vr_dom_spec *s)
{
    char num[16];

    if (!s->hugepage_kib)
        return;
    W_START(w, "memoryBacking");
    W_START(w, "hugepages");
    W_START(w, "page");
    snprintf(num, sizeof(num), "%u", s->hugepage_kib);
    W_ATTR(w, "size", num);
    W_ATTR(w, "unit", "KiB");
    W_END(w);
    W_END(w);
    W_END(w);
}

/* <cpu>: the host's model under KVM; the guest topology and NUMA cells. */
static void write_cpu(xmlTextWriterPtr w, const struct vr_dom_spec *s)
{
    bool kvm = strcmp(s->hypervisor, "kvm") == 0;
    char num[32];

    if (!kvm && !s->sockets && !s->ncells)
        return;
    W_START(w, "cpu");
    if (kvm)
        W_ATTR(w, "mode", "host-model");
    if (s->sockets) {
        W_START(w, "topology");
        snprintf(num, sizeof(num), "%d", s->sockets);
        W_ATTR(w, "sockets", num);
        W_ATTR(w, "dies", "1");
        snprintf(num, sizeof(num), "%d", s->cores);
        W_ATTR(w, "cores", num);
        snprintf(num, sizeof(num), "%d", s->threads);
        W_ATTR(w, "threads", num);
        W_END(w);
    }
    if (s->ncells) {
        W_START(w, "numa");
        for (int i = 0; i < s->ncells; i++) {
            W_START(w, "cell");
            snprintf(num, sizeof(num), "%d", i);
            W_ATTR(w, "id", num);
            W_ATTR(w, "cpus", s->cells[i].vcpus);
            snprintf(num, sizeof(num), "%llu",
                     (unsigned long long)s->cells[i].memory_mib);
            W_ATTR(w, "memory", num);
            W_ATTR(w, "unit", "MiB");
            W_END(w);
        }
        W_END(w);
    }
    W_END(w);
}

/* <hostdev> for a PCI address "dddd:bb:ss.f", libvirt managing the
 * driver binding (managed='yes'). */
static void write_hostdev(xmlTextWriterPtr w, const char *addr)
{
    unsigned dom = 0, bus = 0, slot = 0, fn = 0;
    char num[16];

    if (sscanf(addr, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4)
        return;
    W_START(w, "hostdev");
    W_ATTR(w, "mode", "subsystem");
    W_ATTR(w, "type", "pci");
    W_ATTR(w, "managed", "yes");
    W_START(w, "source");
    W_START(w, "address");
    snprintf(num, sizeof(num), "0x%04x", dom);
    W_ATTR(w, "domain", num);
    snprintf(num, sizeof(num), "0x%02x", bus);
    W_ATTR(w, "bus", num);
    snprintf(num, sizeof(num), "0x%02x", slot);
    W_ATTR(w, "slot", num);
    snprintf(num, sizeof(num), "0x%x", fn);
    W_ATTR(w, "function", num);
    W_END(w);
    W_END(w);
    W_END(w);
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
    write_memory_backing(w, s);
    W_START(w, "vcpu");
    W_ATTR(w, "placement", "static");
    if (s->cpuset[0])
        W_ATTR(w, "cpuset", s->cpuset);
    xmlTextWriterWriteFormatString(w, "%d", s->vcpus);
    W_END(w);
    write_cputune(w, s);
    write_numatune(w, s);

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

    write_cpu(w, s);
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
        const struct vr_dom_nic *n = &s->nics[i];
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
    for (int i = 0; i < s->nhostdevs; i++)
        write_hostdev(w, s->hostdevs[i]);
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
    /* VNC on a UNIX socket libvirt places in the domain's own directory
     * (root and QEMU only): no TCP port any local user could reach */
    W_START(w, "graphics");
    W_ATTR(w, "type", "vnc");
    W_START(w, "listen");
    W_ATTR(w, "type", "socket");
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
