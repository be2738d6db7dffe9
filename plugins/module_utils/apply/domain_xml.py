# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pin a libvirt domain's XML to a ``kvm_host_plan.guests`` entry (pure, no libvirt).

The element names and their meaning are libvirt's domain XML format
(https://libvirt.org/formatdomain.html): "CPU Allocation" (``<vcpu>``), "IOThreads
Allocation", "CPU Tuning" (``<cputune>``: ``vcpupin``, ``emulatorpin``, ``iothreadpin``),
"Memory Backing" (``<memoryBacking><hugepages><page>``) and "NUMA Node Tuning"
(``<numatune>``: ``memory``, ``memnode``), "NUMA topology" (``<cpu><numa><cell>``).

Only these parts are ever rewritten ("owned"):

* ``<vcpu>``: ``placement='static'`` and no ``cpuset`` attribute (every vCPU, the
  emulator and every IOThread get an explicit pin, so a default mask would only
  mislead); the vCPU count and ``current`` are never changed.
* ``<cputune>``: every ``vcpupin``, ``emulatorpin`` and ``iothreadpin`` child; other
  children (``shares``, ``period``, ``vcpusched``, ``cachetune`` ...) are kept.
* ``<numatune>``: ``<memory mode='strict' nodeset=memory_node/>`` and one
  ``<memnode cellid=N mode='strict' nodeset=memory_node/>`` per guest NUMA cell. A guest
  the planner had to spread over nodes (``spans_nodes``) gets every node of its
  ``memory_mb_by_node`` in the nodeset, since its huge pages were reserved there.
* ``<memoryBacking><hugepages>``: one ``<page size=N unit='KiB'/>`` when the plan asks for
  huge pages, no ``<hugepages>`` otherwise; ``locked``, ``nosharepages``, ``source``,
  ``access``, ``allocation`` ... are kept. The ``page`` element gets no ``nodeset``:
  that attribute names *guest* NUMA cells, and without it the size applies to all of
  them; the *host* node the pages come from is set by ``<numatune>``.

A section is rewritten only when its meaning differs from the plan (CPU sets are
compared as sets, sizes in KiB, defaults filled in), so libvirt's own reformatting of
the XML never shows up as a change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import io
import xml.etree.ElementTree as ET

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)

# Sections this module owns, in the order they are reported.
SECTIONS = ("vcpu", "vcpupin", "emulatorpin", "iothreadpin", "numatune", "memoryBacking")
# What a running domain can take through the API without a restart.
LIVE_SECTIONS = ("vcpupin", "emulatorpin", "iothreadpin")

# libvirt's scaled integer units (formatdomain "Memory Allocation").
_UNITS = {
    "b": 1, "bytes": 1,
    "kb": 1000, "k": 1024, "kib": 1024,
    "mb": 1000 ** 2, "m": 1024 ** 2, "mib": 1024 ** 2,
    "gb": 1000 ** 3, "g": 1024 ** 3, "gib": 1024 ** 3,
    "tb": 1000 ** 4, "t": 1024 ** 4, "tib": 1024 ** 4,
    "pb": 1000 ** 5, "p": 1024 ** 5, "pib": 1024 ** 5,
    "eb": 1000 ** 6, "e": 1024 ** 6, "eib": 1024 ** 6,
}

# Where a missing top-level element goes: after the last of these that exists.
_AFTER = {
    "memoryBacking": ("name", "uuid", "genid", "title", "description", "metadata",
                      "maxMemory", "memory", "currentMemory"),
    "vcpu": ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory",
             "memory", "currentMemory", "blkiotune", "memtune", "memoryBacking"),
    "cputune": ("name", "uuid", "memory", "currentMemory", "memoryBacking", "vcpu",
                "vcpus", "iothreads", "iothreadids", "defaultiothread"),
    "numatune": ("name", "uuid", "memory", "currentMemory", "memoryBacking", "vcpu",
                 "vcpus", "iothreads", "iothreadids", "defaultiothread", "cputune"),
}
# cputune children that come after the pins in libvirt's order.
_CPUTUNE_AFTER_PINS = ("vcpusched", "iothreadsched", "emulatorsched", "cachetune",
                       "memorytune")


