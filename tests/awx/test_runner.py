"""site.yml and audit.yml through ansible_runner.run, as AWX runs them (AWX drives
ansible-runner in its execution environment): a private data directory, the inventory,
extra variables the way a survey sends them (strings for the multiple choice answers),
--limit, and --check --diff for a check job with diff mode.

The target is a host in image mode (kvmops_apply_runtime: false): a fresh Debian chroot
from tools/lab/lab.sh chroot-new (as molecule/image does; root only), reached through the
community.general.chroot connection. The inventory also holds a host outside the limit
that cannot be reached: a run that ignored --limit would fail on it.

Checked: status and rc, the job events (per-host results, the diff in check mode, the
recap), and the set_stats artifact AWX stores with the job (artifact_data of the
playbook_on_stats event): a check run would change the fresh host, a run changes it,
and an audit afterwards finds exactly the drift its own JSON report shows.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "tools" / "lab" / "lab.sh"
COLLECTIONS = REPO / "build" / "collections"
STAT_KEYS = {"kvmops_hosts", "kvmops_hosts_changed", "kvmops_changed_hosts", "kvmops_reboots_pending",
             "kvmops_reboot_pending_hosts", "kvmops_drift_count", "kvmops_drifted_hosts"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a chroot target needs root (tools/lab/lab.sh chroot-new)")

ansible_runner = pytest.importorskip("ansible_runner")


@pytest.fixture(scope="module")
def chroot(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner") / "chroot"
    subprocess.run([str(LAB), "chroot-new", str(root)], check=True, capture_output=True)
    try:
        yield root
    finally:
        # never rm -rf: proc and sys are mounted in it
        subprocess.run([str(LAB), "chroot-remove", str(root)], check=True, capture_output=True)


@pytest.fixture(scope="module")
def inventory(chroot, tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    path.write_text(yaml.safe_dump({"all": {"children": {"kvm_hosts": {"hosts": {
        "kvmimage": {"ansible_connection": "community.general.chroot", "ansible_host": str(chroot),
                     "kvmops_apply_runtime": False},
        # outside --limit: a chroot that does not exist
        "elsewhere": {"ansible_connection": "community.general.chroot", "ansible_host": "/nonexistent/chroot"},
    }}}}}))
    return path


def run(inventory, playbook, ident, cmdline="", extravars=None):
    """One job: a fresh private data directory, as AWX gives each job (ansible-runner
    keeps the command line and variables of a run in it, env/, for the next one)."""
    data_dir = inventory.parent.parent / ("private-" + ident)
    data_dir.mkdir()
    env = {
        "PATH": "%s:%s" % (Path(sys.executable).parent, os.environ.get("PATH", "")),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
        "ANSIBLE_PIPELINING": "True",  # modules through the chroot's stdin, as molecule/image
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }
    result = ansible_runner.run(
        private_data_dir=str(data_dir), ident=ident, project_dir=str(REPO),
        playbook=str(REPO / "playbooks" / playbook), inventory=str(inventory),
        limit="kvmimage", cmdline=cmdline or None, envvars=env, extravars=extravars or {},
        quiet=True, timeout=600)
    events = list(result.events)
    stats = [e for e in events if e["event"] == "playbook_on_stats"]
    assert len(stats) == 1
    argv = json.loads((data_dir / "artifacts" / ident / "command").read_text())["command"]
    assert ("--check" in argv, "--diff" in argv) == ("--check" in cmdline, "--diff" in cmdline)
    return result, events, stats[0]["event_data"]


def hosts_in(events):
    return {e["event_data"]["host"] for e in events if e["event"].startswith("runner_on_") and "host" in e["event_data"]}


def failure(result, events):
    return "status %s rc %s\n%s" % (result.status, result.rc, "\n".join(
        e.get("stdout", "") for e in events if e["event"] in ("runner_on_failed", "runner_on_unreachable")))


@pytest.fixture(scope="module")
def check_run(inventory, chroot):
    stamp = chroot.parent / "stamp"
    stamp.touch()
    result, events, stats = run(inventory, "site.yml", "site-check", "--check --diff",
                                {"kvmops_serial": 1, "kvmops_reboot_allowed": "false"})
    written = subprocess.run(["find", str(chroot), "-xdev", "-newer", str(stamp), "-type", "f",
                              "-not", "-path", str(chroot / "root" / ".ansible") + "/*"],
                             capture_output=True, text=True, check=True).stdout.split()
    return result, events, stats, written


def test_check_mode_with_diff_writes_nothing_and_says_what_would_change(check_run):
    result, events, stats, written = check_run
    assert (result.status, result.rc) == ("successful", 0), failure(result, events)
    assert written == []
    assert hosts_in(events) == {"kvmimage"}  # --limit: "elsewhere" never contacted
    # --diff: the roles' file modules show what they would write
    diffs = [e for e in events if e["event"] == "runner_on_ok" and e["event_data"]["res"].get("diff")]
    assert diffs
    assert stats["changed"].get("kvmimage", 0) > 0
    summary = stats["artifact_data"]
    assert set(summary) == STAT_KEYS
    assert summary["kvmops_hosts"] == 1
    assert summary["kvmops_changed_hosts"] == ["kvmimage"]  # a fresh image drifts from its plan
    assert summary["kvmops_drift_count"] > 0


@pytest.fixture(scope="module")
def site_run(inventory, check_run):
    return run(inventory, "site.yml", "site", extravars={"kvmops_serial": 1, "kvmops_reboot_allowed": "false"})


def test_a_run_changes_the_host_and_publishes_its_summary(site_run, chroot):
    result, events, stats = site_run
    assert (result.status, result.rc) == ("successful", 0), failure(result, events)
    assert (chroot / "etc" / "sysctl.d" / "90-kvmops-net.conf").is_file()  # written, not checked
    assert hosts_in(events) == {"kvmimage"}
    assert stats["failures"] == {} and stats["dark"] == {}
    assert stats["changed"]["kvmimage"] > 0
    summary = stats["artifact_data"]
    assert summary["kvmops_hosts"] == 1
    assert summary["kvmops_hosts_changed"] == 1 and summary["kvmops_changed_hosts"] == ["kvmimage"]
    # image mode: the kernel arguments are in the image's boot configuration, for its next
    # boot; the reboot role said so (not allowed here)
    assert summary["kvmops_reboot_pending_hosts"] == ["kvmimage"]
    # the events AWX shows: the set_stats task ran once, with the data
    set_stats = [e for e in events if e["event"] == "runner_on_ok"
                 and e["event_data"]["task_action"] in ("ansible.builtin.set_stats", "set_stats")]
    assert len(set_stats) == 1
    assert set_stats[0]["event_data"]["res"]["ansible_stats"]["data"] == summary


def test_an_audit_in_check_mode_reports_what_its_json_report_shows(inventory, site_run, tmp_path):
    result, events, stats = run(inventory, "audit.yml", "audit", "--check",
                                {"kvmops_audit_dir": str(tmp_path), "kvmops_audit_html": False})
    assert (result.status, result.rc) == ("successful", 0), failure(result, events)
    assert hosts_in(events) == {"kvmimage"}
    report = json.loads((tmp_path / "kvmimage.json").read_text())
    drifted = [row for row in report["rows"] if row["status"] == "drifted"]
    pending = [row for row in report["rows"] if row["status"] == "pending-reboot"]
    # image mode writes files, not running state: whatever drifts is the running kernel's
    # (the chroot's /proc and /sys are this machine's), never a file or a line site.yml wrote
    assert not [row for row in drifted if row["area"] in ("file", "line")]
    summary = stats["artifact_data"]
    assert summary == {
        "kvmops_hosts": 1,
        "kvmops_hosts_changed": 0, "kvmops_changed_hosts": [],
        "kvmops_reboots_pending": 1 if pending else 0, "kvmops_reboot_pending_hosts": ["kvmimage"] if pending else [],
        "kvmops_drift_count": len(drifted), "kvmops_drifted_hosts": ["kvmimage"] if drifted else [],
    }
    assert pending  # the kernel arguments site.yml wrote wait for the image's next boot
