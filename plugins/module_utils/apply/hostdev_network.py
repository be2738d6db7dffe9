# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt hostdev networks (pools of SR-IOV VFs, formatnetwork.html ``<forward
mode='hostdev' managed='yes'>`` with ``<address type='pci'/>`` entries): what a network
holds, compared with the plan, and :func:`apply` over a libvirt connection object (the
libvirt-python ``virConnect`` API: networkLookupByName, networkDefineXML, XMLDesc,
isActive, create, autostart, setAutostart), so tests pass a fake."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree


class NetworkError(Exception):
    """A network XML that cannot be read or a libvirt call that failed."""


def forward(xml_text):
    """(mode, managed, [PCI addresses]) of a network XML; addresses as ``0000:01:10.0``."""
    try:
        root = ElementTree.fromstring(xml_text)
    except ElementTree.ParseError as exc:
        raise NetworkError("not a network XML: %s" % exc)
    element = root.find("forward")
    if element is None:
        return None, None, []
    addresses = []
    for address in element.findall("address"):
        try:
            parts = tuple(int(address.get(key) or "0", 0) for key in ("domain", "bus", "slot", "function"))
            addresses.append("%04x:%02x:%02x.%x" % parts)
        except ValueError:
            raise NetworkError("malformed PCI address in the network's forward element")
    return element.get("mode"), element.get("managed"), sorted(addresses)


def same(current_xml, wanted_xml):
    """Whether the defined network has the planned forward mode, managed flag and VFs (libvirt
    adds a uuid and more to what it stores, so only those are compared)."""
    return forward(current_xml) == forward(wanted_xml)


def apply(conn, networks, check_mode=False, not_found=Exception):
    """Define, start and autostart every planned network. Returns {changed, networks:
    [{name, defined, started, autostart, pending}]}; ``pending``: redefined while active, the
    new VF list takes effect when the network next starts."""
    report = []
    changed = False
    for wanted in networks or []:
        name = wanted["name"]
        entry = {"name": wanted["name"], "defined": False, "started": False, "autostart": False, "pending": False}
        try:
            network = conn.networkLookupByName(name)
        except not_found:
            network = None
        if network is None or not same(network.XMLDesc(0), wanted["xml"]):
            entry["defined"] = True
            entry["pending"] = network is not None and bool(network.isActive())
            if not check_mode:
                network = conn.networkDefineXML(wanted["xml"])
        if network is None:  # check mode, not defined yet
            entry["started"] = entry["autostart"] = True
        else:
            if not network.isActive():
                entry["started"] = True
                if not check_mode:
                    network.create()
            if not network.autostart():
                entry["autostart"] = True
                if not check_mode:
                    network.setAutostart(1)
        changed = changed or entry["defined"] or entry["started"] or entry["autostart"]
        report.append(entry)
    return {"changed": changed, "networks": report}
