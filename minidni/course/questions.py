"""Concept questions: one or two per notebook, on why the method works, graded without the answers.

A question is multiple choice (`choices`, answered by a letter) or a number (`decimals`:
the answer is compared after rounding to that many decimals). A notebook asks it in a
cell of its own,

    q_dni_update_order = None        # your answer: "a", "b", "c" or "d"
    check("q_dni_update_order", q_dni_update_order)

and `check` (minidni.course.checker) hands it to `judge`: right, it prints "correct: ..."
with the reason; wrong, it raises the checker's ExerciseError with a `nudge` that points
back to the idea without giving the answer away; unanswered (None or ...), it counts as a
stub that was not attempted. This module holds no answer, so it may ship to students: only
the SHA-256 of each normalised answer, salted with the question's name (`digest`), and the
reason sealed with the answer (`seal`: XOR with a SHA-256 keystream keyed by it, since the
reason would give the answer away). The plain answers and reasons are CONCEPT_ANSWERS and
CONCEPT_WHY of minidni.course.solutions, for the instructor.
"""
import base64
import hashlib
import math


def _multiple_choice(notebook, prompt, choices, answer_sha256, why_sealed, nudge):
    return dict(notebook=notebook, prompt=prompt, choices=choices, decimals=None,
                answer_sha256=answer_sha256, why_sealed=why_sealed, nudge=nudge)


def _number(notebook, prompt, decimals, answer_sha256, why_sealed, nudge):
    return dict(notebook=notebook, prompt=prompt, choices=None, decimals=decimals,
                answer_sha256=answer_sha256, why_sealed=why_sealed, nudge=nudge)


