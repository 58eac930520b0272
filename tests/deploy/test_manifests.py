"""The manifests that pull the plugin as an OCI image into a mesh or gateway, held to what can be
checked without a cluster:

- deploy/istio/wasmplugin.yaml (Istio's WasmPlugin and an EnvoyFilter for the buffer filter),
- deploy/envoy-gateway/envoyextensionpolicy.yaml (Envoy Gateway's EnvoyExtensionPolicy, a
  BackendTrafficPolicy and an EnvoyProxy for the buffer filter and the secrets),
- deploy/higress/wasmplugin.yaml (Higress's WasmPlugin and an EnvoyFilter for the buffer filter).

Every YAML document of each file is loaded and picked by apiVersion and kind. The WasmPlugins and
the EnvoyExtensionPolicy are validated, their `spec` and the whole object, against the
openAPIV3Schema their projects publish in their CustomResourceDefinitions, copied unchanged
into tests/fixtures/crd-schemas/ (each file's `$comment` names the repository, file, release tag
and commit), with the `jsonschema` package (Draft 7: the OpenAPI v3 subset these schemas use).
jsonschema ignores the Kubernetes extensions: `x-kubernetes-validations` (CEL rules),
`x-kubernetes-list-type`, `x-kubernetes-int-or-string`, OpenAPI's `nullable` and `format`. Two of
their effects are put back here: a field a structural schema does not declare (and does not
mark `x-kubernetes-preserve-unknown-fields`) is refused, as Kubernetes' strict field validation
refuses it (jsonschema alone accepts it); and the CEL rules that bear on these manifests are
checked by hand (one of selector/targetRef/targetRefs, no value for a HOST variable, a url
scheme Istio takes; Envoy Gateway's targetRefs and code.type rules).

The other documents (EnvoyFilter, BackendTrafficPolicy, EnvoyProxy) have no schema here: their
shape is checked with explicit asserts (the filter inserted, where, its limit).

What jsonschema cannot check, checked here: the image url (oci://, the repository taskgate, the
tag the workspace's version from Cargo.toml, in the variant the gateways' image fetchers read,
and, when package.sh's images are on disk, that variant read as those fetchers read it); the
sha256 (64 hex digits); pluginName / rootID the plugin's root id; the plugin's configuration
(JSON values only, every key one the plugin reads inside Envoy, per proxy-wasm/src/settings.rs
and guest/src/config_file.rs, within its bounds, no inline secret, the same settings as
deploy/envoy/envoy.yaml's plugin configuration); every secret_env exposed by the manifest's
environment; and the configuration accepted by the plugin itself, as the JSON text the gateways
hand it, in the real Envoy (`envoy --mode validate`, when the SDK venv's envoy and the built
plugin are there: tests/envoy/run.sh provides both).

Nothing here is applied to a cluster: whether Istio, Envoy Gateway or Higress accept and run these
resources (the CEL rules, the filter order they produce, the image pull) is not tested.
"""

from __future__ import annotations

import ast
import copy
import gzip
import hashlib
import io
import json
import operator
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "tests" / "fixtures" / "crd-schemas"
ENVOY_YAML = REPO / "deploy" / "envoy" / "envoy.yaml"
VERSION = tomllib.loads((REPO / "Cargo.toml").read_text(encoding="utf-8"))["workspace"]["package"]["version"]
ROOT_ID = "taskgate"

ISTIO = "deploy/istio/wasmplugin.yaml"
ENVOY_GATEWAY = "deploy/envoy-gateway/envoyextensionpolicy.yaml"
HIGRESS = "deploy/higress/wasmplugin.yaml"
MANIFESTS = [ISTIO, ENVOY_GATEWAY, HIGRESS]

ISTIO_WASM = ("extensions.istio.io/v1alpha1", "WasmPlugin")
EG_POLICY = ("gateway.envoyproxy.io/v1alpha1", "EnvoyExtensionPolicy")
HIGRESS_WASM = ("extensions.higress.io/v1alpha1", "WasmPlugin")
ENVOY_FILTER = ("networking.istio.io/v1alpha3", "EnvoyFilter")
EG_BACKEND_POLICY = ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy")
EG_PROXY = ("gateway.envoyproxy.io/v1alpha1", "EnvoyProxy")

