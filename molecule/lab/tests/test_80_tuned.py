"""tuned next to the plan on the converged lab host (issue 22): tuned from the lab image (Debian
12: 2.20, Debian 13: 2.25), installed but masked (so the other tests never see it).

The test unmasks and starts tuned with its ``virtual-host`` profile, then:

- detect: site.yml with ``kvmops_tuned_mode=detect`` converges (virtual-host isolates no CPU,
  so no hard conflict); tuned is restarted (it re-applies virtual-host); the audit then has
  one ``tuned`` row per item virtual-host also sets — in 2.20 ``net.core.somaxconn`` (ours
  4096 in /etc/sysctl.d/90-kvmops-net.conf, tuned's ``>2048``) — won by our drop-in
  (``reapply_sysctl = 1``), and no drifted row at all: nothing drifted that was not predicted.
- own: site.yml with ``kvmops_tuned_mode=own`` writes /etc/tuned/kvmops/tuned.conf
  (``include=virtual-host``, the plan's ``net.core.somaxconn``), makes it the active profile
  (``tuned-adm active``), ``tuned-adm verify`` passes; after a tuned restart the audit has
  the profile's file rows applied and no drifted row.

Expected values are written by hand from each version's profiles/virtual-host and
throughput-performance tuned.conf and plugin_sysctl.py, not by the planner (``TUNED``: 2.24
moved the profiles to /usr/lib/tuned/profiles and /etc/tuned/profiles, and 2.25's profiles
set dirty_ratio and dirty_background_ratio with the vm plugin instead of sysctl). At the end tuned
is switched back to virtual-host, stopped and masked, and site.yml converges again with the
default mode, so later tests (the reboot) see the host as before. Not run by the unit tests
nor by ``make lab``: ``make lab-extra`` only (marker ``extra``).
"""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.extra

SCENARIO = Path(__file__).resolve().parents[1]
ROOT = SCENARIO.parents[1]
NET_DROPIN = "/etc/sysctl.d/90-kvmops-net.conf"

# What each packaged tuned ships, copied by hand from its profiles (Debian 12: 2.20.0,
# Debian 13: 2.25.1): where the profiles live, where the kvmops profile goes, the settings
# of virtual-host with throughput-performance under it (virtual-host's dirty_background_ratio
# over throughput-performance's).
TUNED = {
    "2.20": {"dir": "/usr/lib/tuned", "profile": "/etc/tuned/kvmops/tuned.conf",
             "sysctl": {"vm.dirty_ratio": "40", "vm.dirty_background_ratio": "5", "vm.swappiness": "10",
                        "net.core.somaxconn": ">2048"},
             "vm": {}},
    "2.25": {"dir": "/usr/lib/tuned/profiles", "profile": "/etc/tuned/profiles/kvmops/tuned.conf",
             "sysctl": {"vm.swappiness": "10", "net.core.somaxconn": ">2048"},
             "vm": {"dirty_ratio": "40", "dirty_background_ratio": "5"}},
}


@pytest.fixture(scope="module")
def shipped(host):
    """TUNED's entry for the lab's tuned (a version not in it fails: add its values)."""
    version = host.package("tuned").version
    key = ".".join(version.split(".")[:2])
    assert key in TUNED, "tuned %s: write its profiles' values into TUNED" % version
    return dict(TUNED[key], version=key)


def playbook(path, tmp_path, extra_vars, options=()):
    extra = tmp_path / ("tuned-extra-%d.yml" % time.monotonic_ns())
    extra.write_text(yaml.safe_dump(extra_vars))
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(path),
               "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "@%s" % extra] + list(options)
    return subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)


def site(tmp_path, mode, options=()):
    proc = playbook(ROOT / "playbooks" / "site.yml", tmp_path, {"kvmops_tuned_mode": mode}, options)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc


def changed(proc):
    match = re.search(r"kvmlab\s+: ok=\d+\s+changed=(\d+)", proc.stdout)
    assert match, proc.stdout[-3000:]
    return int(match.group(1))


def tuned_tree(host):
    """What tuned reads from /etc/tuned: each file with its checksum."""
    return host.check_output("find /etc/tuned -xdev -type f -exec sha256sum {} + | sort")


def audit(tmp_path, mode):
    out = tmp_path / ("audit-%s" % mode)
    out.mkdir(exist_ok=True)
    proc = playbook(ROOT / "playbooks" / "audit.yml", tmp_path,
                    {"kvmops_audit_dir": str(out), "kvmops_tuned_mode": mode})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    reports = list(out.glob("*.json"))
    assert len(reports) == 1, reports
    return json.loads(reports[0].read_text())


def restart_tuned(host):
    """A tuned restart re-applies its active profile (what the issue's audit must survive)."""
    host.run_test("systemctl restart tuned.service")
    for _attempt in range(30):
        if host.run("tuned-adm active").rc == 0:
            return
        time.sleep(2)
    raise AssertionError("tuned did not answer after its restart: %s" % host.run("systemctl status tuned").stdout)


