# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The libvirt domains of the system QEMU driver, read from its files (never from libvirt).

Sources (libvirt's QEMU driver, ``qemu:///system``):

- ``/etc/libvirt/qemu/<name>.xml``: the persistent definition of each defined domain
  (the driver's ``configDir``; virDomainObjListLoadConfig reads one file per domain).
- ``/run/libvirt/qemu/<name>.xml``: the status file of a running domain (``stateDir``;
  transient domains too), ``<domstatus state='running' reason='booted' pid='N'>``
  holding the live ``<domain>``; ``state`` is virDomainState's word (nostate, running,
  blocked, paused, shutdown, shutoff, crashed, pmsuspended; domain_conf.c). The file goes
  when the domain stops, so a defined domain without one is ``shutoff``.
- ``/run/libvirt/qemu/<name>.pid``: the QEMU process id (when the status file lacks it).

The sizes and counts are what libvirt reads from ``<vcpu>``, ``<memory>`` and
``<currentMemory>`` (formatdomain.html, "CPU Allocation", "Memory Allocation"), parsed
by the same code ``libvirt_domain_tuning`` checks the plan with
(``apply/domain/state.py``). Facts work with ``root`` on a tree: no libvirt call.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.base import DomainXMLError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.domain.state import (
    domain_facts,
    tuning_state,
)

CONFIG_DIR = "/etc/libvirt/qemu"
STATUS_DIR = "/run/libvirt/qemu"
STATES = ("nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspended")


def _root(text):
    from xml.etree import ElementTree  # only hosts with domains pay for it

    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise DomainXMLError("does not parse: %s" % exc)


def _int_or_none(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def describe(domain):
    """The facts of one ``<domain>`` element; raises DomainXMLError."""
    if domain.tag != "domain":
        raise DomainXMLError("root element is <%s>, not <domain>" % domain.tag)
    basics = domain_facts(domain)
    tuning = tuning_state(domain)
    numatune = tuning["numatune"]["memory"]
    return {
        "name": basics["name"],
        "uuid": (domain.findtext("uuid") or "").strip() or None,
        "vcpus": basics["vcpus"],
        "memory_kib": basics["memory_kib"],
        "current_memory_kib": basics["current_memory_kib"],
        "hugepages": tuning["memoryBacking"]["hugepages"] is not None,
        "numatune": ({"mode": numatune["mode"], "placement": numatune["placement"],
                      "nodeset": numatune["nodeset"]} if numatune else None),
    }


def _status(reader, name):
    """(state, pid, live <domain> element or None) of a domain's status file."""
    path = posixpath.join(STATUS_DIR, name + ".xml")
    text = reader.text(path)
    pid = reader.integer(posixpath.join(STATUS_DIR, name + ".pid"))
    if text is None:
        return None, pid, None
    try:
        root = _root(text)
    except DomainXMLError as exc:
        reader.warn("cannot parse %s: %s" % (path, exc))
        return None, pid, None
    if root.tag != "domstatus":
        reader.warn("cannot parse %s: root element is <%s>, not <domstatus>" % (path, root.tag))
        return None, pid, None
    state = root.get("state") or "nostate"
    if state not in STATES:
        reader.warn("%s: unknown domain state %r" % (path, state))
    status_pid = _int_or_none(root.get("pid"))
    return state, status_pid if status_pid is not None else pid, root.find("domain")


def gather_domains(reader):
    """The ``kvm_host.domains`` dictionary."""
    entries = {}
    for filename in reader.listdir(CONFIG_DIR):
        path = posixpath.join(CONFIG_DIR, filename)
        if not filename.endswith(".xml") or reader.isdir(path):
            continue
        text = reader.text(path)
        if text is None:
            continue
        try:
            entry = describe(_root(text))
        except DomainXMLError as exc:
            reader.warn("cannot parse %s: %s" % (path, exc))
            continue
        entry["name"] = entry["name"] or filename[:-4]
        entry.update(persistent=True, state="shutoff", pid=None, source=path)
        entries[entry["name"]] = entry
    for filename in reader.listdir(STATUS_DIR):
        if not filename.endswith(".xml") or reader.isdir(posixpath.join(STATUS_DIR, filename)):
            continue
        name = filename[:-4]
        state, pid, live = _status(reader, name)
        if state is None:
            continue
        entry = entries.get(name)
        if entry is None:
            # transient (no definition): what the status file's <domain> says
            if live is None:
                reader.warn("%s/%s: <domstatus> without a <domain>" % (STATUS_DIR, filename))
                continue
            try:
                entry = describe(live)
            except DomainXMLError as exc:
                reader.warn("cannot parse %s/%s: %s" % (STATUS_DIR, filename, exc))
                continue
            entry["name"] = entry["name"] or name
            entry.update(persistent=False, source=posixpath.join(STATUS_DIR, filename))
            entries[entry["name"]] = entry
        entry.update(state=state, pid=pid)
    return {
        "config_dir": reader.isdir(CONFIG_DIR),
        "defined": [entries[name] for name in sorted(entries)],
    }
