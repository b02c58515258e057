#!/usr/bin/env bash
# Creates a Workers Trace Events Logpush job from one of the JSON files beside this script.
#
#   CLOUDFLARE_ACCOUNT_ID=… CLOUDFLARE_API_TOKEN=… ./create-job.sh job-r2.json
#
# The token needs the account permission "Logs: Edit" (and nothing else). Placeholders in the JSON (<ACCOUNT_ID>,
# <R2_ACCESS_KEY_ID>, <R2_SECRET_ACCESS_KEY>, <DATADOG_API_KEY>) are filled from the environment variables of the
# same names, so no credential is ever written into the file in git. Requires curl and jq.
set -euo pipefail

job_file="${1:?usage: $0 job-r2.json|job-datadog.json}"
: "${CLOUDFLARE_ACCOUNT_ID:?set CLOUDFLARE_ACCOUNT_ID}"
: "${CLOUDFLARE_API_TOKEN:?set CLOUDFLARE_API_TOKEN}"

body="$(jq -c \
  --arg account "$CLOUDFLARE_ACCOUNT_ID" \
  --arg r2_id "${R2_ACCESS_KEY_ID:-}" \
  --arg r2_secret "${R2_SECRET_ACCESS_KEY:-}" \
  --arg dd_key "${DATADOG_API_KEY:-}" \
  '.destination_conf |= (gsub("<ACCOUNT_ID>"; $account)
    | gsub("<R2_ACCESS_KEY_ID>"; $r2_id) | gsub("<R2_SECRET_ACCESS_KEY>"; $r2_secret)
    | gsub("<DATADOG_API_KEY>"; $dd_key))' "$job_file")"

if grep -q '<[A-Z0-9_]*>' <<<"$body" || grep -Eq '(key-id|secret-access-key|DD-API-KEY)=(&|")' <<<"$body"; then
  echo "a placeholder in $job_file has no value: set the matching environment variable" >&2
  exit 1
fi

curl --fail-with-body --silent --show-error \
  "https://api.cloudflare.com/client/v4/accounts/${CLOUDFLARE_ACCOUNT_ID}/logpush/jobs" \
  --header "Authorization: Bearer ${CLOUDFLARE_API_TOKEN}" \
  --header "Content-Type: application/json" \
  --data "$body" | jq '{success, errors, id: .result.id, name: .result.name, enabled: .result.enabled}'
