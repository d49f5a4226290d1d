"""smtpdiag.io.dnsfeatures: dnspython's features answered without importlib.metadata."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
{setup}
import dns._features as f
import dns.name
print(json.dumps({{"features": {{k: f.have(k) for k in sorted(f._requirements)}},
                  "metadata": "importlib.metadata" in sys.modules}}))
"""


def _run(setup: str) -> dict[str, object]:
    code = PROBE.format(setup=setup)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_features_agree_with_dnspythons_own_answers() -> None:
    ours = _run("import smtpdiag.io.dnsfeatures")
    theirs = _run("")
    assert theirs["metadata"] is True  # dnspython alone loads it: the saving is real
    assert ours["metadata"] is False
    features = ours["features"]
    assert isinstance(features, dict)
    expected = theirs["features"]
    assert isinstance(expected, dict)
    for name in ("idna", "dnssec"):
        assert features[name] == expected[name], name
    for name in ("doh", "doq", "trio", "wmi"):
        assert features[name] is False


def test_probe_path_does_not_load_importlib_metadata() -> None:
    code = "import sys, smtpdiag.io.dns; print('importlib.metadata' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_real_importlib_metadata_still_works_afterwards() -> None:
    code = (
        "import smtpdiag.io.dns, importlib.metadata;print(importlib.metadata.version('dnspython'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import dns.version

    assert out.stdout.strip() == dns.version.version
