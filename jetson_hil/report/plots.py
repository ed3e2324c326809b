"""PNG plots of the run: telemetry over time with the embedding message rate on the same axis, latency histogram.

matplotlib (Agg backend) is imported lazily so the library loads without it; each function returns PNG bytes.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

DPI = 80


def preload() -> None:
    """Imports matplotlib (Agg) and pyplot ahead of the first plot (the report does it at session start, before
    any thread of the run: fixtures/report_device.py); without matplotlib it does nothing."""
    with contextlib.suppress(ImportError):
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot  # noqa: F401


def _figure(rows: int) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.1 * rows), sharex=True, squeeze=False)
    return fig, [a[0] for a in axes]


def _png(fig: Any) -> bytes:
    from matplotlib import pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _plot(ax: Any, t0: float, t: Sequence[float], ys: Sequence[Any], label: str) -> None:
    pts = [(x - t0, y) for x, y in zip(t, ys, strict=False) if y is not None]
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, linewidth=1)


def telemetry_png(series: Mapping[str, Any], rate: tuple[Sequence[float], Sequence[int]]) -> bytes | None:
    """GPU load, power rails, temperatures, RAM and the embedding message rate against seconds since start."""
    t = series.get("t") or []
    rate_t, rate_n = rate
    if not t and not rate_t:
        return None
    t0 = min([*t[:1], *rate_t[:1]])
    fig, axes = _figure(5)
    _plot(axes[0], t0, t, series.get("gpu_load_percent", []), "GPU load")
    axes[0].set_ylabel("GPU %")
    for name, ys in series.get("rails_mw", {}).items():
        _plot(axes[1], t0, t, ys, name)
    axes[1].set_ylabel("rails mW")
    for name, ys in series.get("temperatures_c", {}).items():
        _plot(axes[2], t0, t, ys, name)
    axes[2].set_ylabel("temp °C")
    _plot(axes[3], t0, t, series.get("ram_used_mb", []), "RAM used")
    axes[3].set_ylabel("RAM MB")
    if rate_t:
        axes[4].step([x - t0 for x in rate_t], list(rate_n), where="post", label="embeddings/s", linewidth=1)
    axes[4].set_ylabel("msg/s")
    axes[4].set_xlabel("seconds since the first sample")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper right", fontsize=6, ncol=4)
        ax.grid(alpha=0.3)
    axes[0].set_title("Telemetry and embedding message rate")
    return _png(fig)


def latency_png(latency_ms: Sequence[float]) -> bytes | None:
    """Histogram of embedding latency (device `ts` to receive time), ms."""
    if not latency_ms:
        return None
    fig, axes = _figure(1)
    axes[0].hist(list(latency_ms), bins=min(50, max(5, len(latency_ms) // 5)))
    axes[0].set_xlabel("latency ms (device ts to receive)")
    axes[0].set_ylabel("messages")
    axes[0].set_title(f"Embedding latency, {len(latency_ms)} messages")
    return _png(fig)
