# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit as one self-contained HTML page (controller side: Jinja2) (no external asset: styles, script and the
SVG pictures are inline): a fleet index (one sortable line per host) and one section per
host with its topology picture (report/svg.py), audit rows, kernel command line running
vs next boot, and warnings. Jinja2 (from ansible-core) renders it, autoescaped."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from jinja2 import Environment
from markupsafe import Markup

from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.roles import ROLES, role_counts
from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.svg import STYLE as SVG_STYLE
from ansible_collections.kvmops.hypervisor.plugins.module_utils.report.svg import topology_svg

STATUSES = ("applied", "pending-reboot", "drifted")

TEMPLATE = u"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font-family:sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;border-top:2px solid #1f5fa8;padding-top:.6em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;font-size:.85em;vertical-align:top}
th{background:#eef}
table.fleet th{cursor:pointer}
td.num{text-align:right}
tr.status-drifted td.status,td.drifted{background:#f8d0cc}
tr.status-pending-reboot td.status,td.pending{background:#fbe7b5}
tr.status-applied td.status{background:#d9efcc}
.cmdline span{display:inline-block;margin:1px 3px;padding:0 3px;border-radius:3px;font-family:monospace;font-size:.85em;background:#eee}
.cmdline span.only{background:#fbe7b5}
.warnings li{color:#8a4b00}
.topology{max-width:100%;height:auto;border:1px solid #ddd}
{{ svg_style }}
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p>{{ hosts | length }} host(s); written by playbooks/audit.yml. Click a column to sort.</p>
<table class="fleet" id="fleet">
<thead><tr><th data-type="text">Host</th>
{%- for status in statuses %}<th data-type="num">{{ status }}</th>{% endfor -%}
<th data-type="num">warnings</th>
{% for role in roles %}<th data-type="num">{{ role }} CPUs</th>{% endfor %}</tr></thead>
<tbody>
{% for host in hosts %}<tr>
<td data-value="{{ host.name }}"><a href="#{{ host.anchor }}">{{ host.name }}</a></td>
{% for status in statuses %}{% set count = host.summary[status] %}
<td class="num {{ 'drifted' if count and status == 'drifted' else 'pending' if count and status == 'pending-reboot' else '' }}"
 data-value="{{ count }}">{{ count }}</td>{% endfor %}
<td class="num" data-value="{{ host.warnings | length }}">{{ host.warnings | length }}</td>
{% for role in roles %}<td class="num" data-value="{{ host.roles[role] }}">{{ host.roles[role] }}</td>{% endfor %}
</tr>
{% endfor %}</tbody>
</table>
{% for host in hosts %}
<section class="host" id="{{ host.anchor }}" data-host="{{ host.name }}">
<h2>{{ host.name }}</h2>
<p>{% for status in statuses %}{{ host.summary[status] }} {{ status }}{% if not loop.last %}, {% endif %}{% endfor %}
{%- if host.reboot_pending %}; <strong>a reboot is pending</strong>{% endif %}.</p>
<div class="picture">{{ host.svg }}</div>
<h3>Kernel command line</h3>
<table class="cmdline">
<tr><th>running</th><td>{% for token in host.running %}
<span class="{{ 'only' if host.next is not none and token not in host.next_set else '' }}">{{ token }}</span>{% endfor %}</td></tr>
<tr><th>next boot</th><td>{% if host.next is none %}(boot configuration unreadable){% else %}{% for token in host.next %}
<span class="{{ 'only' if token not in host.running_set else '' }}">{{ token }}</span>{% endfor %}{% endif %}</td></tr>
</table>
{% if host.warnings %}<h3>Warnings</h3>
<ul class="warnings">{% for warning in host.warnings %}<li>{{ warning }}</li>{% endfor %}</ul>{% endif %}
<h3>Audit</h3>
<table class="audit">
<thead><tr><th>status</th><th>section</th><th>area</th><th>item</th><th>expected</th><th>actual</th><th>note</th></tr></thead>
<tbody>
{% for row in host.rows %}<tr class="status-{{ row.status }}"><td class="status">{{ row.status }}</td><td>{{ row.section }}</td>
<td>{{ row.area }}</td><td>{{ row.item }}</td><td>{{ row.expected }}</td><td>{{ row.actual }}</td><td>{{ row.note }}</td></tr>
{% endfor %}</tbody>
</table>
</section>
{% endfor %}
<script>
(function () {
  var table = document.getElementById("fleet");
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0];
      var numeric = th.getAttribute("data-type") === "num";
      var down = th.getAttribute("data-order") !== "desc";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value");
        var y = b.cells[column].getAttribute("data-value");
        var order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return down ? -order : order;
      });
      th.setAttribute("data-order", down ? "desc" : "asc");
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
}());
</script>
</body>
</html>
"""

_ORDER = dict((status, index) for index, status in enumerate(("drifted", "pending-reboot", "applied")))


def _host(index, page):
    report = page.get("report") or {}
    facts = page.get("facts") or {}
    plan = page.get("plan") or {}
    name = str(page.get("host") or report.get("host") or "host %d" % index)
    kernel = facts.get("kernel") or {}
    running = [str(token) for token in kernel.get("cmdline") or []]
    following = kernel.get("pending_cmdline")
    following = None if following is None else [str(token) for token in following]
    summary = dict((status, 0) for status in STATUSES)
    summary.update(report.get("summary") or {})
    rows = sorted(report.get("rows") or [],
                  key=lambda row: (_ORDER.get(row.get("status"), 3), str(row.get("section")), str(row.get("item"))))
    return {
        "name": name,
        "anchor": "host-%d" % index,
        "summary": summary,
        "reboot_pending": bool(report.get("reboot_pending")),
        "rows": rows,
        "warnings": list(report.get("facts_warnings") or facts.get("warnings") or [])
        + list(report.get("plan_warnings") or plan.get("warnings") or []),
        "running": running,
        "running_set": set(running),
        "next": following,
        "next_set": set(following or []),
        "roles": role_counts(facts, plan),
        "svg": Markup(topology_svg(facts, plan, name)),
    }


def report_html(pages, title="kvmops.hypervisor audit"):
    """``pages``: [{host, report, facts, plan}] (report: audit_report's result; facts:
    kvm_host; plan: kvm_host_plan), any order -> the HTML document, hosts sorted by name."""
    pages = sorted(pages or [], key=lambda page: str(page.get("host") or (page.get("report") or {}).get("host")))
    hosts = [_host(index, page) for index, page in enumerate(pages)]
    environment = Environment(autoescape=True)
    return environment.from_string(TEMPLATE).render(
        title=title, hosts=hosts, statuses=STATUSES, roles=ROLES, svg_style=Markup(SVG_STYLE))
