# The README's two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# command:Debian-package pairs. The demo runs Prometheus and Alertmanager; the tests also
# need openssl (the TLS tests) and Chromium with its driver (the preview's browser test).
DEMO_DEBS := promtool:prometheus amtool:prometheus-alertmanager
TEST_DEBS := $(DEMO_DEBS) openssl:openssl chromium:chromium chromedriver:chromium-driver

.PHONY: test test-install demo venv demo-deps system-deps lint typecheck generate docs bench clean image constraints

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	touch $@

# One stamp per extra: `make demo` installs mlscope[demo] only (model app, traffic, the
# dashboards' preview), `make test` and the helpers below mlscope[test]. Both install the
# versions the image pins (exporter/constraints.txt, `make constraints`), so what the tests
# ran with is what the image ships.
$(VENV)/.installed-%: pyproject.toml exporter/constraints.txt | $(VENV)/.created
	$(PIP) install --quiet --constraint exporter/constraints.txt -e '.[$*]'
	touch $@

venv: $(VENV)/.installed-test

# Installs the missing Debian packages of a list of pairs when we are root (apt-get);
# otherwise says what to install.
define install_debs
	@missing=""; \
	for pair in $(1); do command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "mlscope: needs the Debian packages:$$missing (sudo apt-get install$$missing)"; \
	  fi; \
	fi
endef

demo-deps:
	$(call install_debs,$(DEMO_DEBS))

system-deps:
	$(call install_debs,$(TEST_DEBS))

# Lint and strict typing run first: they are part of what CI checks, and cheap.
test: venv system-deps lint typecheck
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# The install test alone (part of `make test`): a fresh venv, a plain `pip install .`, the README's steps.
test-install: venv
	$(PY) -m pytest -p no:cacheprovider -m install $(PYTEST_ARGS)

demo: $(VENV)/.installed-demo demo-deps
	$(VENV)/bin/mlscope demo $(DEMO_ARGS)

lint: venv
	$(PY) -m ruff check exporter tests benchmarks

typecheck: venv
	$(PY) -m mypy exporter/mlscope tests

# Regenerates every committed generated file (docs, rules, dashboards).
generate: venv
	$(PY) -m mlscope.catalogue > docs/metrics.md
	$(PY) -m mlscope._clidoc > docs/cli.md
	$(PY) -m mlscope._settingsdoc > docs/settings.md
	$(PY) -m mlscope.config_gen
	$(PY) -m mlscope.deploy_gen

# The image deploy/kubernetes and docker-compose.yml run (docs/deploy.md says how to publish it).
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' exporter/mlscope/_version.py)
IMAGE   ?= ghcr.io/mlscope/mlscope:$(VERSION)
image:
	docker build -f exporter/Dockerfile -t $(IMAGE) -t mlscope:$(VERSION) .

# Pins what the image installs to the versions of the venv the tests run in.
constraints: venv
	$(PY) tools/constraints.py

bench: venv
	$(PY) benchmarks/middleware_overhead.py
	$(PY) benchmarks/drift_speed.py
	$(PY) benchmarks/ingest.py

clean:
	rm -rf $(VENV) .demo .bench-venvs
