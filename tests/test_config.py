"""Config: defaults, derived values, validation and the performance bounds."""
import dataclasses
import math
import re

import pytest

from redmule_hdl.config import Config
from redmule_hdl.spec.pipeline import FAST_FROM_P


def test_defaults():
    c = Config()
    assert (c.L, c.H, c.P, c.contexts, c.misaligned, c.beat_format) == (12, 4, 3, 2, True, "fp16")
    assert c.D == 16
    assert c.beat_width == c.transfer_width == 256 and c.transfer_bytes == 32
    assert c.port_width == 288
    assert c.port_words == 9
    assert c.peak_fmas_per_cycle == 48
    assert c.ce_latency == 4
    assert str(c) == "12x4x3"


def test_derived_values_follow_the_formulas():
    for L, H, P, misaligned in [(1, 1, 1, True), (4, 2, 0, False), (8, 8, 2, True), (64, 32, 8, False)]:
        c = Config(L=L, H=H, P=P, misaligned=misaligned)
        assert c.D == H * (P + 1)
        assert c.beat_width == 16 * H * (P + 1)
        assert c.port_width == 16 * c.D + (32 if misaligned else 0)
        assert c.port_words * 32 == c.port_width
        assert c.peak_fmas_per_cycle == L * H
        assert c.ce_latency == P + 1
        assert [c.transfers_per_beat(f) for f in ("fp16", "e5m2", "e4m3")] == [1, 1, 1]


