#!/usr/bin/env bash
# Prints the Debian base image that the platform images build FROM: the newest
# mlops.local/debian-base:bookworm-* (made by step 1 of offline/images/kind-node.sh).
set -euo pipefail
base=$(docker images --format '{{.CreatedAt}}\t{{.Repository}}:{{.Tag}}' mlops.local/debian-base \
  | grep -F $'\tmlops.local/debian-base:bookworm-' | sort -r | head -n 1 | cut -f2)
if [[ -z $base ]]; then
  echo "no mlops.local/debian-base:bookworm-* image: run offline/images/kind-node.sh first, which builds it" >&2
  exit 1
fi
echo "$base"
