"""nlpkit over HTTP: every task with dynamic batching, OpenAI-compatible endpoints, a page.

FastAPI and uvicorn are the optional ``serve`` extra: nothing here imports them until a
server is built, and a missing extra is a DependencyError with the install line.
"""

from __future__ import annotations

import importlib.util

from nlpkit.errors import DependencyError

SERVE_PACKAGES = ("fastapi", "uvicorn", "prometheus_client")


def require_serve_extra() -> None:
    """Fail with the install line when FastAPI, uvicorn or prometheus-client is missing."""
    missing = [name for name in SERVE_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise DependencyError(
            f"serving needs {', '.join(missing)}, which are not installed; "
            'install them with: pip install "nlpkit[serve]"'
        )
