#!/usr/bin/env bash
# The /_local/ admin API of a running `discobase local serve` (not part of Discord's API).
# Usage: URL=http://127.0.0.1:8765 TOKEN=<the printed token> bash examples/admin_api.sh
set -euo pipefail
URL=${URL:-http://127.0.0.1:8765}

# The server: its URLs, bots, guilds and connected gateway sessions.
curl -s "$URL/_local/info"; echo

# Make the next GET /users/@me fail with a 503 (the body is a Fault; see "Fault kinds").
curl -s -X POST "$URL/_local/faults" -H 'Content-Type: application/json' \
     -d '{"kind": "status", "route": "GET /users/@me", "status": 503, "count": 1}'; echo
curl -s "$URL/_local/faults"; echo  # the active faults

# The first call gets the 503 with Discord's body, the second succeeds.
curl -s -w ' -> %{http_code}\n' -H "Authorization: Bot $TOKEN" "$URL/api/v10/users/@me"
curl -s -o /dev/null -w 'again -> %{http_code}\n' -H "Authorization: Bot $TOKEN" "$URL/api/v10/users/@me"

# Requests per route since start (or the last reset), then reset them.
curl -s "$URL/_local/stats"; echo
curl -s -o /dev/null -w 'reset stats -> %{http_code}\n' -X DELETE "$URL/_local/stats"

# 200 ms more on every request, then remove every fault.
curl -s -o /dev/null -X POST "$URL/_local/faults" -d '{"kind": "latency", "route": "*", "latency": 0.2}'
curl -s -o /dev/null -w 'clear faults -> %{http_code}\n' -X DELETE "$URL/_local/faults"

# Gateway control: close (with a close code), reconnect, invalid_session, drop.
curl -s -X POST "$URL/_local/gateway/close" -d '{"code": 4000}'; echo
curl -s -X POST "$URL/_local/gateway/invalid_session" -d '{"resumable": false}'; echo
