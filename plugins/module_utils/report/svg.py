# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The topology picture of one host as SVG (xml.etree, no plotting library): packages ->
NUMA nodes -> L3 groups -> cores -> threads, one ``<rect class="cpu role-<role>">`` per
CPU coloured by its plan role (report/roles.py), and each node's memory with its huge pages
by size (planned, allocated, free).

Scales by flowing: nodes wrap in rows of a fixed width, cores wrap inside their L3 group,
CPU numbers are written in the cells while the host has at most LABEL_LIMIT CPUs (above
that each cell keeps its number in its tooltip and every group is labelled by its CPU
list)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from xml.etree import ElementTree

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.cpulist import format_cpulist
from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.roles import (
    GUEST,
    OFFLINE,
    ROLES,
    cpu_roles,
)

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH = 1180
NODE_WIDTH = 280
GAP = 8
CELL = 13
LABEL_LIMIT = 128
TITLE = 16
LINE = 13
GUEST_COLOURS = 8

# Colours also usable without the HTML page's stylesheet (an .svg on its own).
STYLE = """
.box-package{fill:#f4f4f4;stroke:#555;stroke-width:1.2}
.box-node{fill:#fff;stroke:#1f5fa8;stroke-width:1}
.box-l3{fill:#f7fbff;stroke:#9ab;stroke-dasharray:3 2}
.box-core{fill:none;stroke:#bbb}
.cpu{stroke:#333;stroke-width:.5}
.role-housekeeping{fill:#8fbf6a}
.role-emulator{fill:#e0a030}
.role-guest{fill:#5b8fd9}
.role-isolated{fill:#c9d7f0}
.role-offline{fill:#ddd;stroke-dasharray:2 1}
.role-unplanned{fill:#fff}
.guest-0{fill:#3b6fc9}.guest-1{fill:#9b59b6}.guest-2{fill:#16a085}.guest-3{fill:#c0392b}
.guest-4{fill:#2c3e50}.guest-5{fill:#d35400}.guest-6{fill:#7f8c8d}.guest-7{fill:#27ae60}
.bar-allocated{fill:#5b8fd9}.bar-free{fill:#c9d7f0}.bar-empty{fill:#eee;stroke:#ccc}
.bar-planned{stroke:#c0392b;stroke-width:2}
text{font-family:sans-serif;font-size:10px;fill:#222}
text.title{font-size:12px;font-weight:bold}
text.cpu-label{font-size:7px;fill:#000;text-anchor:middle}
"""


def _el(parent, tag, attrs=None, text=None):
    element = ElementTree.SubElement(parent, tag, dict((key, str(value)) for key, value in (attrs or {}).items()))
    if text is not None:
        element.text = text
    return element


