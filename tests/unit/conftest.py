"""Make this checkout importable as ansible_collections.kvmops.hypervisor.

The Makefile creates the same link; doing it here as well lets a plain
``pytest tests/unit`` work from any clone.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, "build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "kvmops", "hypervisor")

if not os.path.lexists(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

# Test helpers (sysfs_builder, ...) import by plain name from any test.
UNIT = os.path.dirname(os.path.abspath(__file__))
if UNIT not in sys.path:
    sys.path.insert(0, UNIT)


import pytest  # noqa: E402
from ansible.module_utils.common import warnings as _module_warnings  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_module_warnings():
    """AnsibleModule keeps warnings in module-global dicts; a module run in one test must
    not hand its warnings to the next test's result."""
    _module_warnings._global_warnings.clear()
    _module_warnings._global_deprecations.clear()
    yield
