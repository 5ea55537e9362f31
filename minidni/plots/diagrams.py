"""The paper's schematic diagrams, drawn by code: boxes read from a trainer's own module list.

    draw_feedforward(DNI(model, ...).modules, "dni.png")           # paper §2, §3.2 (its Figure 1 (b))
    draw_feedforward(modules, "cdni.png", conditional=True)        # + the label c into every M
    draw_feedforward(modules, "unlock.png", complete_unlock=True)  # + I_{i+1}(x) for every h_i (§3.2)
    draw_recurrent(3, 3, "rnn.png")                                # paper §3.1: T = 3, 3 windows
    diagram_figures("figures")                                     # all four, from a real 4-layer MLP

A diagram is first laid out as data (feedforward_layout, recurrent_layout: boxes with
their centres and sizes, arrows as polylines from one box edge to another) and then
rendered; tests read the layout, not the pixels. Arrow colours come from plots.style:
the synthetic gradient in DNI's blue, the label in cDNI's red, gradients in the
backward pass's green, synthetic inputs in the timelines' colours for I.
"""
import os
from dataclasses import dataclass, field

from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

from ..data import load_dataset
from ..experiments.locking import traced_trainer
from .style import KIND_COLOURS, METHOD_COLOURS, finish, plt

INCH = 0.5          # inches per layout unit: every diagram's text has the same size on the page
DETAIL_WIDTH = 20   # characters per line of a module's layer list

# What each kind of arrow carries, and how it is drawn: (colour, line style, legend text).
ARROWS = {
    "forward": ("black", "-", r"forward: $h_i = f_i(h_{i-1})$"),
    "gradient": (KIND_COLOURS["backward"], "-", r"true gradient, by backprop: $\delta_L = \partial L / \partial h_L$"),
    "synthetic": (METHOD_COLOURS["dni"], "-", r"synthetic gradient $\hat\delta_i = M_{i+1}(h_i)$: $f_i$ updates at once"),
    "target": (KIND_COLOURS["backward"], "--", r"$M_{i+1}$'s target $\delta_i$, from $f_{i+1}$'s backward pass "
                                               "(bootstrapped)"),
    "label": (METHOD_COLOURS["cdni"], "-", r"cDNI: the label $c$ is an input of every $M$"),
    "input": (KIND_COLOURS["input_predict"], "-", r"synthetic input $\hat h_i = I_{i+1}(x)$: $f_{i+1}$ runs on it"),
    "input_target": (KIND_COLOURS["input_update"], "--", r"$I_{i+1}$'s regression target: the real $h_i$"),
}
# The recurrent diagram says the same things with the names of paper §3.1.
RNN_ARROWS = {
    "forward": (ARROWS["forward"][:2] + (r"forward: the state $h_t$, output $y_t$, loss $L_t$",)),
    "gradient": (ARROWS["gradient"][:2] + ("true gradient, BPTT inside the window",)),
    "synthetic": (ARROWS["synthetic"][:2] + (r"synthetic gradient $\hat\delta_t = M(h_t)$: the gradient of the "
                                            "losses after the window, predicted",)),
    "target": (ARROWS["target"][:2] + (r"$M$'s target $\delta_t$: the next window's gradient at $h_t$ "
                                       "(bootstrapped)",)),
}
BOX_LABELS = {"sg": r"$M_{i+1}$: a synthetic-gradient model", "input_model": r"$I_{i+1}$: a synthetic-input model"}
BOX_STYLES = {"module": dict(facecolor="white", edgecolor="0.15", linewidth=1.2),
              "sg": dict(facecolor="#dceaf6", edgecolor=METHOD_COLOURS["dni"], linewidth=1.2),
              "input_model": dict(facecolor="#e3f3f8", edgecolor=KIND_COLOURS["input_predict"], linewidth=1.2),
              "io": dict(facecolor="none", edgecolor="none", linewidth=0)}