def _size_label(size_kb):
    size_kb = int(size_kb)
    if size_kb % (1024 * 1024) == 0:
        return "%dG" % (size_kb // (1024 * 1024))
    if size_kb % 1024 == 0:
        return "%dM" % (size_kb // 1024)
    return "%dK" % size_kb


def _short(cpus, limit=40):
    text = format_cpulist(sorted(cpus))
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _hugepage_lines(node, plan):
    """[(size_kb, planned, allocated, free)] for every size the node has pages of or the
    plan wants on it."""
    node_id = str(node.get("id"))
    seen = dict((str(size), counts or {}) for size, counts in (node.get("hugepages") or {}).items())
    pool = (plan or {}).get("hugepage_pool") or {}
    sizes = set(size for size, counts in seen.items() if counts.get("total"))
    sizes |= set(str(size) for size, by_node in pool.items() if node_id in (by_node or {}))
    lines = []
    for size in sorted(sizes, key=int):
        planned = ((pool.get(size) or pool.get(int(size)) or {}) if pool else {}).get(node_id)
        counts = seen.get(size) or {}
        lines.append((int(size), planned, counts.get("total"), counts.get("free")))
    return lines


class _Layout(object):
    def __init__(self, facts, plan):
        self.facts = facts or {}
        self.plan = plan or {}
        self.roles = cpu_roles(self.facts, self.plan)
        self.labels = len(self.roles) <= LABEL_LIMIT
        cpu = self.facts.get("cpu") or {}
        online = set(int(c) for c in cpu.get("online") or [])
        self.cores = [sorted(int(c) for c in group) for group in cpu.get("core_groups") or []]
        in_cores = set(c for group in self.cores for c in group)
        self.cores += [[c] for c in sorted(online - in_cores)]  # a CPU without topology: its own core
        self.packages = [set(int(c) for c in group) for group in cpu.get("package_groups") or []]
        in_packages = set(c for group in self.packages for c in group)
        if online - in_packages:
            self.packages.append(online - in_packages)
        self.l3 = [set(int(c) for c in group) for group in cpu.get("l3_groups") or []]
        self.nodes = list(((self.facts.get("numa") or {}).get("nodes")) or [])
        if not self.nodes:
            self.nodes = [{"id": 0, "cpus": sorted(online)}]
        names = sorted(set(g for entry in self.roles.values() for g in entry["guests"]))
        self.guest_index = dict((name, index % GUEST_COLOURS) for index, name in enumerate(names))

    def core_width(self, core):
        return len(core) * CELL + 4

    def cores_height(self, cores, width):
        """Height of ``cores`` flowed into ``width``."""
        x, rows = 0, 1
        for core in cores:
            if x and x + self.core_width(core) > width:
                rows += 1
                x = 0
            x += self.core_width(core) + 2
        return rows * (CELL + 6) if cores else 0

    def groups(self, cpus):
        """The L3 groups (else one group) of a node's CPUs in one package: [(cpus, cores)]."""
        if not cpus:
            return []  # a memory-only node
        groups = [group & cpus for group in self.l3 if group & cpus] or [cpus]
        covered = set(c for group in groups for c in group)
        if cpus - covered:
            groups.append(cpus - covered)
        out = []
        for group in sorted(groups, key=min):
            cores = [core for core in self.cores if set(core) & group]
            out.append((group, sorted(cores, key=min)))
        return out

    def hugepages_height(self, node):
        return LINE * (1 + len(_hugepage_lines(node, self.plan))) + 4

    def node_height(self, node_cpus, node):
        height = TITLE + 4
        for group, cores in self.groups(node_cpus):
            height += LINE + self.cores_height(cores, NODE_WIDTH - 16) + 6
        return height + self.hugepages_height(node) + 4

    def cpu_cell(self, parent, number, x, y):
        entry = self.roles.get(number) or {"role": OFFLINE, "guests": []}
        classes = ["cpu", "role-" + entry["role"]]
        if entry["role"] == GUEST and entry["guests"]:
            classes.append("guest-%d" % self.guest_index[entry["guests"][0]])
        rect = _el(parent, "rect", {"x": x, "y": y, "width": CELL - 1, "height": CELL - 1,
                                    "class": " ".join(classes), "data-cpu": number, "data-role": entry["role"]})
        tip = "CPU %d: %s" % (number, entry["role"])
        if entry["guests"]:
            tip += " (%s)" % ", ".join(entry["guests"])
        _el(rect, "title", text=tip)
        if self.labels:
            _el(parent, "text", {"x": x + (CELL - 1) / 2.0, "y": y + CELL - 4, "class": "cpu-label"}, str(number))

    def draw_cores(self, parent, cores, x0, y0, width):
        x, y = x0, y0
        for core in cores:
            if x > x0 and x + self.core_width(core) > x0 + width:
                x = x0
                y += CELL + 6
            _el(parent, "rect", {"x": x, "y": y, "width": self.core_width(core) - 2, "height": CELL + 3,
                                 "class": "box-core"})
            for position, number in enumerate(core):
                self.cpu_cell(parent, number, x + 1 + position * CELL, y + 2)
            x += self.core_width(core) + 2

    def draw_hugepages(self, parent, node, x, y):
        memory_kb = node.get("memory_kb")
        text = "node memory %s" % ("%.1f GiB" % (memory_kb / 1048576.0) if memory_kb else "unknown")
        _el(parent, "text", {"x": x, "y": y + 10}, text)
        y += LINE
        for size_kb, planned, allocated, free in _hugepage_lines(node, self.plan):
            label = "%s: plan %s, alloc %s, free %s" % (
                _size_label(size_kb), "-" if planned is None else planned,
                "?" if allocated is None else allocated, "?" if free is None else free)
            # bar: allocated (used part dark, free part light) against the larger of planned
            # and allocated; a red tick marks the plan
            scale_to = max(planned or 0, allocated or 0) or 1
            length = 70
            _el(parent, "rect", {"x": x, "y": y + 2, "width": length, "height": 8, "class": "bar-empty"})
            used = (allocated or 0) - (free or 0)
            _el(parent, "rect", {"x": x, "y": y + 2, "width": round(length * max(used, 0) / scale_to, 1), "height": 8,
                                 "class": "bar-allocated"})
            _el(parent, "rect", {"x": x + round(length * max(used, 0) / scale_to, 1), "y": y + 2,
                                 "width": round(length * (free or 0) / scale_to, 1), "height": 8, "class": "bar-free"})
            if planned is not None:
                tick = x + round(length * planned / scale_to, 1)
                _el(parent, "line", {"x1": tick, "x2": tick, "y1": y, "y2": y + 12, "class": "bar-planned"})
            _el(parent, "text", {"x": x + length + 4, "y": y + 10, "class": "hugepages"}, label)
            y += LINE

    def draw_node(self, parent, node, cpus, x, y):
        height = self.node_height(cpus, node)
        group = _el(parent, "g", {"class": "node", "data-node": node.get("id")})
        _el(group, "rect", {"x": x, "y": y, "width": NODE_WIDTH, "height": height, "class": "box-node"})
        title = "NUMA node %s" % node.get("id")
        if cpus and set(int(c) for c in node.get("cpus") or []) != cpus:
            title += " (part)"  # the node spans packages: this box holds its CPUs in this one
        if cpus:
            title += ": %d CPUs %s" % (len(cpus), _short(cpus, 22))
        _el(group, "text", {"x": x + 6, "y": y + 13, "class": "title"}, title)
        cy = y + TITLE + 4
        for l3, cores in self.groups(cpus):
            box_height = LINE + self.cores_height(cores, NODE_WIDTH - 16) + 2
            _el(group, "rect", {"x": x + 4, "y": cy, "width": NODE_WIDTH - 8, "height": box_height, "class": "box-l3"})
            _el(group, "text", {"x": x + 8, "y": cy + 10},
                "%s %s" % ("L3" if self.l3 else "CPUs", _short(l3)))
            self.draw_cores(group, cores, x + 8, cy + LINE, NODE_WIDTH - 16)
            cy += box_height + 6
        self.draw_hugepages(group, node, x + 6, cy)
        return height

    def flow(self, parent, items, x0, y0):
        """Place (node, cpus) boxes left to right, wrapping at WIDTH; returns the height."""
        per_row = max(1, (WIDTH - 2 * GAP) // (NODE_WIDTH + GAP))
        y = y0
        for start in range(0, len(items), per_row):
            row = items[start:start + per_row]
            heights = [self.node_height(cpus, node) for node, cpus in row]
            for index, (node, cpus) in enumerate(row):
                self.draw_node(parent, node, cpus, x0 + index * (NODE_WIDTH + GAP), y)
            y += max(heights) + GAP
        return y - y0

    def draw(self, host):
        root = ElementTree.Element("svg", {"xmlns": SVG_NS, "class": "topology", "role": "img"})
        _el(root, "title", text="%s topology and plan roles" % (host or "host"))
        _el(root, "style", text=STYLE)
        y = GAP
        _el(root, "text", {"x": GAP, "y": y + 12, "class": "title"},
            "%s: %d CPUs, %d packages, %d NUMA nodes" % (host or "host", len(self.roles), len(self.packages),
                                                         len(self.nodes)))
        y += TITLE + 4
        y = self.legend(root, y)
        for index, package in enumerate(sorted(self.packages, key=min)):
            items = []
            for node in self.nodes:
                cpus = set(int(c) for c in node.get("cpus") or []) & package
                if cpus:
                    items.append((node, cpus))
            uncovered = package - set(c for dummy, cpus in items for c in cpus)
            if uncovered:
                items.append(({"id": "?", "cpus": sorted(uncovered)}, uncovered))
            group = _el(root, "g", {"class": "package", "data-package": index})
            box = _el(group, "rect", {"x": GAP / 2, "y": y, "width": WIDTH - GAP, "class": "box-package"})
            _el(group, "text", {"x": GAP, "y": y + 13, "class": "title"},
                "Package %d: %d CPUs %s" % (index, len(package), _short(package, 60)))
            height = self.flow(group, items, GAP, y + TITLE + 4)
            box.set("height", str(TITLE + 4 + height))
            y += TITLE + 4 + height + GAP
        memory_only = [node for node in self.nodes if not node.get("cpus")]
        if memory_only:
            _el(root, "text", {"x": GAP, "y": y + 12, "class": "title"}, "Memory-only NUMA nodes")
            y += TITLE + 4 + self.flow(root, [(node, set()) for node in memory_only], GAP, y + TITLE + 4)
        offline = sorted(number for number, entry in self.roles.items() if entry["role"] == OFFLINE)
        if offline:
            _el(root, "text", {"x": GAP, "y": y + 12, "class": "title"}, "Offline CPUs %s" % _short(offline, 80))
            y += TITLE
            per_row = (WIDTH - 2 * GAP) // CELL
            for index, number in enumerate(offline):
                self.cpu_cell(root, number, GAP + (index % per_row) * CELL, y + (index // per_row) * CELL)
            y += ((len(offline) - 1) // per_row + 1) * CELL + GAP
        root.set("width", str(WIDTH))
        root.set("height", str(int(y)))
        root.set("viewBox", "0 0 %d %d" % (WIDTH, int(y)))
        return root

    def legend(self, root, y):
        x = GAP
        counts = dict((role, 0) for role in ROLES)
        for entry in self.roles.values():
            counts[entry["role"]] += 1
        group = _el(root, "g", {"class": "legend"})
        for role in ROLES:
            if not counts[role]:
                continue
            _el(group, "rect", {"x": x, "y": y, "width": 10, "height": 10, "class": "legend-swatch role-" + role})
            label = "%s (%d)" % (role, counts[role])
            _el(group, "text", {"x": x + 14, "y": y + 9}, label)
            x += 24 + 6 * len(label)
        for name, index in sorted(self.guest_index.items()):
            if x > WIDTH - 150:
                x = GAP
                y += LINE + 2
            _el(group, "rect", {"x": x, "y": y, "width": 10, "height": 10, "class": "legend-swatch guest-%d" % index})
            label = "guest %s" % name
            _el(group, "text", {"x": x + 14, "y": y + 9}, label)
            x += 24 + 6 * len(label)
        return y + LINE + 6


def topology_element(facts, plan, host=None):
    return _Layout(facts, plan).draw(host)


def topology_svg(facts, plan, host=None):
    """The SVG document (a string) of one host."""
    ElementTree.register_namespace("", SVG_NS)
    return ElementTree.tostring(topology_element(facts, plan, host), encoding="unicode")
