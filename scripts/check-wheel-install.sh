#!/usr/bin/env bash
# Install Beacon as a user would from a release: the built wheel (not editable) into a fresh
# venv with the interpreter's own pip, dependencies from the runtime lock file; then start
# `beacon serve` from an unrelated directory and wait for /readyz. Fails if any step does.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
WORK="$(mktemp -d)"
trap 'kill "${SERVER_PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/dist" . 2> >(grep -v "is ignored: it is neither" >&2)
# The lock's pins as constraints too: an older pip resolves a dependency's extra (justext needs
# `lxml[html_clean]`) to the index's newest release, outside the hashed pins, unless told.
grep -E '^[A-Za-z0-9_.-]+==' requirements/lock.txt | sed 's/ *\\$//' >"$WORK/constraints.txt"
"$WORK/venv/bin/python" -m pip install --quiet --require-hashes -r requirements/lock.txt \
  -c "$WORK/constraints.txt" 2> >(grep -v "is ignored: it is neither" >&2)
"$WORK/venv/bin/python" -m pip install --quiet --no-deps "$WORK"/dist/beacon-*.whl 2> >(grep -v "is ignored: it is neither" >&2)
"$WORK/venv/bin/python" -m pip check 2> >(grep -v "is ignored: it is neither" >&2)

PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$WORK/elsewhere"
cd "$WORK/elsewhere"
env -u BEACON_DATABASE_URL -u BEACON_DATA_DIR "$WORK/venv/bin/beacon" serve --port "$PORT" \
  --data-dir "$WORK/elsewhere/var" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
    curl -fsS "http://127.0.0.1:$PORT/openapi.json" >/dev/null
    curl -fsS "http://127.0.0.1:$PORT/docs/static/swagger-ui-bundle.js" >/dev/null  # vendored in the wheel
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    echo "wheel install check: beacon serve from the built wheel answered /readyz"
    exit 0
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 1
done
echo "wheel install check FAILED: the server did not become ready" >&2
cat "$WORK/server.log" >&2
exit 1