@dataclass
class Box:
    """A box centred at (x, y), w wide and h high, in layout units; `label` in mathtext,
    `detail` smaller beneath it (a module's layers). kind: module | sg | input_model | io."""
    name: str
    label: str
    x: float
    y: float
    w: float
    h: float
    kind: str = "module"
    detail: str = ""

    @property
    def left(self):
        return self.x - self.w / 2

    @property
    def right(self):
        return self.x + self.w / 2

    @property
    def bottom(self):
        return self.y - self.h / 2

    @property
    def top(self):
        return self.y + self.h / 2

    def touches(self, point, tol=1e-9):
        """Whether `point` lies on the box's edge."""
        px, py = point
        inside_x, inside_y = self.left - tol <= px <= self.right + tol, self.bottom - tol <= py <= self.top + tol
        return (inside_x and min(abs(py - self.bottom), abs(py - self.top)) <= tol or
                inside_y and min(abs(px - self.left), abs(px - self.right)) <= tol)


@dataclass
class Arrow:
    """A polyline from one box edge to another, the head at the last point; kind: a key of ARROWS.
    The label is drawn at `label_at` = (x, y, horizontal alignment)."""
    kind: str
    points: list
    label: str = ""
    label_at: tuple = None


@dataclass
class Diagram:
    """Boxes and arrows in layout units, and the kinds of arrow its legend explains."""
    boxes: list = field(default_factory=list)
    arrows: list = field(default_factory=list)
    lines: list = field(default_factory=list)       # (x, y_low, y_high, text): a dotted mark, e.g. a truncation
    legend: dict = field(default_factory=lambda: ARROWS)
    box_legend: dict = field(default_factory=dict)   # {box kind: text}

    def box(self, name):
        return next(b for b in self.boxes if b.name == name)

    def labels(self, kind):
        """The labels of the boxes of one kind, bottom to top, left to right."""
        return [b.label for b in sorted(self.boxes, key=lambda b: (b.y, b.x)) if b.kind == kind]


def layer_name(layer):
    """'Linear 64→256', 'Conv 3×3, 1→16', 'MaxPool 2×2', or the class name: from the layer's own attributes."""
    kind = type(layer).__name__
    if kind == "Linear":
        d_in, d_out = layer.params["W"].shape
        return f"Linear {d_in}→{d_out}"
    if kind == "Conv2d":
        f, c, kh, kw = layer.params["W"].shape
        return f"Conv {kh}×{kw}, {c}→{f}"
    if hasattr(layer, "kernel"):
        return f"{kind.replace('2d', '')} {layer.kernel[0]}×{layer.kernel[1]}"
    return kind


def layer_names(module):
    """The layers of one decoupled module (a layer or a nested Sequential), in order."""
    if hasattr(module, "layers"):
        return [name for layer in module.layers for name in layer_names(layer)]
    return [layer_name(module)]


def wrap_names(names, width=DETAIL_WIDTH):
    """The names joined by ", ", a new line before any that would pass `width` characters; none is split."""
    lines = [names[0]]
    for name in names[1:]:
        if len(lines[-1]) + 2 + len(name) <= width:
            lines[-1] += ", " + name
        else:
            lines[-1] += ","
            lines.append(name)
    return "\n".join(lines)


