"""The X fill: the rows of the group the X-buffer fills, walking the jobs by tile and n-chunk."""
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_config
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, WalkerSignature
from redmule_hdl.engine.tile_walk import TileWalk
from redmule_hdl.interfaces import EngineJob

__all__ = ["XFill"]


class XFill(wiring.Component):
    """Tells the X-buffer how many rows the group it is filling has (the engine's ``xfill`` walker:
    m-tile, k-tile, n-chunk).

    The walk moves in the cycle after a group's last beat: the X-buffer takes no beat in that cycle
    (its pending group is full), and the walk's row count is off the path from the beat.

    Ports:
        walker (flipped ``WalkerSignature``): the job filled.
        group_done: the X-buffer took a group's last beat.
        abort: back to the first group, nothing pending.
        fill_enable, fill_rows: the X-buffer's (a job is being filled; rows of its current group).
    """

    def __init__(self, config, *, depth=JOBS_IN_FLIGHT):
        self.config = check_config(config)
        super().__init__({
            "walker": In(WalkerSignature(EngineJob, depth, fields=("m", "n", "k"))),
            "group_done": In(1), "abort": In(1),
            "fill_enable": Out(1), "fill_rows": Out(range(config.L + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        job = self.walker.job
        m.submodules.walk = walk = TileWalk(self.config, inner=[("n0", self.config.D, "n")])
        group_done = Signal()
        m.d.sync += group_done.eq(self.group_done)
        ends = group_done & walk.is_last
        m.d.comb += [
            walk.m.eq(job.m), walk.k.eq(job.k), walk.n.eq(job.n),
            walk.advance.eq(group_done),
            walk.restart.eq(ends | self.abort),
            self.walker.finish.eq(ends),
            self.fill_enable.eq(self.walker.active),
            self.fill_rows.eq(walk.rows),
        ]
        with m.If(self.abort):
            m.d.sync += group_done.eq(0)
        return m
