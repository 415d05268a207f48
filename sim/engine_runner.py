"""Run one job through the bare ``Engine`` in Amaranth's simulator, with behavioural producers.

The producers serve X, W and Y beats in the engine's stream order (``sim.streams``); the consumer
collects Z. Each can stall at random (seeded), so tests exercise the global enable.
"""
import random
from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from redmule_hdl.config import check_config
from redmule_hdl.engine.engine import Engine
from redmule_hdl.interfaces import engine_job
from redmule_hdl.spec.golden import check_operands

from .arguments import check_cycles, check_dimensions, check_probability, check_seed, check_vcd
from .streams import ZCollector, pack_beat, w_beats, x_beats, y_beats

__all__ = ["EngineResult", "run_engine", "run_engine_jobs"]


@dataclass
class EngineResult:
    z: np.ndarray          # FP16 bits, M x K
    cycles: int            # from the job's acceptance to the last Z beat (inclusive)


def run_engine(config, op, x, w, y=None, *, stall=0.0, seed=0, max_cycles=None, vcd=None):
    """Compute ``op`` on FP16 bit matrices through the engine; returns ``EngineResult``.

    ``stall`` is the probability that a producer withholds a beat, or the consumer refuses one, in
    any cycle. The arguments are checked first, by the rules of ``run_job`` (``sim.arguments``): x, w
    and y are FP16 bit patterns (uint16), y is required unless op is matmul, ``stall`` is in [0, 1),
    ``seed`` an int >= 0, ``max_cycles`` None or an int >= 1, ``vcd`` None or a file path.
    """
    return run_engine_jobs(config, [(op, x, w, y)], stall=stall, seed=seed, max_cycles=max_cycles,
                           vcd=vcd)[0]


def run_engine_jobs(config, jobs, *, stall=0.0, seed=0, max_cycles=None, vcd=None):
    """Run ``jobs`` (a list of ``(op, x, w, y)``) through the engine one after another, each offered
    as soon as the engine accepts it; returns one ``EngineResult`` per job (``cycles``: from the
    first job's acceptance to this job's last Z beat). Other arguments: as ``run_engine``.
    """
    config = check_config(config)
    checked = []
    for op, x, w, y in jobs:
        op, x, w, y, _, _ = check_operands(op, x, w, y)
        check_dimensions(x.shape[0], x.shape[1], w.shape[1])
        checked.append((op, x, w, y))
    if not checked:
        raise ValueError("jobs must hold at least one job")
    stall = check_probability("stall", stall)
    seed = check_seed(seed)
    max_cycles = check_cycles("max_cycles", max_cycles)
    vcd = check_vcd(vcd)
    engine = Engine(config)
    rng = random.Random(seed)
    streams = {"x": [], "w": [], "y": []}
    collectors = []
    limit = max_cycles or 1000
    for op, x, w, y in checked:
        M, N = x.shape
        K = w.shape[1]
        streams["x"] += x_beats(config, x, K)
        streams["w"] += w_beats(config, w, M)
        streams["y"] += y_beats(config, y) if op.uses_y else []
        collectors.append(ZCollector(config, M, K))
        if max_cycles is None:
            limit += 20 * (config.compute_bound(M, N, K) + 10 * config.port_bound(M, N, K))
    beat_mask = (1 << config.beat_width) - 1
    ends = []

    def producer(name, seed_offset):
        port = getattr(engine, name)
        prng = random.Random(seed * 7919 + seed_offset)

        async def process(ctx):
            for beat in streams[name]:
                while stall and prng.random() < stall:
                    await ctx.tick()
                ctx.set(port.valid, 1)
                ctx.set(port.payload.as_value(), pack_beat(beat))
                await ctx.tick().until(port.ready)
                ctx.set(port.valid, 0)
        return process

    async def consumer(ctx):
        while not collectors[-1].complete:
            ready = not (stall and rng.random() < stall)
            ctx.set(engine.z.ready, ready)
            await ctx.tick()
        ctx.set(engine.z.ready, 0)

    async def job_source(ctx):
        for op, x, w, _ in checked:
            ctx.set(engine.control.job.payload, engine_job(op, x.shape[0], x.shape[1], w.shape[1]))
            ctx.set(engine.control.job.valid, 1)
            await ctx.tick().until(engine.control.job.ready)
        ctx.set(engine.control.job.valid, 0)

    async def monitor(ctx):
        await ctx.tick().until(engine.control.job.valid & engine.control.job.ready)
        cycle = 1
        while len(ends) < len(checked):
            _, _, z_valid, z_ready, payload, done = await ctx.tick().sample(
                engine.z.valid, engine.z.ready, engine.z.payload, engine.done)
            cycle += 1
            if z_valid and z_ready:
                raw = payload.as_value().value
                collector = collectors[len(ends)]
                if collector.complete:
                    raise AssertionError(f"job {len(ends)}: Z beat after its last one, before done")
                collector.add(raw & beat_mask, raw >> config.beat_width)
            if done:
                if not collectors[len(ends)].complete:
                    raise AssertionError(f"job {len(ends)}: done after {collectors[len(ends)].count} "
                                         "of its Z beats")
                ends.append(cycle - 1)
            if cycle > limit:
                raise TimeoutError(f"engine did not finish within {limit} cycles ({len(ends)} of "
                                   f"{len(checked)} jobs done)")

    sim = Simulator(engine)
    sim.add_clock(1e-6)
    sim.add_testbench(monitor)
    sim.add_testbench(job_source, background=True)
    sim.add_testbench(consumer, background=True)
    for i, name in enumerate(("x", "w", "y")):
        sim.add_testbench(producer(name, i), background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return [EngineResult(c.z, end) for c, end in zip(collectors, ends)]