# The published schema of each kind that has one here.
SCHEMA_FILES = {
    ISTIO_WASM: "istio-wasmplugin.json",
    EG_POLICY: "envoy-gateway-envoyextensionpolicy.json",
    HIGRESS_WASM: "higress-wasmplugin.json",
}
# The kinds each file holds, in order.
EXPECTED_KINDS = {
    ISTIO: [ISTIO_WASM, ENVOY_FILTER],
    ENVOY_GATEWAY: [EG_POLICY, EG_BACKEND_POLICY, EG_PROXY],
    HIGRESS: [HIGRESS_WASM, ENVOY_FILTER],
}

# What the plugin reads inside Envoy (proxy-wasm/src/settings.rs; the fields are
# guest/src/config_file.rs's): section -> field -> allowed values (a set of choices, or "int" for
# a bounded whole number, "str" for a non-empty string). Anything else is refused by the plugin
# (an unknown field) or means nothing inside Envoy (settings.rs's MEANINGLESS).
PLUGIN_TABLES = {
    "limits": {"max_body_bytes": "int", "max_aws_body_bytes": "int", "max_clock_skew_seconds": "int"},
    "serve": {
        "other_calls": {"authenticate", "reject", "forward"},
        "temporary_credentials": {"refuse", "forward"},
        "mode": {"enforce", "shadow"},
    },
    "ledger": {"retention_hours": "int"},
    # Only `kind = "none"` (remember nothing) means something inside Envoy.
    "store": {"kind": {"none"}},
}
PLUGIN_LISTS = {
    "access_keys": {"id": "str", "account": "str", "secret": "str", "secret_env": "str"},
    "token_keys": {"account": "str", "secret": "str", "secret_env": "str"},
}
PLUGIN_SECTIONS = set(PLUGIN_TABLES) | set(PLUGIN_LISTS)
# The Rust struct each section is read into.
RUST_STRUCTS = {
    "limits": "LimitsFile", "serve": "ServeFile", "ledger": "LedgerFile", "store": "StoreFile",
    "access_keys": "AccessKeyFile", "token_keys": "TokenKeyFile",
}


# ---------------------------------------------------------------------------------------------
# loading


def documents(path: str) -> list[dict]:
    docs = [doc for doc in yaml.safe_load_all((REPO / path).read_text(encoding="utf-8")) if doc is not None]
    assert docs, f"{path}: no YAML document"
    return docs


def kind_of(doc: dict) -> tuple[str, str]:
    return doc.get("apiVersion"), doc.get("kind")


def the(path: str, kind: tuple[str, str]) -> dict:
    found = [doc for doc in documents(path) if kind_of(doc) == kind]
    assert len(found) == 1, f"{path}: {len(found)} documents of {kind}"
    return found[0]


def published_schema(kind: tuple[str, str]) -> dict:
    schema = json.loads((SCHEMAS / SCHEMA_FILES[kind]).read_text(encoding="utf-8"))
    comment = schema.get("$comment", "")
    assert "License: Apache-2.0" in comment and "commit" in comment, f"{SCHEMA_FILES[kind]}: $comment {comment!r}"
    return schema


def kubernetes_strict(schema, root: bool = False):
    """The schema as Kubernetes applies it to what is sent: an object's fields must be ones it
    declares unless it preserves unknown fields (structural schemas prune the others, and strict
    field validation refuses them); at the root, apiVersion, kind and metadata are always
    allowed."""
    if isinstance(schema, list):
        return [kubernetes_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: kubernetes_strict(value) for key, value in schema.items()}
    if root:
        properties = dict(out.get("properties", {}))
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties.setdefault("metadata", {"type": "object"})
        out["properties"] = properties
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def schema_errors(schema: dict, instance) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in sorted(validator.iter_errors(instance), key=lambda error: list(map(str, error.path)))]


def envoy_yaml() -> dict:
    return yaml.safe_load(ENVOY_YAML.read_text(encoding="utf-8"))


def envoy_http_filters() -> list[dict]:
    listener = envoy_yaml()["static_resources"]["listeners"][0]
    [hcm] = [f for f in listener["filter_chains"][0]["filters"]
             if f["name"] == "envoy.filters.network.http_connection_manager"]
    return hcm["typed_config"]["http_filters"]


