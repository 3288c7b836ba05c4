#!/usr/bin/env bash
# Logs a terminal in by the device flow, then calls the protected API: the example client of
# envoy-auth0-session's device login. Needs only bash and curl.
#
#   demo/device-login.sh [BASE_URL]        (default: the demo, http://127.0.0.1:8080)
#
# 1. POST /device/start: the proxy asks the IdP for a device code and answers with a code for
#    the person, where to enter it, and a handle to poll with (the IdP's device_code never
#    leaves the proxy).
# 2. The person opens the link on a phone or laptop, logs in and confirms the code.
# 3. POST /device/poll with "Authorization: Device <handle>", every `interval` seconds, until
#    the answer is the session (or "denied", or "expired").
# 4. Later requests carry "Authorization: Session <value>" (no cookie jar needed).
set -euo pipefail
base="${1:-http://127.0.0.1:8080}"

# The value of a flat JSON field (the answers here are flat objects without commas in values).
field() { sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" <<<"$2"; }

start=$(curl -sSf -X POST "$base/device/start")
handle=$(field handle "$start")
interval=$(field interval "$start")
echo "To log in, open $(field verification_uri_complete "$start")"
echo "and check that it shows the code $(field user_code "$start")."

while :; do
  sleep "$interval"
  answer=$(curl -sS -X POST -H "Authorization: Device $handle" -w '\n%{http_code}' "$base/device/poll")
  status=${answer##*$'\n'}
  body=${answer%$'\n'*}
  case "$status" in
    200)
      session=$(field value "$body")
      if [ -n "$session" ]; then break; fi
      interval=$(field interval "$body")  # pending; the IdP may have asked to slow down
      ;;
    429) interval=$(field interval "$body") ;;
    403) echo "The login was denied." >&2; exit 1 ;;
    410) echo "The code expired; run this again." >&2; exit 1 ;;
    *) echo "The proxy answered $status: $body" >&2; exit 1 ;;
  esac
done

echo "Logged in. The protected API says:"
curl -sSf -H "Authorization: Session $session" "$base/api/me"
echo