class DomainXMLError(ValueError):
    """Bad plan input or a domain XML this module cannot work on."""


# --------------------------------------------------------------------------- input


def _int(value, where, minimum=0):
    if isinstance(value, bool):
        raise DomainXMLError("%s must be an integer, got %r" % (where, value))
    if isinstance(value, float) and value != int(value):
        raise DomainXMLError("%s must be an integer, got %r" % (where, value))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainXMLError("%s must be an integer, got %r" % (where, value))
    if number < minimum:
        raise DomainXMLError("%s must be at least %d, got %r" % (where, minimum, value))
    return number


def _cpus(value, where, allow_empty=False):
    if isinstance(value, bool):
        raise DomainXMLError("%s must be CPU ids or a cpulist, got %r" % (where, value))
    try:
        cpus = parse_cpulist(value)
    except CpulistError as exc:
        raise DomainXMLError("%s: %s" % (where, exc))
    if not cpus and not allow_empty:
        raise DomainXMLError("%s must name at least one CPU" % where)
    return cpus


def _bool(value, where):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false",
                                                    "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise DomainXMLError("%s must be a boolean, got %r" % (where, value))


def validate_guests(guests, iothreadpin=None):
    """Check ``kvm_host_plan.guests`` entries; return them normalised.

    Raises DomainXMLError naming ``guests[i].key`` for the first bad value. Keys
    other than the ones used here (the plan carries more) are ignored. Each result:
    ``name``, ``vcpus``, ``memory_mb`` (or None), ``memory_nodes`` ([int]: ``memory_node``,
    or for a guest with ``spans_nodes`` every node its ``memory_mb_by_node`` uses),
    ``hugepages``, ``hugepage_size_kb``, ``vcpupin`` ({int: [int]}), ``emulatorpin``,
    ``iothreadpin`` ([int]: the guest's own ``iothreadpin``, else the module-wide one,
    else ``emulatorpin``), ``numa_node``, ``spans_nodes``.
    """
    if not isinstance(guests, (list, tuple)):
        raise DomainXMLError("guests must be a list of plan entries, got %s"
                             % type(guests).__name__)
    default_io = None
    if iothreadpin is not None:
        default_io = _cpus(iothreadpin, "iothreadpin")
    result = []
    seen = set()
    for index, entry in enumerate(guests):
        where = "guests[%d]" % index
        if not isinstance(entry, dict):
            raise DomainXMLError("%s must be a dict, got %s" % (where, type(entry).__name__))
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DomainXMLError("%s.name must be a non-empty string, got %r" % (where, name))
        where = "guests[%d] (%s)" % (index, name)
        if name in seen:
            raise DomainXMLError("%s: guest name %r is planned twice" % (where, name))
        seen.add(name)
        for key in ("vcpus", "vcpupin", "emulatorpin", "memory_node"):
            if entry.get(key) is None:
                raise DomainXMLError("%s.%s is missing" % (where, key))
        vcpus = _int(entry["vcpus"], where + ".vcpus", 1)
        pins = entry["vcpupin"]
        if not isinstance(pins, dict):
            raise DomainXMLError("%s.vcpupin must be a dict {vcpu: cpu}, got %s"
                                 % (where, type(pins).__name__))
        vcpupin = {}
        for key, value in pins.items():
            vcpu = _int(key, "%s.vcpupin key %r" % (where, key))
            if vcpu in vcpupin:
                raise DomainXMLError("%s.vcpupin names vCPU %d twice" % (where, vcpu))
            vcpupin[vcpu] = _cpus(value, "%s.vcpupin[%s]" % (where, key))
        if sorted(vcpupin) != list(range(vcpus)):
            raise DomainXMLError(
                "%s.vcpupin must pin every vCPU 0-%d exactly once, got vCPUs %s"
                % (where, vcpus - 1, format_cpulist(vcpupin) or "none"))
        emulatorpin = _cpus(entry["emulatorpin"], where + ".emulatorpin")
        if entry.get("iothreadpin") is not None:
            io_cpus = _cpus(entry["iothreadpin"], where + ".iothreadpin")
        else:
            io_cpus = default_io if default_io is not None else emulatorpin
        memory_node = entry["memory_node"]
        if isinstance(memory_node, (list, tuple, str)):
            memory_nodes = _cpus(memory_node, where + ".memory_node")
        else:
            memory_nodes = [_int(memory_node, where + ".memory_node")]
        spans_nodes = _bool(entry.get("spans_nodes", False), where + ".spans_nodes")
        by_node = entry.get("memory_mb_by_node")
        if spans_nodes and by_node:
            # The planner split this guest's memory (and its huge pages) over several
            # nodes: a strict policy on one of them would leave it without the rest.
            if not isinstance(by_node, dict):
                raise DomainXMLError("%s.memory_mb_by_node must be a dict {node: MiB}, got %s"
                                     % (where, type(by_node).__name__))
            memory_nodes = sorted(
                _int(node, "%s.memory_mb_by_node key %r" % (where, node))
                for node, size in by_node.items()
                if _int(size, "%s.memory_mb_by_node[%s]" % (where, node)) > 0)
            if not memory_nodes:
                raise DomainXMLError("%s.memory_mb_by_node places no memory" % where)
        hugepages = _bool(entry.get("hugepages", False), where + ".hugepages")
        size = entry.get("hugepage_size_kb")
        if hugepages:
            if size is None:
                raise DomainXMLError("%s.hugepage_size_kb is missing (hugepages is true)"
                                     % where)
            size = _int(size, where + ".hugepage_size_kb", 1)
        elif size is not None:
            size = _int(size, where + ".hugepage_size_kb", 1)
        memory_mb = entry.get("memory_mb")
        if memory_mb is not None:
            memory_mb = _int(memory_mb, where + ".memory_mb", 1)
            if hugepages and (memory_mb * 1024) % size:
                raise DomainXMLError(
                    "%s.memory_mb (%d MiB) is not a multiple of hugepage_size_kb (%d KiB)"
                    % (where, memory_mb, size))
        numa_node = entry.get("numa_node")
        if numa_node is not None:
            numa_node = _int(numa_node, where + ".numa_node")
        result.append({
            "name": name,
            "vcpus": vcpus,
            "memory_mb": memory_mb,
            "memory_nodes": memory_nodes,
            "hugepages": hugepages,
            "hugepage_size_kb": size,
            "vcpupin": vcpupin,
            "emulatorpin": emulatorpin,
            "iothreadpin": io_cpus,
            "numa_node": numa_node,
            "spans_nodes": spans_nodes,
        })
    return result


