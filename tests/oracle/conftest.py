"""The real Command Code CLI as a test oracle: one install per machine, one namespace per run.

Without `unshare -n` (not root, or no user namespaces) the CLI cannot be kept away from the real
service, so these tests skip with the reason; under CI (`CI` set) that is a failure instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.oracle.harness import Oracle, OracleUnavailable, install, namespaces_available


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the Command Code CLI oracle cannot run in CI: {reason}")
    pytest.skip(f"the Command Code CLI oracle cannot run here: {reason}")


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Oracle:
    reason = namespaces_available()
    if reason is not None:
        _unavailable(reason)
    try:
        node = install()
    except OracleUnavailable as exc:
        _unavailable(str(exc))
    return Oracle(node, Path(tmp_path_factory.mktemp("oracle")))
