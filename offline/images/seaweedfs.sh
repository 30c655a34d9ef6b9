#!/usr/bin/env bash
# Builds the SeaweedFS image offline: mlops.local/chrislusf/seaweedfs:4.53, the reference that
# infra/images.toml lists for the local stack (images.registry: mlops.local).
#   1. `weed` from the wrapper module offline/go/seaweedfs (github.com/seaweedfs/seaweedfs at the
#      commit whose weed/util/version says 4.53; its go.mod's replace line repeated there),
#      static, cached under $MLOPS_CACHE_DIR/seaweedfs/<version>-<inputs hash>/,
#   2. the image FROM the Debian base (it has /bin/sh for the bucket Job), weed at /usr/bin/weed,
#      ENTRYPOINT ["/usr/bin/weed"] and no CMD (the ObjectStore component passes `server ...` as
#      args), USER 1000.
#
# Verified (docker, no --privileged): `weed server -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0
# -volume.max=0 -master.volumeSizeLimitMB=512 -filer -s3 -s3.port=8333
# -s3.config=/etc/seaweedfs/s3.json` as uid 1000 with /data and /etc/seaweedfs mounted; from a
# second container the component's bucket script (weed shell s3.bucket.list / s3.bucket.create)
# created mlflow-artifacts. `weed shell` exits 1 after 30 s ("cannot connect to master ... within
# 30s") when the master is unreachable, so the `until` loop works; with -ip=127.0.0.1 a `weed
# shell` against a running server intermittently fails the same way, so calls outside the loop
# need retries; boto3 put/get in mlflow-artifacts with the configured keys worked and wrong keys
# got 403.
#
# usage: offline/images/seaweedfs.sh        prints the image reference
set -euo pipefail
# shellcheck source=offline/lib/build.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/build.sh"
builder_init seaweedfs

module=$offline/go/seaweedfs
image=$(image_ref seaweedfs)

# --- 1. weed ---------------------------------------------------------------------------------
version=$(go_module Version "$module" github.com/seaweedfs/seaweedfs)
go_binaries_cached seaweedfs "$version" "$module" 5 github.com/seaweedfs/seaweedfs/weed

# --- 2. image --------------------------------------------------------------------------------
if image_outdated "$image" "$out"; then
  cp "$out/weed" "$ctx/weed"
  cat >"$ctx/Dockerfile" <<'DOCKERFILE'
ARG BASE
FROM ${BASE}
ARG INPUTS_HASH
COPY weed /usr/bin/weed
RUN groupadd -g 1000 seaweedfs && useradd -u 1000 -g 1000 -d /data -M -s /usr/sbin/nologin seaweedfs \
 && mkdir -p /data /etc/seaweedfs && chown 1000:1000 /data
LABEL org.mlops-platform.inputs-hash=${INPUTS_HASH} org.opencontainers.image.version=4.53
WORKDIR /data
USER 1000
ENTRYPOINT ["/usr/bin/weed"]
DOCKERFILE
  docker_build "$image" "$ctx" "$hash"
fi
echo "$image"