def feedforward_layout(modules, conditional=False, complete_unlock=False):
    """The feed-forward DNI schematic: f_1 ... f_L from x at the bottom to the loss at the top,
    M_{i+1} to the right of each h_i (i < L), and with complete_unlock I_{i+1} to the left: both
    named, as in the paper, after the module f_{i+1} they stand in for (M_{i+1} for its
    backward pass, I_{i+1} for its input).

    modules: the decoupled modules as a DNI trainer holds them (`DNI(...).modules`); each
    box lists its module's layers. Returns a Diagram.
    """
    if len(modules) < 2:
        raise ValueError("a DNI diagram needs at least two modules")
    details = [wrap_names(layer_names(f)) for f in modules]
    lines = max(d.count("\n") + 1 for d in details)
    fw = max(2.6, 0.16 * max(len(line) for d in details for line in d.split("\n")) + 0.4)
    fh = 0.65 + 0.3 * lines
    pitch = fh + 1.5                                    # f_i's centre to f_{i+1}'s
    mx = fw / 2 + 1.9                                   # M_{i+1}'s column (I_{i+1}'s mirrors it)
    hx, slot = fw / 2 - 0.5, 0.2 * fh                   # where h_i leaves f_i's top; gradients' heights at its side
    d = Diagram()
    fs = [Box(f"f{i}", f"$f_{{{i}}}$", 0.0, (i - 1) * pitch, fw, fh, "module", details[i - 1])
          for i in range(1, len(modules) + 1)]
    x = Box("x", "$x$", 0.0, -fh / 2 - 1.0, 0.6, 0.5, "io")
    loss = Box("loss", "loss $L$", 0.0, fs[-1].top + 1.0, 1.2, 0.5, "io")
    d.boxes += [x, *fs, loss]
    d.arrows.append(Arrow("forward", [(0.0, x.top), (0.0, fs[0].bottom)]))
    last, n = fs[-1], len(fs)
    d.arrows.append(Arrow("forward", [(0.0, last.top), (0.0, loss.bottom)], f"$h_{{{n}}}$",
                          (-0.12, (last.top + loss.bottom) / 2, "right")))
    d.arrows.append(Arrow("gradient", [(loss.right, loss.y), (mx - 0.2, loss.y), (mx - 0.2, last.y + slot),
                                       (last.right, last.y + slot)],
                          f"$\\partial L/\\partial h_{{{n}}}$", (mx - 0.08, (loss.y + last.y) / 2, "left")))
    for n, (f, g) in enumerate(zip(fs, fs[1:]), 1):
        _add_interface(d, n, f, g, x, (mx, hx, slot), complete_unlock)
    if conditional:                                     # cDNI: the label c, right of the M column, into every M
        ms = [b for b in d.boxes if b.kind == "sg"]
        c = Box("c", "label $c$", ms[0].x + ms[0].w / 2 + 1.0, x.y, 1.3, 0.5, "io")
        d.boxes.append(c)
        for m in ms:
            d.arrows.append(Arrow("label", [(c.x, c.top), (c.x, m.y), (m.right, m.y)]))
    kinds = ["forward", "gradient", "synthetic", "target"] + (["label"] if conditional else []) + \
            (["input", "input_target"] if complete_unlock else [])
    d.legend = {k: ARROWS[k] for k in kinds}
    d.box_legend = {k: BOX_LABELS[k] for k in ("sg", "input_model") if any(b.kind == k for b in d.boxes)}
    return d


def _add_interface(d, n, f, g, x, columns, complete_unlock):
    """Between f = f_n and g = f_{n+1}: M_{n+1} with h_n in, g_hat_n out and its target delta_n from g;
    with complete_unlock also I_{n+1}(x), which g reads in place of h_n. columns: (mx, hx, slot)."""
    mx, hx, slot = columns
    mw, mh = 1.0, 0.62
    y = (f.top + g.bottom) / 2
    m = Box(f"M{n + 1}", f"$M_{{{n + 1}}}$", mx, y, mw, mh, "sg")
    d.boxes.append(m)
    h_label = f"$h_{{{n}}}$"
    if complete_unlock:            # f_{i+1} reads I_{i+1}(x); the real h_i only trains M_{i+1} and I_{i+1}
        inp = Box(f"I{n + 1}", f"$I_{{{n + 1}}}$", -mx, y, mw, mh, "input_model")
        d.boxes.append(inp)
        d.arrows.append(Arrow("input", [(inp.x + 0.2, inp.top), (inp.x + 0.2, g.y - slot), (g.left, g.y - slot)],
                              f"$\\hat h_{{{n}}}$", (inp.x + 0.08, (inp.top + g.y - slot) / 2, "right")))
        d.arrows.append(Arrow("input_target", [(-hx, f.top), (-hx, y), (inp.right, y)]))
        bus = inp.left - 0.6
        d.arrows.append(Arrow("forward", [(x.left, x.y), (bus, x.y), (bus, y), (inp.left, y)]))
        d.arrows.append(Arrow("forward", [(hx, f.top), (hx, y), (m.left, y)], h_label,
                              (0.0, f.top + 0.3, "center")))
    else:
        d.arrows.append(Arrow("forward", [(0.0, f.top), (0.0, g.bottom)], h_label, (-0.12, y, "right")))
        d.arrows.append(Arrow("forward", [(hx, f.top), (hx, y), (m.left, y)]))
    d.arrows.append(Arrow("synthetic", [(mx - 0.2, m.bottom), (mx - 0.2, f.y + slot), (f.right, f.y + slot)],
                          f"$\\hat\\delta_{{{n}}}$", (mx - 0.08, (m.bottom + f.y + slot) / 2, "left")))
    d.arrows.append(Arrow("target", [(g.right, g.y - slot), (mx + 0.2, g.y - slot), (mx + 0.2, m.top)],
                          f"$\\delta_{{{n}}}$", (mx + 0.32, (m.top + g.y - slot) / 2, "left")))