def drifted(report):
    return [(row["section"], row["area"], row["item"], row["expected"], row["actual"])
            for row in report["rows"] if row["status"] == "drifted"]


def tuned_rows(report):
    return dict((row["item"], row) for row in report["rows"] if row["section"] == "tuned" and row["area"] == "tuned")


@pytest.fixture(scope="module")
def tuned_running(host, tmp_path_factory):
    """tuned unmasked, started, on virtual-host; afterwards back to masked and stopped, and
    the host converged again with the default mode."""
    assert host.package("tuned").is_installed, "the lab image installs tuned (masked)"
    host.run_test("systemctl unmask tuned.service")
    host.run_test("systemctl start tuned.service")
    restart_tuned(host)
    switched = host.run("tuned-adm profile virtual-host")
    assert switched.rc == 0, switched.stdout + switched.stderr
    yield
    host.run("tuned-adm profile virtual-host")
    host.run("systemctl stop tuned.service")
    host.run("systemctl mask tuned.service")
    # tuned's rollback on stop puts back what it found; converge so nothing of it is left
    site(tmp_path_factory.mktemp("tuned-restore"), "detect")


def test_facts_read_virtual_host_from_files(host, tuned_running, shipped):
    result = host.ansible("kvmops.hypervisor.kvm_host_facts", "gather_subset=tuned", check=False)
    tuned = result["ansible_facts"]["kvm_host"]["tuned"]
    assert tuned["installed"] and tuned["running"] and tuned["version"].startswith(shipped["version"] + ".")
    assert tuned["active_profile"] == "virtual-host"
    assert [entry["file"] for entry in tuned["chain"]] == [
        shipped["dir"] + "/throughput-performance/tuned.conf", shipped["dir"] + "/virtual-host/tuned.conf"]
    # throughput-performance's values, virtual-host's dirty_background_ratio over them
    assert tuned["settings"]["sysctl"] == shipped["sysctl"]
    assert tuned["settings"]["vm"] == shipped["vm"]
    assert tuned["main_conf"]["reapply_sysctl"] is True
    assert tuned["errors"] == []


def test_detect_converges_and_predicts_every_drift(host, tuned_running, shipped, tmp_path):
    site(tmp_path, "detect")
    restart_tuned(host)
    report = audit(tmp_path, "detect")
    rows = tuned_rows(report)
    somaxconn = rows["sysctl_net sysctl net.core.somaxconn"]
    assert somaxconn["status"] == "applied" and somaxconn["expected"] == "4096", somaxconn
    assert somaxconn["actual"].startswith(">2048 (%s/throughput-performance/tuned.conf [sysctl]" % shipped["dir"])
    assert "kvmops wins" in somaxconn["note"] and "reapply_sysctl = 1" in somaxconn["note"]
    # our drop-in's value survived tuned's restart (tuned re-applied /etc/sysctl.d)
    assert host.file("/proc/sys/net/core/somaxconn").content_string.strip() == "4096"
    assert "net.core.somaxconn = 4096" in host.file(NET_DROPIN).content_string
    assert drifted(report) == [], drifted(report)
    # detect writes no profile
    assert not host.file(shipped["profile"]).exists


def test_own_in_check_mode_writes_nothing_and_predicts_the_profile(host, tuned_running, shipped, tmp_path):
    before = tuned_tree(host)
    proc = site(tmp_path, "own", ["--check", "--diff"])
    assert tuned_tree(host) == before
    assert not host.file(shipped["profile"]).exists
    assert changed(proc) > 0 and shipped["profile"] in proc.stdout, proc.stdout[-3000:]


def test_own_writes_activates_and_verifies_the_kvmops_profile(host, tuned_running, shipped, tmp_path):
    site(tmp_path, "own")
    assert changed(site(tmp_path, "own")) == 0  # the second converge in own mode changes nothing
    text = host.file(shipped["profile"]).content_string
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body[:3] == ["[main]", "summary=kvmops.hypervisor: virtual-host with the plan's values",
                        "include=virtual-host"], text
    assert "net.core.somaxconn=4096" in body, text
    assert host.file("/etc/tuned/active_profile").content_string == "kvmops\n"
    assert "kvmops" in host.check_output("tuned-adm active")
    verified = host.run("tuned-adm verify --ignore-missing")
    assert verified.rc == 0, verified.stdout + verified.stderr
    restart_tuned(host)
    assert re.search(r"\bkvmops\b", host.check_output("tuned-adm active"))
    report = audit(tmp_path, "own")
    files = dict((row["item"], row["status"]) for row in report["rows"]
                 if row["section"] == "tuned" and row["area"] == "file")
    assert files == {shipped["profile"]: "applied", "/etc/tuned/active_profile": "applied",
                     "/etc/tuned/profile_mode": "applied"}, files
    somaxconn = tuned_rows(report)["sysctl_net sysctl net.core.somaxconn"]
    assert somaxconn["status"] == "applied" and "the kvmops profile sets the plan's value" in somaxconn["note"]
    assert drifted(report) == [], drifted(report)
