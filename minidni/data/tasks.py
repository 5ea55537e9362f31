"""Copy and Repeat-Copy (Graves et al. 2014), as used in paper §3.1, with a length curriculum.

Copy: the model reads N random binary patterns of `bits` bits, then a delimiter, and
must write the N patterns back, one per step, starting at the delimiter:

    input   p1 p2 ... pN  GO  _  ...  _          (GO = delimiter, _ = blank)
    target  .  .  ...  .  p1  p2 ... pN          (. = not scored)

Repeat-Copy: after the N patterns comes a symbol for the repeat count R (1 ... max_repeats,
drawn per sequence), and the model must write the patterns R times in a row. Every
sequence of a batch is padded to the longest possible output (N * max_repeats steps);
steps beyond a sequence's own R N outputs are not scored.

Two encodings of a pattern. "symbol": one symbol of an alphabet of 2^bits, read out by
a softmax over 2^bits classes. "binary" (Graves et al.'s): `bits` binary digits in and
out: each step reads bits + 1 symbols (digit k with value v is symbol 2k + v, and a
control symbol: pattern, GO, blank or R; steps without a pattern repeat their control
symbol in every slot), and the readout is `bits` independent two-way softmaxes. With
one bit the two differ only in the input's symbols; from 2 bits on, "symbol" must learn
2^bits unrelated classes and "binary" bits that share what they learn. Either way the
error is the cross-entropy in bits per output pattern (summed over its digits). Each
target depends on an input exactly N steps (Copy) or N ... R N steps (Repeat-Copy)
earlier: longer than T, and truncated BPTT(T) gets no gradient to learn it.

The curriculum (as the paper's): start at N = 1; when the mean error over the last
`patience` training batches is below `threshold` bits (0.15), N grows by one. The
result of a run is the largest N solved within the step budget.
"""
import numpy as np

from ..backend import get_dtype, to_device


ENCODINGS = ("symbol", "binary")


class CopyTask:
    """Generator of Copy (max_repeats=0) or Repeat-Copy (max_repeats >= 1) batches.

    encoding "symbol": input symbols 0 ... 2^bits - 1 (the patterns), then GO, BLANK and
    (Repeat-Copy) one symbol per R; output classes: the 2^bits patterns.
    encoding "binary": input symbols 2k + v (digit k has value v), then PATTERN, GO,
    BLANK and one per R; n_out = 2 bits logits, a two-way softmax per digit.
    """

    def __init__(self, bits=1, max_repeats=0, encoding="symbol"):
        if bits < 1:
            raise ValueError(f"patterns need at least 1 bit, got {bits}")
        if max_repeats < 0:
            raise ValueError(f"max_repeats must be 0 (Copy) or positive (Repeat-Copy), got {max_repeats}")
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}: choose from {', '.join(ENCODINGS)}")
        self.bits, self.max_repeats, self.encoding = bits, max_repeats, encoding
        self.n_patterns = 2 ** bits
        first = self.n_patterns if encoding == "symbol" else 2 * bits + 1    # binary: 2 bits is PATTERN
        self.GO, self.BLANK = first, first + 1                               # then BLANK + R: repeat R times
        self.n_in = first + 2 + max_repeats
        self.n_out = self.n_patterns if encoding == "symbol" else 2 * bits
        self.name = "repeat-copy" if max_repeats else "copy"

    def length(self, n):
        """Steps in one sequence of n patterns."""
        return n + n * max(self.max_repeats, 1)

    def batch(self, n, batch_size, rng):
        """tokens, targets: (L, batch_size) int64 and mask: (L, batch_size) 0/1, on the backend.

        Encoding "binary": tokens (L, batch_size, bits + 1) and targets (L, batch_size, bits),
        the digits of the same patterns (most significant first). Host-side generation from
        `rng` (numpy.random.Generator), the same draws for both encodings; moved to the device once.
        """
        if n < 1:
            raise ValueError(f"the sequence length must be at least 1, got {n}")
        L = self.length(n)
        patterns = rng.integers(0, self.n_patterns, (n, batch_size))
        tokens = np.full((L, batch_size), self.BLANK, dtype=np.int64)
        targets = np.zeros((L, batch_size), dtype=np.int64)
        mask = np.zeros((L, batch_size))
        tokens[:n] = patterns
        repeats = rng.integers(1, self.max_repeats + 1, batch_size) if self.max_repeats else np.ones(batch_size, int)
        tokens[n] = self.BLANK + repeats if self.max_repeats else self.GO     # Repeat-Copy: the symbol of R
        for k in range(n * int(repeats.max())):                                  # the k-th output step
            targets[n + k] = patterns[k % n]
            mask[n + k] = k < n * repeats
        if self.encoding == "binary":
            tokens, targets = self.binary_input(tokens, n), self.digits(targets)
        return to_device(tokens), to_device(targets), to_device(mask, dtype=get_dtype())

    def digits(self, patterns):
        """(...) pattern numbers -> (..., bits) their binary digits, most significant first."""
        return (patterns[..., None] >> np.arange(self.bits - 1, -1, -1)) & 1

    def binary_input(self, tokens, n):
        """(L, B) symbols, patterns in the first n rows -> (L, B, bits + 1): digit k of value v is
        symbol 2k + v, then PATTERN; the control rows repeat their symbol in every slot."""
        out = np.empty(tokens.shape + (self.bits + 1,), dtype=np.int64)
        out[:n, :, :-1] = 2 * np.arange(self.bits) + self.digits(tokens[:n])
        out[:n, :, -1] = 2 * self.bits                                            # PATTERN
        out[n:] = tokens[n:, :, None]                                             # GO, BLANK, BLANK + R
        return out


class Curriculum:
    """The sequence length N, grown by one whenever the recent error falls below `threshold` bits.

    update(bits) with each training batch's error; returns True when N grew.
    `solved` is the largest N whose error fell below the threshold (0 if none yet).
    """

    def __init__(self, threshold=0.15, patience=20, start=1):
        self.threshold, self.patience = threshold, patience
        self.n, self.recent = start, []

    @property
    def solved(self):
        return self.n - 1

    def update(self, bits):
        """Record one batch's error (bits per step); once the last `patience` errors at this N average
        below `threshold`, grow N and return True (else False)."""
        self.recent.append(bits)
        if len(self.recent) >= self.patience and np.mean(self.recent[-self.patience:]) < self.threshold:
            self.n, self.recent = self.n + 1, []
            return True
        return False
