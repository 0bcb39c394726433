"""Rules that several parts of trainwise apply, each written once (torch-free, so the CLI can use them
before it imports torch).

- the positive class of a binary task (:func:`positive_index`);
- the seed's range (:func:`check_seed`);
- the evaluation batch size (:func:`eval_batch_size`);
- the default decision threshold (:data:`DEFAULT_THRESHOLD`; the rules live in :mod:`trainwise.decision`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from trainwise.errors import InputError, name_list

DEFAULT_THRESHOLD = 0.5        # a binary model's default decision threshold on the positive class's probability
SEED_LIMIT = 2**32             # numpy's and torch's generators both take seeds below this
EVAL_BATCH_FACTOR = 4          # evaluation keeps no gradients, so a batch 4x larger fits in the same memory
BINARY_PAIRS = ((("0", "1"), "1"), (("false", "true"), "true"))


def positive_index(labels: Sequence[object], counts: Sequence[int] | None = None, positive: object = None) -> int:
    """Index of the positive class of a binary task among ``labels``, in label order.

    The one rule, applied to tables, tensors, the metric accumulator and logged metrics alike:
    ``positive`` when given (matched as text, ``True`` == ``"True"``, ``1`` == ``1.0`` == ``"1"``,
    case-insensitively when that is unambiguous); else ``1`` when the labels are 0/1, ``True`` when they
    are booleans; else the rarest class by ``counts``, and on a tie (or without counts) the later one in
    label order -- which is class index 1 for unnamed classes.
    """
    names = [label_text(label) for label in labels]
    if counts is not None and len(names) != len(counts):
        raise ValueError(f"Expected one count per label, but got {len(counts)} counts for {len(names)} labels")
    if positive is not None:
        key = label_text(positive)
        if key in names:
            return names.index(key)
        folded = [i for i, name in enumerate(names) if name.casefold() == key.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise InputError(f"positive class {key!r} is not one of the labels ({name_list(names)}); pass one of "
                         "them with --positive.")
    canonical = [_canonical(name) for name in names]
    for pair, wanted in BINARY_PAIRS:
        if tuple(sorted(canonical)) == pair:
            return canonical.index(wanted)
    if counts is None:
        return len(names) - 1
    rarest = min(counts)
    return max(i for i, c in enumerate(counts) if c == rarest)


def label_text(value: object) -> str:
    """A label as text: booleans as ``True``/``False``, whole floats as integers (``1.0`` -> ``"1"``)."""
    if type(value).__name__ in ("bool", "bool_"):
        return str(bool(value))
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        number = float(value)  # type: ignore[arg-type]
        if math.isfinite(number) and number.is_integer():
            return str(int(number))
    return str(value)


def _canonical(name: str) -> str:
    """``"1.0"`` -> ``"1"``, ``"TRUE"`` -> ``"true"``: how 0/1 and boolean labels are recognised."""
    try:
        number = float(name)
    except ValueError:
        return name.casefold()
    return str(int(number)) if math.isfinite(number) and number.is_integer() else name.casefold()


def check_seed(seed: object, *, name: str = "seed") -> int:
    """The seed, or an InputError naming it: an int in [0, 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise InputError(f"Expected `{name}` to be an int >= 0 and < 2**32, but got {seed!r}.")
    return seed


def eval_batch_size(batch_size: int, val_batch_size: int | None = None) -> int:
    """The batch size of validation and evaluation passes: ``val_batch_size``, else 4x the training one."""
    return val_batch_size if val_batch_size is not None else EVAL_BATCH_FACTOR * batch_size
