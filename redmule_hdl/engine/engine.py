"""The compute engine: L rows x H computing elements, the X/W/Z buffers and their scheduler.

Stream protocol: the engine consumes X, W and Y beats and produces Z beats in the order of
``spec.schedule`` (m-tile -> k-tile; inside a tile X by n-chunk then row, W by n, Y and Z by row).
Elements of a beat beyond N (X) or K (W, Y) are don't-care; Z beats carry a mask of the columns
below K. The three input streams are independent: each is consumed as soon as the engine has room,
so a producer serving whichever stream is ready never deadlocks. Timing: docs/architecture.md
("Timing model").
"""
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.ce_array import CeArray
from redmule_hdl.engine.job_slots import JobSlots
from redmule_hdl.engine.sequencer import Sequencer
from redmule_hdl.engine.w_buffer import WBuffer
from redmule_hdl.engine.x_buffer import XBuffer
from redmule_hdl.engine.x_fill import XFill
from redmule_hdl.engine.z_buffer import ZBuffer
from redmule_hdl.engine.z_control import ZControl
from redmule_hdl.interfaces import EngineControlSignature, EngineJob, beat_layout, z_beat_layout

__all__ = ["Engine"]


class Engine(wiring.Component):
    """The RedMulE compute engine for a ``Config`` (L, H, P).

    Ports:
        control (``In(EngineControlSignature())``): ``job`` (stream in, ``EngineJob``: m, n, k,
            uses_y, ce; M, N, K >= 1), accepted while one of the two job slots is free, so the next
            job can be accepted while the current one runs; ``abort``: return to idle at once (soft
            clear), accepted jobs and buffered beats are dropped.
        x, w, y (streams in): operand beats of D FP16 elements, order in the module docstring.
        z (stream out): result beats (``data``, ``mask``).
        done: one-cycle pulse with each job's last Z beat.
    Timing: a tile of L x D outputs costs ``ceil(N/H) * D`` cycles with all CEs busy; tiles follow
    each other without bubbles while the streams keep up. If a beat is late or ``z`` is not ready, the
    whole array stalls (one global enable) and resumes without losing or repeating work.
    Jobs in a row: the X fill, the sequencer and the Y/Z phases each walk the accepted jobs in order
    (``JobSlots``). When the next job is there before the sequencer feeds the last step of the current
    one and it has the same CE control, its first tile follows like another tile of the same job: the
    current job's last Z leaves during the next job's first pass. Otherwise the current job's last Z
    flushes out first (D cycles), and the next job starts after.
    Parts: ``slots`` (``JobSlots``: the jobs, walked by the parts below), ``seq`` (``Sequencer``: the
    steps fed to the array and its enable), ``xfill`` (``XFill``: the X-buffer's groups), ``zctl``
    (``ZControl``: the Z-buffer's phases, Y in and Z out), ``array`` (``CeArray``: the CEs and their
    X registers) and the buffers ``xbuf``, ``wbuf``, ``zbuf``; this module only connects them.
    """

    def __init__(self, config, *, ce_module=None):
        self.config = check_config(config)
        # Export mode: instantiate the CEs as ``Instance(ce_module)`` of one separately elaborated
        # ``ComputeElement(P)`` module (``redmule_hdl.export``); None elaborates every CE (simulation).
        self.ce_module = ce_module
        super().__init__({
            "control": In(EngineControlSignature()),
            "x": In(stream.Signature(beat_layout(config.D))),
            "w": In(stream.Signature(beat_layout(config.D))),
            "y": In(stream.Signature(beat_layout(config.D))),
            "z": Out(stream.Signature(z_beat_layout(config.D))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        seq, xfill, zctl = Sequencer(c), XFill(c), ZControl(c)
        # Each part walks the jobs (and holds a copy of the fields it reads).
        walkers = {"seq": seq.walker, "xfill": xfill.walker, "ytile": zctl.ytile, "ztile": zctl.ztile}
        m.submodules.slots = slots = JobSlots(
            EngineJob, {name: port.signature.flip() for name, port in walkers.items()},
            release="ztile")
        m.submodules.seq = seq
        m.submodules.xfill = xfill
        m.submodules.zctl = zctl
        m.submodules.array = array = CeArray(c, ce_module=self.ce_module)
        m.submodules.xbuf = xbuf = XBuffer(c.L, c.D, memories=c.storage("xbuf"))
        m.submodules.wbuf = wbuf = WBuffer(c.H, c.D)
        m.submodules.zbuf = zbuf = ZBuffer(c.L, c.D)

        # Jobs: the slots and their walkers.
        wiring.connect(m, wiring.flipped(self.control.job), slots.put)
        for name, port in walkers.items():
            wiring.connect(m, getattr(slots.walk, name), port)
        m.d.comb += [
            slots.clear.eq(self.control.abort), seq.abort.eq(self.control.abort), xfill.abort.eq(self.control.abort),
            zctl.abort.eq(self.control.abort), xbuf.clear.eq(self.control.abort),
        ]
        # The streams.
        wiring.connect(m, wiring.flipped(self.x), xbuf.beat)
        wiring.connect(m, wiring.flipped(self.w), wbuf.beat)
        wiring.connect(m, wiring.flipped(self.y), zctl.y)
        wiring.connect(m, zctl.z, wiring.flipped(self.z))
        m.d.comb += self.done.eq(zctl.done)
        # The sequencer feeds the array's steps from the X- and W-buffers.
        m.d.comb += [
            seq.w_valid.eq(self.w.valid), seq.x_ready.eq(xbuf.can_take), seq.z_ready.eq(zctl.ready),
            xbuf.take.eq(seq.x_take), xbuf.take_last.eq(seq.x_take_last),
            wbuf.column.eq(seq.column), wbuf.feed.eq(seq.feed), wbuf.shift.eq(seq.en),
            array.en.eq(seq.array_en), array.ctrl.eq(seq.ce), array.step.eq(seq.step),
            array.real.eq(seq.real), array.column.eq(seq.column), array.first.eq(seq.first),
            array.uses_y.eq(seq.uses_y), array.x.eq(xbuf.head), array.w_next.eq(wbuf.w_next),
            array.y.eq(zbuf.head),
        ]
        # The X fill.
        m.d.comb += [
            xfill.group_done.eq(xbuf.group_done),
            xbuf.fill_enable.eq(xfill.fill_enable), xbuf.fill_rows.eq(xfill.fill_rows),
        ]
        # The Z-buffer's phases follow the sequencer's windows.
        m.d.comb += [
            zctl.seq_ptr.eq(slots.walk.seq.ptr), zctl.running.eq(seq.running),
            zctl.chain.eq(seq.chain), zctl.start.eq(seq.start), zctl.flush.eq(seq.flush),
            zctl.en.eq(seq.en), zctl.window.eq(seq.window),
            zbuf.shift.eq(zctl.shift), zbuf.shift_in.eq(array.z),
            zbuf.wr_en.eq(zctl.wr_en), zbuf.wr_row.eq(zctl.wr_row), zbuf.wr_data.eq(zctl.wr_data),
            zbuf.rd_row.eq(zctl.rd_row), zbuf.rd_forward.eq(zctl.rd_forward),
            zctl.rd_data.eq(zbuf.rd_data),
        ]
        return m
