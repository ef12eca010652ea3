# The two commands of the README: `make run` and `make test`. Both install what is missing first.
VENV  := .venv
BIN   := $(VENV)/bin
HOST  ?= 127.0.0.1
PORT  ?= 8000
# one test process per core; a file's tests stay together so its session fixtures are built once
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: run test test-long bootstrap lint format bench screenshots clean

bootstrap:
	@bash .ci/bootstrap

run: bootstrap
	@$(BIN)/adsbin migrate
	@$(BIN)/adsbin demo
	@$(BIN)/adsbin serve --host $(HOST) --port $(PORT) --demo

test: bootstrap lint
	@$(BIN)/pytest $(PYTEST_ARGS) -m "not long"

# the long versions: a fleet of simulated units, fault loops, fuzzing at length
test-long: bootstrap
	@$(BIN)/pytest $(PYTEST_ARGS) -m long

lint: bootstrap
	@$(BIN)/ruff check .
	@$(BIN)/mypy control_plane shared player_agent provisioning

format: bootstrap
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

# the typed clients' generated files, from the app's OpenAPI document (shared/api_client/
# generate.py): shared/openapi.json, shared/api_client/models.py, shared/typescript/api.d.ts.
# The app is built on a throwaway data dir, so that var/ is left alone
types: bootstrap
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  ADSBIN_DATA_DIR="$$tmp" ADSBIN_DATABASE_URL= \
	  $(BIN)/python -m shared.api_client.generate --app control_plane.app:create_app

bench: bootstrap
	@for b in bench/bench_*.py; do [ -e "$$b" ] && $(BIN)/python "$$b"; done; true

# a PNG of each main dashboard page at desktop and phone widths, into docs/screenshots/
screenshots: bootstrap
	@$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