def recurrent_layout(T, windows):
    """The recurrent DNI schematic (paper §3.1): an RNN unrolled over `windows` windows of T steps.

    Each step's cell reads x_t and the state, and emits y_t to its loss L_t; inside a
    window the gradient flows back by BPTT; after each window's last step a dotted line
    marks the truncation and M reads the state there, sends its synthetic gradient into
    that step, and is fitted to the gradient the next window sends back to its first
    state. Returns a Diagram.
    """
    if T < 1 or windows < 1:
        raise ValueError(f"need T >= 1 and windows >= 1, got T={T}, windows={windows}")
    cw, ch, step, extra = 0.9, 0.8, 1.45, 1.4       # a cell; centre to centre inside a window; more at a boundary
    rise, dy = 1.45, 0.18                          # x_t and L_t from the cell; forward above, gradient below
    d = Diagram(legend=RNN_ARROWS, box_legend={"sg": "$M$: the synthetic-gradient model, one for every boundary"})
    prev = Box("h0", "$h_0$", -1.5, 0.0, 0.6, 0.5, "io")
    d.boxes.append(prev)
    for t in range(1, T * windows + 2):
        w, k = divmod(t - 1, T)
        cx = (t - 1) * step + w * extra
        if t > T * windows:                        # the sequence goes on: the last target comes from there
            cell = Box("more", "…", cx - cw / 2 + 0.3, dy, 0.6, ch, "io")
        else:
            cell = Box(f"cell{t}", "$f$", cx, 0.0, cw, ch)
            xt = Box(f"x{t}", f"$x_{{{t}}}$", cx, -rise, 0.6, 0.45, "io")
            lt = Box(f"L{t}", f"$L_{{{t}}}$", cx, rise, 0.6, 0.45, "io")
            d.boxes += [xt, lt]
            d.arrows.append(Arrow("forward", [(cx, xt.top), (cx, cell.bottom)]))
            d.arrows.append(Arrow("forward", [(cx - dy, cell.top), (cx - dy, lt.bottom)], f"$y_{{{t}}}$",
                                  (cx - dy - 0.08, (cell.top + lt.bottom) / 2, "right")))
            d.arrows.append(Arrow("gradient", [(cx + dy, lt.bottom), (cx + dy, cell.top)]))
        d.boxes.append(cell)
        d.arrows.append(Arrow("forward", [(prev.right, dy), (cell.left, dy)]))
        if k > 0:                                  # BPTT inside the window
            d.arrows.append(Arrow("gradient", [(cell.left, -dy), (prev.right, -dy)]))
        elif t > 1:                                # a boundary after step t - 1: M reads h there
            b, mx = t - 1, (prev.right + cell.left) / 2
            m = Box(f"M{b}", "$M$", mx, -rise, 0.8, 0.55, "sg")
            d.boxes.append(m)
            d.arrows[-1].label, d.arrows[-1].label_at = f"$h_{{{b}}}$", ((prev.right + mx) / 2, dy + 0.22, "center")
            d.arrows.append(Arrow("forward", [(mx, dy), (mx, m.top)]))
            d.arrows.append(Arrow("synthetic", [(mx - 0.2, m.top), (mx - 0.2, -dy), (prev.right, -dy)],
                                  f"$\\hat\\delta_{{{b}}}$", (mx - 0.3, -0.75, "right")))
            d.arrows.append(Arrow("target", [(cell.left, -dy), (mx + 0.2, -dy), (mx + 0.2, m.top)],
                                  f"$\\delta_{{{b}}}$", (mx + 0.3, -0.75, "left")))
            d.lines.append((mx, dy + 0.45, rise + 0.45, "truncate"))
        prev = cell
    return d