def envoy_plugin() -> dict:
    [wasm] = [f for f in envoy_http_filters() if f["name"] == "envoy.filters.http.wasm"]
    return wasm["typed_config"]["config"]


def envoy_buffer_bytes() -> int:
    [buffer] = [f for f in envoy_http_filters() if f["name"] == "envoy.filters.http.buffer"]
    return buffer["typed_config"]["max_request_bytes"]


# ---------------------------------------------------------------------------------------------
# what each manifest says about the plugin


def plugin_of(path: str) -> dict:
    """The plugin's image, root id, configuration and exposed environment, as `path` gives them."""
    if path == ENVOY_GATEWAY:
        spec = the(path, EG_POLICY)["spec"]
        [wasm] = [entry for entry in spec["wasm"] if entry.get("rootID") == ROOT_ID]
        image = wasm["code"]["image"]
        return {"url": image["url"], "sha256": image.get("sha256"), "root_id": wasm.get("rootID"),
                "config": wasm.get("config"), "env": list(wasm.get("env", {}).get("hostKeys", []))}
    spec = the(path, ISTIO_WASM if path == ISTIO else HIGRESS_WASM)["spec"]
    config = spec.get("pluginConfig") if path == ISTIO else spec.get("defaultConfig")
    env = spec.get("vmConfig", {}).get("env", [])
    return {"url": spec["url"], "sha256": spec.get("sha256"), "root_id": spec.get("pluginName"),
            "config": config, "env": [var["name"] for var in env if var.get("valueFrom") == "HOST"]}


def configuration_text(path: str, config) -> str:
    """The configuration as the gateway hands it to the plugin: Envoy Gateway passes the JSON
    as stored; Istio turns the Struct into JSON (golang/protobuf's jsonpb: keys sorted, whole
    numbers without a fraction); Higress first adds its matchRules, as `_rules_`
    (pkg/ingress/config/ingress_config.go, convertIstioWasmPlugin), then does as Istio."""
    if path == ENVOY_GATEWAY:
        return json.dumps(config)
    if path == HIGRESS:
        spec = the(HIGRESS, HIGRESS_WASM)["spec"]
        if spec.get("pluginConfig") is not None:
            config = spec["pluginConfig"]
        rules = []
        for rule in spec.get("matchRules", []):
            if rule.get("configDisable"):
                continue
            entry = dict(rule.get("config") or {})
            for field, key in (("ingress", "_match_route_"), ("service", "_match_service_"), ("domain", "_match_domain_")):
                if rule.get(field):
                    entry[key] = rule[field]
            rules.append(entry)
        if rules:
            config = {**(config or {}), "_rules_": rules}
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# the documents and their published schemas


@pytest.mark.parametrize("path", MANIFESTS)
def test_each_file_holds_the_documents_it_should(path: str):
    docs = documents(path)
    assert [kind_of(doc) for doc in docs] == EXPECTED_KINDS[path]
    for doc in docs:
        name = doc.get("metadata", {}).get("name", "")
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name) and len(name) <= 253, name
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"].get("namespace", "")), doc["metadata"]


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_published_schema_accepts_the_spec_and_the_whole_object(path: str):
    checked = 0
    for doc in documents(path):
        kind = kind_of(doc)
        if kind not in SCHEMA_FILES:
            continue
        schema = published_schema(kind)
        strict = kubernetes_strict(schema, root=True)
        for errors in (schema_errors(strict["properties"]["spec"], doc["spec"]),
                       schema_errors(strict, doc),
                       # the published schema as it is, too (no additionalProperties added)
                       schema_errors(schema, doc)):
            assert not errors, f"{path} {kind[1]}: {errors}"
        checked += 1
    assert checked == 1


