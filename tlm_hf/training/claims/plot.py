"""The claims' figures: stacked panels of series with optional error bars, as PNG bytes."""

import io


def line_plot(panels: list[dict], *, title: str, xlabel: str, xscale: str = "linear", sharex: bool = True) -> bytes:
    """A PNG of stacked panels, sharing x unless told: each panel {"ylabel", "series": [{"label", "x", "y", "yerr"?,
    "style"?}], "hline"?: y}; yerr is a (low, high) pair of lists, e.g. a confidence interval; x may be names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.8 * len(panels) + 0.6), sharex=sharex, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        for series in panel["series"]:
            yerr = series.get("yerr")
            if yerr is not None:
                yerr = [[max(y - low, 0) for y, low in zip(series["y"], yerr[0])],
                        [max(high - y, 0) for y, high in zip(series["y"], yerr[1])]]
            ax.errorbar(series["x"], series["y"], yerr=yerr, label=series["label"], capsize=3,
                        **series.get("style", {"marker": "o"}))
        if panel.get("hline") is not None:
            ax.axhline(panel["hline"], color="grey", linewidth=0.8)
        ax.set_ylabel(panel["ylabel"])
        ax.legend(fontsize="x-small")
        if any(isinstance(x, str) for series in panel["series"] for x in series["x"]):
            ax.tick_params(axis="x", labelrotation=15, labelsize="small")
    axes[0, 0].set_title(title, fontsize="small")
    axes[-1, 0].set_xlabel(xlabel)
    axes[-1, 0].set_xscale(xscale)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out.getvalue()
