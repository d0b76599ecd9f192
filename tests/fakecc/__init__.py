"""fakecc: a fake Command Code API, faithful to upstream-protocol.md, quirks and failures included.

In-process::

    state = FakeState(plan="go")
    app = create_fake_app(state)
    state.script.append("tool_call")          # or put "fake:tool_call" in the last user message

Out of process: ``python -m tests.fakecc --port 8765`` and the ``/_fake/*`` control endpoints.
"""

from __future__ import annotations

from .scenarios import SCENARIO_NAMES
from .server import create_fake_app
from .state import FakeState, FakeStats, RecordedRequest
from .usage import expected_usage

__all__ = ["SCENARIO_NAMES", "FakeState", "FakeStats", "RecordedRequest", "create_fake_app", "expected_usage"]
