# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo test lint typecheck pytest install dev clean bench demo-corpus

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# The demo ends by streaming its token shards through PyTorch: the [torch] extra pins the CPU
# build kept on this kind of machine's disk (an unpinned torch would fetch a multi-GB CUDA build).
install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[torch]'

dev: $(STAMP)

## make demo: install datamill and run the bundled pipelines on bundled data
demo: install
	$(BIN)/datamill demo

## make test: lint, type-check and run every test (doctests included)
test: dev lint typecheck pytest

lint:
	$(BIN)/ruff check src tests benchmarks docs scripts

typecheck:
	$(BIN)/mypy

pytest:
	$(BIN)/pytest -q $(PYTEST_ARGS)

## make torch: add the PyTorch extra (a CPU build pinned so pip does not fetch CUDA wheels)
torch: $(STAMP)
	$(BIN)/pip install --quiet 'torch==2.13.0'

bench: dev
	$(BIN)/python benchmarks/bench_engine_overhead.py
	$(BIN)/python benchmarks/bench_cache.py
	$(BIN)/python benchmarks/bench_pdf.py
	$(BIN)/python benchmarks/bench_html.py
	$(BIN)/python benchmarks/bench_quality_filters.py
	$(BIN)/python benchmarks/bench_language.py
	$(BIN)/python benchmarks/bench_chunk.py

## make demo-corpus: rebuild the LLM-corpus demo's documents from ../shared/data/corpus
demo-corpus: dev
	$(BIN)/python scripts/build_demo_corpus.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
