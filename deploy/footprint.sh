#!/usr/bin/env bash
# Measures every worker and the gateway and prints a Markdown table, each measurement beside its
# limit:
#   binary size    (the stripped binary)
#   start->ready   (process start to /readyz = 200)
#   idle RSS       (VmRSS one second after ready; also its anonymous part, RssAnon: heap,
#                  stacks, runtime metadata; the rest is the binary's file-backed pages)
#   RSS under load (VmHWM after a few hundred requests; the workers with a load generator,
#                  tts-module and chat-handler)
#   SIGTERM        exits 0
# The limits are issue 15's budgets, one row per worker (and a default for a worker without one)
# in deploy/internal/footprint/budgets.go.
# It measures the binaries of `make binaries` (bin/, or JETFLOW_WORKER_BIN: the five workers and
# bin/gateway, which it starts with a throwaway key file), which are built with
# deploy/Dockerfile's flags; `make footprint` builds them first. A missing binary is an error.
# Exits non-zero when a budget is exceeded.
#
# Usage: deploy/footprint.sh [-requests N]   (from anywhere; MILVUS_ADDR turns RAG on for chat)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${JETFLOW_WORKER_BIN:-$root/bin}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

go -C "$root/deploy" build -o "$tmp/footprint" ./cmd/footprint
"$tmp/footprint" -bin "$bin" -log "$tmp/workers.log" "$@" || status=$?
status="${status:-0}"
if [[ "$status" -ne 0 && -s "$tmp/workers.log" ]]; then
  echo "footprint: the workers' logs:" >&2
  tail -n 50 "$tmp/workers.log" >&2
fi
exit "$status"
