# The two commands of the README's quick start, and the targets behind them.
# Each target installs what it needs into .venv on a fresh machine, then runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := model,export,data,lambda,infra,local,classifier,dev
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/constraints.txt | cksum | cut -d' ' -f1)
OUT ?= runs/demo
SEED ?= 0
# Where torch keeps the compiled CPU kernels (flywheel.model.kernels): with the venv, so a
# fresh clone builds its own.
export TORCH_EXTENSIONS_DIR := $(abspath $(VENV))/torch_extensions

.PHONY: demo test test-slow test-avx2 bench plan lint clean install browser

# The moderation classifier's weights (8.7 MB) are built here, not committed: a fit at the operating
# points train_classifier records (~30 s), again whenever its data or the safety code changes.
CLASSIFIER := src/flywheel/safety/data/classifier.json

install: $(STAMP) $(CLASSIFIER)

$(STAMP): pyproject.toml requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch==2.13.0 is pinned: pip finds the CPU build where one lies on disk (find-links).
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]' -c requirements/constraints.txt
	$(BIN)/python -m flywheel.model.kernels
	rm -f $(VENV)/.installed-*
	touch $@

$(CLASSIFIER): $(STAMP) $(wildcard src/flywheel/safety/*.py src/flywheel/safety/data/*.jsonl src/flywheel/safety/data/authored/*.jsonl)
	$(BIN)/python -m flywheel.safety.train_classifier --build

demo: install
	rm -rf $(OUT)
	$(BIN)/flywheel turn --out $(OUT) --seed $(SEED)

test: install browser
	$(BIN)/python -m pytest -q

# The dashboard's test drives a real headless Chromium: install Debian's when it is missing and we can
# (root with apt-get); otherwise that test skips with its reason, or fails when CI is set.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
		{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else echo "no Chromium and no way to install it here: the dashboard's browser test will not run"; fi; }

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# The kernels' and the engine's tests on a CPU without AVX-512, whose paths an AVX-512 machine never
# takes (the int8 kernel's 7-bit variant, fbgemm's AVX2 kernels): an emulated Haswell, through Debian's
# qemu-user (installed when missing and we can: root with apt-get). Less the features qemu's emulator lacks.
HASWELL := Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm
test-avx2: install
	@command -v qemu-x86_64 >/dev/null 2>&1 || \
		{ if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user; \
		else echo "no qemu-x86_64 and no way to install it here"; exit 1; fi; }
	qemu-x86_64 -cpu $(HASWELL) $(BIN)/python -c "import torch; c = torch.backends.cpu.get_cpu_capability(); \
		assert c == 'AVX2', c; print('emulated CPU:', c)"
	qemu-x86_64 -cpu $(HASWELL) $(BIN)/python -m pytest -q tests/model/test_kernels.py tests/model/test_decode.py \
		tests/serving/test_engine.py

bench: install
	for b in training serving data safety api_cold_start preference_rounds; do \
		$(BIN)/python benchmarks/$$b.py || exit 1; done

plan: install
	$(BIN)/python -m infra.plan

lint: install
	$(BIN)/ruff check src training_jobs containers functions infra tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
