# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML page read back with html.parser: self-contained, escaped, one section and one
index line per host, the audit rows and the kernel command lines."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from html.parser import HTMLParser

from ansible_collections.kvmops.hypervisor.plugins.plugin_utils.report_html import report_html

FACTS = {"cpu": {"online": [0, 1, 2, 3], "offline": [], "core_groups": [[0, 2], [1, 3]], "package_groups": [[0, 1, 2, 3]]},
         "numa": {"nodes": [{"id": 0, "cpus": [0, 1, 2, 3], "memory_kb": 4194304}]},
         "kernel": {"cmdline": ["ro", "quiet"], "pending_cmdline": ["ro", "quiet", "isolcpus=2-3"]},
         "warnings": ["facts <warning>"]}
PLAN = {"housekeeping_cpus": [0, 1], "isolated_cpus": [2, 3], "emulator_cpus": [0, 1], "warnings": []}


def report(host, drifted):
    rows = [{"section": "numa_pinning", "area": "kernel cmdline", "item": "numa_pinning: isolcpus=2-3",
             "expected": "isolcpus=2-3", "actual": "next boot", "status": "pending-reboot", "note": ""}]
    rows += [{"section": "sysctl_net", "area": "sysctl", "item": "k%d<script>" % i, "expected": "1", "actual": "0",
              "status": "drifted", "note": ""} for i in range(drifted)]
    return {"host": host, "summary": {"applied": 0, "pending-reboot": 1, "drifted": drifted}, "rows": rows,
            "reboot_pending": True, "facts_warnings": ["facts <warning>"], "plan_warnings": []}


class Collect(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(text):
    parser = Collect()
    parser.feed(text)
    return parser


def test_page_per_host_escaped_and_self_contained():
    text = report_html([{"host": "hv-b", "report": report("hv-b", 2), "facts": FACTS, "plan": PLAN},
                        {"host": "hv-a<x>", "report": report("hv-a<x>", 0), "facts": FACTS, "plan": PLAN}])
    page = parse(text)
    sections = [attrs for tag, attrs in page.tags if tag == "section"]
    assert [attrs["data-host"] for attrs in sections] == ["hv-a<x>", "hv-b"]  # sorted, escaped in the source
    assert "hv-a<x>" not in text and "k0<script>" not in text and "<warning>" not in text
    assert not [attrs for tag, attrs in page.tags if "src" in attrs or (tag == "link")]
    assert not [attrs for tag, attrs in page.tags if tag == "a" and not attrs.get("href", "").startswith("#")]
    assert "http://www.w3.org/2000/svg" in text  # the namespace of the inline SVGs, not a download
    assert sum(1 for tag, attrs in page.tags if tag == "svg") == 2
    # the index: one row per host, with the counts as data-value for sorting
    index_rows = text.split('<table class="fleet"', 1)[1].split("</table>", 1)[0].count("<tr>")
    assert index_rows == 1 + 2
    joined = "".join(page.text)
    assert "k1<script>" in joined and "isolcpus=2-3" in joined and "facts <warning>" in joined
    assert "a reboot is pending" in joined
    # next boot's extra token is highlighted
    only = [attrs for tag, attrs in page.tags if tag == "span" and attrs.get("class") == "only"]
    assert len(only) == 2  # isolcpus=2-3 in each host's next boot line


def test_empty_fleet():
    page = parse(report_html([]))
    assert not [attrs for tag, attrs in page.tags if tag == "section"]
