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

__all__ = ["EngineResult", "run_engine"]


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
    config = check_config(config)
    op, x, w, y, _, _ = check_operands(op, x, w, y)
    M, N = x.shape
    K = w.shape[1]
    check_dimensions(M, N, K)
    stall = check_probability("stall", stall)
    seed = check_seed(seed)
    max_cycles = check_cycles("max_cycles", max_cycles)
    vcd = check_vcd(vcd)
    engine = Engine(config)
    rng = random.Random(seed)
    streams = {
        "x": list(x_beats(config, x, K)),
        "w": list(w_beats(config, w, M)),
        "y": list(y_beats(config, y)) if op.uses_y else [],
    }
    collector = ZCollector(config, M, K)
    limit = max_cycles
    if limit is None:
        limit = 20 * (config.compute_bound(M, N, K) + 10 * config.port_bound(M, N, K)) + 1000
    beat_mask = (1 << config.beat_width) - 1
    state = {"cycle": 0, "end": None}

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
        while not collector.complete:
            ready = not (stall and rng.random() < stall)
            ctx.set(engine.z.ready, ready)
            await ctx.tick()
        ctx.set(engine.z.ready, 0)

    async def controller(ctx):
        ctx.set(engine.job.payload, engine_job(op, M, N, K))
        ctx.set(engine.job.valid, 1)
        await ctx.tick().until(engine.job.ready)
        ctx.set(engine.job.valid, 0)
        state["cycle"] = 1
        while True:
            _, _, z_valid, z_ready, payload, done = await ctx.tick().sample(
                engine.z.valid, engine.z.ready, engine.z.payload, engine.done)
            state["cycle"] += 1
            if z_valid and z_ready:
                raw = payload.as_value().value
                collector.add(raw & beat_mask, raw >> config.beat_width)
            if done:
                state["end"] = state["cycle"] - 1
                return
            if state["cycle"] > limit:
                raise TimeoutError(f"engine did not finish within {limit} cycles "
                                   f"({collector.count} Z beats received)")

    sim = Simulator(engine)
    sim.add_clock(1e-6)
    sim.add_testbench(controller)
    sim.add_testbench(consumer, background=True)
    for i, name in enumerate(("x", "w", "y")):
        sim.add_testbench(producer(name, i), background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    if not collector.complete:
        raise AssertionError(f"job finished after {collector.count} of the Z beats")
    return EngineResult(collector.z, state["end"])
