# The service desk's commands. A new user needs only `make demo` and `make test`;
# everything they need is installed on first use.

PYTHON   ?= python3
VENV     := .venv
BOTVENV  := .venv-bot
MODEL    := models/desk.tar.gz
# The ticket category model the action server loads (actions/categories.py).
CATEGORY_MODEL := models/category.pkl
MODELS   := $(MODEL) $(CATEGORY_MODEL)
RUN_DIR  := .run
# Not named PIP_*: make exports command-line variables, and pip reads PIP_<OPTION> from the environment.
PIPFLAGS ?= --quiet
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

SERVICE_PY := $(VENV)/bin/python
BOT_PY     := $(BOTVENV)/bin/python
RASA       := $(BOTVENV)/bin/rasa

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
CHROMIUM         := /usr/bin/chromium
NGINX            := /usr/sbin/nginx
SUDO             := $(if $(filter 0,$(shell id -u)),,sudo)
# The socket.io browser client the chat widget uses, vendored from the npm registry.
SOCKETIO_VERSION := 4.8.4
# Apache ECharts for the supervisor dashboard's charts (the "common" build: line, bar, pie).
ECHARTS_VERSION  := 6.1.0
VENDOR_DIR       := api/static/vendor

TRAIN_INPUTS := config.yml $(shell find bot/domain bot/data bot/nlu nlu_data/train -type f -not -name '*.pyc' 2>/dev/null)
RASA_DATA    := --domain bot/domain --data bot/data nlu_data/train
CATEGORY_INPUTS := $(wildcard nlu_data/category/*.yml) actions/categories.py scripts/train_category.py

.PHONY: help install demo train test test-service test-bot test-dialogue test-e2e contract lint types clean \
	bench-api bench-bot demo-scaled fuzz-api test-browser chromium vendor eval eval-category simulate tune-fallback bench-nlu \
	backup restore purge-conversations bench-import retention retention-preview remask remask-apply

help:
	@echo "make demo    install what is missing, train if needed, start the whole desk"
	@echo "make test    install what is missing, train if needed, run every test"
	@echo "make train   (re)train the Rasa model and the ticket category model when their data changed"
	@echo "make lint    ruff over the service and the bot code"
	@echo "make types   mypy over the service"
	@echo "make bench-api  API throughput beside raw PostgreSQL inserts -> BENCHMARKS.md"
	@echo "make bench-import  customer imports: rows/s for 100,000 generated rows (PostgreSQL) -> BENCHMARKS.md"
	@echo "make demo-scaled  2 Rasa, 2 action servers, 2 API workers behind nginx (PostgreSQL + Redis)"
	@echo "make bench-bot  simulated customers through the REST channel beside /model/parse (about 6 min) -> BENCHMARKS.md"
	@echo "make fuzz-api   schemathesis with many examples per operation"
	@echo "make contract   rewrite the bot's API contract file after changing an endpoint it calls"
	@echo "make eval       NLU and ticket categories on the held-out sets, per language -> BENCHMARKS.md (trains if needed)"
	@echo "make eval-category  ticket categories on held-out descriptions, per category and language -> BENCHMARKS.md"
	@echo "make simulate   simulated customers through the REST channel of a desk it starts -> BENCHMARKS.md"
	@echo "make tune-fallback  fallback threshold on a validation split of the training data"
	@echo "make bench-nlu  the NLU pipeline on BANKING77 and CLINC150 (about 15 min) -> BENCHMARKS.md"
	@echo "make vendor  copy the socket.io client and Apache ECharts from the npm registry again"
	@echo "make backup  dump the database into .run/backups (the newest 30 kept; keys never included)"
	@echo "make restore replace the database with the newest backup (or BACKUP=...), then prove it"
	@echo "make purge-conversations  delete Rasa conversations older than the retention"
	@echo "make retention  apply the retention schedule now (the API does it daily by itself)"
	@echo "make retention-preview  count what the retention schedule would remove now"
	@echo "make remask  count the stored ticket texts today's detection would mask more (dry run)"
	@echo "make remask-apply  mask them (batched, once across instances, audited)"

install: $(VENV)/.installed $(BOTVENV)/.installed

# The service environment: current FastAPI, SQLAlchemy 2, pydantic 2 (requirements/service.lock).
$(VENV)/.installed: requirements/service.lock
	@echo "[make] installing the service environment in $(VENV) (about 20 s)"
	@date +%s > $(VENV).started 2>/dev/null || true
	$(PYTHON) -m venv $(VENV)
	$(SERVICE_PY) -m pip install $(PIPFLAGS) --disable-pip-version-check -r requirements/service.lock
	@touch $@
	@echo "[make] service environment ready in $$(( $$(date +%s) - $$(cat $(VENV).started) )) s"; rm -f $(VENV).started

# The bot environment: Rasa 3.6.21 on Python 3.11 from a full lock, installed without
# dependency resolution (see README, "Two environments").
$(BOTVENV)/.installed: requirements/bot.lock
	@echo "[make] installing the Rasa environment in $(BOTVENV) (about 2-3 min, 2.6 GB)"
	@date +%s > $(BOTVENV).started
	$(PYTHON) -m venv $(BOTVENV)
	$(BOT_PY) -m pip install $(PIPFLAGS) --disable-pip-version-check --no-deps --ignore-requires-python -r requirements/bot.lock
	@touch $@
	@echo "[make] Rasa environment ready in $$(( $$(date +%s) - $$(cat $(BOTVENV).started) )) s"; rm -f $(BOTVENV).started

# Retrained only when the config, domain, stories, NLU data or custom components change.
$(MODEL): $(BOTVENV)/.installed $(TRAIN_INPUTS)
	@echo "[make] training the Rasa model (about 6-8 min; progress below)"
	@mkdir -p models && date +%s > models/.train-started
	DESK_FEATURE_CACHE=$(RUN_DIR)/feature-cache $(RASA) train --config config.yml $(RASA_DATA) --out models --fixed-model-name desk
	@touch $@
	@echo "[make] model trained in $$(( $$(date +%s) - $$(cat models/.train-started) )) s"; rm -f models/.train-started

# The ticket category model (about 40 s): retrained when its descriptions or code change.
$(CATEGORY_MODEL): $(BOTVENV)/.installed $(CATEGORY_INPUTS)
	@mkdir -p models
	$(BOT_PY) scripts/train_category.py --out $@

train: $(MODELS)

demo: install $(MODELS)
	$(SERVICE_PY) scripts/desk.py run

test: install $(MODELS) chromium
	$(MAKE) lint types test-service test-bot test-dialogue test-e2e test-browser

# tests/scripts/test_backup.py tests a service-side script (scripts/backup.py imports ticketing).
test-service: $(VENV)/.installed
	$(SERVICE_PY) -m pytest tests/ticketing tests/api tests/scripts/test_backup.py

test-bot: $(BOTVENV)/.installed
	$(BOT_PY) -m pytest tests/bot tests/actions tests/scripts --ignore=tests/scripts/test_backup.py

test-dialogue: $(MODEL)
	$(RASA) data validate --config config.yml $(RASA_DATA)
	$(RASA) test core --model $(MODEL) --stories tests/dialogue --out $(RUN_DIR)/results/core --fail-on-prediction-errors

# tests/e2e/test_scaled_kill.py runs the scaled desk behind Debian's nginx.
test-e2e: install $(MODELS) $(NGINX)
	$(SERVICE_PY) -m pytest tests/e2e

# Not tests: measurements on PostgreSQL (BENCH_DATABASE_URL or DATABASE_URL, else the
# local server's "test" database), written to BENCHMARKS.md.
bench-api: $(VENV)/.installed
	$(SERVICE_PY) scripts/bench_api.py --requests 2000 --concurrency 16 --workers 2

# Customer imports (scripts/bench_import.py): a generated GB18030 CSV of 100,000 records
# imported into a fresh schema of the same PostgreSQL, beside the rules alone and raw inserts.
bench-import: $(VENV)/.installed
	$(SERVICE_PY) scripts/bench_import.py --rows 100000

# The scaled topology on one machine (scripts/desk_scaled.py): 2 of each process behind
# Debian's nginx (installed with apt when missing), on the PostgreSQL of DATABASE_URL and the
# Redis of REDIS_URL (both required); nginx's configuration is deploy/nginx/desk.conf.
demo-scaled: install $(MODELS) $(NGINX)
	$(SERVICE_PY) scripts/desk_scaled.py run

# Debian's nginx, installed once per machine when missing (the scaled desk's balancer).
$(NGINX):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends nginx

# The bot under load (.venv-bot): starts its own desk on ports 18100/15105/15155 (storage as
# `make demo`: DATABASE_URL, REDIS_URL), then the /model/parse ceiling, 1 and 20 customers back
# to back, 100 at human pace; appended to BENCHMARKS.md. BENCH_BOT_ARGS changes the load
# (e.g. BENCH_BOT_ARGS="--rasa-url http://127.0.0.1:5005 --customers 50" for a running desk).
BENCH_BOT_ARGS ?=
bench-bot: install $(MODELS)
	$(BOT_PY) scripts/bench_bot.py $(BENCH_BOT_ARGS)

# NLU measurements (.venv-bot). The held-out sets in nlu_data/heldout* are never trained on.
eval: $(MODELS)
	$(BOT_PY) scripts/eval_category.py --write
	$(BOT_PY) scripts/eval_nlu.py heldout --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout2 --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout3 --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout_traditional --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout_long --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout_voice --transcript --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout_cantonese --model $(MODEL)
	$(BOT_PY) scripts/eval_nlu.py heldout --heldout nlu_data/heldout_mixed --model $(MODEL)
	$(MAKE) simulate

# Simulated customers (scripts/customers/) through the REST channel. By default it starts
# its own desk on spare ports (a fresh database in .run/simulate); against a desk that is
# already running: make simulate SIM_ARGS="--run-dir .run --api-port 8000 --rasa-port 5005"
SIM_ARGS ?= --start-desk --run-dir $(RUN_DIR)/simulate --api-port 18300 --rasa-port 15305 --actions-port 15355
simulate: install $(MODELS)
	$(BOT_PY) scripts/simulate_customers.py $(SIM_ARGS) --write

# Ticket categories on nlu_data/heldout_category/ (never trained on), per category and
# language; --errors lists every misrouted description.
eval-category: $(CATEGORY_MODEL)
	$(BOT_PY) scripts/eval_category.py --write

tune-fallback: $(BOTVENV)/.installed
	DESK_FEATURE_CACHE=$(RUN_DIR)/feature-cache $(BOT_PY) scripts/eval_nlu.py tune

# Public benchmarks from ../shared/eval/data, converted into .run/bench (never committed).
# The pipeline of config.yml as it is; BENCH_ARGS can change the classifier's settings
# (for DIET, e.g. BENCH_ARGS="--epochs 30 --set number_of_transformer_layers=0").
BENCH_ARGS ?=
bench-nlu: $(BOTVENV)/.installed
	$(BOT_PY) scripts/bench_nlu.py $(BENCH_ARGS)

# Backups of the database (DATABASE_URL, else .run/desk.db) in .run/backups; see README, "Backups".
# `make restore` asks before replacing the database; RESTORE_ARGS=--yes for scripts.
BACKUP       ?=
RESTORE_ARGS ?=
backup: $(VENV)/.installed
	$(SERVICE_PY) scripts/backup.py backup

restore: $(VENV)/.installed
	$(SERVICE_PY) scripts/backup.py restore $(BACKUP) $(RESTORE_ARGS)

# Conversations past DESK_CONVERSATION_RETENTION_DAYS, in the tracker store the last
# `make demo` configured (.run/endpoints.yml); safe from several hosts at once (cron).
purge-conversations: $(BOTVENV)/.installed
	$(BOT_PY) -m bot.tracker_store purge --endpoints $(RUN_DIR)/endpoints.yml --env-file $(RUN_DIR)/desk.env

# The retention schedule (ticketing/retention.py; README, "Retention"), on the database and
# conversations the environment or .run/desk.env name. The API's own scheduler runs it
# every DESK_RETENTION_RUN_HOURS; these are for an admin (and cron without the API).
retention: $(VENV)/.installed
	$(SERVICE_PY) -m ticketing.retention --now --env-file $(RUN_DIR)/desk.env

retention-preview: $(VENV)/.installed
	$(SERVICE_PY) -m ticketing.retention --dry-run --env-file $(RUN_DIR)/desk.env

# Masked copies of ticket texts sealed before today's detection (names), masked again
# (ticketing/remask.py; README, "Personal data in free text"). A dry run first, always.
remask: $(VENV)/.installed
	$(SERVICE_PY) -m ticketing.remask --env-file $(RUN_DIR)/desk.env

remask-apply: $(VENV)/.installed
	$(SERVICE_PY) -m ticketing.remask --apply --env-file $(RUN_DIR)/desk.env

fuzz-api: $(VENV)/.installed
	DESK_FUZZ_EXAMPLES=200 $(SERVICE_PY) -m pytest tests/api/test_schema_fuzz.py -p no:cacheprovider

# The API's contract with the action server (tests/data/bot_api_contract.json), which the
# action tests' fake is held to; rewrite it after changing an endpoint the bot calls.
contract: $(VENV)/.installed
	PYTHONPATH=. $(SERVICE_PY) -m tests.support_service.bot_contract --write

test-browser: install $(MODELS) chromium
	$(SERVICE_PY) -m pytest tests/browser

# Installed once per machine, when missing; a Chinese font so pages render as customers see them.
$(CHROMIUM):
	@echo "[make] installing Debian's chromium for the browser tests (about 1-2 min, 300 MB)"
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-wqy-microhei
	@echo "[make] chromium installed: $$($(CHROMIUM) --version 2>/dev/null)"

chromium: $(CHROMIUM)

# The committed copy in $(VENDOR_DIR) is what runs; this only refreshes it.
vendor:
	@echo "[make] vendoring socket.io-client $(SOCKETIO_VERSION) into $(VENDOR_DIR)"
	@tmp=$$(mktemp -d) && \
	  (cd $$tmp && npm pack --silent socket.io-client@$(SOCKETIO_VERSION) >/dev/null && \
	   tar xzf socket.io-client-$(SOCKETIO_VERSION).tgz) && \
	  cp $$tmp/package/dist/socket.io.min.js $(VENDOR_DIR)/socket.io.min.js && \
	  cp $$tmp/package/LICENSE $(VENDOR_DIR)/socket.io-client.LICENSE && \
	  rm -rf $$tmp
	@head -2 $(VENDOR_DIR)/socket.io.min.js | tail -1
	@echo "[make] vendoring echarts $(ECHARTS_VERSION) into $(VENDOR_DIR)"
	@tmp=$$(mktemp -d) && \
	  (cd $$tmp && npm pack --silent echarts@$(ECHARTS_VERSION) >/dev/null && \
	   tar xzf echarts-$(ECHARTS_VERSION).tgz) && \
	  cp $$tmp/package/dist/echarts.common.min.js $(VENDOR_DIR)/echarts.common.min.js && \
	  cp $$tmp/package/LICENSE $(VENDOR_DIR)/echarts.LICENSE && \
	  cp $$tmp/package/NOTICE $(VENDOR_DIR)/echarts.NOTICE && \
	  rm -rf $$tmp

lint: install
	$(VENV)/bin/ruff check ticketing api scripts tests
	$(VENV)/bin/ruff check --target-version py310 actions bot

types: $(VENV)/.installed
	$(VENV)/bin/mypy ticketing api

clean:
	rm -rf $(RUN_DIR) models
