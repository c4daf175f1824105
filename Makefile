# The two commands: `make run` and `make test`. Each builds its own virtualenv on first use.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test chaos lint format typecheck imports check bench bench-growth clean-data help plate-models

help:
	@echo "make run   - start the whole platform on embedded PostgreSQL + Redis (http://127.0.0.1:8000)"
	@echo "make test  - run the full test suite against embedded PostgreSQL + Redis"
	@echo "make chaos - the chaos soak: faults from many seeds, invariants as JSON (minutes)"
	@echo "make check - ruff (lint + format), mypy and the import contracts, as CI runs them"

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is required (looked for '$(PY)')."; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,gate]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

run: $(STAMP)
	PARKING_MODE=demo $(BIN)/parking run

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# The chaos soak: many seeds against the real platform behind fault proxies (minutes; see docs/reliability.md).
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos.soak --seeds $(or $(SEEDS),1-10) --vehicles $(or $(VEHICLES),20)

# The house rules, checked (CI runs `make check` and then `make test`).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy parking gate_agent reconciliation simulators vnplate

imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

check: lint typecheck imports

bench: $(STAMP)
	@echo "see docs/benchmarks.md for each benchmark's command"

# Issue 14.5: gate throughput and the exit's lookup, empty vs. 20 million COPY-loaded events in month partitions
# (~15 min on 2 cores, ~10 GB in a temporary database; EVENTS=... MONTHS=... to change the scale).
bench-growth: $(STAMP)
	$(BIN)/python benchmarks/partition_growth.py --events $(or $(EVENTS),20000000) --months $(or $(MONTHS),18)

# Rebuild the plate models in gate_agent/reading/models/ from ../shared/datasets/vn-train (CPU, ~1 h on
# a loaded 2-core box; see docs/model-card.md). Seeds are fixed; nothing is downloaded.
DATA ?= ../shared/datasets/vn-train
MODELS := gate_agent/reading/models
plate-models: $(STAMP)
	$(BIN)/python -m training.recognizer --data $(DATA) --steps 1800 --eval-every 300 --out $(MODELS)/lines.onnx
	# second stage (issue 15, plt2): warm start from the first, two-row plates x2, strong tilts, last step kept
	$(BIN)/python -m training.recognizer --data $(DATA) --init-onnx $(MODELS)/lines.onnx --steps 2000 --eval-every 250 \
		--lr 6e-4 --threads 1 --moto-weight 2.0 --tilt-strong 7 --select-on calib --keep last \
		--ckpt training/runs/lines-ft.pt --out $(MODELS)/lines.onnx
	$(BIN)/python -m training.detector --data $(DATA) --steps 1000 --eval-every 250 --out $(MODELS)/plates.onnx
	$(BIN)/python -m training.ranker --data $(DATA)
	$(BIN)/python -m training.calibrate --data $(DATA) --engine fused
	$(BIN)/python -m training.calibrate --data $(DATA)
	$(BIN)/python -m training.calibrate --data $(DATA) --engine vnlpr+rapidocr
	$(BIN)/python -m training.calibrate --data $(DATA) --engine rapidocr+vnlpr
	$(BIN)/python -m training.calibrate --data $(DATA) --engine rapidocr

clean-data:
	rm -rf .parking
