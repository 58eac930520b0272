#!/usr/bin/env bash
# Packs the Envoy plugin the ways users ship plugins (docs/envoy.md, "Shipping the plugin"):
# builds it (proxy-wasm/build.sh), then writes, under target/proxy-wasm/oci/,
#   wasm/               an OCI image layout: the Wasm artifact variant (runtime config, module)
#   compat/             an OCI image layout: the "compat" variant (one layer holding plugin.wasm);
#                       Istio, Envoy Gateway and Higress pull either
#   taskgate.wasm.sha256  the module's SHA-256, for Envoy's own vm_config.code.remote
# both images tagged with the workspace's version (proxy-wasm/oci.py says what is in them).
#
#   bash proxy-wasm/package.sh                          build and pack
#   bash proxy-wasm/package.sh --push REGISTRY/REPO     also push both with skopeo, as
#                                                       REPO:VERSION and REPO:VERSION-compat
# (skopeo's own flags, such as --dest-creds or --dest-tls-verify=false, go in SKOPEO_FLAGS.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

module="$(bash proxy-wasm/build.sh)"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
out=target/proxy-wasm/oci
python3 proxy-wasm/oci.py "$module" "$out" "$version" >&2
if [ "${1:-}" = "--push" ]; then
    repository="${2:?usage: package.sh --push REGISTRY/REPO}"
    # shellcheck disable=SC2086
    skopeo copy --quiet --preserve-digests ${SKOPEO_FLAGS:-} "oci:$out/wasm:$version" "docker://$repository:$version"
    # shellcheck disable=SC2086
    skopeo copy --quiet --preserve-digests ${SKOPEO_FLAGS:-} "oci:$out/compat:$version" \
        "docker://$repository:$version-compat"
    echo "pushed $repository:$version and $repository:$version-compat" >&2
fi
echo "$PWD/$out"
