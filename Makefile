# Two entry points that do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit docs sysdeps axe bench clean mutate fuzz

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests need (unar for RAR archives, Chromium for UI tests); root only.
sysdeps:
	@bash scripts/sysdeps.sh

# axe-core (npm) into var/axe/ for the console's accessibility tests; offline: they skip.
axe:
	@bash scripts/axe.sh

demo: $(STAMP)
	$(VENV)/bin/orbweaver demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# docs/cli.md from every command's --help (tests/docs fails when it is stale).
docs: $(STAMP)
	$(PY) scripts/cli_docs.py

unit: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: $(STAMP) sysdeps axe lint typecheck unit

# Mutation testing of the rules that decide figures, notices and guards (TESTING.md); slow,
# not part of `make test`. MODULES="monitor-removal banks-matcher" runs some (--list: all).
MODULES ?=
mutate: $(STAMP)
	$(PY) scripts/mutate.py $(MODULES)

# Coverage-guided fuzzing (atheris) of every parser, FUZZ_SECONDS each; `make test` replays the
# saved corpus (tests/fuzz/corpus) without atheris. Grown corpus and crashes go to var/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= extract_links normalise_url sniff archive image_pdq rdap bank_csv settings_toml
fuzz: $(STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[fuzz]'
	@for t in $(FUZZ_TARGETS); do \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		/usr/bin/time -f "fuzz $$t: %U s user, %S s system CPU" \
			$(PY) tests/fuzz/run_fuzz.py $$t $(FUZZ_SECONDS) var/fuzz || exit 1; \
	done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .grimp_cache .import_linter_cache
