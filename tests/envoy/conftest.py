# The Envoy suites reuse the SDK suites' helpers (tests/sdk/python/sdkcommon.py, which puts
# tests/sdk, the recorder's folder, on the path itself).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python"))
