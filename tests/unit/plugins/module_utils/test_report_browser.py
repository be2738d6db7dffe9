# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report in a real browser (headless Chromium over a DevTools pipe, file:// only):
it renders without console errors, each host's SVG has a visible size and one rect per CPU
with the class the plan's lists give it, the fleet index sorts, and a screenshot is taken."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.util
import json
import os

import pytest
from headless_chromium import chromium, load

from ansible_collections.kvmops.hypervisor.plugins.module_utils.plan import planner
from ansible_collections.kvmops.hypervisor.plugins.plugin_utils.report_html import report_html

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("kvmops_report_svg_tests", os.path.join(HERE, "test_report_svg.py"))
_svg_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svg_tests)

PROBE = """(function () {
  var out = {hosts: []};
  document.querySelectorAll("section.host").forEach(function (section) {
    var svg = section.querySelector("svg.topology");
    var box = svg.getBoundingClientRect();
    var classes = {};
    svg.querySelectorAll("rect.cpu").forEach(function (rect) {
      var role = rect.getAttribute("class").split(" ").filter(function (c) { return c.indexOf("role-") === 0; });
      classes[rect.getAttribute("data-cpu")] = role.join(" ");
    });
    var cell = svg.querySelector("rect.cpu").getBoundingClientRect();
    out.hosts.push({name: section.getAttribute("data-host"), width: box.width, height: box.height,
                    cpus: classes, cell: [cell.width, cell.height],
                    fill: getComputedStyle(svg.querySelector("rect.cpu.role-guest") || svg.querySelector("rect.cpu")).fill});
  });
  var drifted = document.querySelectorAll("#fleet thead th")[3];
  drifted.click();
  out.sorted = Array.prototype.map.call(document.querySelectorAll("#fleet tbody tr"), function (row) {
    return row.cells[0].getAttribute("data-value");
  });
  out.external = document.querySelectorAll("[src], link[href]").length;
  return out;
}())"""


@pytest.mark.skipif(chromium() is None, reason="chromium missing (tools/deps.sh installs it)")
def test_report_renders_in_chromium(tmp_path):
    small = _svg_tests.synthetic(sockets=2, cores=4, smt=2, nodes_per_socket=1, l3_cores=4, offline=(15,))
    big = _svg_tests.synthetic()
    pages = []
    for name, facts, policy, drifted in (
            ("small-host", small, {"guests": [{"name": "db", "vcpus": 2, "memory_mb": 512}]}, 3),
            ("big-host", big, {"guests": [{"name": "vm%d" % i, "vcpus": 8, "memory_mb": 1024} for i in range(8)],
                               "emulator_threads": "dedicated"}, 1)):
        plan = planner.plan(facts, policy, sections=_svg_tests.SECTIONS)
        report = {"host": name, "summary": {"applied": 1, "pending-reboot": 0, "drifted": drifted},
                  "rows": [{"section": "s", "area": "a", "item": "<i>", "expected": "1", "actual": "2",
                            "status": "drifted", "note": ""}], "facts_warnings": [], "plan_warnings": []}
        pages.append({"host": name, "report": report, "facts": facts, "plan": plan})
    path = tmp_path / "index.html"
    path.write_text(report_html(pages))
    shot = tmp_path / "shot.png"
    value, errors = load(str(path), PROBE, screenshot=str(shot))
    assert errors == []
    assert value["external"] == 0
    by_name = dict((host["name"], host) for host in value["hosts"])
    assert sorted(by_name) == ["big-host", "small-host"]
    for page in pages:
        host = by_name[page["host"]]
        assert host["width"] > 500 and host["height"] > 100
        assert host["cell"][0] > 5 and host["cell"][1] > 5  # cells are drawn at a visible size
        expected = _svg_tests.expected_classes(page["facts"], page["plan"])
        assert dict((int(cpu), role) for cpu, role in host["cpus"].items()) == expected
        assert host["fill"] not in ("", "none", "rgb(0, 0, 0)")  # the stylesheet applied
    assert len(by_name["big-host"]["cpus"]) == 1024
    assert value["sorted"] == ["small-host", "big-host"]  # most drifted first
    with open(str(shot), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20000


@pytest.mark.skipif(chromium() is None, reason="chromium missing (tools/deps.sh installs it)")
def test_a_script_error_would_be_seen(tmp_path):
    """The oracle itself: a page with an uncaught error and a console error is caught."""
    path = tmp_path / "bad.html"
    path.write_text("<html><body><script>console.error('boom'); undefinedFunction();</script></body></html>")
    value, errors = load(str(path), "1+1")
    assert value == 2
    assert len(errors) >= 2 and any("boom" in json.dumps(error) for error in errors)
