"""make docs: the site antsibull-docs and Sphinx built (build/docs) has a page for every
module, filter, callback and role of the collection (a plugin whose documentation antsibull-docs
could not load gets no page, with only a warning in its log)."""

import os
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCS = Path(os.environ.get("KVMOPS_DOCS_BUILD", REPO / "build" / "docs"))
PAGES = DOCS / "rst" / "collections" / "kvmops" / "hypervisor"
HTML = DOCS / "html" / "collections" / "kvmops" / "hypervisor"


def expected_pages():
    modules = {p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
    # a filter's documentation is one YAML file per filter name
    filters = {yaml.safe_load(p.read_text())["DOCUMENTATION"]["name"]
               for p in (REPO / "plugins" / "filter").glob("*.yml")}
    callbacks = {p.stem for p in (REPO / "plugins" / "callback").glob("*.py") if p.stem != "__init__"}
    roles = {p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()}
    return ({"%s_module" % m for m in modules} | {"%s_filter" % f for f in filters}
            | {"%s_callback" % c for c in callbacks} | {"%s_role" % r for r in roles})


def test_every_module_filter_callback_and_role_has_a_page():
    wanted = expected_pages()
    assert len(wanted) > 30  # 17 modules, 6 filters, 9 roles when this was written
    built = {p.stem for p in PAGES.glob("*.rst")} - {"index"}
    assert built == wanted
    assert {p.stem for p in HTML.glob("*.html")} - {"index"} == wanted
