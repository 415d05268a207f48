"""Shared test data: FP16/FP8 matrices with special values sprinkled in."""
import numpy as np

from redmule_hdl.sim.streams import FP16_SPECIALS
from redmule_hdl.spec import golden
from redmule_hdl.spec.formats import format_by_name


def random_matrix(rng, shape, fmt="fp16", special_fraction=0.0, scale=1.0):
    """Values of moderate magnitude rounded to ``fmt``, with some special values mixed in."""
    f = format_by_name(fmt)
    bits = golden.from_float(rng.normal(0.0, scale, size=shape), f)
    if special_fraction:
        specials = golden.cast(FP16_SPECIALS, "fp16", f) if f.width == 8 else FP16_SPECIALS
        if f.width == 8:   # FP8 NaN payloads: use raw patterns too
            specials = np.concatenate([specials, np.array([f.inf | 1, f.sign_mask | 1, 1], np.uint8)])
        pick = rng.random(shape) < special_fraction
        bits = np.where(pick, rng.choice(specials, size=shape), bits).astype(bits.dtype)
    return bits