def planned_cpus(guest):
    """Every host CPU a validated guest entry pins something to (sorted)."""
    cpus = set(guest["emulatorpin"]) | set(guest["iothreadpin"])
    for value in guest["vcpupin"].values():
        cpus.update(value)
    return sorted(cpus)


# ---------------------------------------------------------------- XML in and out


def parse_domain(xml_text):
    """Parse domain XML; keep its namespace prefixes (metadata, qemu:commandline)."""
    if not isinstance(xml_text, str):
        raise DomainXMLError("domain XML must be a string, got %s" % type(xml_text).__name__)
    try:
        for _event, (prefix, uri) in ET.iterparse(io.StringIO(xml_text), events=("start-ns",)):
            if prefix:
                try:
                    ET.register_namespace(prefix, uri)
                except ValueError:
                    pass  # ns0-style prefixes: ElementTree picks its own
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise DomainXMLError("domain XML does not parse: %s" % exc)
    if root.tag != "domain":
        raise DomainXMLError("root element is <%s>, not <domain>" % root.tag)
    return root


def _indent(elem, level=0):
    """Two-space indentation like libvirt's (ElementTree.indent needs Python 3.9)."""
    pad = "\n" + "  " * level
    children = list(elem)
    if children:
        if not (elem.text or "").strip():
            elem.text = pad + "  "
        for child in children:
            _indent(child, level + 1)
            if not (child.tail or "").strip():
                child.tail = pad + "  "
        if not (children[-1].tail or "").strip():
            children[-1].tail = pad
    elif level and not (elem.text or "").strip():
        elem.text = None