def test_fp8_port_derived_values():
    # The engine's beat stays D FP16 elements; a port transfer is D bytes (+ a word for the shifter).
    for L, H, P, misaligned in [(12, 8, 3, True), (2, 2, 1, False), (3, 3, 0, True), (64, 32, 8, False)]:
        c = Config(L=L, H=H, P=P, misaligned=misaligned, beat_format="fp8")
        assert c.beat_width == 16 * c.D
        assert c.transfer_bytes == c.D and c.transfer_width == 8 * c.D
        assert c.port_width == 8 * c.D + (32 if misaligned else 0)
        assert [c.transfers_per_beat(f) for f in ("fp16", "e5m2", "e4m3")] == [2, 1, 1]
        assert c.splits_fp16 and not Config(L=L, H=H, P=P).splits_fp16
    paper = Config(L=12, H=8, P=3, beat_format="fp8")
    assert (paper.D, paper.port_width, paper.port_width // 8) == (32, 288, 36)


@pytest.mark.parametrize("value", [1, None, b"fp8", True, 8.0])
def test_beat_format_must_be_a_str(value):
    with pytest.raises(TypeError, match=rf"^beat_format must be a str, not {re_quote(value)}$"):
        Config(beat_format=value)


@pytest.mark.parametrize("value", ["fp32", "FP8", "e4m3", "", " fp8"])
def test_beat_format_values(value):
    with pytest.raises(ValueError,
                       match=rf"^beat_format must be one of 'fp16', 'fp8', not {re_quote(value)}$"):
        Config(beat_format=value)


def test_narrow_fp8_port_needs_d_multiple_of_4():
    # Without the shifter the high half of an FP16 beat (D bytes after its low half) must be a word.
    for H, P in ((3, 1), (1, 1), (5, 1)):     # D = 6, 2, 10
        with pytest.raises(ValueError, match=r"^beat_format='fp8' with misaligned=False needs D = "
                                             rf"H\*\(P\+1\) to be a multiple of 4 .*not D={H * (P + 1)} "):
            Config(L=2, H=H, P=P, misaligned=False, beat_format="fp8")
        Config(L=2, H=H, P=P, beat_format="fp8")        # fine with the shifter
        Config(L=2, H=H, P=P, misaligned=False)         # and on an FP16 port
    assert Config(L=2, H=2, P=1, misaligned=False, beat_format="fp8").port_width == 32


def test_narrow_port_needs_whole_word_beats():
    # D = 9: a beat of 18 bytes would start the second k-tile of a row inside a word.
    with pytest.raises(ValueError, match=r"misaligned=False needs an even D = H\*\(P\+1\).*D=9"):
        Config(L=3, H=3, P=2, misaligned=False)
    assert Config(L=3, H=3, P=2).D == 9                   # fine with the shifter
    assert Config(L=3, H=3, P=1, misaligned=False).D == 6  # FP16 beats of 3 words
    assert not Config(L=3, H=3, P=1, misaligned=False).narrow_fp8_ok
    assert Config(L=3, H=2, P=1, misaligned=False).narrow_fp8_ok


def test_write_responses_is_a_bool():
    assert Config().write_responses is False and Config(write_responses=True).write_responses
    with pytest.raises(TypeError, match="write_responses must be a bool"):
        Config(write_responses=1)


def test_aligned_port_is_one_beat():
    c = Config(misaligned=False)
    assert c.port_width == c.beat_width == 256
    assert c.port_words == 8


def test_frozen_and_hashable():
    c = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.L = 8
    assert Config(L=8) == Config(L=8)
    assert len({Config(), Config(), Config(H=2)}) == 2


def re_quote(value):
    return re.escape(repr(value))


@pytest.mark.parametrize("name", ["L", "H", "P", "contexts"])
@pytest.mark.parametrize("value", [True, False, 4.0, "4", None, 2 ** 0.5])
def test_non_int_is_type_error(name, value):
    with pytest.raises(TypeError, match=rf"^{name} must be an int, not {re_quote(value)}$"):
        Config(**{name: value})


@pytest.mark.parametrize("value", [1, 0, "yes", None])
def test_misaligned_must_be_bool(value):
    with pytest.raises(TypeError, match=r"^misaligned must be a bool"):
        Config(misaligned=value)


@pytest.mark.parametrize("name,value", [
    ("L", 0), ("L", -1), ("L", Config.MAX_L + 1),
    ("H", 0), ("H", Config.MAX_H + 1),
    ("P", -1), ("P", Config.MAX_P + 1),
    ("contexts", 0), ("contexts", Config.MAX_CONTEXTS + 1),
])
def test_out_of_range_is_value_error_naming_the_parameter(name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be in \d+\.\.\d+, not {value}$"):
        Config(**{name: value})


@pytest.mark.parametrize("name", ["L", "H", "P", "contexts"])
def test_limits_are_inclusive(name):
    lo = {"L": 1, "H": 1, "P": 0, "contexts": 1}[name]
    hi = {"L": Config.MAX_L, "H": Config.MAX_H, "P": Config.MAX_P, "contexts": Config.MAX_CONTEXTS}[name]
    # H=1 with P=0 would make D = 1, refused separately below; use P=1 for the H limit.
    extra = {"P": 1} if name == "H" else {}
    assert getattr(Config(**{name: lo}, **extra), name) == lo
    assert getattr(Config(**{name: hi}, **extra), name) == hi


def test_ring_of_one_is_refused():
    with pytest.raises(ValueError, match=r"D = H\*\(P\+1\) must be >= 2, not 1 \(H=1, P=0\)"):
        Config(H=1, P=0)
    assert Config(H=1, P=1).D == 2
    assert Config(H=2, P=0).D == 2


# Shapes (M, N, K) from the original's regression list and a few edge cases.
SHAPES = [(96, 96, 96), (12, 16, 16), (48, 48, 48), (30, 32, 17), (24, 32, 1), (5, 32, 3),
          (36, 31, 32), (23, 17, 33), (3, 11, 32), (17, 13, 17), (1, 1, 1)]


def compute_bound(c, M, N, K):
    """C = ceil(M/L) * ceil(K/D) * ceil(N/H) * D, recomputed here by hand."""
    return math.ceil(M / c.L) * math.ceil(K / c.D) * math.ceil(N / c.H) * c.D


def port_bound(c, M, N, K, uses_y):
    """B = X + W + Y + Z beats, recomputed here by hand, Y only when the op uses it."""
    kt = math.ceil(K / c.D)
    x = M * math.ceil(N / c.D) * kt
    w = math.ceil(M / c.L) * kt * N
    z = M * kt
    return x + w + z + (z if uses_y else 0)


@pytest.mark.parametrize("cfg", [Config(), Config(L=8, H=2, P=1), Config(L=3, H=4, P=2, misaligned=False)],
                         ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_bounds_match_design_formulas(cfg, shape):
    M, N, K = shape
    assert cfg.compute_bound(M, N, K) == compute_bound(cfg, M, N, K)
    assert cfg.port_bound(M, N, K) == port_bound(cfg, M, N, K, uses_y=True)
    assert cfg.port_bound(M, N, K, uses_y=True) == port_bound(cfg, M, N, K, uses_y=True)
    assert cfg.port_bound(M, N, K, uses_y=False) == port_bound(cfg, M, N, K, uses_y=False)


FORMAT_PAIRS = [("fp16", None), ("e4m3", None), ("e5m2", "fp16"), ("fp16", "e4m3"), ("fp16", "fp16")]


@pytest.mark.parametrize("cfg", [Config(L=8, H=2, P=1, beat_format="fp8"),
                                 Config(L=12, H=8, P=3, beat_format="fp8"),
                                 Config(L=3, H=3, P=0, beat_format="fp8"), Config()],
                         ids=lambda c: f"{c}-{c.beat_format}")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_port_bound_counts_transfers(cfg, shape):
    # Two transfers per FP16 beat on an FP8 port (X and W in the input format, Y and Z in the output
    # format), one per FP8 beat; on the FP16 port every format pair moves one transfer per beat.
    M, N, K = shape
    kt = math.ceil(K / cfg.D)
    x, w, z = M * math.ceil(N / cfg.D) * kt, math.ceil(M / cfg.L) * kt * N, M * kt
    two = 2 if cfg.beat_format == "fp8" else 1
    for in_fmt, out_fmt in FORMAT_PAIRS:
        t_in = two if in_fmt == "fp16" else 1
        t_out = two if (out_fmt or in_fmt) == "fp16" else 1
        for uses_y in (True, False):
            want = (x + w) * t_in + (z + (z if uses_y else 0)) * t_out
            assert cfg.port_bound(M, N, K, uses_y=uses_y, in_fmt=in_fmt, out_fmt=out_fmt) == want
            assert cfg.schedule(M, N, K, uses_y=uses_y).port_transfers(in_fmt, out_fmt) == want
    assert cfg.port_bound(M, N, K) == cfg.port_bound(M, N, K, in_fmt="fp16", out_fmt="fp16")


def test_when_fp16_jobs_are_port_bound_on_an_fp8_port():
    """The README's rule: with full tiles (L | M, D | N, D | K), an FP16 job on an FP8 port is port
    bound (B > C) exactly when P + 1 < 2 * (1 + L/D + 2L/N) (GEMM; 2L/N becomes L/N without Y); an FP8
    job, as on the FP16 port, when P + 1 < 1 + L/D + 2L/N."""
    from fractions import Fraction as F
    for L, H, P in ((12, 8, 3), (12, 4, 3), (8, 2, 1), (4, 4, 3), (16, 2, 7), (2, 4, 0)):
        c = Config(L=L, H=H, P=P, beat_format="fp8")
        for mt, nt, kt in ((1, 1, 1), (2, 3, 1), (8, 3, 3), (4, 1, 6)):
            M, N, K = mt * L, nt * c.D, kt * c.D
            C = c.compute_bound(M, N, K)
            for uses_y in (True, False):
                ratio = 1 + F(L, c.D) + (2 if uses_y else 1) * F(L, N)
                B16 = c.port_bound(M, N, K, uses_y=uses_y)
                B8 = c.port_bound(M, N, K, uses_y=uses_y, in_fmt="e4m3")
                assert F(B16, C) == 2 * ratio / (P + 1) and F(B8, C) == ratio / (P + 1)
                assert (B16 > C) == (P + 1 < 2 * ratio) and (B8 > C) == (P + 1 < ratio)
    paper = Config(L=12, H=8, P=3, beat_format="fp8")
    assert (paper.compute_bound(96, 96, 96), paper.port_bound(96, 96, 96),
            paper.port_bound(96, 96, 96, in_fmt="e4m3")) == (9216, 7488, 3744)


def test_bounds_hand_computed():
    c = Config()
    # 96^3 on 12x4x3: 8 m-tiles * 6 k-tiles * 24 ring passes * 16 cycles; the original takes 18511.
    assert c.compute_bound(96, 96, 96) == 18432
    # X 96*6*6 + W 8*6*96 + Z 96*6 (+ Y 96*6)
    assert c.port_bound(96, 96, 96, uses_y=False) == 3456 + 4608 + 576
    assert c.port_bound(96, 96, 96) == 3456 + 4608 + 576 + 576
    # 12x16x16: one tile of 4 ring passes; the original takes 141 cycles (about 79 of overhead).
    assert c.compute_bound(12, 16, 16) == 64
    assert c.port_bound(12, 16, 16) == 12 + 16 + 12 + 12
    # 3x11x32 (M, N, K): 1 m-tile * 2 k-tiles * 3 passes * 16.
    assert c.compute_bound(3, 11, 32) == 96
    # A single element still costs a full ring pass.
    assert c.compute_bound(1, 1, 1) == 16
    assert c.port_bound(1, 1, 1, uses_y=False) == 3


def test_utilization():
    c = Config()
    assert c.utilization(96, 96, 96, 18432) == pytest.approx(1.0)
    assert c.utilization(96, 96, 96, 18511) == pytest.approx(96 ** 3 / (48 * 18511))
    assert 0.99 < c.utilization(96, 96, 96, 18511) < 1.0


@pytest.mark.parametrize("value", [1, None, "yes"])
def test_fast_fma_and_fpga_arith_must_be_bools(value):
    if value is not None:       # fast_fma None: the generator's choice (below)
        with pytest.raises(TypeError, match=r"^fast_fma must be a bool or None"):
            Config(fast_fma=value)
    with pytest.raises(TypeError, match=r"^fpga_arith must be a bool"):
        Config(fpga_arith=value)


def test_fast_datapath_from_p_4_unless_told():
    # Config.fast_fma None (the default): the small FMA datapath below P = FAST_FROM_P, the fast one
    # from there on, where the small one's registers no longer buy clock; a bool decides at every P.
    assert Config().fast_fma is None and FAST_FROM_P == 4
    assert [Config(P=p).fast_datapath for p in range(Config.MAX_P + 1)] == [False] * 4 + [True] * 5
    assert not any(Config(P=p, fast_fma=False).fast_datapath for p in range(Config.MAX_P + 1))
    assert all(Config(P=p, fast_fma=True).fast_datapath for p in range(Config.MAX_P + 1))


@pytest.mark.parametrize("argv, fast_fma", [([], None), (["--fast-fma"], True), (["--small-fma"], False)])
def test_datapath_flags(argv, fast_fma):
    from redmule_hdl.config_args import ArgumentParser, add_config_arguments, config_from_args
    parser = ArgumentParser(prog="t")
    add_config_arguments(parser)
    assert config_from_args(parser.parse_args(["-P", "6", *argv]), parser).fast_fma is fast_fma
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--fast-fma", "--small-fma"])
    assert stop.value.code == 2
