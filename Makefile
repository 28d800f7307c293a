# The README's two commands: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DEB_PACKAGES := prometheus prometheus-alertmanager chromium chromium-driver

.PHONY: test demo venv system-deps lint typecheck generate docs bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Installs the Debian packages the tests run for real (chromium and chromium-driver: the
# dashboards' preview is tested in a headless browser), when missing and we are root;
# otherwise says what to install.
system-deps:
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PACKAGES) >/dev/null; \
	  else \
	    echo "mlscope: tests need the Debian packages:$$missing (sudo apt-get install$$missing)"; \
	  fi; \
	fi

# Lint and strict typing run first: they are part of what CI checks, and cheap.
test: venv system-deps lint typecheck
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

demo: venv system-deps
	$(VENV)/bin/mlscope demo $(DEMO_ARGS)

lint: venv
	$(PY) -m ruff check exporter tests benchmarks

typecheck: venv
	$(PY) -m mypy exporter/mlscope tests

# Regenerates every committed generated file (docs, rules, dashboards).
generate: venv
	$(PY) -m mlscope.catalogue > docs/metrics.md
	$(PY) -m mlscope._clidoc > docs/cli.md
	$(PY) -m mlscope.config_gen
	$(PY) -m mlscope.deploy_gen

bench: venv
	$(PY) benchmarks/middleware_overhead.py
	$(PY) benchmarks/drift_speed.py
	$(PY) benchmarks/ingest.py

clean:
	rm -rf $(VENV) .demo .bench-venvs
