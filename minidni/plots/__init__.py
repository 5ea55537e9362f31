"""Figures from results and traces, in one style (plots.style).

    style     the colours of event kinds and methods, plain ticks, at most three panels a row
    timeline  locking diagrams and the animation, from minidni.trace
    training  feed-forward error curves, the Table 1 figure, synthetic-gradient quality
    recurrent Copy / Repeat-Copy bars and char-LM curves
    parallel  MPI rank timelines and the simulator's scaling
    figures   make_figures: runs the experiments and writes every file in figures/

GROUPS lives here, not in plots.figures, so that the command line can list the groups
without importing matplotlib.
"""
GROUPS = ("diagrams", "locking", "sg", "results", "mnist5k", "mnist", "mnist_gap", "rnn", "parallel",
          "multinet")                                                         # make_figures' groups
DEFAULT_GROUPS = tuple(g for g in GROUPS if g not in ("mnist", "mnist_gap"))  # hours on the full MNIST: asked for by name
