"""Packs the Envoy plugin as OCI images, the way Istio, Envoy Gateway and Higress pull Wasm
plugins, and writes the module's SHA-256 for Envoy's own `vm_config.code.remote`.

    python3 proxy-wasm/oci.py MODULE OUT VERSION

writes two OCI image layouts (a directory each: `oci-layout`, `index.json`, `blobs/sha256/`),
tagged VERSION, which `skopeo copy oci:OUT/wasm:VERSION docker://REGISTRY/taskgate:VERSION`
pushes as they are:

- OUT/wasm: the Wasm artifact variant: an `application/vnd.module.wasm.config.v1+json` runtime
  config (runtime `envoy_proxy`, the plugin's root id), as the manifest's config and its first
  layer, then one `application/vnd.module.wasm.content.layer.v1+wasm` layer, the module's bytes;
- OUT/compat: the "compat" variant, for registries and tools that know only container images:
  one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding `plugin.wasm`, and the
  manifest annotation `module.wasm.image/variant: compat`;

and OUT/taskgate.wasm.sha256 (the module's SHA-256, hex). The same module gives the same bytes
every time (no timestamps, fixed owners and modes), so an image's digest names its module.
Only the standard library: the image is a few JSON files and one tar.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

ROOT_ID = "taskgate"
# The proxy-wasm ABI the plugin is built for (the Rust SDK's).
ABI_VERSION = "0.2.1"

WASM_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
IMAGE_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def canonical(value: dict) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """An OCI image layout being written: blobs by digest, then one tagged manifest."""

    def __init__(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        (path / "blobs" / "sha256").mkdir(parents=True)
        (path / "oci-layout").write_bytes(canonical({"imageLayoutVersion": "1.0.0"}))
        self.path = path

    def blob(self, media_type: str, data: bytes, **annotations: str) -> dict:
        digest = hashlib.sha256(data).hexdigest()
        (self.path / "blobs" / "sha256" / digest).write_bytes(data)
        descriptor = {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}
        if annotations:
            descriptor["annotations"] = annotations
        return descriptor

    def tag(self, manifest: dict, version: str) -> str:
        descriptor = self.blob(MANIFEST, canonical(manifest))
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": version}
        (self.path / "index.json").write_bytes(canonical(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [descriptor]}))
        return descriptor["digest"]


def annotations(version: str, sha256: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": "taskgate",
        "org.opencontainers.image.description": "taskgate: workflow task callbacks checked at the edge (proxy-wasm plugin)",
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        # The module's own SHA-256, for Envoy's `vm_config.code.remote.sha256`.
        "dev.taskgate.module.sha256": sha256,
    }


def wasm_variant(out: Path, module: bytes, version: str, sha256: str) -> str:
    layout = Layout(out)
    config = layout.blob(WASM_CONFIG, canonical(
        {"type": "envoy_proxy", "abiVersions": [ABI_VERSION], "config": {"root_ids": [ROOT_ID]}}),
        **{"org.opencontainers.image.title": "runtime-config.json"})
    layer = layout.blob(WASM_LAYER, module, **{"org.opencontainers.image.title": "plugin.wasm"})
    # Two layers, the runtime config then the module, as the specification lays them out and
    # as Istio's fetcher (which Envoy Gateway and Higress share) requires; the config is also
    # the manifest's config, whose media type tells the fetcher this variant.
    return layout.tag({"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [config, layer],
                       "annotations": annotations(version, sha256)}, version)


def plugin_tar(module: bytes) -> bytes:
    """`plugin.wasm` alone in a tar, with nothing that changes from one build to the next."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("plugin.wasm")
        info.size, info.mode, info.mtime = len(module), 0o644, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(module))
    return buffer.getvalue()


def compat_variant(out: Path, module: bytes, version: str, sha256: str) -> str:
    layout = Layout(out)
    tar = plugin_tar(module)
    # mtime 0 and no file name in the gzip header: the same tar compresses to the same bytes.
    compressed = gzip.compress(tar, compresslevel=9, mtime=0)
    layer = layout.blob(IMAGE_LAYER, compressed)
    config = layout.blob(IMAGE_CONFIG, canonical({
        "architecture": "wasm", "os": "wasip1",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(tar).hexdigest()}"]},
    }))
    return layout.tag({"schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": [layer],
                       "annotations": {**annotations(version, sha256), "module.wasm.image/variant": "compat"}},
                      version)


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: oci.py MODULE OUT VERSION")
    module_path, out, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    module = module_path.read_bytes()
    if module[:4] != b"\0asm":
        sys.exit(f"{module_path}: not a wasm module")
    sha256 = hashlib.sha256(module).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    (out / "taskgate.wasm.sha256").write_text(sha256 + "\n")
    wasm = wasm_variant(out / "wasm", module, version, sha256)
    compat = compat_variant(out / "compat", module, version, sha256)
    print(f"module sha256:{sha256}")
    print(f"oci:{out / 'wasm'}:{version} {wasm}")
    print(f"oci:{out / 'compat'}:{version} {compat}")


if __name__ == "__main__":
    main()
