#!/usr/bin/env bash
# Measures every worker against its footprint budget and prints a Markdown table:
#   binary size   <= 20 MiB (35 MiB for chat-handler and voice-assistant, which link Milvus)
#   start->ready  <  100 ms (process start to /readyz = 200)
#   idle RSS      <= 20 MiB (VmRSS one second after ready)
#   RSS under load<= 40 MiB (VmHWM after a few hundred requests; tts-module and chat-handler)
#   SIGTERM       exits 0
# The binaries are built exactly as deploy/Dockerfile builds them. A worker whose cmd/<name>
# does not exist yet is skipped and reported. Exits non-zero when a budget is exceeded.
#
# Usage: deploy/footprint.sh [-requests N]   (from anywhere; MILVUS_ADDR turns RAG on for chat)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
workers=(chat-handler pipeline-bridge stt-module tts-module voice-assistant)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cd "$root"
for w in "${workers[@]}"; do
  if [[ ! -d "cmd/$w" ]]; then
    echo "footprint: cmd/$w does not exist yet: skipping $w" >&2
    continue
  fi
  echo "footprint: building $w" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/bin/$w" "./cmd/$w"
done

go -C deploy build -o "$tmp/footprint" ./cmd/footprint
"$tmp/footprint" -bin "$tmp/bin" -log "$tmp/workers.log" "$@" || status=$?
status="${status:-0}"
if [[ "$status" -ne 0 && -s "$tmp/workers.log" ]]; then
  echo "footprint: the workers' logs:" >&2
  tail -n 50 "$tmp/workers.log" >&2
fi
exit "$status"
