"""The complete accelerator: register file, controller, streamer and engine behind two bus ports."""
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import Config, check_config
from redmule_hdl.engine.engine import Engine
from redmule_hdl.interfaces import PeriphSignature, TcdmSignature
from redmule_hdl.system.controller import Controller
from redmule_hdl.system.regfile import RegFile
from redmule_hdl.system.streamer import Streamer

__all__ = ["RedMulE", "TOP_NAME"]

#: Name of the top-level module in the exported Verilog.
TOP_NAME = "redmule_top"


class RedMulE(wiring.Component):
    """RedMulE for a ``Config`` (L, H, P, contexts, misaligned, write_responses, beat_format).

    Ports:
        tcdm (``Out(TcdmSignature(config.port_width))``): the wide memory initiator port. ``req``, ``gnt``,
            ``add`` (32-bit byte address, word aligned), ``wen`` (1 = read), ``be``
            (``port_width/8`` byte enables), ``data`` (``port_width`` = 16*D, or 8*D with
            ``beat_format="fp8"``, +32 with misaligned, bits, word i at ``add + 4*i``; on an fp8 port
            a beat of FP16 elements takes two transfers, back to back); responses
            ``r_valid``/``r_data``, in order, one per accepted read (and, with
            ``write_responses``, one per accepted write, whose data is ignored), at least one
            cycle later, never back-pressured. A raised request stays raised and unchanged until
            granted, also across a soft clear.
        periph (``In(PeriphSignature())``): the 32-bit HWPE control target: ``req``, ``gnt`` (always
            1), ``add``, ``wen`` (1 = read), ``be``, ``data``, ``id`` (8 bits); ``r_valid``,
            ``r_data``, ``r_id`` one cycle after every accepted request. Register map: ``regmap``.
        evt (``Out(1)``): one-cycle pulse per finished or refused job.
        busy (``Out(1)``): a job is queued or running, or a request or response of the memory port is
            still outstanding (after a soft clear: until the waiting request is granted and every
            response has arrived).

    Timing (cycles): a TRIGGER write accepted in cycle t while nothing is queued starts the job in
    cycle t, or, for a job of more than one tile (M > L or K > D), in cycle t + 5 after the check
    that its Z shares no byte with its operands (``Controller``, ERROR = OVERLAP otherwise); its
    first TCDM request is raised in the cycle after its start. ``evt`` is high in the cycle after the
    last Z store is granted, which is also the last cycle CYCLES counts. No output depends
    combinationally on an input.
    A queued job starts the cycle after the previous job's ``evt``. A refused job's ``evt`` follows
    its start by one cycle. SOFT_CLEAR accepted in cycle t aborts engine and streamer in cycle t + 1:
    a job whose ``evt`` falls in cycle t or earlier has finished (its last store was granted in
    cycle t - 1 or earlier); any later one is aborted and raises no ``evt``. From cycle t + 2 no new request is raised; a
    request raised in cycle t + 1 and not yet granted stays until it is granted (its response is
    dropped). A job queued after the clear starts only once the port is idle.
    """

    def __init__(self, config=None, *, ce_module=None):
        self.config = check_config(Config() if config is None else config)
        self.ce_module = ce_module      # export mode of the engine's CEs (redmule_hdl.export)
        super().__init__({
            "tcdm": Out(TcdmSignature(config.port_width)),
            "periph": In(PeriphSignature()),
            "evt": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        m.submodules.regfile = regfile = RegFile(c.contexts)
        m.submodules.controller = ctrl = Controller(misaligned=c.misaligned, D=c.D, L=c.L,
                                                    fpga_arith=c.fpga_arith)
        m.submodules.streamer = streamer = Streamer(c)
        m.submodules.engine = engine = Engine(c, ce_module=self.ce_module)

        wiring.connect(m, wiring.flipped(self.periph), regfile.periph)
        wiring.connect(m, regfile.head, ctrl.head)
        wiring.connect(m, ctrl.status, regfile.status)
        wiring.connect(m, ctrl.engine, engine.control)
        wiring.connect(m, ctrl.streamer, streamer.control)
        wiring.connect(m, streamer.x, engine.x)
        wiring.connect(m, streamer.w, engine.w)
        wiring.connect(m, streamer.y, engine.y)
        wiring.connect(m, engine.z, streamer.z)
        wiring.connect(m, streamer.tcdm, wiring.flipped(self.tcdm))
        m.d.comb += [
            self.evt.eq(ctrl.evt),
            self.busy.eq(regfile.busy | ~streamer.control.idle),
        ]
        return m
