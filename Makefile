# The two commands a newcomer types: `make demo` and `make test`.
# Each creates .venv with the project installed when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FILES  := $(VENV)/.package-files
DEMO   := .demo

.PHONY: demo test lint typecheck unit mutants bench clean FORCE

# The editable install is setuptools' strict mode: it links each file of the package into
# build/__editable__.*, which mypy can follow (the default mode's import hook it cannot). A file
# added or removed in the package changes $(FILES), and the next make links again.
$(STAMP): pyproject.toml $(FILES)
	@$(PYTHON) -c 'import sys; sys.exit("morrow needs Python 3.11 or newer; set PYTHON=python3.11" if sys.version_info < (3, 11) else 0)'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		--config-settings editable_mode=strict -e '.[dev]'
	@touch $(STAMP)

$(FILES): FORCE
	@mkdir -p $(VENV)
	@find __init__.py py.typed agent tools memory evals -name __pycache__ -prune -o -print \
		| LC_ALL=C sort > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

demo: $(STAMP)
	@MORROW_HOME=$(DEMO) $(BIN)/python -m morrow.tools.demo $(DEMO)
	@MORROW_HOME=$(DEMO) $(BIN)/morrow brief --force
	@echo
	@echo "Chat with the demo (the offline demo model: no key, no network):"
	@echo "    $(BIN)/morrow --home $(DEMO)"
	@echo "morrow is in $(BIN)/; to have it on your PATH: pipx install ."

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# -n auto: one pytest worker per core (pytest-xdist); the suite's tests are independent.
unit: $(STAMP)
	$(BIN)/pytest -n auto

test: lint typecheck unit

# Seeded bugs (evals/mutants/): each must be killed by the tests or an eval suite. Minutes, so
# not part of `make test`; ONLY=name runs one. docs/evals.md has the table.
mutants: $(STAMP)
	$(BIN)/python -m morrow.evals.mutants.run $(if $(ONLY),--only $(ONLY) --no-baseline,) $(MUTANTS_ARGS)

# The benchmarks run in their own environment: morrow's peers, matplotlib and tiktoken are
# installed there (bench/requirements.txt), never as dependencies of morrow.
BENCH_VENV  := bench/.venv
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): pyproject.toml bench/requirements.txt
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e . -r bench/requirements.txt
	@touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/run.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(DEMO) .mypy_cache .ruff_cache