def render(diagram, path, title=None):
    """Draw a Diagram to `path` (PNG), INCH inches per layout unit, the legend beneath; returns path."""
    boxes = diagram.boxes
    x0 = min(min(b.left for b in boxes), min(p[0] for a in diagram.arrows for p in a.points)) - 0.3
    x1 = max(max(b.right for b in boxes), max(p[0] for a in diagram.arrows for p in a.points)) + 0.3
    y0 = min(b.bottom for b in boxes) - 0.2
    y1 = max(max(b.top for b in boxes), max((top for _, _, top, _ in diagram.lines), default=0)) + 0.3
    fig = plt.figure(figsize=((x1 - x0) * INCH, (y1 - y0) * INCH))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.axis("off")
    for b in boxes:
        ax.add_patch(FancyBboxPatch((b.left, b.bottom), b.w, b.h, boxstyle="round,pad=0,rounding_size=0.12",
                                    zorder=3, **BOX_STYLES[b.kind]))
        if b.detail:                                   # the label and the layers beneath, centred as one block
            top = b.y + (0.42 + 0.28 * (b.detail.count("\n") + 1)) / 2
            ax.text(b.x, top, b.label, ha="center", va="top", fontsize=12, zorder=4)
            ax.text(b.x, top - 0.44, b.detail, ha="center", va="top", fontsize=7.5, color="0.25",
                    linespacing=1.25, zorder=4)
        else:
            ax.text(b.x, b.y, b.label, ha="center", va="center", fontsize=11 if b.kind != "io" else 10, zorder=4)
    for x, low, high, text in diagram.lines:
        ax.plot([x, x], [low, high], color="0.55", linestyle=":", linewidth=1.3, zorder=1)
        ax.text(x, high, text, ha="center", va="bottom", fontsize=7.5, color="0.45")
    for a in diagram.arrows:
        colour, style = diagram.legend[a.kind][:2]
        (xa, ya), (xb, yb) = a.points[-2], a.points[-1]
        xs, ys = zip(*a.points)
        ax.plot(xs, ys, color=colour, linestyle=style, linewidth=1.4, solid_capstyle="butt", zorder=2)
        ax.add_patch(FancyArrowPatch((xb - 0.01 * (xb - xa), yb - 0.01 * (yb - ya)), (xb, yb), arrowstyle="-|>",
                                     mutation_scale=11, color=colour, linewidth=0, shrinkA=0, shrinkB=0, zorder=2))
        if not any(b.touches(a.points[0]) for b in boxes):        # a branch off another arrow
            ax.plot(*a.points[0], "o", color=colour, markersize=3.5, zorder=2)
        if a.label:
            lx, ly, ha = a.label_at
            ax.text(lx, ly, a.label, ha=ha, va="center", fontsize=10, color=colour, zorder=4)
    handles = [Line2D([], [], color=c, linestyle=s, linewidth=1.6) for c, s, _ in diagram.legend.values()]
    handles += [Patch(**BOX_STYLES[kind]) for kind in diagram.box_legend]
    texts = [text for *_, text in diagram.legend.values()] + list(diagram.box_legend.values())
    ax.legend(handles, texts, loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=2 if x1 - x0 > 2 * (y1 - y0) else 1,
              fontsize=8.5, frameon=False, handlelength=2.6)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    finish(fig, path)
    return path


def draw_feedforward(modules, path, conditional=False, complete_unlock=False, title=None):
    """The DNI schematic of `modules` (a trainer's `modules`): cDNI's label with conditional,
    the synthetic inputs I with complete_unlock (feedforward_layout). Returns path."""
    return render(feedforward_layout(modules, conditional, complete_unlock), path, title)


def draw_recurrent(T, windows, path, title=None):
    """The RNN unrolled over `windows` windows of T steps, M at each boundary (recurrent_layout). Returns path."""
    return render(recurrent_layout(T, windows), path, title)


def diagram_figures(out_dir):
    """diagram_dni.png, diagram_cdni.png, diagram_unlock.png and diagram_rnn.png in out_dir, the first
    three from the modules of the trainers the locking figures trace (4-layer MLP on the digits);
    no training. Returns the paths written."""
    data = load_dataset("digits", flat=True)
    paths = []
    for name, method, unlock, title in (
            ("dni", "dni", False, "DNI: a synthetic gradient after every module"),
            ("cdni", "cdni", False, "cDNI: every M also sees the label"),
            ("unlock", "dni", True, "Complete unlock: synthetic inputs as well")):
        trainer = traced_trainer(method, data, complete_unlock=unlock)
        paths.append(draw_feedforward(trainer.modules, os.path.join(out_dir, f"diagram_{name}.png"),
                                      conditional=trainer.conditional, complete_unlock=unlock, title=title))
    paths.append(draw_recurrent(3, 3, os.path.join(out_dir, "diagram_rnn.png"),
                                title="Recurrent DNI: T = 3 steps a window, M at every window's end"))
    return paths