QUESTIONS = {
    "q_what_dni_changes": _multiple_choice(
        "01", "A module's backward(dy) turns dy = dL/dh into its parameters' gradients and dx. What does DNI "
        "change about a module?",
        {"a": "its backward rule: a synthetic gradient needs a different formula",
         "b": "where dy comes from: a prediction instead of the gradient sent down by the module above",
         "c": "its forward pass, which must also predict the loss",
         "d": "its parameters, which are replaced by a model M"},
        "a02e7bf05e5ad5cf92e43e2ae62e66564e4379cf5e669ccd4b62f725d621a414",
        "f72YXIhtLU79aQC0nfN4xBC0t6WqJhD5zr46DEnqy8MHzzxc50GLaNpjb0f7hGpQC8FOH0TAh1UgFOAcFlaL+6rBjQ0Xtr+C"
        "53+m88LkFF+w1Yg8PeI+FNIjlkxJ3IMmO33v6NRLw03UwpZQU4y0Mlb/JW+pY8o=",
        "reread the introduction: which one thing about forward and backward does DNI leave to someone else?"),
    "q_backprop_waits": _number(
        "02", "Under backprop, a network of 4 modules: after f_1 has run forward, how many backward passes of "
        "other modules must finish before f_1 may update? (a whole number)", 0,
        "09d6130b7f5c9b3d894a6b6dc33d67525cb489e7016a32af202f7347582a74d7",
        "tAYVx2TE7vd8BPOl/+OaHDJ+jC1I/gFUwjGIR5Kg8OTApKpdL+kwhIOHqFGEYPv8q35k45iG0eUT6epFwH7MgL8QbXfgcXiO"
        "XnnwZmHMqffIjRz+qjPk8LMcV+XRl8Y2yPjuDoPh7H2oHsl18+qh+4jIertF2R+HNSpmDhSJ6WsAWXrDumiuWIdpNRUcacTC"
        "qafbAky3zc27",
        "count the modules whose backward lies between the loss and delta_1 = dL/dh_1 on the timeline."),
    "q_lock_dni_keeps": _multiple_choice(
        "02", "With an M after every module, which of backprop's locks is still there?",
        {"a": "update locking: f_i still waits for the loss",
         "b": "backward locking: f_i still waits for delta_i from above",
         "c": "forward locking: f_i still needs h_{i-1} from f_{i-1}",
         "d": "none: every module can run at once"},
        "0fc2d80090481d5ba8ec9d750fd38b5179640167b1ea91e0bce5c117d6f2f66e",
        "f69B/USDbdNtRBroJKtl+HmTQxYvZqWgCkpMQoFlJc1DIeW8qAn2zhmnV7lnsSJYNEN1Eiz8OTeGiw+lfdECc1Bw8N1HB9TK"
        "NM7gT4A3w5YahhBNQ0iqMczTL3CBqRhdoDsCGf6wBXZH2rMGddO6EnhKpqXyvQ+9Xcr778/Qv+/eZylijIdiEVE=",
        "look at the timeline of the every-module trainer: what does module 2 still need from module 1?"),
    "q_m_target": _multiple_choice(
        "03", "With one cut, what is M fitted to, and when?",
        {"a": "the loss L, at once", "b": "zero, so that g_hat stays small",
         "c": "the true delta = dL/dh at the cut, once the upper half has run forward and backward",
         "d": "the output h of the lower half, as an autoencoder"},
        "1764c0a42b5c4562fe76d84b33413991d2a9b37cf4911d4d46b24db199107abc",
        "jSk+J9sMEmHjqdfM8kDoYThpQRM6DmuF5wmLRPXNQ7tMF/3lk3olIvIJq+cQJ+lbi/De2vJkVr1Bk5Tj4eqRNh4yx9LX94bJ"
        "jlLaJNLLbZQ8LdYREH8Co84B4ErjivTCgPbolNyQhRvg5eRpdyuR8f7BaF7LCRcb/jhloiNWVaaokdUTjTBIAS6B0eGPCII9"
        "tbPG",
        "M predicts a gradient: its target is a gradient too. Which one exists at the cut, and when?"),
    "q_zero_m_is_safe": _multiple_choice(
        "03", "Why is it safe to start M's weights at zero?",
        {"a": "zero weights make M learn faster than random ones",
         "b": "a zero M gives the true gradient at the first step",
         "c": "it is not safe: M can never leave zero",
         "d": "g_hat = 0 at first: the lower half gets no update rather than random noise, until M has learned"},
        "f1b24f1b0bcb03124a1b24ecb8371806d22719d33c6e5653cd0d3a8b86ed5809",
        "OON4H4dwSioKaNcoAryxlWgutB+QLslT5L10OtqfUcpk5ahJF2jME2xOXWB1yuejkBwSv/KYaFO9yoFi0bQyd1Uo/rtIyw4l"
        "wD1S4AbBGSW1iMndRXzbkFQh86BmWxoXKqfcn2hZBnDBAItLtKummpkaH33pwwLAihuAa+YklLD+RvdGqjqdF+FZK0vrFbxx"
        "56T3QWc2OYblTVIJdJLHBU+ni+NtREf3vDsM0LurooVJUpxZSQ==",
        "what does the lower half do with g_hat = 0, and what would it do with a random g_hat?"),
    "q_dni_update_order": _multiple_choice(
        "04", "In one DNI.step on a 4-module network (every module decoupled), which module updates first?",
        {"a": "f_4, once the loss is known", "b": "f_1, before f_2 has run forward",
         "c": "all four together, after the backward pass", "d": "f_1, after f_4's backward pass"},
        "298c4d913540e471d05549220315bb6f714b79df6a4273d89fe924e2a26d747d",
        "jBNJIqJRjBjyrQWyT+H03S9xDk1Mp3cuDhs2LRx1mjP4VsrmV9LKN1STeDe4M7qYqr2JLAbTHRrpOcZz0cLJKxLMI08Rqjo+"
        "yvaflveQ+y4/F/XFEGBkBmAYWhPd+N08pfBqT9zyCszB",
        "each module's update needs only g_hat_i = M_{i+1}(h_i): when is that available to f_1?"),
    "q_bootstrapping": _multiple_choice(
        "04", "What does bootstrapping mean for M_{i+1} below the top?",
        {"a": "its target is the true gradient dL/dh_i, computed by a backprop pass",
         "b": "it is trained on resampled batches, as in the statistical bootstrap",
         "c": "its target is the gradient f_{i+1} sends down after backpropagating its own synthetic gradient, "
              "built from M_{i+2}'s guess",
         "d": "it starts from the weights of the M above it"},
        "869a5f61974aefaa00124eed7a85d7c2a2631fca9f319ec286438721fccf9711",
        "rFOsZ/3ePIJ+TSLzai/WDf2ZBuGBLYoixC8RzuGlgeakYveA2ObR+vspVhC8mmQNNNYcbZuVR+YxQuE1EpV0HuhEpCiJcB8p"
        "AfW31Sor0ni3a49pr9qnyXubv1jl48E8VclYxZUzxBaUpPpdqpxWqbXMYKjfC2ZMnVDeSAk0X3/6TG4Fqvd17HONpMPt2+Xv"
        "Sz/qRm7xus5t7oe0+EOSeQ5EzN6K9iD6dnnKJTP7/g==",
        "step 5 of a DNI step: what is the d_in that f_{i+1} returns made from?"),
    "q_tails_runs": _multiple_choice(
        "05", "With update probability p, module i's coin comes up tails. What does it still run in that step?",
        {"a": "nothing", "b": "forward and sg_predict: the modules above need its output",
         "c": "forward, backward and sg_predict, but no update", "d": "everything but the fit of its own M"},
        "ae9ed9906e66aa5cacd7e25d8a398f04bd314600a18069012193ebbedd761ad7",
        "vNXlVT/7UJY4myzcIYp4NhHzs+96Uh1NtWNvLF1NBXffgbeCKBoYWX6VBjNHMiS+StuAOVdetF946WfKcrjrVr5Ku/J3cblM"
        "neTQKo8qNFEVizK9EzAJPTk0RYdedQ==",
        "which of its events does any other module need from it?"),
    "q_window_boundary": _multiple_choice(
        "06", "Under recurrent DNI, what does the synthetic gradient g_hat at the end of a window stand for?",
        {"a": "the gradient of the window's own losses",
         "b": "the gradient of every loss after the window with respect to the window's last state",
         "c": "the loss at the next step", "d": "the gradient of the loss with respect to the weights"},
        "3dad9d7a13266ac6a9abb964aeb210e281c2c0e7bb4fab5d77cafa26310878e5",
        "gBxNSb1+2+PLtZfsjqKiwQ0utJeLXLg7UH4aIVZZ2Mm2iFyWFnvAyi95AssvxDEiess+oBpZpU/jAXKgeNr3kyffCVv0isnC"
        "7OImu5zq+qLGUNEtIcWg0KE4LGCCWdc8cfL2+Hf7GkPPqDnd",
        "eq. (1): which term does truncation drop?"),
    "q_truncated_no_loss": _number(
        "06", "Truncated BPTT, T = 3, on the 1-bit Copy sequence: what is window 1's gradient for W_h, which "
        "has no scored step? (its size, a number)", 2,
        "3ea03cd34296be367a2114087fc05d0ecef80eb261e6efaa55ecab065b5eaa61",
        "9qNPLC4KfwJJtZpaVVitg/4dba6Udsv4akLty0i1a416rTCpV+OAypes3tutB43DjONM2Kl/C1t7s8d5IxOPwEpBecx5te+o"
        "VyYDAzwtgoo8FJeTXW2zwwJ9muq1kud6q1YBkVlaJIVnoujRtQJ2SeZCQvkofD4Jjiz+zsKhqEnH",
        "what flows into window 1's backward pass from its own losses, and what from later windows?"),
    "q_backend_switch": _multiple_choice(
        "07", "What does set_backend(\"cupy\") change?",
        {"a": "every layer's code, rewritten for CUDA",
         "b": "the arithmetic: results become bit for bit equal to NumPy's",
         "c": "nothing until each layer imports CuPy itself",
         "d": "the array module that xp() and array_module hand out: the same layer code runs on the GPU"},
        "7e3d4b42edbcd2f6234e71f1e044e0a611615501b65d9b1cc0af43602e9f7a8b",
        "W1Tyl4dAu+jH3D6AqORPoFlYO2I2nacyCbjw5SYCm+mhaPDCxN1pC8vNObmDF9RDepyUuxoB8MX6PEpZpAbI7D1j72hrRy5m"
        "KrKpQOuvMpcPPRfoInpLwuQB8L0jHQ5AZql3KfTIvbdvocVcUqDoz8gVF5sbuE6y93BhjlXbQY7xWhXHPzSVc9T2PmE1vrbd"
        "FIjfBQ==",
        "read the switch: what do xp() and array_module return, and who calls them?"),
    "q_gpu_timer": _multiple_choice(
        "07", "Why must a timer of a CuPy training step call synchronize() before it reads the clock?",
        {"a": "synchronize copies the loss back to the host, which the timer needs",
         "b": "a CuPy call returns as soon as its kernel is queued: without it the clock times the queueing, "
              "not the work",
         "c": "it warms up CuPy's memory pool", "d": "NumPy needs it too; it is there for symmetry"},
        "a88a2c5582892f5b7ee76324d2086d57b0c84f39e7d10c89b41deed0be31e72c",
        "fbPOlf0GB8+s8wmZSh6tXdGlsbfa4n4lGEOFUQbIN1XBGPvH9lt+p32V2Zz3xlsdohokMxhEBE6/2CrdDSWKE0EHP2YwCtK+"
        "+NrrPQiAuK9EscDeS7T81TVfx4cEokDWAnIXyRVyqZ85QuOYYb7ZFjyw4pys4xHVVRvyXDg=",
        "what has a CuPy call done by the time it returns?"),
    "q_two_network_lock": _multiple_choice(
        "08", "Trained by one backward pass through both networks (TwoNetworks.locked), when may A update?",
        {"a": "after each of its own steps",
         "b": "only after B has run forward and backward through all its ticks of the segment",
         "c": "at B's next tick", "d": "before B has run at all"},
        "36db3920283ccdaeb96860a51dc03b022cf7b755c0263476317b532d67aed3c1",
        "2P/rno1+UB0f+4AgQvgGE5twS4PI8y/7iJyi91643lzSlispoFjeBeleHxc6qeMahYa30uwFtI+CUE1izFk4zs26P4c39bNf"
        "0tDHYkBxxA8Tv6bWI6MWRrQdfsuWuyuHu1xot3x5VYz9qqXGvnfWBzGmXlvXou84NqHf4MWHxBB53A==",
        "what does A's backward need from B, and when does B have it?"),
    "q_first_f1_update": _number(
        "09", "A 3-module DNI trainer (as notebook 04's, bootstrapping), its M's zero at the start: in which step "
        "(counting from 1) does f_1 first get a non-zero synthetic gradient? (a whole number)", 0,
        "8810fd559736dcc4dc7de95758df7f1bb6158ff25d764d38ecb3ffe94dd28a94",
        "uyVe3x4n7gL9O6gb3iLHXbeQj3/4cxzvCXHe32uyoIkY2fjvmCPTZy46AM/aWm0CxpiCvo6MF+2KwxMqZXZRXu5DyrkVyVzU"
        "rxth3gTVnzbbN6FJIw0Ny6Ywh1FER5PNlzJJ1Ug5NdZHYYeaSepayCmssYTtPAT6QV/jjoZcihIvjLhfnseqIUHXn4P35yh2"
        "erbdHXoDpboplco8QH3hp7702Fg=",
        "follow the true gradient from the loss down: how far does it get each step, with every M at zero?"),
}


