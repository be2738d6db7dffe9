"""Evaluate expressions of the playbooks as Ansible does: a Templar with the collection
loader installed, so that FQCN filters (kvmops.hypervisor.*) resolve as in a play. In a
child process, since the tests import the collection as a plain package (conftest.py)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COLLECTIONS = os.path.join(ROOT, "build", "collections")

_EVALUATE = r"""
import json, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
out = []
for kind, expression, variables in json.load(sys.stdin):
    templar = Templar(loader=DataLoader(), variables=variables)
    if kind == "when":
        out.append(templar.evaluate_conditional(trust_as_template(expression)))
    else:
        out.append(templar.template(trust_as_template(expression)))
print(json.dumps(out))
"""


def evaluate(items):
    """``items``: [(kind, expression, variables)], kind "when" (a condition) or "template"
    (a value) -> the results, in order."""
    if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "kvmops", "hypervisor")):
        pytest.skip("build/collections has no link to this checkout (make venv makes it)")
    proc = subprocess.run([sys.executable, "-c", _EVALUATE, COLLECTIONS], input=json.dumps(items),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
