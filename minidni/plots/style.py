"""One style for every figure: the colours of event kinds and of methods, and plain ticks.

Every figure module draws with these maps, so "update" is the same red and DNI the same
blue in the locking diagrams, the MPI timelines, the error curves and the RNN plots.
Matplotlib's Agg backend: no display needed.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401  (the backend must be chosen first; figure modules use it)
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

# What a module (or a rank) is doing: one colour per kind of event, in every timeline.
KIND_COLOURS = {"forward": "#4c72b0", "backward": "#55a868", "update": "#c44e52",
                "sg_predict": "#8172b2", "sg_update": "#dd8452",
                "input_predict": "#64b5cd", "input_update": "#937860",
                "send": "#da8bc3", "wait": "0.93", "eval": "0.6", "checkpoint": "0.6"}
KIND_LABELS = {"forward": "forward", "backward": "backward", "update": "update (weights change)",
               "sg_predict": "synthetic gradient g_hat = M(h)", "sg_update": "fit M to its target",
               "input_predict": "synthetic input h_hat = I(x)", "input_update": "fit I to the real input",
               "send": "send a message", "wait": "waiting for a message", "eval": "evaluate",
               "checkpoint": "save a checkpoint"}

# Training methods: backprop and its truncated and model-parallel forms share one grey;
# DNI is blue wherever it appears, cDNI red, DNI + Aux green.
METHOD_COLOURS = {"backprop": "#444444", "bptt": "#444444", "locked": "#444444",
                  "dni": "#1f77b4", "cdni": "#d62728", "dni-aux": "#2ca02c", "truncated": "#ff7f0e",
                  "dni-paper": "#17becf", "cdni-channels": "#e377c2"}
METHOD_LABELS = {"backprop": "backprop", "bptt": "BPTT", "locked": "locked backprop",
                 "dni": "DNI", "cdni": "cDNI", "dni-aux": "DNI + Aux", "truncated": "truncated at B's ticks",
                 "dni-paper": "DNI, paper's M", "cdni-channels": "cDNI, label channels"}

MAX_PANELS_PER_ROW = 3      # figures stay readable at README width


def plain_ticks(ax, axis="y"):
    """Tick labels as plain numbers (2, 5, 10), not 2×10⁰, on a log axis too."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def panel_grid(n, width=3.6, height=3.2, **options):
    """(fig, axes): n panels, at most MAX_PANELS_PER_ROW a row; unused panels hidden; axes flat."""
    cols = min(n, MAX_PANELS_PER_ROW)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False, **options)
    axes = list(axes.flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def axes_for(path_or_ax, figsize):
    """(fig, ax, path): a new figure when given a path, else the caller's axes and None."""
    if hasattr(path_or_ax, "plot"):
        return path_or_ax.figure, path_or_ax, None
    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax, path_or_ax


def finish(fig, path, dpi=120):
    """Save and close a figure made by axes_for (nothing when drawing on the caller's axes)."""
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        plt.close(fig)
