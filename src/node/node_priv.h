/*
 * node_priv.h - what the node transports share inside src/node: domain
 * XML, and the readers of libvirt's capabilities and node devices.  Not
 * for the controller: it sees hosts through vr_node.h only.
 */
#ifndef VR_NODE_PRIV_H
#define VR_NODE_PRIV_H

#include "vr_node.h"

/* Domain XML (libxml2 writer).  Returns a new string or NULL with err. */
char *vr_domxml_render(const struct vr_dom_spec *spec, struct vr_error *err);

/* Namespace of Vireo's metadata element in domain XML. */
#define VR_DOMXML_NS "https://vireo.dev/xmlns/domain/1"

/* Parse libvirt capabilities XML into caps (topology, cells, model). */
int vr_caps_parse(const char *xml, struct vr_host_caps *caps,
                  struct vr_error *err);

/* Parse one libvirt PCI node device XML (virNodeDeviceGetXMLDesc) into
 * *out.  Returns 1 for a device worth offering to guests, 0 for one to
 * skip (not PCI, a host or PCI bridge, no usable address; *out is then
 * zeroed), -1 with err if the XML cannot be read. */
int vr_nodedev_parse(const char *xml, struct vr_host_dev *out,
                     struct vr_error *err);

#endif