def normalise(name, value):
    """The text of `value` that is hashed: a choice's letter in lower case, a number rounded as the question
    asks ("3", "88.72"). Raises NotImplementedError while unanswered, ValueError for a wrong kind of answer."""
    if value is None or value is Ellipsis:
        raise NotImplementedError(name)
    question = QUESTIONS[name]
    if question["choices"] is not None:
        letter = str(value).strip().lower()
        if letter not in question["choices"]:
            raise ValueError(f"answer with one of {', '.join(repr(k) for k in question['choices'])}")
        return letter
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"answer with a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"answer with a finite number, not {number}")
    decimals = question["decimals"]
    return f"{round(number, decimals) + 0.0:.{decimals}f}"          # + 0.0: -0.0 is 0


def digest(name, value):
    """SHA-256, in hex, of question `name`'s normalised answer `value`, salted with the name."""
    return hashlib.sha256(f"minidni:{name}:{normalise(name, value)}".encode()).hexdigest()


def _keystream(key, n):
    """n bytes of SHA-256 in counter mode, keyed by `key` (a question and its normalised answer, "name:answer")."""
    blocks = (hashlib.sha256(f"minidni-why:{key}:{k}".encode()).digest() for k in range(n // 32 + 1))
    return b"".join(blocks)[:n]


def seal_with(key, text):
    """`text` XOR the keystream of `key`, in base64: readable only to whoever knows `key`."""
    data = text.encode()
    return base64.b64encode(bytes(a ^ b for a, b in zip(data, _keystream(key, len(data))))).decode()


def unseal_with(key, sealed):
    """The text that seal_with(key, text) sealed."""
    data = base64.b64decode(sealed)
    return bytes(a ^ b for a, b in zip(data, _keystream(key, len(data)))).decode()


def seal(name, value, text):
    """`text` sealed with question `name`'s answer `value`: readable only with the right answer."""
    return seal_with(f"{name}:{normalise(name, value)}", text)


def unseal(name, value, sealed):
    """The text that seal(name, value, text) sealed, given the same answer `value`."""
    return unseal_with(f"{name}:{normalise(name, value)}", sealed)


def judge(name, value, error=AssertionError):
    """Why `value` answers question `name` rightly; else raise `error` (the checker's ExerciseError) with a
    nudge that does not give the answer away. Raises NotImplementedError while unanswered."""
    question = QUESTIONS[name]
    try:
        right = digest(name, value) == question["answer_sha256"]
    except ValueError as e:
        raise error(f"{name}: {e}") from None
    if not right:
        raise error(f"{name}: {value!r} is not it; {question['nudge']}")
    return unseal(name, value, question["why_sealed"])
