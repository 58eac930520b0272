"""The plugin shipped the ways users pull plugins (proxy-wasm/package.sh):

- both OCI images (the Wasm artifact variant and the "compat" one) are pushed with skopeo to a
  real registry on loopback (Debian's `docker-registry`) and pulled back: the same manifest
  digest, the layers as the variants' specifications lay them out, the module byte-identical;
- Envoy fetches the module from an HTTP server itself (`vm_config.code.remote` with the SHA-256
  that package.sh writes) and serves callbacks with it; with another SHA-256 it loads nothing
  and lets nothing through.

Run: tests/envoy/run.sh (it runs package.sh and installs skopeo and docker-registry).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import pytest

import envoyproxy as e
import sdkcommon as c

OCI_DIR = Path(os.environ.get("TASKGATE_ENVOY_OCI", c.REPO_ROOT / "target/proxy-wasm/oci"))
MODULE = e.PLUGIN
VERSION = json.loads((OCI_DIR / "wasm" / "index.json").read_text())["manifests"][0]["annotations"][
    "org.opencontainers.image.ref.name"] if (OCI_DIR / "wasm" / "index.json").exists() else "missing"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Debian's docker-registry (the CNCF distribution registry) on a loopback port."""
    if shutil.which("docker-registry") is None or shutil.which("skopeo") is None:
        pytest.fail("docker-registry and skopeo are needed (tests/envoy/run.sh installs them)")
    workdir = tmp_path_factory.mktemp("registry")
    port = e.free_port()
    config = workdir / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    with open(workdir / "log", "wb") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError((workdir / "log").read_text())
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        c.stop_group(process)


def skopeo(*args: str) -> str:
    run = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()


def manifest_of(layout: Path) -> tuple[str, dict]:
    descriptor = json.loads((layout / "index.json").read_text())["manifests"][0]
    return descriptor["digest"], json.loads(blob(layout, descriptor["digest"]))


def test_package_writes_the_modules_sha256_and_the_same_images_every_time(tmp_path: Path):
    module = MODULE.read_bytes()
    assert (OCI_DIR / "taskgate.wasm.sha256").read_text().strip() == hashlib.sha256(module).hexdigest()
    again = tmp_path / "again"
    subprocess.run(["python3", str(c.REPO_ROOT / "proxy-wasm/oci.py"), str(MODULE), str(again), VERSION],
                   check=True, capture_output=True)
    for variant in ("wasm", "compat"):
        assert manifest_of(again / variant)[0] == manifest_of(OCI_DIR / variant)[0], variant


@pytest.mark.parametrize("variant", ["wasm", "compat"])
def test_the_image_goes_through_a_registry_and_comes_back_byte_identical(variant: str, registry: str, tmp_path: Path):
    tag = f"{registry}/taskgate:{VERSION}-{variant}"
    local = OCI_DIR / variant
    skopeo("copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", f"oci:{local}:{VERSION}",
           f"docker://{tag}")
    pulled = tmp_path / "pulled"
    skopeo("copy", "--quiet", "--preserve-digests", "--src-tls-verify=false", f"docker://{tag}",
           f"oci:{pulled}:{VERSION}")
    digest, manifest = manifest_of(pulled)
    assert digest == manifest_of(local)[0], "the registry kept the manifest as it was pushed"
    remote = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{tag}"))
    assert remote == manifest
    module = MODULE.read_bytes()
    assert manifest["annotations"]["dev.taskgate.module.sha256"] == hashlib.sha256(module).hexdigest()
    if variant == "wasm":
        # The runtime config (as the manifest's config and the first layer), then the module.
        assert manifest["config"]["mediaType"] == "application/vnd.module.wasm.config.v1+json"
        config = json.loads(blob(pulled, manifest["config"]["digest"]))
        assert config == {"type": "envoy_proxy", "abiVersions": ["0.2.1"], "config": {"root_ids": ["taskgate"]}}
        first, layer = manifest["layers"]
        assert first == manifest["config"]
        assert layer["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm"
        assert blob(pulled, layer["digest"]) == module
    else:
        [layer] = manifest["layers"]
        assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(pulled, layer["digest"])))) as tar:
            assert tar.getnames() == ["plugin.wasm"]
            assert tar.extractfile("plugin.wasm").read() == module