# Attributes libvirt only shows with VIR_DOMAIN_XML_SECURE (graphics passwords).
SECRET_ATTRIBUTES = ("passwd",)
MASK = "********"


def to_string(root, mask=False):
    """Serialise a domain element (indented; the same for before and after in a diff).

    ``mask`` replaces secret attribute values, for output that ends up in logs.
    """
    root = copy.deepcopy(root)
    if mask:
        for element in root.iter():
            for name in SECRET_ATTRIBUTES:
                if name in element.attrib:
                    element.set(name, MASK)
    _indent(root)
    root.tail = None
    return ET.tostring(root, encoding="unicode") + "\n"


def canonical(node):
    """A comparable structure of an element: tag, attributes, text; whitespace ignored."""
    if isinstance(node, str):
        node = parse_domain(node)
    return (
        node.tag,
        tuple(sorted(node.attrib.items())),
        (node.text or "").strip(),
        tuple(canonical(child) for child in node),
    )


def xml_equal(first, second):
    """Whether two domain XML strings (or elements) mean the same, formatting aside."""
    return canonical(first) == canonical(second)


# ---------------------------------------------------------------- reading a domain


def _scaled_kib(value, unit, where):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainXMLError("%s: %r is not an integer" % (where, value))
    factor = _UNITS.get((unit or "KiB").lower())
    if factor is None:
        raise DomainXMLError("%s: unknown unit %r" % (where, unit))
    return number * factor // 1024


def _xml_int(element, name, where, default=None):
    value = element.get(name, default)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise DomainXMLError("%s: attribute %s=%r is not an integer" % (where, name, value))


def _xml_cpus(text, where):
    try:
        return parse_cpulist(text or "")
    except CpulistError as exc:
        raise DomainXMLError("%s: %s" % (where, exc))


def domain_facts(root):
    """What the plan is checked against: name, vCPU count, memory, IOThreads, cells."""
    vcpu = root.find("vcpu")
    try:
        vcpus = int((vcpu.text or "").strip()) if vcpu is not None else 1
    except ValueError:
        raise DomainXMLError("<vcpu> holds %r, not a count" % vcpu.text)
    memory = root.find("memory")
    memory_kib = None
    if memory is not None:
        memory_kib = _scaled_kib(memory.text, memory.get("unit"), "<memory>")
    iothread_ids = []
    ids = root.find("iothreadids")
    if ids is not None and len(ids.findall("iothread")):
        for thread in ids.findall("iothread"):
            iothread_ids.append(_xml_int(thread, "id", "<iothreadids>"))
    else:
        count = root.find("iothreads")
        if count is not None and (count.text or "").strip():
            try:
                iothread_ids = list(range(1, int(count.text.strip()) + 1))
            except ValueError:
                raise DomainXMLError("<iothreads> holds %r, not a count" % count.text)
    cells = []
    for index, cell in enumerate(root.findall("cpu/numa/cell")):
        cells.append(_xml_int(cell, "id", "<cpu><numa><cell>", index))
    return {
        "name": (root.findtext("name") or "").strip(),
        "vcpus": vcpus,
        "memory_kib": memory_kib,
        "iothread_ids": sorted(iothread_ids),
        "numa_cells": sorted(cells),
    }


