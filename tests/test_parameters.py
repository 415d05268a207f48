"""Every component refuses a bad parameter with a TypeError or ValueError that names it."""
import gc
import warnings

import pytest
from amaranth.hdl import UnusedElaboratable

from redmule_hdl.arith.cast import Fp8ToFp16
from redmule_hdl.arith.fma import FMA
from redmule_hdl.arith.minmax import MinMax
from redmule_hdl.config import Config
from redmule_hdl.engine.ce import ComputeElement
from redmule_hdl.engine.engine import Engine
from redmule_hdl.engine.w_buffer import WBuffer
from redmule_hdl.engine.x_buffer import XBuffer
from redmule_hdl.engine.z_buffer import ZBuffer
from redmule_hdl.interfaces import TcdmSignature, beat_layout
from redmule_hdl.system.controller import Controller
from redmule_hdl.system.job_guard import ByteRange, JobGuard
from redmule_hdl.system.regfile import RegFile
from redmule_hdl.system.streamer import Streamer
from redmule_hdl.system.streamer.arbiter import Arbiter
from redmule_hdl.system.streamer.loads import LoadFifo, ResponsePath
from redmule_hdl.system.streamer.stores import StorePath
from redmule_hdl.system.top import RedMulE

from .helpers import refused

BAD = [
    (lambda: FMA(pipeline=9), ValueError, "pipeline"),
    (lambda: MinMax(pipeline=-1), ValueError, "pipeline"),
    (lambda: ComputeElement(2.0), TypeError, "pipeline"),
    (lambda: Fp8ToFp16(0), ValueError, "lanes"),
    (lambda: XBuffer(0, 4), ValueError, "L must be"),
    (lambda: XBuffer(2, 1), ValueError, "D must be"),
    (lambda: WBuffer("2", 4), TypeError, "H must be"),
    (lambda: ZBuffer(2, True), TypeError, "D must be"),
    (lambda: RegFile(0), ValueError, "contexts must be"),
    (lambda: RegFile(Config()), TypeError, "contexts must be"),
    (lambda: Controller(misaligned=1, D=4, L=2), TypeError, "misaligned must be"),
    (lambda: Controller(misaligned=True, D=4, L=2, fpga_arith="yes"), TypeError, "fpga_arith must be"),
    (lambda: JobGuard(fpga_arith=1), TypeError, "fpga_arith must be a bool"),
    (lambda: ByteRange(fpga_arith=None), TypeError, "fpga_arith must be a bool"),
    (lambda: Controller(misaligned=False, D=1, L=2), ValueError, "D must be"),
    (lambda: LoadFifo(4, 0), ValueError, "depth must be"),
    (lambda: ResponsePath(Config(), 0), ValueError, "depth must be"),
    (lambda: StorePath({"D": 4}), TypeError, "config must be"),
    (lambda: Streamer(Config(), x_depth=65), ValueError, "x_depth must be"),
    (lambda: Arbiter([]), TypeError, "levels must be"),
    (lambda: Engine(None), TypeError, "config must be"),
    (lambda: RedMulE("12x4x3"), TypeError, "config must be"),
    (lambda: TcdmSignature(44), ValueError, "port_width must be"),
    (lambda: TcdmSignature(8), ValueError, "port_width must be"),
    (lambda: beat_layout(0), ValueError, "D must be"),
]


@pytest.mark.parametrize("make,error,message", BAD, ids=[m for *_, m in BAD])
def test_bad_parameter_is_refused(make, error, message):
    with refused(error, message):
        make()


def test_signatures_compare_by_value():
    from redmule_hdl.interfaces import PeriphSignature
    assert PeriphSignature() == PeriphSignature()
    assert TcdmSignature(288) == TcdmSignature(288) != TcdmSignature(256)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        a, b = RedMulE(Config(L=2, H=2, P=1)), RedMulE(Config(L=2, H=2, P=1))
        assert a.signature == b.signature
        del a, b
        gc.collect()
