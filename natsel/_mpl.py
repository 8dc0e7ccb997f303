"""matplotlib, headless (Agg), imported only when a figure is drawn; figures rendered to bytes."""

from __future__ import annotations

import io
from typing import Any


def plt() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def render(fig: Any, fmt: str = "png", dpi: int = 110) -> bytes:
    """The figure as PNG or SVG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    plt().close(fig)
    return buf.getvalue()
