# Sourced by the setup scripts (tests/sdk, bindings/python, bindings/node): installs pinned
# packages idempotently and without prompting (CI has no stdin). A stamp file holding the hash of
# the pin files and the interpreter's version skips an install that is up to date.

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# venv_install LABEL VENV REQUIREMENTS: a venv at VENV with the packages of REQUIREMENTS, made
# with $PYTHON (default python3).
venv_install() {
    local label=$1 venv=$2 req=$3 python=${PYTHON:-python3} want
    local stamp="$venv/.taskgate-stamp"
    want="$(hash_of "$req")-$("$python" -c 'import sys; print(sys.version.split()[0])')"
    if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
        echo "$label: installing Python packages" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" </dev/null
        echo "$want" >"$stamp"
    fi
}

# npm_install LABEL DIR: `npm ci` in DIR from its package.json and package-lock.json. The stamp
# is DIR/node_modules/.taskgate-stamp (newer than anything built from the packages it installed).
npm_install() {
    local label=$1 dir=$2 want
    local stamp="$dir/node_modules/.taskgate-stamp"
    want="$(hash_of "$dir/package.json" "$dir/package-lock.json")-$(node --version)"
    if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]]; then
        echo "$label: installing Node packages" >&2
        (cd "$dir" && CI=true npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
        echo "$want" >"$stamp"
    fi
}

# deb_install COMMAND PACKAGE...: Debian's PACKAGEs, unless COMMAND is already on PATH (as root,
# or through sudo without a password; the package lists refreshed only when an install fails).
deb_install() {
    local command=$1
    shift
    command -v "$command" >/dev/null && return
    local as_root=()
    if [ "$(id -u)" != 0 ]; then as_root=(sudo -n); fi
    echo "installing Debian's $*" >&2
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q "$@" >/dev/null ||
        { "${as_root[@]}" apt-get update -q >/dev/null &&
            DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q "$@" >/dev/null; }
}
