"""The audit's HTML report and Prometheus textfile on the converged lab host (issue 19).

Runs playbooks/audit.yml with the lab policy, then checks on the host that the textfile
exists (mode 0644, no temporary file left), parses (promtool) and matches the audit's JSON
report; that node_exporter (Debian's package in the lab image) serves it;
and on the controller that the HTML report renders in headless Chromium with one rect per
CPU of the lab host in the right class (CPUs 0-1 housekeeping, 2-3 pinned to lab-guest).
KVMOPS_LAB_AUDIT_DIR keeps the reports and the screenshot (report-lab.png) for docs/.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "unit"))

from headless_chromium import chromium, load  # noqa: E402  pylint: disable=wrong-import-position
from prom_text import parse, series, value  # noqa: E402  pylint: disable=wrong-import-position

TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
TEXTFILE = TEXTFILE_DIR + "/kvmops.prom"
CLASSES = {0: "role-housekeeping", 1: "role-housekeeping", 2: "role-guest", 3: "role-guest"}
PAGES_2M = {"0": 16, "1": 80}


def audit(out_dir):
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(ROOT / "playbooks" / "audit.yml"),
         "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "kvmops_audit_dir=%s" % out_dir],
        env=dict(os.environ), capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    out_dir = Path(os.environ.get("KVMOPS_LAB_AUDIT_DIR") or tmp_path_factory.mktemp("report"))
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = audit(out_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    reports = list(out_dir.glob("*.json"))
    assert len(reports) == 1
    return {"dir": out_dir, "report": json.loads(reports[0].read_text()), "proc": proc}


def test_textfile_written_atomically(host, audited):
    textfile = host.file(TEXTFILE)
    assert textfile.is_file and textfile.mode == 0o644 and textfile.user == "root"
    leftovers = host.check_output("ls -A %s", TEXTFILE_DIR).split()
    assert [name for name in leftovers if name.startswith(".kvmops.prom.")] == []


def test_textfile_matches_the_audit(host, audited):
    text = host.file(TEXTFILE).content_string
    parsed = parse(text)
    assert not parsed["timestamps"]
    report = audited["report"]
    rows = report["rows"]
    assert value(parsed, "kvmops_drift_items") == sum(1 for row in rows if row["status"] == "drifted")
    assert value(parsed, "kvmops_reboot_pending") == (1 if report["reboot_pending"] else 0)
    applied = dict(((labels["section"], labels["area"], labels["item"]), val)
                   for labels, val in series(parsed, "kvmops_plan_item_applied"))
    expected = {}
    for row in rows:
        key = (row["section"], row["area"], row["item"])
        expected[key] = min(expected.get(key, 1), 1 if row["status"] == "applied" else 0)
    assert applied == expected
    roles = dict((labels["role"], val) for labels, val in series(parsed, "kvmops_cpus"))
    assert roles["housekeeping"] == 2 and roles["guest"] == 2 and sum(roles.values()) == 4
    for node, pages in PAGES_2M.items():
        assert value(parsed, "kvmops_hugepages_planned", node=node, size_bytes="2097152") == pages
        assert value(parsed, "kvmops_hugepages_allocated", node=node, size_bytes="2097152") == pages
    assert value(parsed, "kvmops_last_run_success", playbook="audit") == 1
    if os.environ.get("KVMOPS_LAB_EXTRA") == "1":
        # site.yml's closing audit (on in make lab-extra, vars/policy.yml) wrote it after the
        # converge and the idempotence run; the audit kept that run's history
        assert value(parsed, "kvmops_last_run_success", playbook="site") == 1
        assert value(parsed, "kvmops_last_success_timestamp_seconds", playbook="site") <= value(
            parsed, "kvmops_last_run_timestamp_seconds", playbook="audit")
    if shutil.which("promtool"):
        proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
                              check=False)
        assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr


# extra: a second audit (about 2 minutes of TCG), for make test's budget
@pytest.mark.extra
def test_second_audit_changes_nothing_but_the_time(host, audited, tmp_path):
    before = host.file(TEXTFILE).mtime
    proc = audit(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    recap = [line for line in proc.stdout.splitlines() if " changed=" in line]
    assert recap and all(" changed=0 " in line for line in recap), recap
    assert host.file(TEXTFILE).mtime >= before


def test_node_exporter_serves_the_textfile(host, audited):
    # tools/lab/guest-setup.sh installs Debian's package, which starts it at boot
    assert host.service("prometheus-node-exporter").is_running
    fetch = ("python3 -c \"import time,urllib.request\n"
             "for _ in range(30):\n"
             "  try: print(urllib.request.urlopen('http://127.0.0.1:9100/metrics', timeout=5).read().decode()); break\n"
             "  except OSError: time.sleep(1)\"")
    body = host.check_output(fetch)
    assert "kvmops_drift_items " in body and "kvmops_info{" in body
    assert any(line.startswith("node_textfile_mtime_seconds{") and "kvmops.prom" in line for line in body.splitlines())
    assert "node_textfile_scrape_error 0" in body


@pytest.mark.skipif(chromium() is None, reason="chromium missing on the controller (tools/deps.sh)")
def test_html_report_renders(audited):
    index = audited["dir"] / "index.html"
    assert index.is_file()
    probe = """(function () {
      var out = {};
      document.querySelectorAll("section.host svg.topology rect.cpu").forEach(function (rect) {
        out[rect.getAttribute("data-cpu")] = rect.getAttribute("class").split(" ").filter(
          function (c) { return c.indexOf("role-") === 0; }).join(" ");
      });
      return {cpus: out, width: document.querySelector("svg.topology").getBoundingClientRect().width,
              rows: document.querySelectorAll("table.audit tbody tr").length};
    }())"""
    shot = audited["dir"] / "report-lab.png"
    result, errors = load(str(index), probe, screenshot=str(shot))
    assert errors == []
    assert dict((int(cpu), role) for cpu, role in result["cpus"].items()) == CLASSES
    assert result["width"] > 500
    assert result["rows"] == len(audited["report"]["rows"])
    assert shot.stat().st_size > 20000