def test_the_schema_check_refuses_what_kubernetes_refuses():
    """The check itself: a wrong enum, a wrong type, a misspelled field are each refused."""
    doc = the(ISTIO, ISTIO_WASM)
    strict = kubernetes_strict(published_schema(ISTIO_WASM), root=True)
    for change, where in [
        (lambda spec: spec.update(failStrategy="FAIL_WHATEVER"), "failStrategy"),
        (lambda spec: spec.update(priority="high"), "priority"),
        (lambda spec: spec.update(pluginname=spec.pop("pluginName")), "spec"),
        (lambda spec: spec.update(sha256="not-hex"), "sha256"),
        (lambda spec: spec["vmConfig"]["env"][0].update(valueFrom="SECRET"), "valueFrom"),
    ]:
        broken = copy.deepcopy(doc)
        change(broken["spec"])
        errors = schema_errors(strict, broken)
        assert errors and any(where in error for error in errors), (where, errors)
    broken = copy.deepcopy(the(ENVOY_GATEWAY, EG_POLICY))
    broken["spec"]["wasm"][0]["failOpen"] = "no"
    assert schema_errors(kubernetes_strict(published_schema(EG_POLICY), root=True), broken)


def test_istio_cel_rules():
    spec = the(ISTIO, ISTIO_WASM)["spec"]
    # only one of targetRefs or selector can be set
    assert sum(key in spec for key in ("selector", "targetRef", "targetRefs")) <= 1
    # url must have schema one of [http, https, file, oci]
    assert re.match(r"(oci|https?|file)://", spec["url"]) or "://" not in spec["url"]
    for var in spec.get("vmConfig", {}).get("env", []):
        # value may only be set when valueFrom is INLINE
        assert var.get("valueFrom") != "HOST" or "value" not in var, var
    for ref in spec.get("targetRefs", []) + ([spec["targetRef"]] if "targetRef" in spec else []):
        assert not ref.get("namespace"), "cross namespace referencing is not currently supported"


def test_envoy_gateway_cel_rules():
    spec = the(ENVOY_GATEWAY, EG_POLICY)["spec"]
    routes = {"HTTPRoute", "GRPCRoute", "UDPRoute", "TCPRoute", "TLSRoute"}
    # either targetRef or targetRefs must be used
    assert ("targetRef" in spec) != ("targetRefs" in spec) or spec.get("targetSelectors")
    for ref in spec.get("targetRefs", []) + ([spec["targetRef"]] if "targetRef" in spec else []):
        assert ref["group"] == "gateway.networking.k8s.io", ref
        assert ref["kind"] in routes | {"Gateway", "ListenerSet"}, ref
    for wasm in spec["wasm"]:
        code = wasm["code"]
        # If type is HTTP, http field needs to be set; if type is Image, image field needs to be set.
        assert (code["type"] == "HTTP") == ("http" in code), code
        assert (code["type"] == "Image") == ("image" in code), code
        if "pullSecretRef" in code.get("image", {}):
            assert code["image"]["pullSecretRef"].get("kind", "Secret") == "Secret"


def test_higress_takes_no_match_rules():
    """Higress hands matchRules to the plugin inside its configuration (`_rules_`), for plugins
    built on its SDK to match; taskgate refuses a key it does not know and would not start."""
    spec = the(HIGRESS, HIGRESS_WASM)["spec"]
    assert "matchRules" not in spec
    # With pluginConfig set, Higress would ignore defaultConfig.
    assert "pluginConfig" not in spec and not spec.get("defaultConfigDisable")


# ---------------------------------------------------------------------------------------------
# the image


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_image_is_the_workspace_version_of_taskgate(path: str):
    plugin = plugin_of(path)
    url = plugin["url"]
    if path == ENVOY_GATEWAY:
        # Envoy Gateway documents registry/image:tag and adds oci:// itself.
        url = url if url.startswith("oci://") else "oci://" + url
    match = re.fullmatch(r"oci://([^/@]+(?:/[^/@:]+)*)/([^/@:]+):([^/@:]+)", url)
    assert match, f"{path}: {plugin['url']!r} is not oci://REGISTRY/REPO:TAG"
    _registry, repository, tag = match.groups()
    assert repository == "taskgate", url
    assert tag in (VERSION, f"{VERSION}-compat"), f"{path}: tag {tag!r}, the workspace is at {VERSION}"
    assert re.fullmatch(r"[0-9a-f]{64}", plugin["sha256"] or ""), f"{path}: sha256 {plugin['sha256']!r}"
    assert plugin["root_id"] == ROOT_ID


def oci_layout() -> Path | None:
    given = os.environ.get("TASKGATE_ENVOY_OCI")
    layout = Path(given) if given else REPO / "target" / "proxy-wasm" / "oci"
    if given:
        assert (layout / "compat" / "index.json").exists(), f"TASKGATE_ENVOY_OCI={given} holds no images"
    return layout if (layout / "compat" / "index.json").exists() else None


