#!/usr/bin/env bash
# Starts the whole assistant on embedded defaults: action server :5055, Rasa :5005, gateway + API :8000.
# Called by `make run` after `make setup`. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MOTCUA_DATA_DIR="${MOTCUA_DATA_DIR:-$PWD/data}"
mkdir -p "$MOTCUA_DATA_DIR" models

# The catalogue (built-in procedures) and its index are created on first use; demo data if present.
.venv/bin/python -c "from knowledge_base.catalogue import Catalogue; c = Catalogue.from_settings(); print(f'Catalogue: {c.store.count()} procedures')"
.venv/bin/python scripts/seed_demo.py   # migrations + demo dossiers (idempotent)

# A trained model: train when none exists or what shapes it changed since: the training data, or the
# code that turns a message into features (bot/, and knowledge_base/text.py that it normalises with).
stamp=$(cat config.yml domain.yml $(find nlu_data -name '*.yml' | LC_ALL=C sort) \
  $(find bot -name '*.py' | LC_ALL=C sort) knowledge_base/text.py 2>/dev/null | sha1sum | cut -c1-12)
model="models/motcua-$stamp.tar.gz"
if [ -f config.yml ] && [ ! -f "$model" ]; then
  echo "Training the Rasa model (first run or changed data)…"
  .venv-rasa/bin/rasa train --data nlu_data --config config.yml --domain domain.yml \
    --fixed-model-name "motcua-$stamp" --out models
fi

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# The bot (action server, Rasa) runs at a lower CPU priority than the gateway: on a small host a turn
# of the bot can take whole cores, while Zalo and Telegram time the webhook's ack (a late reply is
# harmless, a late ack is retried and repeated failures get the webhook disabled).
bot_nice="${MOTCUA_BOT_NICE:-10}"
if [ -d actions ] && [ -f domain.yml ]; then
  SANIC_HOST=127.0.0.1 nice -n "$bot_nice" .venv/bin/python -m rasa_sdk --actions actions --port 5055 &
  pids+=($!)
fi
if [ -f "$model" ]; then
  nice -n "$bot_nice" .venv-rasa/bin/rasa run --enable-api --interface 127.0.0.1 --port 5005 --model "$model" --endpoints endpoints.yml \
    --credentials credentials.yml &
  pids+=($!)
fi
# Telegram without a public webhook URL (local use): the app fetches updates itself (getUpdates).
if [ -n "${TELEGRAM_BOT_TOKEN:-}" ] && [ -z "${TELEGRAM_WEBHOOK_URL:-}" ]; then export TELEGRAM_POLLING="${TELEGRAM_POLLING:-1}"; fi
zalo=off; [ -n "${ZALO_APP_ID:-}" ] && [ -n "${ZALO_OA_SECRET_KEY:-}" ] && [ -n "${ZALO_ACCESS_TOKEN:-}${ZALO_REFRESH_TOKEN:-}" ] && zalo=on
telegram=off; [ -n "${TELEGRAM_BOT_TOKEN:-}" ] && telegram="on ($( [ "${TELEGRAM_POLLING:-}" = 1 ] && echo long polling || echo webhook))"
echo "Channels: web widget on; Zalo $zalo; Telegram $telegram"
# uvloop + httptools (the fast event loop and HTTP parser); no access log: a line per request is work on
# the acks' path (warnings and errors are still logged; a reverse proxy in front keeps its own access log).
.venv/bin/uvicorn motcua.app:create_app --factory --host 127.0.0.1 --port 8000 \
  --loop uvloop --http httptools --no-access-log &
pids+=($!)
wait -n "${pids[@]}"