def tuning_state(root):
    """The meaning of the owned sections, comparable with desired_state().

    CPU and node sets are sorted lists, sizes KiB, libvirt's defaults filled in.
    """
    state = {}
    vcpu = root.find("vcpu")
    cpuset = None
    placement = "static"
    if vcpu is not None:
        placement = vcpu.get("placement", "static")
        if vcpu.get("cpuset") is not None:
            cpuset = _xml_cpus(vcpu.get("cpuset"), "<vcpu cpuset>")
    state["vcpu"] = {"placement": placement, "cpuset": cpuset}

    cputune = root.find("cputune")
    vcpupin, iothreadpin, emulatorpin = {}, {}, None
    if cputune is not None:
        for pin in cputune.findall("vcpupin"):
            vcpupin[_xml_int(pin, "vcpu", "<vcpupin>")] = _xml_cpus(pin.get("cpuset"), "<vcpupin>")
        for pin in cputune.findall("iothreadpin"):
            thread = _xml_int(pin, "iothread", "<iothreadpin>")
            iothreadpin[thread] = _xml_cpus(pin.get("cpuset"), "<iothreadpin>")
        pin = cputune.find("emulatorpin")
        if pin is not None:
            emulatorpin = _xml_cpus(pin.get("cpuset"), "<emulatorpin>")
    state["vcpupin"] = vcpupin
    state["emulatorpin"] = emulatorpin
    state["iothreadpin"] = iothreadpin

    numatune = root.find("numatune")
    memory, memnodes = None, {}
    if numatune is not None:
        element = numatune.find("memory")
        if element is not None:
            nodeset = element.get("nodeset")
            nodes = _xml_cpus(nodeset, "<numatune><memory nodeset>") if nodeset else None
            memory = {
                "mode": element.get("mode", "strict"),
                "placement": element.get("placement", "static" if nodes else "auto"),
                "nodeset": nodes,
            }
        for element in numatune.findall("memnode"):
            memnodes[_xml_int(element, "cellid", "<memnode>")] = {
                "mode": element.get("mode", "strict"),
                "nodeset": _xml_cpus(element.get("nodeset"), "<memnode nodeset>"),
            }
    state["numatune"] = {"memory": memory, "memnode": memnodes}

    pages = None
    hugepages = root.find("memoryBacking/hugepages")
    if hugepages is not None:
        pages = []
        for page in hugepages.findall("page"):
            nodeset = page.get("nodeset")
            pages.append({
                "size_kib": _scaled_kib(page.get("size"), page.get("unit"), "<page size>"),
                "nodeset": _xml_cpus(nodeset, "<page nodeset>") if nodeset else None,
            })
        pages.sort(key=lambda item: (item["size_kib"], item["nodeset"] or []))
    state["memoryBacking"] = {"hugepages": pages}
    return state


def desired_state(facts, guest):
    """The owned sections as the plan wants them, for a domain described by ``facts``."""
    nodes = list(guest["memory_nodes"])
    state = {
        "vcpu": {"placement": "static", "cpuset": None},
        "vcpupin": dict((vcpu, list(cpus)) for vcpu, cpus in guest["vcpupin"].items()),
        "emulatorpin": list(guest["emulatorpin"]),
        "iothreadpin": dict((thread, list(guest["iothreadpin"]))
                            for thread in facts["iothread_ids"]),
        "numatune": {
            "memory": {"mode": "strict", "placement": "static", "nodeset": nodes},
            "memnode": dict((cell, {"mode": "strict", "nodeset": list(nodes)})
                            for cell in facts["numa_cells"]),
        },
        "memoryBacking": {"hugepages": None},
    }
    if guest["hugepages"]:
        state["memoryBacking"]["hugepages"] = [
            {"size_kib": guest["hugepage_size_kb"], "nodeset": None}]
    return state


def check_domain(facts, guest):
    """Reasons the plan does not fit this domain (empty list: it fits)."""
    errors = []
    if facts["vcpus"] != guest["vcpus"]:
        errors.append(
            "domain %s has %d vCPUs but the plan pins %d: change the domain or the plan "
            "(this module never changes the vCPU count)"
            % (guest["name"], facts["vcpus"], guest["vcpus"]))
    if guest["memory_mb"] is not None and facts["memory_kib"] is not None \
            and facts["memory_kib"] != guest["memory_mb"] * 1024:
        errors.append(
            "domain %s has %d KiB of memory but the plan placed %d MiB (%d KiB): the "
            "planned huge pages and node memory would not fit"
            % (guest["name"], facts["memory_kib"], guest["memory_mb"],
               guest["memory_mb"] * 1024))
    if guest["hugepages"] and facts["memory_kib"] is not None \
            and facts["memory_kib"] % guest["hugepage_size_kb"]:
        errors.append(
            "domain %s memory (%d KiB) is not a multiple of the %d KiB huge page size"
            % (guest["name"], facts["memory_kib"], guest["hugepage_size_kb"]))
    return errors


