# kvmops.hypervisor — developer and CI entry points. See README.md.
#   make lab    boot the disposable lab host and run the main job on it
#   make test   everything CI checks, stops at the first failure
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
VENV_STAMP := $(VENV)/.installed
BUILD := $(CURDIR)/build
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/kvmops/hypervisor
SANITY_ROOT ?= $(BUILD)/sanity
SANITY_DIR := $(SANITY_ROOT)/ansible_collections/kvmops/hypervisor
ANSIBLE_TEST_PYTHON ?= 3.11

# The venv's tools first (Molecule calls ansible-config from PATH); the checkout is
# importable as ansible_collections.kvmops.hypervisor through a link under build/.
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help deps venv link test test-oldstable unit sanity lint awx ee docs molecule bench fleet fleet-destroy lab lab-destroy lab-extra faults build clean

help:
	@echo "make lab          boot the lab host and run playbooks/site.yml on it"
	@echo "make lab-destroy  stop the lab host"
	@echo "make lab-extra    molecule/lab with its long extra tests (not in CI)"
	@echo "make test-oldstable  molecule/lab on Debian 12 (bookworm; not in CI)"
	@echo "make test         unit + sanity + lint + awx + docs + molecule (what CI runs)"
	@echo "make ee           the execution environment's build context (build/ee/context)"
	@echo "make awx          ee + the AWX checks (ansible-builder, ansible-runner: tests/awx)"
	@echo "make docs         the docs site (antsibull-docs + Sphinx, build/docs/html)"
	@echo "make fleet        start KVMOPS_FLEET_HOSTS (50) simulated hosts with real SSH (tools/fleet)"
	@echo "make fleet-destroy  stop them, leaving nothing behind"
	@echo "make unit | sanity | lint | molecule | bench | build | clean"

deps:
	@tools/deps.sh

$(VENV_STAMP): requirements.txt requirements-dev.txt tools/deps.sh
	@tools/deps.sh
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	@touch $@

venv: $(VENV_STAMP)

link:
	@mkdir -p $(dir $(COLLECTION_LINK))
	@test -L $(COLLECTION_LINK) || ln -sfn $(CURDIR) $(COLLECTION_LINK)

test: unit sanity lint awx docs molecule
	@echo "make test: all checks passed"

unit: venv link
	$(VENV)/bin/python -m pytest

# ansible-test needs the collection at a real .../ansible_collections/kvmops/hypervisor
# path (a symlink resolves back to the clone), so sanity runs on a copy of the files git
# knows about (tracked and new, not ignored).
sanity: venv
	@tools/ansible-test-prepare.sh
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_DIR)
	@git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' | rsync -a --files-from=- ./ $(SANITY_DIR)/
	cd $(SANITY_DIR) && git init -q && git add -A && \
	  ansible-test sanity --python $(ANSIBLE_TEST_PYTHON) --color no

lint: venv link
	yamllint -s .
	ansible-lint --profile production
	antsibull-changelog lint

# The execution environment for AWX (execution-environment.yml, ansible-builder v3): the
# collection as a tarball, then the build context, offline. Building the image needs a
# registry and Galaxy: ansible-builder build (README.md, "Running from AWX").
EE := $(BUILD)/ee
ee: venv
	@rm -rf $(EE) && mkdir -p $(EE)/dist
	ansible-galaxy collection build --output-path $(EE)/dist .
	mv $(EE)/dist/kvmops-hypervisor-*.tar.gz $(EE)/kvmops-hypervisor.tar.gz
	ansible-builder create -f execution-environment.yml -c $(EE)/context --output-filename Containerfile

# The build context checked, the dependencies introspected, site.yml and audit.yml run
# through ansible-runner as AWX runs them (tests/awx; as root: a chroot).
awx: ee link
	$(VENV)/bin/python -m pytest tests/awx

# The collection's docs site: every module, filter and role, no warning allowed.
DOCS := $(BUILD)/docs
docs: venv link
	antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs .
	@rm -rf $(DOCS) && mkdir -p $(DOCS)/rst && chmod og-w $(DOCS)/rst
	cp docs/site/rst/index.rst $(DOCS)/rst/
	antsibull-docs --config-file docs/site/antsibull-docs.cfg collection --use-current \
	  --dest-dir $(DOCS)/rst kvmops.hypervisor
	KVMOPS_DOCS_BUILD=$(DOCS) sphinx-build -q -b html -c docs/site -W --keep-going -n \
	  $(DOCS)/rst $(DOCS)/html
	KVMOPS_DOCS_BUILD=$(DOCS) $(VENV)/bin/python -m pytest -q tests/docs_site
	@echo "docs: $(DOCS)/html/index.html"

# The lab scripts' own tests need QEMU, which tools/lab/lab.sh deps installs.
# molecule/image (chroot) runs once per suite of KVMOPS_IMAGE_SUITES; molecule/lab boots
# the suite of tools/lab/lab.conf (KVMOPS_LAB_SUITE).
KVMOPS_IMAGE_SUITES ?= trixie bookworm
molecule: venv link
	tools/lab/lab.sh deps
	$(VENV)/bin/python -m pytest tests/lab
	@for scenario in $$(ls molecule 2>/dev/null); do \
	  test -f molecule/$$scenario/molecule.yml || continue; \
	  if [ "$$scenario" = image ]; then \
	    for suite in $(KVMOPS_IMAGE_SUITES); do \
	      echo "== molecule test -s image (KVMOPS_LAB_SUITE=$$suite)"; \
	      KVMOPS_LAB_SUITE=$$suite tools/molecule-test.sh image || exit 1; \
	    done; \
	  else \
	    echo "== molecule test -s $$scenario"; \
	    tools/molecule-test.sh $$scenario || exit 1; \
	  fi; \
	done

# molecule/lab on Debian 12 (oldstable); not in CI (its time goes in the closing note).
test-oldstable: venv link
	tools/lab/lab.sh deps
	KVMOPS_LAB_SUITE=bookworm molecule test -s lab

bench: venv link
	@for bench in $$(ls tests/bench/bench_*.py 2>/dev/null); do \
	  echo "== $$bench"; $(VENV)/bin/python $$bench || exit 1; \
	done

# The fleet of simulated hosts (network namespaces, sshd, overlay roots; root only) that
# tests/bench/bench_fleet.py measures; docs/fleet.md.
KVMOPS_FLEET_HOSTS ?= 50
fleet: venv link
	@tools/fleet/fleet.sh up $(KVMOPS_FLEET_HOSTS)

fleet-destroy:
	@tools/fleet/fleet.sh down

build: venv
	@mkdir -p $(BUILD)/dist
	ansible-galaxy collection build --force --output-path $(BUILD)/dist .

lab: venv link
	@tools/lab/lab.sh up
	@tools/lab/lab.sh run-site

lab-destroy:
	@tools/lab/lab.sh destroy

# molecule/lab with its tests marked `extra` too (long flows kept out of make test's time
# budget; see molecule/lab/tests/conftest.py). Not in CI: run it before a release.
lab-extra: venv link
	tools/lab/lab.sh deps
	KVMOPS_LAB_EXTRA=1 molecule test -s lab

# The fault tests (issue 21) are lab-extra tests (tests/test_95_faults.py and the unit
# tests' disk-full cases); one target name for them.
faults: lab-extra

clean:
	rm -rf $(BUILD) .pytest_cache .hypothesis tests/output
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