@contextlib.contextmanager
def module_server(module: bytes):
    """A plain HTTP server on loopback with the module at /taskgate.wasm; counts its fetches."""
    fetched = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the stdlib's name)
            fetched.append(self.path)
            if self.path != "/taskgate.wasm":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("content-type", "application/wasm")
            self.send_header("content-length", str(len(module)))
            self.end_headers()
            self.wfile.write(module)

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], fetched
    finally:
        server.shutdown()
        server.server_close()


def test_envoy_fetches_the_module_over_http_with_its_sha256(tmp_path: Path):
    module = MODULE.read_bytes()
    sha256 = (OCI_DIR / "taskgate.wasm.sha256").read_text().strip()
    with c.Recorder(answer="auto") as recorder, module_server(module) as (port, fetched), e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port,
            remote_module=(port, "/taskgate.wasm", sha256)) as envoy:
        result = c.send_tea_rpc(envoy.endpoint, c.make_task_token(str(uuid.uuid4()), 7), "E", "c")
        exc = c.expect_sdk_error(lambda: c.send_with_secret(
            c.LAYOUTS[0], c.WRONG_SECRET, envoy.endpoint, c.make_task_token(str(uuid.uuid4()), 7), "E", "c"))
    assert result.event_id == c.EVENT_ID
    assert c.sdk_error_code(exc) == "SignatureNotMatch", "the fetched plugin checked the call"
    assert "/taskgate.wasm" in fetched
    assert len(recorder.captures) == 1


def test_a_module_whose_sha256_differs_is_not_loaded_and_nothing_goes_through(tmp_path: Path):
    module = MODULE.read_bytes()
    with c.Recorder(answer="auto") as recorder, module_server(module) as (port, fetched), e.Envoy(
            tmp_path, settings=e.plugin_settings(), upstream_port=recorder.port,
            remote_module=(port, "/taskgate.wasm", "0" * 64)) as envoy:
        deadline = time.monotonic() + 30
        while "Plugin taskgate failed to load" not in envoy.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        # The filter stays, failed closed: the caller gets the service's internal error (the
        # shipped local replies), and nothing goes upstream unchecked.
        exc = c.expect_sdk_error(
            lambda: c.send_tea_rpc(envoy.endpoint, c.make_task_token(str(uuid.uuid4()), 7), "E", "c"))
        output = envoy.output()
    assert fetched, "Envoy fetched the module"
    assert "Plugin taskgate failed to load" in output, output[-2000:]
    assert (c.sdk_error_code(exc), c.sdk_error_status(exc)) == ("InternalServerError", 500), repr(exc)
    assert recorder.captures == [], "a request went through a plugin that was not loaded"


def test_the_plugin_reads_its_configuration_as_json_too(tmp_path: Path):
    """Istio's pluginConfig, Envoy Gateway's config and Higress's defaultConfig are JSON objects."""
    import tomllib

    settings = json.dumps(tomllib.loads(e.plugin_settings()))
    with c.Recorder(answer="auto") as recorder, e.Envoy(
            tmp_path, settings=settings, upstream_port=recorder.port) as envoy:
        result = c.send_tea_rpc(envoy.endpoint, c.make_task_token(str(uuid.uuid4()), 7), "E", "c")
        exc = c.expect_sdk_error(lambda: c.send_with_secret(
            c.LAYOUTS[0], c.WRONG_SECRET, envoy.endpoint, c.make_task_token(str(uuid.uuid4()), 7), "E", "c"))
    assert settings.startswith("{")
    assert result.event_id == c.EVENT_ID
    assert c.sdk_error_code(exc) == "SignatureNotMatch"
    assert len(recorder.captures) == 1