# ---------------------------------------------------------------- writing a domain


def _place(root, tag):
    """Find or create a top-level element, created after its usual predecessors."""
    element = root.find(tag)
    if element is not None:
        return element
    element = ET.Element(tag)
    children = list(root)
    index = len(children)
    predecessors = _AFTER.get(tag, ())
    positions = [pos for pos, child in enumerate(children) if child.tag in predecessors]
    if positions:
        index = positions[-1] + 1
    root.insert(index, element)
    return element


def _drop_if_empty(root, element):
    if element is not None and not len(element) and not (element.text or "").strip() \
            and not element.attrib:
        root.remove(element)


def _write_vcpu(root, facts, state):
    vcpu = _place(root, "vcpu")
    if not (vcpu.text or "").strip():
        vcpu.text = str(facts["vcpus"])
    vcpu.set("placement", state["placement"])
    if "cpuset" in vcpu.attrib:
        del vcpu.attrib["cpuset"]


def _write_pins(root, state):
    cputune = _place(root, "cputune")
    for child in list(cputune):
        if child.tag in ("vcpupin", "emulatorpin", "iothreadpin"):
            cputune.remove(child)
    pins = []
    for vcpu in sorted(state["vcpupin"]):
        pins.append(ET.Element("vcpupin", {"vcpu": str(vcpu),
                                           "cpuset": format_cpulist(state["vcpupin"][vcpu])}))
    if state["emulatorpin"] is not None:
        pins.append(ET.Element("emulatorpin",
                               {"cpuset": format_cpulist(state["emulatorpin"])}))
    for thread in sorted(state["iothreadpin"]):
        pins.append(ET.Element("iothreadpin", {
            "iothread": str(thread), "cpuset": format_cpulist(state["iothreadpin"][thread])}))
    children = list(cputune)
    index = len(children)
    for pos, child in enumerate(children):
        if child.tag in _CPUTUNE_AFTER_PINS:
            index = pos
            break
    for offset, pin in enumerate(pins):
        cputune.insert(index + offset, pin)
    _drop_if_empty(root, cputune)


def _write_numatune(root, state):
    numatune = _place(root, "numatune")
    for child in list(numatune):
        if child.tag in ("memory", "memnode"):
            numatune.remove(child)
    elements = []
    memory = state["memory"]
    if memory is not None:
        attrs = {"mode": memory["mode"]}
        if memory["nodeset"]:
            attrs["nodeset"] = format_cpulist(memory["nodeset"])
        if memory["placement"] != "static" or not memory["nodeset"]:
            attrs["placement"] = memory["placement"]
        elements.append(ET.Element("memory", attrs))
    for cell in sorted(state["memnode"]):
        node = state["memnode"][cell]
        elements.append(ET.Element("memnode", {
            "cellid": str(cell), "mode": node["mode"],
            "nodeset": format_cpulist(node["nodeset"])}))
    for offset, element in enumerate(elements):
        numatune.insert(offset, element)
    _drop_if_empty(root, numatune)


def _write_hugepages(root, state):
    pages = state["hugepages"]
    backing = root.find("memoryBacking")
    if pages is None:
        if backing is not None:
            for child in backing.findall("hugepages"):
                backing.remove(child)
            _drop_if_empty(root, backing)
        return
    backing = _place(root, "memoryBacking")
    for child in backing.findall("hugepages"):
        backing.remove(child)
    hugepages = ET.Element("hugepages")
    for page in pages:
        attrs = {"size": str(page["size_kib"]), "unit": "KiB"}
        if page["nodeset"]:
            attrs["nodeset"] = format_cpulist(page["nodeset"])
        ET.SubElement(hugepages, "page", attrs)
    backing.insert(0, hugepages)  # libvirt's order: hugepages first


