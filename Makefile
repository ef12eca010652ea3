# The two commands of the README: `make run` and `make test`. Both install what is missing first.
VENV  := .venv
BIN   := $(VENV)/bin
HOST  ?= 127.0.0.1
PORT  ?= 8000
# one test process per core; a file's tests stay together so its session fixtures are built once
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: run test test-long bootstrap lint format bench bench-quick screenshots clean

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

# every benchmark at the sizes its goals are stated for (an hour or more on two cores; a bench
# that fails does not stop the others), one JSON each in bench/results/, then SUMMARY.md
PG_BENCH_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
bench: bootstrap
	-@$(BIN)/python bench/bench_pop_ingest.py --repeat 5
	-@$(BIN)/python bench/bench_publish.py --screens 1000
	-@$(BIN)/python bench/bench_publish.py --screens 10000
	-@$(BIN)/python bench/bench_schedule.py
	-@$(BIN)/python bench/bench_notifications.py
	-@$(BIN)/python bench/bench_notifications.py --db $(PG_BENCH_URL)
	-@$(BIN)/python bench/bench_reports.py
	-@$(BIN)/python bench/bench_billing.py
	-@$(BIN)/python bench/bench_dashboard.py
	-@$(BIN)/python bench/bench_agent.py
	@$(BIN)/python bench/results.py

# the same benches on small data, a few minutes in all, into bench/results/quick/ (a smoke run:
# its figures are not the README's)
bench-quick: bootstrap
	@export ADSBIN_BENCH_RESULTS=bench/results/quick; \
	$(BIN)/python bench/bench_pop_ingest.py --records 16000 --repeat 1 && \
	$(BIN)/python bench/bench_publish.py --screens 100 --repeat 1 && \
	$(BIN)/python bench/bench_schedule.py --sizes 200,400 --campaigns 100 && \
	$(BIN)/python bench/bench_notifications.py --recipients 500 && \
	$(BIN)/python bench/bench_reports.py --repeat 5 --plays 100000 && \
	$(BIN)/python bench/bench_billing.py --plays 100000 --campaigns 50 --screens 500 \
	  --screens-per-campaign 20 && \
	$(BIN)/python bench/bench_dashboard.py --quick --repeat 3 && \
	$(BIN)/python bench/bench_agent.py --seconds 15 && \
	$(BIN)/python bench/results.py --dir bench/results/quick

# a PNG of each main dashboard page at desktop and phone widths, into docs/screenshots/
screenshots: bootstrap
	@$(BIN)/python docs/make_screenshots.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
