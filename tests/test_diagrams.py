"""The paper's schematics: the boxes are the trainer's own modules, the arrows join box edges."""
import numpy as np
import pytest
from PIL import Image

from minidni.models import build_cnn, build_mlp
from minidni.plots.diagrams import feedforward_layout, recurrent_layout
from minidni.plots.figures import make_figures
from minidni.train import DNI


def _modules(layers, **options):
    """The decoupled modules of a DNI trainer on a small MLP: 12 inputs, 8 hidden units, 3 classes."""
    rng = np.random.default_rng(0)
    return DNI(build_mlp(12, 3, layers, hidden=8, rng=rng), (12,), 3, rng=rng, **options).modules


def _details(diagram):
    return [b.detail.replace("\n", " ") for b in diagram.boxes if b.kind == "module"]


@pytest.mark.parametrize("layers", [3, 5])
def test_one_f_box_per_decoupled_module_and_an_M_after_every_module_but_the_last(layers):
    d = feedforward_layout(_modules(layers))
    assert d.labels("module") == [f"$f_{{{i}}}$" for i in range(1, layers + 1)]
    assert d.labels("sg") == [f"$M_{{{i}}}$" for i in range(2, layers + 1)]
    assert _details(d) == ["Linear 12→8, BatchNorm, ReLU"] + ["Linear 8→8, BatchNorm, ReLU"] * (layers - 2) + \
        ["Linear 8→3"]
    assert d.labels("input_model") == [] and "c" not in [b.name for b in d.boxes]


def test_the_boxes_follow_the_trainers_cuts_not_the_models_layers():
    d = feedforward_layout(_modules(4, cuts=[1]))            # decoupled once, after the second module
    assert d.labels("module") == ["$f_{1}$", "$f_{2}$"] and d.labels("sg") == ["$M_{2}$"]
    assert _details(d) == ["Linear 12→8, BatchNorm, ReLU, Linear 8→8, BatchNorm, ReLU",
                           "Linear 8→8, BatchNorm, ReLU, Linear 8→3"]


def test_conv_modules_are_named_from_their_weights():
    rng = np.random.default_rng(0)
    modules = DNI(build_cnn((1, 8, 8), 10, channels=(4,), rng=rng), (1, 8, 8), 10, rng=rng).modules
    assert _details(feedforward_layout(modules)) == ["Conv 3×3, 1→4, BatchNorm, ReLU, MaxPool 2×2",
                                                     "Flatten, Linear 64→10"]


def _ends_on(arrow, diagram, kinds):
    return [b.name for b in diagram.boxes if b.kind in kinds and b.touches(arrow.points[-1])]


def test_cdni_feeds_the_label_into_every_M():
    d = feedforward_layout(_modules(4), conditional=True)
    labels = [a for a in d.arrows if a.kind == "label"]
    assert "c" in [b.name for b in d.boxes] and "label" in d.legend
    assert sorted(name for a in labels for name in _ends_on(a, d, ("sg",))) == ["M2", "M3", "M4"]
    assert all(d.box("c").touches(a.points[0]) for a in labels)


def test_complete_unlock_gives_every_module_after_the_first_an_I_that_reads_x_and_is_fitted_to_the_real_h():
    plain, d = feedforward_layout(_modules(4)), feedforward_layout(_modules(4), complete_unlock=True)
    assert d.labels("input_model") == ["$I_{2}$", "$I_{3}$", "$I_{4}$"]
    assert sorted(n for a in d.arrows if a.kind == "input" for n in _ends_on(a, d, ("module",))) == ["f2", "f3", "f4"]
    assert sorted(n for a in d.arrows if a.kind == "input_target" for n in _ends_on(a, d, ("input_model",))) == \
        ["I2", "I3", "I4"]
    x_into = sorted(n for a in d.arrows if a.kind == "forward" and d.box("x").touches(a.points[0])
                    for n in _ends_on(a, d, ("module", "input_model")))
    assert x_into == ["I2", "I3", "I4", "f1"]

    def f_to_f(diagram):            # forward arrows from one module straight into the next
        return [a for a in diagram.arrows if a.kind == "forward" and _ends_on(a, diagram, ("module",))
                and any(b.kind == "module" and b.touches(a.points[0]) for b in diagram.boxes)]
    assert len(f_to_f(plain)) == 3 and f_to_f(d) == []      # f_{i+1} no longer waits for h_i


@pytest.mark.parametrize("T,windows", [(3, 3), (2, 4)])
def test_recurrent_diagram_puts_M_at_every_window_boundary_and_bptt_only_inside_windows(T, windows):
    d = recurrent_layout(T, windows)
    assert len([b for b in d.boxes if b.kind == "module"]) == T * windows
    assert [b.name for b in d.boxes if b.kind == "sg"] == [f"M{T * k}" for k in range(1, windows + 1)]
    assert len(d.lines) == windows                               # one truncation mark per boundary
    for a in d.arrows:                                           # a gradient between two cells stays in a window
        cells = [int(b.name[4:]) for b in d.boxes if b.name.startswith("cell") and
                 (b.touches(a.points[0]) or b.touches(a.points[-1]))]
        if a.kind == "gradient" and len(cells) == 2:
            assert max(cells) - min(cells) == 1 and min(cells) % T != 0
    for k in range(1, windows + 1):                              # M's g_hat enters the window's last step
        synthetic = [a for a in d.arrows if a.kind == "synthetic" and d.box(f"M{T * k}").touches(a.points[0])]
        assert [n for a in synthetic for n in _ends_on(a, d, ("module",))] == [f"cell{T * k}"]


LAYOUTS = {"dni": lambda: feedforward_layout(_modules(4)),
           "cdni": lambda: feedforward_layout(_modules(4), conditional=True),
           "unlock": lambda: feedforward_layout(_modules(4), conditional=True, complete_unlock=True),
           "rnn": lambda: recurrent_layout(3, 3)}


def _on_segment(point, arrow):
    (px, py) = point
    return any(min(xa, xb) - 1e-9 <= px <= max(xa, xb) + 1e-9 and min(ya, yb) - 1e-9 <= py <= max(ya, yb) + 1e-9
               and abs((xb - xa) * (py - ya) - (yb - ya) * (px - xa)) < 1e-9
               for (xa, ya), (xb, yb) in zip(arrow.points, arrow.points[1:]))


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_arrow_joins_box_edges_or_branches_off_another_arrow_and_no_boxes_overlap(name):
    d = LAYOUTS[name]()
    for a in d.arrows:
        assert any(b.touches(a.points[-1]) for b in d.boxes), (a.kind, a.points)
        assert any(b.touches(a.points[0]) for b in d.boxes) or \
            any(_on_segment(a.points[0], other) for other in d.arrows if other is not a), (a.kind, a.points)
        assert all(x0 == x1 or y0 == y1 for (x0, y0), (x1, y1) in zip(a.points, a.points[1:]))   # right angles
        assert a.kind in d.legend
    for i, b in enumerate(d.boxes):
        for c in d.boxes[i + 1:]:
            assert b.right <= c.left or c.right <= b.left or b.top <= c.bottom or c.top <= b.bottom, (b.name, c.name)


def test_the_diagrams_group_writes_the_four_pngs(tmp_path):
    paths = make_figures(str(tmp_path), only=["diagrams"])
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == ["diagram_cdni.png", "diagram_dni.png",
                                                           "diagram_rnn.png", "diagram_unlock.png"]
    for p in paths:
        with Image.open(p) as im:
            assert im.width > 300 and im.height > 300