def apply_plan(xml_text, guest):
    """Rewrite a domain's XML for one validated guest entry.

    Returns a dict: ``xml`` (the new document, to define), ``before`` and ``after``
    (both serialised the same way and with passwords masked, for a diff),
    ``changed`` (the parsed documents differ), ``sections`` (owned sections that
    changed), ``errors`` (the plan does not fit the domain: then ``after`` equals
    ``before``), ``facts``, ``current`` and ``desired`` (see tuning_state()).
    """
    root = parse_domain(xml_text)
    original = copy.deepcopy(root)
    facts = domain_facts(root)
    current = tuning_state(root)
    desired = desired_state(facts, guest)
    errors = check_domain(facts, guest)
    sections = []
    if not errors:
        sections = [name for name in SECTIONS if current[name] != desired[name]]
        if "vcpu" in sections:
            _write_vcpu(root, facts, desired["vcpu"])
        if set(sections) & set(LIVE_SECTIONS):
            _write_pins(root, desired)
        if "numatune" in sections:
            _write_numatune(root, desired["numatune"])
        if "memoryBacking" in sections:
            _write_hugepages(root, desired["memoryBacking"])
    return {
        "xml": to_string(root),
        "before": to_string(original, mask=True),
        "after": to_string(root, mask=True),
        "changed": not xml_equal(original, root),
        "sections": sections,
        "errors": errors,
        "facts": facts,
        "current": current,
        "desired": desired,
    }


# ---------------------------------------------------------------- running domains


def cpumap(cpus, ncpus):
    """A libvirt-python CPU map (tuple of bools, one per host CPU) for CPU ids."""
    wanted = set(cpus)
    beyond = [cpu for cpu in wanted if cpu >= ncpus]
    if beyond:
        raise DomainXMLError("CPU %s is beyond the host's last CPU (%d)"
                             % (format_cpulist(beyond), ncpus - 1))
    return tuple(cpu in wanted for cpu in range(ncpus))


def cpus_of_map(mapping):
    """CPU ids set in a libvirt-python CPU map."""
    return [cpu for cpu, used in enumerate(mapping) if used]


def live_pin_actions(desired, vcpupin, emulatorpin, iothreadpin):
    """Pin calls a running domain needs to match ``desired`` (see desired_state()).

    ``vcpupin`` is a list (index: vCPU) of CPU id lists, ``emulatorpin`` a CPU id
    list, ``iothreadpin`` {iothread id: CPU ids}: the effective live affinity as the
    API reports it; None where the API could not tell (then every pin is set). Returns ``(actions, missing)``: actions are
    ``(section, id or None, cpus)`` in call order; ``missing`` names pins the running
    domain has nothing to apply to (a vCPU or IOThread it does not have live).
    """
    actions, missing = [], []
    for vcpu in sorted(desired["vcpupin"]):
        cpus = desired["vcpupin"][vcpu]
        if vcpupin is None:
            actions.append(("vcpupin", vcpu, cpus))
        elif vcpu >= len(vcpupin):
            missing.append("vcpupin")
        elif sorted(vcpupin[vcpu]) != sorted(cpus):
            actions.append(("vcpupin", vcpu, cpus))
    if desired["emulatorpin"] is not None and (
            emulatorpin is None or sorted(emulatorpin) != sorted(desired["emulatorpin"])):
        actions.append(("emulatorpin", None, desired["emulatorpin"]))
    for thread in sorted(desired["iothreadpin"]):
        cpus = desired["iothreadpin"][thread]
        if iothreadpin is None:
            actions.append(("iothreadpin", thread, cpus))
        elif thread not in iothreadpin:
            missing.append("iothreadpin")
        elif sorted(iothreadpin[thread]) != sorted(cpus):
            actions.append(("iothreadpin", thread, cpus))
    return actions, sorted(set(missing))


def pending_restart(desired, live_state, unapplied=()):
    """Owned sections a running domain only gets at its next start.

    ``live_state`` is tuning_state() of the live XML; pins are live-settable, so they
    are pending only when named in ``unapplied`` (live pinning off, failed, or nothing
    to apply them to).
    """
    pending = [name for name in ("vcpu", "numatune", "memoryBacking")
               if live_state[name] != desired[name]]
    pending.extend(name for name in LIVE_SECTIONS if name in set(unapplied))
    return [name for name in SECTIONS if name in pending]