def fetched_module(layout: Path) -> bytes:
    """The module, read from an OCI image layout as the image fetchers of Istio 1.30, Envoy
    Gateway 1.9 and Higress 2.2 (Istio 1.27's) read an image (pkg/wasm/imagefetcher.go): a
    Docker manifest's last layer; else the "compat" variant (the last layer an OCI tar+gzip
    holding plugin.wasm); else the "oci" variant (exactly two layers, one of them the module)."""
    def blob(digest: str) -> bytes:
        data = (layout / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_bytes()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        return data

    [descriptor] = json.loads((layout / "index.json").read_text())["manifests"]
    assert descriptor["annotations"]["org.opencontainers.image.ref.name"] == VERSION
    manifest = json.loads(blob(descriptor["digest"]))
    assert manifest.get("mediaType") != "application/vnd.docker.distribution.manifest.v2+json"
    layers = manifest["layers"]
    assert layers, "number of layers must be greater than zero"
    if layers[-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip":
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layers[-1]["digest"])))) as tar:
            for member in tar:
                if Path(member.name).name == "plugin.wasm":
                    return tar.extractfile(member).read()
        raise AssertionError("plugin.wasm not found in the archive")
    assert len(layers) == 2, f"number of layers must be 2 but got {len(layers)}"
    [wasm] = [layer for layer in layers if layer["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm"]
    return blob(wasm["digest"])


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_image_variant_named_is_one_the_fetcher_reads(path: str):
    layout = oci_layout()
    if layout is None:
        pytest.skip("no images of package.sh here (tests/envoy/run.sh makes them)")
    tag = plugin_of(path)["url"].rsplit(":", 1)[1]
    module = fetched_module(layout / ("compat" if tag.endswith("-compat") else "wasm"))
    assert module[:4] == b"\0asm"
    assert hashlib.sha256(module).hexdigest() == (layout / "taskgate.wasm.sha256").read_text().strip()


@pytest.mark.parametrize("variant", ["wasm", "compat"])
def test_both_image_variants_are_read_by_the_fetchers(variant: str):
    layout = oci_layout()
    if layout is None:
        pytest.skip("no images of package.sh here (tests/envoy/run.sh makes them)")
    module = fetched_module(layout / variant)
    assert hashlib.sha256(module).hexdigest() == (layout / "taskgate.wasm.sha256").read_text().strip()


# ---------------------------------------------------------------------------------------------
# the plugin's configuration


def configuration_problems(config) -> list[str]:
    """What the plugin would refuse, or what means nothing inside Envoy, in `config`; and
    inline secrets, which a manifest must not carry."""
    problems = []
    if not isinstance(config, dict):
        return [f"not an object: {config!r}"]
    if json.loads(json.dumps(config)) != config:
        problems.append("values that are not JSON")
    bounds = plugin_bounds()

    def value_problem(at: str, kind, value) -> str | None:
        if kind == "int":
            low, high = bounds[at]
            if type(value) is not int or not low <= value <= high:
                return f"{at} = {value!r}: a whole number from {low} to {high}"
        elif kind == "str":
            if not isinstance(value, str) or not value:
                return f"{at} = {value!r}: a non-empty string"
        elif value not in kind:
            return f"{at} = {value!r}: one of {sorted(kind)}"
        return None

    def field_problems(at: str, fields: dict, kinds: dict) -> list[str]:
        """What is wrong with one table's fields: a field the plugin does not read, or a value it
        would refuse."""
        problems = []
        for field, value in fields.items():
            kind = kinds.get(field)
            problem = (f"{at}.{field}: not read by the plugin" if kind is None
                       else value_problem(f"{at}.{field}", kind, value))
            if problem:
                problems.append(problem)
        return problems

    for section, body in config.items():
        if section not in PLUGIN_SECTIONS:
            problems.append(f"{section}: not a section the plugin reads inside Envoy")
        elif section in PLUGIN_TABLES:
            if not isinstance(body, dict):
                problems.append(f"{section}: not an object")
                continue
            problems += field_problems(section, body, PLUGIN_TABLES[section])
        else:
            if not isinstance(body, list):
                problems.append(f"{section}: not a list")
                continue
            for i, entry in enumerate(body):
                at = f"{section}[{i}]"
                if not isinstance(entry, dict):
                    problems.append(f"{at}: not an object")
                    continue
                problems += field_problems(at, entry, PLUGIN_LISTS[section])
                for field in set(PLUGIN_LISTS[section]) - {"secret", "secret_env"}:
                    if field not in entry:
                        problems.append(f"{at}.{field}: missing")
                if "secret" in entry:
                    problems.append(f"{at}.secret: inline (the resource and /config_dump show it): use secret_env")
                if "secret_env" not in entry:
                    problems.append(f"{at}: no secret_env")
    ids = [entry.get("id") for entry in config.get("access_keys", []) if isinstance(entry, dict)]
    if len(ids) != len(set(ids)):
        problems.append("access_keys: an id twice")
    return problems


def plugin_bounds() -> dict[str, tuple[int, int]]:
    """The bounds of the whole-number settings, from guest/src/bounds.rs."""
    text = (REPO / "guest" / "src" / "bounds.rs").read_text(encoding="utf-8")
    bounds = {}
    for name, low, high in re.findall(
            r'name:\s*"([a-z_.]+)",\s*default:[^,]+,\s*min:\s*([^,]+),\s*max:\s*([^,]+),', text):
        bounds[name] = (whole_number(low), whole_number(high))
    return bounds


def whole_number(expression: str) -> int:
    """A Rust constant expression of whole numbers, `*`, `+` and `<<` (`16 << 20`, `24 * 3600`)."""
    operators = {ast.Mult: operator.mul, ast.Add: operator.add, ast.LShift: operator.lshift}

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            return operators[type(node.op)](value(node.left), value(node.right))
        raise AssertionError(f"not a whole-number expression: {expression!r}")

    return value(ast.parse(expression.strip(), mode="eval").body)


def secret_envs(config: dict) -> set[str]:
    return {entry["secret_env"] for section in PLUGIN_LISTS for entry in config.get(section, [])
            if isinstance(entry, dict) and "secret_env" in entry}


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_configuration_uses_only_what_the_plugin_reads(path: str):
    config = plugin_of(path)["config"]
    assert not configuration_problems(config), configuration_problems(config)


@pytest.mark.parametrize("path", MANIFESTS)
def test_every_secret_env_is_exposed_to_the_plugin(path: str):
    plugin = plugin_of(path)
    names = secret_envs(plugin["config"])
    assert names, "no secret_env: the secrets would be inline"
    assert names <= set(plugin["env"]), f"{path}: {sorted(names - set(plugin['env']))} not exposed"
    assert len(plugin["env"]) == len(set(plugin["env"]))


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_settings_are_those_of_the_shipped_envoy_yaml(path: str):
    shipped = envoy_plugin()
    settings = tomllib.loads(shipped["configuration"]["value"])
    plugin = plugin_of(path)
    assert plugin["config"] == settings
    assert set(plugin["env"]) == set(shipped["vm_config"]["environment_variables"]["host_env_keys"])
    assert plugin["root_id"] == shipped["root_id"]


def test_the_problem_finder_finds_problems():
    """The configuration check itself, on envoy.yaml's settings."""
    good = tomllib.loads(envoy_plugin()["configuration"]["value"])
    assert not configuration_problems(good)
    for change, want in [
        (lambda c: c.update(sandbox={"deadline_ms": 5}), "sandbox"),
        (lambda c: c.update(_rules_=[{"_match_domain_": ["cn-hangzhou.fnf.aliyuncs.com"]}]), "_rules_"),
        (lambda c: c["serve"].update(listen="127.0.0.1:1"), "serve.listen"),
        (lambda c: c["limits"].update(max_body_bytes=65536.0), "limits.max_body_bytes"),
        (lambda c: c["limits"].update(max_body_bytes=0), "limits.max_body_bytes"),
        (lambda c: c["serve"].update(other_calls="maybe"), "serve.other_calls"),
        (lambda c: c["access_keys"][0].update(secret="inline"), "access_keys[0].secret"),
        (lambda c: c["access_keys"][0].update(rate_per_second=1.0), "access_keys[0].rate_per_second"),
        (lambda c: c.update(store={"kind": "redis"}), "store.kind"),
    ]:
        broken = copy.deepcopy(good)
        change(broken)
        assert any(want in problem for problem in configuration_problems(broken)), (want, configuration_problems(broken))


def test_the_tables_above_agree_with_the_plugins_source():
    """Every section and field the tables allow is one guest/src/config_file.rs reads and
    proxy-wasm/src/settings.rs neither refuses (MEANINGLESS) nor leaves out (its `[serve]`
    settings are UNDERSTOOD)."""
    source = (REPO / "guest" / "src" / "config_file.rs").read_text(encoding="utf-8")

    def fields(struct: str) -> set[str]:
        body = re.search(rf"pub struct {struct} \{{(.*?)\n\}}", source, re.S)
        assert body, struct
        return set(re.findall(r"pub (\w+):", body.group(1)))

    assert PLUGIN_SECTIONS <= fields("File")
    for section, allowed in {**PLUGIN_TABLES, **PLUGIN_LISTS}.items():
        assert set(allowed) <= fields(RUST_STRUCTS[section]), section
    settings = (REPO / "proxy-wasm" / "src" / "settings.rs").read_text(encoding="utf-8")
    meaningless_block = settings.split("const MEANINGLESS", 1)[1].split("];", 1)[0]
    meaningless = set(re.findall(r'\(\s*"([a-z_.]+)",', meaningless_block))
    assert "serve.listen" in meaningless and "sandbox" in meaningless
    allowed_names = {f"{s}.{f}" for s, fs in {**PLUGIN_TABLES, **PLUGIN_LISTS}.items() for f in fs} | PLUGIN_SECTIONS
    assert allowed_names & meaningless == {"store.kind"}  # allowed only as kind = "none"
    understood = set(re.findall(r'"(serve\.\w+)"', settings.split("const UNDERSTOOD", 1)[1].split("];", 1)[0]))
    assert {f"serve.{field}" for field in PLUGIN_TABLES["serve"]} == understood
    assert set(plugin_bounds()) >= {f"{s}.{f}" for s, fs in PLUGIN_TABLES.items() for f, k in fs.items() if k == "int"}


def envoy_and_plugin() -> tuple[str, Path] | None:
    envoy = os.environ.get("TASKGATE_ENVOY") or str(Path(sys.executable).with_name("envoy"))
    plugin = Path(os.environ.get("TASKGATE_ENVOY_PLUGIN") or REPO / "target" / "proxy-wasm" / "taskgate.wasm")
    if os.environ.get("TASKGATE_ENVOY_PLUGIN"):
        assert plugin.exists() and Path(envoy).exists(), (envoy, plugin)
    return (envoy, plugin) if plugin.exists() and Path(envoy).exists() else None


@pytest.mark.parametrize("path", MANIFESTS)
def test_the_plugin_accepts_the_configuration_in_the_real_envoy(path: str, tmp_path: Path):
    found = envoy_and_plugin()
    if found is None:
        pytest.skip("no envoy or built plugin here (tests/envoy/run.sh provides both)")
    envoy, module = found
    plugin = plugin_of(path)
    wasm = {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": ROOT_ID, "root_id": plugin["root_id"],
                "vm_config": {"runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": str(module)}},
                              "environment_variables": {"host_env_keys": plugin["env"]}},
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                  "value": configuration_text(path, plugin["config"])},
            },
        },
    }
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "deploy",
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                                            "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]},
        "http_filters": [wasm,
                         {"name": "envoy.filters.http.buffer", "typed_config": {
                             "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                             "max_request_bytes": envoy_buffer_bytes()}},
                         {"name": "envoy.filters.http.router", "typed_config": {
                             "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
    }
    bootstrap = {"static_resources": {"listeners": [{
        "name": "deploy", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
        "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }]}}
    config = tmp_path / "envoy.json"
    config.write_text(json.dumps(bootstrap), encoding="utf-8")
    env = {**os.environ, **{name: "not-a-real-secret" for name in plugin["env"]}}
    run = subprocess.run([envoy, "--mode", "validate", "-c", str(config), "--use-dynamic-base-id"],
                         capture_output=True, text=True, timeout=120, env=env)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "OK" in output, "\n".join(line for line in output.splitlines() if "taskgate" in line) or output


# ---------------------------------------------------------------------------------------------
# the buffer filter after the plugin


def largest_request_a_plugin_answers() -> int:
    """The largest body limit plus one read from a connection: the buffer must hold more."""
    settings = tomllib.loads(envoy_plugin()["configuration"]["value"])["limits"]
    listener = envoy_yaml()["static_resources"]["listeners"][0]
    return max(settings["max_body_bytes"], settings["max_aws_body_bytes"]) + listener["per_connection_buffer_limit_bytes"]


@pytest.mark.parametrize("path", [ISTIO, HIGRESS])
def test_the_envoy_filter_puts_the_buffer_filter_before_the_router(path: str):
    """No published schema here for EnvoyFilter: its shape, by hand."""
    envoy_filter = the(path, ENVOY_FILTER)
    spec = envoy_filter["spec"]
    assert set(spec) <= {"workloadSelector", "configPatches", "priority", "targetRefs"}
    if path == ISTIO:
        # The same proxies as the WasmPlugin's.
        assert spec["workloadSelector"]["labels"] == the(ISTIO, ISTIO_WASM)["spec"]["selector"]["matchLabels"]
    else:
        assert spec["workloadSelector"]["labels"] == {"higress": f"{envoy_filter['metadata']['namespace']}-higress-gateway"}
        assert envoy_filter["metadata"]["namespace"] == the(HIGRESS, HIGRESS_WASM)["metadata"]["namespace"]
    [patch] = spec["configPatches"]
    assert set(patch) == {"applyTo", "match", "patch"}
    assert patch["applyTo"] == "HTTP_FILTER"
    assert patch["match"]["context"] == "GATEWAY"
    chain_filter = patch["match"]["listener"]["filterChain"]["filter"]
    assert chain_filter["name"] == "envoy.filters.network.http_connection_manager"
    # Every WasmPlugin phase is before the router: inserted there, the buffer follows the plugin.
    assert chain_filter["subFilter"]["name"] == "envoy.filters.http.router"
    assert patch["patch"]["operation"] == "INSERT_BEFORE"
    value = patch["patch"]["value"]
    assert set(value) == {"name", "typed_config"}
    assert value["name"] == "envoy.filters.http.buffer"
    typed = value["typed_config"]
    assert set(typed) == {"@type", "max_request_bytes"}
    assert typed["@type"] == "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"
    assert typed["max_request_bytes"] == envoy_buffer_bytes() > largest_request_a_plugin_answers()


def test_envoy_gateway_buffers_after_the_plugin_and_gives_it_its_secrets():
    """No published schema here for BackendTrafficPolicy and EnvoyProxy: their shape, by hand."""
    policy = the(ENVOY_GATEWAY, EG_POLICY)
    backend = the(ENVOY_GATEWAY, EG_BACKEND_POLICY)
    proxy = the(ENVOY_GATEWAY, EG_PROXY)
    assert {doc["metadata"]["namespace"] for doc in (policy, backend, proxy)} == {policy["metadata"]["namespace"]}
    # The buffer filter on the same route as the plugin, with envoy.yaml's limit.
    assert set(backend["spec"]) == {"targetRefs", "requestBuffer"}
    assert backend["spec"]["targetRefs"] == policy["spec"]["targetRefs"]
    limit = backend["spec"]["requestBuffer"]["limit"]
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    match = re.fullmatch(r"([1-9][0-9]*)(Ki|Mi|Gi)?", str(limit))
    assert match, limit
    assert int(match.group(1)) * units.get(match.group(2), 1) == envoy_buffer_bytes() > largest_request_a_plugin_answers()
    # Envoy Gateway's default order puts the buffer filter before the Wasm filters: moved after.
    assert {"name": "envoy.filters.http.buffer", "after": "envoy.filters.http.wasm"} in proxy["spec"]["filterOrder"]
    assert proxy["spec"]["provider"]["type"] == "Kubernetes"
    env = proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]["container"]["env"]
    for var in env:
        assert set(var) == {"name", "valueFrom"} and set(var["valueFrom"]) == {"secretKeyRef"}, var
        assert set(var["valueFrom"]["secretKeyRef"]) == {"name", "key"}, var
    assert {var["name"] for var in env} == set(plugin_of(ENVOY_GATEWAY)["env"])
