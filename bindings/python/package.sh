#!/usr/bin/env bash
# Builds the Python package taskgate-filter (pyproject.toml) and tests it as installed:
#   target/python-dist/taskgate_filter-VERSION-py3-none-any.whl   the wheel, component inside
#   target/python-package/build-venv   the pinned build tools (build-requirements.txt)
#   target/python-package/venv         a clean venv, made anew each run: the wheel and pytest
# then runs tests/test_cases.py (the shared case corpus) and example.py against the installed
# package and the component it carries. Safe to run again; no prompts; needs Python 3.11 or
# later and PyPI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "python package: need Python 3.11 or later; set PYTHON=python3.11" >&2
    exit 1
fi

# The component the wheel carries: the workspace build (a no-op when it is up to date).
(cd "$repo" && cargo build --release --locked --workspace --bins)
component="$repo/target/component-build/wasm32-wasip2/component/taskgate_filter.wasm"

# shellcheck source=../../tests/install.sh
source "$repo/tests/install.sh"
work="$repo/target/python-package"
venv_install "python package: build tools" "$work/build-venv" "$here/build-requirements.txt"

dist="$repo/target/python-dist"
mkdir -p "$dist"
rm -f "$dist"/taskgate_filter-*.whl
echo "python package: building the wheel" >&2
"$work/build-venv/bin/python" -m build --wheel --no-isolation --outdir "$dist" "$here" </dev/null >/dev/null
wheels=("$dist"/taskgate_filter-*-py3-none-any.whl)
if [[ ${#wheels[@]} != 1 || ! -f ${wheels[0]} ]]; then
    echo "python package: expected one wheel in $dist, found: ${wheels[*]}" >&2
    exit 1
fi
wheel=${wheels[0]}

# The wheel holds the module and the component as they are here, and nothing else.
"$work/build-venv/bin/python" - "$wheel" "$here/taskgate_filter.py" "$component" <<'PY'
import sys, zipfile
wheel, module, component = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = sorted(n for n in z.namelist() if not n.startswith("taskgate_filter-"))
    want = ["taskgate_filter/__init__.py", "taskgate_filter/py.typed", "taskgate_filter/taskgate_filter.wasm"]
    assert names == want, f"the wheel's package files: {names}, expected {want}"
    assert z.read("taskgate_filter/__init__.py") == open(module, "rb").read(), "__init__.py differs from taskgate_filter.py"
    assert z.read("taskgate_filter/taskgate_filter.wasm") == open(component, "rb").read(), "the component differs from the build"
PY

# A clean venv: the wheel (its wasmtime dependency resolved from its metadata) and pytest, with
# requirements.txt as constraints, so every version is the pinned one.
venv="$work/venv"
rm -rf "$venv"
"$python" -m venv "$venv"
echo "python package: installing the wheel into a clean venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -c "$here/requirements.txt" "$wheel" pytest </dev/null

# Run from the venv directory with -P or pytest, neither of which puts bindings/python on
# sys.path; TASKGATE_PYTHON_INSTALLED makes the test import the installed package and check that
# it did; TASKGATE_COMPONENT unset: the package loads the component it carries.
cd "$venv"
run() { env -u TASKGATE_COMPONENT -u PYTHONPATH TASKGATE_PYTHON_INSTALLED=1 "$@"; }
run "$venv/bin/python" -P -c '
import sys, sysconfig
from pathlib import Path
import taskgate_filter
site = Path(sysconfig.get_paths()["purelib"]).resolve()
module, component = Path(taskgate_filter.__file__).resolve(), taskgate_filter.default_component_path()
assert module.is_relative_to(site) and component.is_relative_to(site), (module, component)
print(f"python package: {module.relative_to(Path(sys.prefix).resolve())} loads {component.relative_to(Path(sys.prefix).resolve())}")
'
run "$venv/bin/python" -m pytest "$here/tests" -q -p no:cacheprovider
out="$(run "$venv/bin/python" -P "$here/example.py")"
echo "$out"
if [[ $out != "forward ReportTaskFailed failed LTAI5tDemoAccessKeyId" ]]; then
    echo "python package: example.py printed the wrong verdict" >&2
    exit 1
fi
echo "python package: $(basename "$wheel") passed" >&2
