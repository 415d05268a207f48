"""Generator parameters of one RedMulE instance, their limits and the values derived from them."""
import numbers
from dataclasses import dataclass
from types import MappingProxyType

from redmule_hdl.spec.formats import FP16, format_by_name
from redmule_hdl.spec.pipeline import FAST_FROM_P, MAX_PIPELINE
from redmule_hdl.spec.schedule import Schedule

__all__ = ["Config", "check_config", "check_int", "fp8_beats_word_aligned"]


def check_int(name, value, lo, hi=None):
    """``int(value)`` if it is an integer in ``lo..hi``; TypeError/ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rule = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise ValueError(f"{name} must be {rule}, not {value!r}")
    return int(value)


def check_bool(name, value):
    """``value`` if it is a bool; TypeError naming ``name`` otherwise."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


@dataclass(frozen=True)
class Config:
    """Parameters of a RedMulE instance.

    L: rows of the CE array (output rows computed in parallel).
    H: computing elements per row (reduction steps per ring pass).
    P: pipeline registers inside each FMA; a CE has latency P + 1.
    contexts: job contexts of the register file.
    misaligned: the TCDM port is 32 bits wider than a beat so that element-aligned rows work; without
        it every row must be word aligned, and D must be even (a beat of FP16 elements is then a whole
        number of words; FP8 jobs also need D to be a multiple of 4, else they are refused).
    write_responses: the memory answers every granted write with ``r_valid`` as well (PULP TCDM and
        HCI do); the port then expects one response per write, in order with the reads, and drops it.
    beat_format: the format of which D elements make one port transfer: ``"fp16"`` (a transfer is a
        whole engine beat, ``16*D`` bits) or ``"fp8"`` (``8*D`` bits: FP8 streams move one transfer
        per beat, FP16 streams two, the low then the high D bytes of the beat). Without
        ``misaligned``, ``"fp8"`` needs D to be a multiple of 4 (the high half of an FP16 beat starts
        D bytes after its low half and must be word aligned).
    fast_fma: the FMA's datapath. ``True``: the one for a short clock at deep pipelines
        (``FMA(fast=True)``: Kogge-Stone adds, a carry-save product, P - A and A - P side by side),
        whose stage shrinks with every register; ``False``: the small one, whose slowest stage from
        P = 3 on (its wide add with the conditional negation) no register splits; ``None`` (the
        default): the small one for P < 4, the fast one from P = 4 on
        (``spec.pipeline.FAST_FROM_P``), so that every register buys clock. ``fast_datapath`` is the
        choice made. In every flow; bit- and cycle-identical (docs/results/clock-per-P.md).
    memories: what holds its data in ``amaranth.lib.memory.Memory`` (one write port and one
        asynchronous read port each, which FPGA synthesis maps to distributed RAM) instead of
        registers: ``"flops"`` nothing (the ASIC build, the default), ``"fifos"`` the streamer's load
        FIFOs, ``"ram"`` the load FIFOs and the X-buffer (``MEMORIES``). All builds are bit- and
        cycle-identical; the W- and Z-buffers are registers in all (docs/architecture.md, "FPGA
        memories").
    fpga_arith: arithmetic for an FPGA: the job guard's three range products (``(rows-1)*pitch``,
        16 x 32 bits) as multiplies, which FPGA synthesis maps to its multiplier blocks (ECP5: 6
        MULT18X18D), and the control adds and comparisons (address generators, tile walks, job
        counts, job guard) as ``+``, which it maps to carry chains; instead of carry-save rows and
        8-bit carry-select blocks (``arith.adders.block_add``), which keep every ASIC stage short (the
        default: there a multiply or a ripple add would set the clock). With the fast FMA datapath
        (``fast_datapath``) also its product as one multiply (ECP5: a MULT18X18D per CE) and its
        wide adds and rounding increment as carry chains instead of a carry-save tree and
        Kogge-Stone adders, its registers placed by ECP5 delay (``FMA(fpga_arith=True)``,
        ``spec.pipeline.FPGA_PLACEMENTS``); the small datapath's P = 2 and P = 3 registers
        too (``FPGA_SMALL_PLACEMENTS``). Bit- and cycle-identical.
    """
    L: int = 12
    H: int = 4
    P: int = 3
    contexts: int = 2
    misaligned: bool = True
    write_responses: bool = False
    beat_format: str = "fp16"
    fast_fma: bool | None = None
    memories: str = "flops"
    fpga_arith: bool = False

    #: The values of ``beat_format``, with the bytes of one element of each.
    BEAT_FORMATS = MappingProxyType({"fp16": 2, "fp8": 1})
    #: The values of ``memories``, each with the parts it puts into memories ("fifos": the three
    #: load FIFOs, "xbuf": the X-buffer).
    MEMORIES = MappingProxyType({"flops": (), "fifos": ("fifos",), "ram": ("fifos", "xbuf")})

    # Hardware limits of this design; each is explained where it is checked.
    MAX_L = 64
    MAX_H = 32
    MAX_P = MAX_PIPELINE
    MAX_CONTEXTS = 16

    def __post_init__(self):
        # L, H: a 16-bit M/K job field needs at least one row and one column; the upper bounds keep
        # the generated netlist within what Yosys and the simulators handle in reasonable time.
        check_int("L", self.L, 1, self.MAX_L)
        check_int("H", self.H, 1, self.MAX_H)
        # P: the FMA spreads its registers over its natural cut points (spec.pipeline.CUT_POINTS); one
        # more than there are cut points is accepted (two then share one), more would only add latency.
        check_int("P", self.P, 0, self.MAX_P)
        check_int("contexts", self.contexts, 1, self.MAX_CONTEXTS)
        for name in ("L", "H", "P", "contexts"):     # numpy integers become plain ints
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("misaligned", "write_responses", "fpga_arith"):
            check_bool(name, getattr(self, name))
        if self.fast_fma is not None and not isinstance(self.fast_fma, bool):
            raise TypeError(f"fast_fma must be a bool or None, not {self.fast_fma!r}")
        if not isinstance(self.beat_format, str):
            raise TypeError(f"beat_format must be a str, not {self.beat_format!r}")
        if self.beat_format not in self.BEAT_FORMATS:
            raise ValueError(f"beat_format must be one of {', '.join(map(repr, self.BEAT_FORMATS))}, "
                             f"not {self.beat_format!r}")
        if not isinstance(self.memories, str):
            raise TypeError(f"memories must be a str, not {self.memories!r}")
        if self.memories not in self.MEMORIES:
            raise ValueError(f"memories must be one of {', '.join(map(repr, self.MEMORIES))}, "
                             f"not {self.memories!r}")
        if self.H * (self.P + 1) < 2:
            # A ring of one element (D = 1) would need the CE output in the same cycle as its input.
            raise ValueError(f"D = H*(P+1) must be >= 2, not {self.D} (H={self.H}, P={self.P})")
        if not self.misaligned and self.beat_format == "fp8" and self.D % 4:
            # The high half of an FP16 beat starts D bytes after its low half: a word boundary only
            # if D is a multiple of 4, and without the shifter every transfer must start on one.
            raise ValueError(f"beat_format='fp8' with misaligned=False needs D = H*(P+1) to be a "
                             f"multiple of 4 (an FP16 beat moves as two transfers D bytes apart, each "
                             f"word aligned), not D={self.D} (H={self.H}, P={self.P})")
        if not self.misaligned and self.D % 2:
            # Without the shifter a beat must start and end on word boundaries: 2*D bytes of FP16.
            raise ValueError(f"misaligned=False needs an even D = H*(P+1) (a beat of D FP16 elements "
                             f"must be whole 32-bit words), not D={self.D} (H={self.H}, P={self.P})")

    def storage(self, part):
        """How ``part`` ("fifos" or "xbuf") stores its data under ``memories``: "ram" or "flops"."""
        return "ram" if part in self.MEMORIES[self.memories] else "flops"

    @property
    def fast_datapath(self):
        """Whether the FMA is built with its fast datapath: ``fast_fma``, or when that is None,
        P >= ``spec.pipeline.FAST_FROM_P``."""
        return self.P >= FAST_FROM_P if self.fast_fma is None else self.fast_fma

    @property
    def D(self):
        """Elements per beat: partial sums held by one ring (H * (P + 1))."""
        return self.H * (self.P + 1)

    @property
    def beat_width(self):
        """Bits of the engine's beat: D FP16 elements (``interfaces.beat_layout``), whatever the port
        moves per transfer."""
        return 16 * self.D

    @property
    def transfer_bytes(self):
        """Bytes of data one port transfer moves: D elements of ``beat_format``."""
        return self.BEAT_FORMATS[self.beat_format] * self.D

    @property
    def transfer_width(self):
        """Bits of data one port transfer moves (``8 * transfer_bytes``)."""
        return 8 * self.transfer_bytes

    @property
    def port_width(self):
        """Data bits of the TCDM port: one transfer, plus a word for the byte shift with
        ``misaligned``."""
        return self.transfer_width + (32 if self.misaligned else 0)

    def transfers_per_beat(self, fmt):
        """Port transfers that move one beat of D elements stored as ``fmt`` (a format name or
        ``FpFormat``): 2 for FP16 elements on an ``"fp8"`` port, else 1."""
        return -(-self.D * format_by_name(fmt).bytes // self.transfer_bytes)

    @property
    def splits_fp16(self):
        """An FP16 beat takes two transfers (the port carries D FP8 elements)."""
        return self.transfers_per_beat(FP16) == 2

    @property
    def narrow_fp8_ok(self):
        """FP8 rows of several beats can be moved (``fp8_beats_word_aligned``)."""
        return fp8_beats_word_aligned(self.misaligned, self.D)

    @property
    def port_words(self):
        return self.port_width // 32

    @property
    def peak_fmas_per_cycle(self):
        return self.L * self.H

    @property
    def ce_latency(self):
        return self.P + 1

    def schedule(self, M, N, K, *, uses_y=True):
        """The ``spec.schedule.Schedule`` of an M x N x K job on this configuration."""
        return Schedule(self, M, N, K, uses_y=uses_y)

    def compute_bound(self, M, N, K):
        """C: cycles of an M x N x K job with every CE busy (``Schedule.compute_cycles``)."""
        return self.schedule(M, N, K).compute_cycles

    def port_bound(self, M, N, K, *, uses_y=True, in_fmt="fp16", out_fmt=None):
        """B: port transfers of an M x N x K job whose X and W are stored as ``in_fmt`` and Y and Z
        as ``out_fmt`` (default ``in_fmt``), at most one per cycle (``Schedule.port_transfers``).
        It equals the job's beats except for FP16 streams on an ``"fp8"`` port (two transfers a
        beat)."""
        return self.schedule(M, N, K, uses_y=uses_y).port_transfers(in_fmt, out_fmt)

    def utilization(self, M, N, K, cycles):
        return M * N * K / (self.L * self.H * cycles)

    def __str__(self):
        return f"{self.L}x{self.H}x{self.P}"


def fp8_beats_word_aligned(misaligned, D):
    """Whether the later beats of an FP8 row can be moved: a row's beats start D bytes apart, which
    only a port with the shifter (``misaligned``) can take unless D is a multiple of 4. (FP16 beats,
    2*D bytes apart, are always whole words: ``Config`` refuses an odd D without the shifter.)"""
    return misaligned or D % 4 == 0


def check_config(config):
    """``config`` if it is a ``Config``; TypeError naming the parameter otherwise (for components)."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a redmule_hdl.Config, not {config!r}")
    return config
