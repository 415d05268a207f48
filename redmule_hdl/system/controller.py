"""The controller: checks the job at the head of the register file's queue, runs it, reports it."""
from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.adders import block_add
from redmule_hdl.config import check_bool, check_int
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, ring_next
from redmule_hdl.interfaces import (EngineControlSignature, JobRegs, JobStatusSignature,
                                    StreamerControlSignature)
from redmule_hdl.spec.regmap import JobError
from redmule_hdl.spec.schedule import JOB_START_CYCLES, OVERLAP_CHECK_CYCLES
from redmule_hdl.system.job_decode import JobDecoder
from redmule_hdl.system.job_guard import JobGuard

__all__ = ["Controller"]


class Controller(wiring.Component):
    """Job decode and checks, engine and streamer start, completion, CYCLES and ERROR.

    The job at the head of the register file's queue is checked combinationally (``JobDecoder``).
    Up to ``IN_FLIGHT`` (2) jobs run at once: the controller takes the head (``head`` handshake) while
    fewer are running and the engine and the streamer each have a free job slot, and in the same
    cycle either

    * starts it: the streamer's job (addresses, resolved pitches, formats) and the engine's job
      (M, N, K, op) into registers, offered to each (``streamer_job``, ``engine_job``) from the next
      cycle until it takes it (``START_CYCLES``); the next job's loads then overlap the current
      job's end; or
    * refuses it (ERROR != 0), only when no job is running, so that jobs finish in order: nothing is
      started, no memory is touched, and ``evt`` follows in the next cycle.

    A started job finishes in the cycle of the streamer's ``stored`` pulse (the cycle after its last
    store's grant): ``evt`` and ``status.finish`` are high in that cycle. Jobs finish in the order they
    started.

    CYCLES is the number of clock edges from the cycle in which the job left the queue (its ``head``
    handshake) to the cycle of its ``evt``: a job taken in cycle ``t`` whose evt is in cycle ``t + c``
    reports ``c``, plus the cycles it waited at the head for its overlap check while nothing ran.
    When nothing was queued the register file presents a job in the cycle of its accepted TRIGGER
    write, so then CYCLES counts from the trigger. A job refused by its decode reports 1, one refused
    for OVERLAP 1 + ``GUARD_CYCLES`` when it was triggered while nothing ran. CYCLES and ERROR
    change together, at the job's evt.

    ``status.clear`` (soft clear) aborts at once: ``abort`` to the engine and the streamer in the same cycle,
    back to idle without ``evt``. The next job starts only once the streamer reports ``idle`` (its
    outstanding reads have returned), so an aborted job can never leak into it.

    Ports:
        head (stream in, ``JobRegs``): from ``RegFile.head``.
        status (``Out(JobStatusSignature())``): to ``RegFile.status``: ``finish``, ``cycles`` and
            ``error`` (the CYCLES and ERROR registers) out, ``clear`` in.
        evt (out): one-cycle pulse per finished or refused job.
        engine (``Out(EngineControlSignature())``), streamer (``Out(StreamerControlSignature())``):
            ``job`` (stream out), the job started, to each, from a register, from the cycle after
            the ``head`` handshake of a job that starts (the head's decode and checks and the job
            slots of the engine and the streamer are then separate cycles, for the clock); a job
            starts only when both registers are free; ``abort`` (out) to both; ``stored`` and
            ``idle`` (in) from the streamer.
    Parameters: ``misaligned``, the memory port can read element-aligned rows (else every address and
    pitch must be word aligned); ``D``, elements per beat (the offsets of a row's later beats) and
    columns of a tile; ``L``, rows of a tile; ``fpga_arith`` (``Config.fpga_arith``), the
    ``JobGuard``'s products as multiplies and the adds as ``+`` (FPGA multipliers and carry chains).

    Overlap check (``JobError.OVERLAP``): a job of more than one tile (M > L or K > D) whose Z byte
    range shares a byte with its own X or W range, or with its Y range when Y is read from another
    address than Z, is refused: its later tiles would read operands that its earlier tiles' stores
    may already have replaced, and whether they do depends on grant and memory timing. The ranges
    come from the ``JobGuard``'s range pipelines, so such a job is decided ``GUARD_CYCLES``
    cycles after it reaches the head of the queue; while nothing runs, a job of more than one tile
    waits for that (a single-tile job reads everything before its only store and starts at once).
    Its CYCLES count those cycles too (CYCLES still runs from the trigger when nothing was queued).
    """

    #: Jobs running at once (the job slots of the engine and the streamer).
    IN_FLIGHT = JOBS_IN_FLIGHT
    #: Cycles from a job's ``head`` handshake to its job on the ``streamer`` and ``engine`` ports.
    START_CYCLES = JOB_START_CYCLES
    #: Cycles a queued job's checks against the running job's Z and its own (``JobGuard``) take.
    GUARD_CYCLES = JobGuard.LATENCY
    assert GUARD_CYCLES == OVERLAP_CHECK_CYCLES
    #: The guard's class (a formal harness swaps in an abstract one, whose results are free).
    Guard = JobGuard
    #: Formal only: ``lemmas(m, **registers)``, set by a property harness to add assertions over
    #: internal registers (k-induction); hardware never sets it.
    lemmas = None

    def __init__(self, *, misaligned, D, L, fpga_arith=False):
        self.misaligned = check_bool("misaligned", misaligned)
        self.fpga_arith = check_bool("fpga_arith", fpga_arith)
        self.D = check_int("D", D, 2)
        self.L = check_int("L", L, 1)
        super().__init__({
            "head": In(stream.Signature(JobRegs)),
            "status": Out(JobStatusSignature()),
            "evt": Out(1),
            "engine": Out(EngineControlSignature()),
            "streamer": Out(StreamerControlSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.IN_FLIGHT
        counts = Array(Signal(len(self.status.cycles), name=f"count{i}") for i in range(depth))   # per running job, in order
        oldest = Signal(range(depth))
        newest = Signal(range(depth))     # the slot of the next job started
        running = Signal(range(depth + 1))
        refusing = Signal()               # a refused job's evt is due in this cycle
        refused_error = Signal(JobError)
        refused_cycles = Signal(range(self.GUARD_CYCLES + 2))

        m.submodules.decoder = decoder = JobDecoder(misaligned=self.misaligned, D=self.D)
        m.submodules.guard = guard = self.Guard(fpga_arith=self.fpga_arith)
        error, sjob, ejob = decoder.error, decoder.streamer_job, decoder.engine_job
        clear = self.status.clear
        engine_job, streamer_job = self.engine.job, self.streamer.job
        m.d.comb += [
            decoder.regs.eq(self.head.payload),
            guard.head.eq(sjob),
            # A head presented in a clear cycle is new (a TRIGGER in that cycle): its check starts over.
            guard.valid.eq(self.head.valid & ~clear),
            guard.take.eq(self.head.valid & self.head.ready),
            self.engine.abort.eq(clear),
            self.streamer.abort.eq(clear),
        ]

        # After an abort (nothing running) the streamer must be idle first: no leftover of the
        # aborted job may meet the new one.
        port_free = (running != 0) | self.streamer.idle
        # Beside a running job, a job starts only if it reads no byte that job writes (its loads
        # would overtake the running job's stores). The same pipelines check the job's own Z
        # against its operands; ``checked`` says both results are valid for the head.
        checked, beside_ok, self_overlap = guard.checked, guard.beside_ok, guard.self_overlap
        multi_tile = (sjob.m > self.L) | (sjob.k > self.D)
        decode_ok = error == JobError.OK
        overlap = multi_tile & self_overlap
        ok = decode_ok & ~overlap
        code = Mux(decode_ok, JobError.OVERLAP, error)
        # A decode fault is final at once; a multi-tile job waits for its overlap check.
        decided = ~decode_ok | ~multi_tile | checked
        # The jobs of the engine and the streamer, registered (see ``engine`` in the docstring).
        engine_next = Signal.like(engine_job.payload, name="engine_next")
        streamer_next = Signal.like(streamer_job.payload, name="streamer_next")
        engine_pending, streamer_pending = Signal(), Signal()
        m.d.comb += [engine_job.valid.eq(engine_pending), engine_job.payload.eq(engine_next),
                     streamer_job.valid.eq(streamer_pending), streamer_job.payload.eq(streamer_next)]
        can_start = ((running < depth) & ~engine_pending & ~streamer_pending & port_free
                     & ((running == 0) | beside_ok))
        can_refuse = (running == 0) & self.streamer.idle
        can_go = ~clear & ~refusing & Mux(ok, can_start, can_refuse)
        can_take = can_go & decided
        take = can_take & self.head.valid
        m.d.comb += self.head.ready.eq(can_take)
        # Cycles the head has waited only for its overlap check (counted into its CYCLES, so that a
        # job triggered while nothing runs still counts from its trigger).
        check_wait = Signal(range(self.GUARD_CYCLES + 1))
        with m.If(take | ~self.head.valid):
            m.d.sync += check_wait.eq(0)
        with m.Elif(can_go & ~decided):
            m.d.sync += check_wait.eq(check_wait + 1)
        # Every running job's count advances. The slot of the next job started (``newest``, free
        # while fewer than ``depth`` run) holds ``1 + check_wait`` in every cycle, so that it starts
        # from there once its job is taken: the take, which comes late in the cycle (it waits for the
        # head's decode), is not on the path to the counts. A free slot's count is read by nothing.
        # The increments are ``block_add``s (as ``+ 1`` ABC made each a 32-bit chain: 42.9 FO4).
        width = len(self.status.cycles)
        for i in range(depth):
            count_next = block_add(m, f"count{i}_next", counts[i], Const(1, width), 0, width,
                                   chain=self.fpga_arith)[:width]
            with m.If((running < depth) & (newest == i)):
                m.d.sync += counts[i].eq(1 + check_wait)
            with m.Else():
                m.d.sync += counts[i].eq(count_next)

        started = take & ok
        with m.If(engine_job.ready):
            m.d.sync += engine_pending.eq(0)
        with m.If(streamer_job.ready):
            m.d.sync += streamer_pending.eq(0)
        with m.If(take):
            with m.If(ok):
                m.d.sync += [engine_pending.eq(1), engine_next.eq(ejob),
                             streamer_pending.eq(1), streamer_next.eq(sjob),
                             newest.eq(ring_next(newest, depth))]
            with m.Else():
                m.d.sync += [refusing.eq(1), refused_error.eq(code), refused_cycles.eq(1 + check_wait)]

        stored = ~clear & self.streamer.stored     # a running job finished (an aborted one does not)
        status = self.status
        with m.If(stored | (~clear & refusing)):
            m.d.comb += [self.evt.eq(1), status.finish.eq(1)]
            with m.If(refusing):
                m.d.sync += [status.cycles.eq(refused_cycles), status.error.eq(refused_error),
                             refusing.eq(0)]
            with m.Else():
                m.d.sync += [status.cycles.eq(counts[oldest]), status.error.eq(JobError.OK),
                             oldest.eq(ring_next(oldest, depth))]
        m.d.sync += running.eq(running + started - stored)

        with m.If(clear):
            m.d.sync += [running.eq(0), refusing.eq(0), oldest.eq(0), newest.eq(0), engine_pending.eq(0),
                         streamer_pending.eq(0)]
        if self.lemmas is not None:
            self.lemmas(m, running=running, streamer_pending=streamer_pending, streamer_next=streamer_next)
        return m
