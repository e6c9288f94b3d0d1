# Every target sets up .venv on first use: a fresh machine needs only `make demo` or `make test`.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
OUT    ?= shiftkit-output

.PHONY: demo test test-fast bench lint clean

$(STAMP): pyproject.toml Makefile
	test -x $(PYTHON) || python3 -m venv $(VENV)
	# The CPU build of torch, pinned: an unpinned "torch" pulls a multi-GB CUDA build.
	$(PYTHON) -m pip install --quiet torch==2.13.0
	# torchvision built for that torch (open_clip needs it); an unpinned one pulls a newer, CUDA torch.
	$(PYTHON) -m pip install --quiet torchvision==0.28.0
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/shiftkit cluster --out $(OUT) --animate $(OUT)/meanshift.gif

test: $(STAMP)
	$(PYTHON) -m pytest -q

# the tests not marked slow (no subprocesses, process clusters, notebook, CUDA simulator, longest fits):
# a quick loop (about 50 s on an AMD EPYC with 2 cores); `make test` runs everything
test-fast: $(STAMP)
	$(PYTHON) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PYTHON) benchmarks/bench_quality.py --large
	$(PYTHON) benchmarks/bench_quality.py --high-dim
	$(PYTHON) benchmarks/bench_highdim.py
	$(PYTHON) benchmarks/bench_highdim.py --switch
	$(PYTHON) benchmarks/bench_highdim.py --variants
	$(PYTHON) benchmarks/bench_highdim.py --cuts
	$(PYTHON) benchmarks/bench_hidden.py
	$(PYTHON) benchmarks/quality_pictures.py
	$(PYTHON) benchmarks/bench_meanshift.py
	$(PYTHON) benchmarks/bench_engines.py
	$(PYTHON) benchmarks/bench_matmul.py
	$(PYTHON) benchmarks/bench_bandwidth.py
	$(PYTHON) benchmarks/bench_scale.py
	$(PYTHON) benchmarks/bench_io.py
	$(PYTHON) benchmarks/bench_kmeans.py
	$(PYTHON) benchmarks/bench_kmeans.py --sparse
	$(PYTHON) benchmarks/bench_dbscan.py
	$(PYTHON) benchmarks/bench_neighbors.py --large
	$(PYTHON) benchmarks/bench_distributed.py
	$(PYTHON) benchmarks/bench_distributed.py --client-memory
	$(PYTHON) benchmarks/bench_image.py
	$(PYTHON) benchmarks/bench_small_data.py
	$(PYTHON) benchmarks/bench_interrupt.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) $(OUT) build src/*.egg-info
