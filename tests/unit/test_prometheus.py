"""prometheus/kvmops.rules.yml: promtool checks the rules, runs their unit tests
(prometheus/tests/*.yml), and every alert fires in one of them (next to series where it must not)."""

import glob
import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "prometheus", "kvmops.rules.yml")
TESTS = sorted(glob.glob(os.path.join(ROOT, "prometheus", "tests", "*.yml")))
PROMTOOL = pytest.mark.skipif(shutil.which("promtool") is None,
                              reason="promtool missing (tools/deps.sh installs prometheus)")


def alerts():
    with open(RULES) as handle:
        return [rule["alert"] for group in yaml.safe_load(handle)["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_fires_and_stays_quiet_in_some_test():
    fired, quiet = set(), set()
    for path in TESTS:
        with open(path) as handle:
            for test in yaml.safe_load(handle)["tests"]:
                for case in test.get("alert_rule_test") or []:
                    (fired if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = alerts()
    assert len(names) == len(set(names)) >= 6
    assert set(names) <= fired, "alerts no test fires: %s" % sorted(set(names) - fired)
    # a test series where the alert must not fire is in every group (another host, or an
    # earlier time); the ones checked with an explicit empty expectation:
    assert quiet, "no test expects silence"


@PROMTOOL
def test_promtool_check_rules():
    proc = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@PROMTOOL
def test_promtool_test_rules():
    proc = subprocess.run(["promtool", "test", "rules"] + TESTS, capture_output=True, text=True, timeout=120,
                          cwd=os.path.join(ROOT, "prometheus", "tests"), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
