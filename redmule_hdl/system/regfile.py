"""The register file behind the peripheral (HWPE control) port: job contexts and their queue.

Registers, offsets and access types: ``spec.regmap``; each context stores the job registers as the
``interfaces.JobRegs`` layout derived from that table.
"""
from amaranth.hdl import Array, Const, Module, Mux, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import Config, check_int
from redmule_hdl.engine.job_slots import ring_next
from redmule_hdl.interfaces import JobRegs, JobStatusSignature, PeriphSignature
from redmule_hdl.spec.regmap import ACQUIRE_NONE, JOB_REGS, REGISTERS, WINDOW_BITS, WORD_BITS, Reg

__all__ = ["RegFile"]


class RegFile(wiring.Component):
    """Job contexts, their queue and the status registers.

    Contexts are used as a ring, in order: ACQUIRE hands out context ``acq`` (the next in the ring),
    TRIGGER commits it and queues it, the controller starts the queued contexts oldest first (a job
    may start while earlier ones still run), and a finished job frees its context (jobs finish in the
    order they started). Job-register writes and reads address context ``acq`` (the
    acquired one); writes are ignored while that context is queued or running, so software that forgot
    to ACQUIRE can never corrupt a pending job.

    * ACQUIRE (read): if no context is locked and context ``acq`` is free, returns ``acq`` and locks it;
      otherwise returns -1 (``ACQUIRE_NONE``). The lock serializes initiators: only the holder may
      program and trigger.
    * TRIGGER (write): value 0 queues context ``acq`` (if it is free; locked or not, for software that
      does not ACQUIRE) and releases the lock; any other value releases the lock only ("commit"): the
      registers keep their values and the next ACQUIRE returns the same context.
    * SOFT_CLEAR (write): empties the queue, releases the lock, rewinds the ring and pulses ``clear``
      the next cycle (the controller aborts the running job, which then never finishes); value 0 also
      zeroes every context's job registers. FINISHED, CYCLES and ERROR are kept.
    * FINISHED counts ``finish`` pulses; STATUS has bit i set while context i is queued or running;
      RUNNING_JOB is the context id of the job started last.

    Ports:
        periph (``In(PeriphSignature())``): ``gnt`` is always 1, responses one cycle later.
        head (stream out of ``JobRegs``): the oldest queued job; the handshake starts it (it is then
            running and stays in its context until its ``finish``). When nothing is queued or running, a
            TRIGGER write of 0 presents its context on ``head`` in the same cycle (``head.valid`` then
            depends combinationally on the peripheral request), so a job can start in the cycle of
            its trigger.
        status (``In(JobStatusSignature())``, from the controller): ``finish``, the oldest running job
            has finished (or was refused): free its context, count it; ``cycles``, ``error``, the
            values of the read-only CYCLES and ERROR registers; ``clear`` (out), a one-cycle pulse the
            cycle after an accepted SOFT_CLEAR write.
        busy (out): a job is queued or running.
    Parameters: ``contexts``, the job contexts (1..``Config.MAX_CONTEXTS``).
    Storage: ``contexts`` sets of the job registers (``JobRegs``).
    """

    def __init__(self, contexts):
        self.contexts = check_int("contexts", contexts, 1, Config.MAX_CONTEXTS)
        super().__init__({
            "periph": In(PeriphSignature()),
            "head": Out(stream.Signature(JobRegs)),
            "status": In(JobStatusSignature()),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        C = self.contexts
        m = Module()
        bus = self.periph

        ctx = [Signal(JobRegs, name=f"ctx{i}") for i in range(C)]
        ctx_arr = Array(ctx)
        pending = Signal(C)          # queued or running, per context
        acq = Signal(range(C))       # context handed out by ACQUIRE / programmed / queued by TRIGGER
        oldest = Signal(range(C))    # oldest pending context (the next to finish)
        head = Signal(range(C))      # oldest queued context (the next to start)
        locked = Signal()
        running = Signal(range(C + 1))   # contexts started and not finished: oldest, oldest + 1, ...
        finished = Signal(REGISTERS[Reg.FINISHED].bits)
        running_job = Signal(REGISTERS[Reg.RUNNING_JOB].bits)

        def succ(ptr):
            return ring_next(ptr, C)

        acq_free = ~pending.bit_select(acq, 1)

        # ---- request decode ----------------------------------------------------------------------
        accept = bus.req & bus.gnt
        offset = bus.add[2:WINDOW_BITS]
        read = accept & bus.wen
        write = accept & ~bus.wen

        def at(reg):
            return offset == (int(reg) >> 2)

        trigger_start = write & at(Reg.TRIGGER) & (bus.data == 0) & acq_free
        soft_clear = write & at(Reg.SOFT_CLEAR)
        m.d.comb += bus.gnt.eq(1)

        # ---- head of the queue -------------------------------------------------------------------
        # Nothing pending means head == oldest == acq; a trigger of that context may start it at once.
        # While every context runs, head has wrapped around to the oldest one: nothing is queued.
        queue_empty = ~pending.any()
        # The head's job registers are a register of their own, kept equal to ``ctx[head]``: the
        # controller's decode, and through it ``head.ready``, then start at a flip-flop, not at the
        # head pointer, which selects every bit of a context and needs a deep buffer tree.
        head_regs = Signal(JobRegs, name="head_regs")
        m.d.comb += [
            self.head.payload.eq(head_regs),
            self.head.valid.eq((pending.bit_select(head, 1) & (running != C))
                               | (trigger_start & queue_empty)),
            self.busy.eq(pending.any()),
        ]
        start = self.head.valid & self.head.ready

        # ---- state updates (SOFT_CLEAR, last, overrides) -----------------------------------------
        set_pend = Signal(C)
        clr_pend = Signal(C)
        with m.If(trigger_start):
            m.d.comb += set_pend.eq(Const(1, C) << acq)
            m.d.sync += [acq.eq(succ(acq)), locked.eq(0)]
        with m.Elif(write & at(Reg.TRIGGER)):
            m.d.sync += locked.eq(0)
        finishing = self.status.finish & (running != 0)
        with m.If(start):
            m.d.sync += [head.eq(succ(head)), running_job.eq(head)]
        with m.If(finishing):
            m.d.comb += clr_pend.eq(Const(1, C) << oldest)
            m.d.sync += [oldest.eq(succ(oldest)), finished.eq(finished + 1)]
        m.d.sync += running.eq(running + start - finishing)
        m.d.sync += pending.eq((pending | set_pend) & ~clr_pend)

        can_acquire = ~locked & acq_free
        with m.If(read & at(Reg.ACQUIRE) & can_acquire):
            m.d.sync += locked.eq(1)

        # Job register writes go to context ``acq`` while it is free.
        # Each byte lane is a register with its own enable (no read-modify-write logic).
        # ``ctx_next``: the contexts after this cycle's writes (SOFT_CLEAR with 0 zeroes them).
        job_write = write & acq_free
        ctx_next = [Signal(JobRegs, name=f"ctx{i}_next") for i in range(C)]
        for i in range(C):
            m.d.comb += ctx_next[i].eq(ctx[i])
        for r in JOB_REGS:
            bits = REGISTERS[r].bits
            for i in range(C):
                field = Value.cast(getattr(ctx_next[i], r.name.lower()))
                sel = Signal(name=f"wr_{r.name.lower()}_{i}")
                m.d.comb += sel.eq(job_write & at(r) & (acq == i))
                for lo in range(0, bits, 8):
                    hi = min(lo + 8, bits)
                    with m.If(sel & bus.be[lo // 8]):
                        m.d.comb += field[lo:hi].eq(bus.data[lo:hi])
        with m.If(soft_clear & (bus.data == 0)):
            m.d.comb += [c.eq(0) for c in ctx_next]
        m.d.sync += [c.eq(n) for c, n in zip(ctx, ctx_next)]
        # The head's registers follow ``ctx_next[head after this cycle]``; the start, late in the
        # cycle, only picks between the two contexts it may be.
        ctx_next_arr = Array(ctx_next)
        with m.If(soft_clear):
            m.d.sync += head_regs.eq(ctx_next[0])
        with m.Else():
            m.d.sync += head_regs.eq(Mux(start, ctx_next_arr[succ(head)].as_value(),
                                         ctx_next_arr[head].as_value()))

        m.d.sync += self.status.clear.eq(soft_clear)
        with m.If(soft_clear):
            m.d.sync += [pending.eq(0), acq.eq(0), head.eq(0), oldest.eq(0), locked.eq(0), running.eq(0)]

        # ---- read data, registered: the response comes one cycle after the request ---------------
        acq_regs = ctx_arr[acq]
        rdata = Signal(WORD_BITS)
        with m.Switch(offset):
            with m.Case(Reg.ACQUIRE >> 2):
                m.d.comb += rdata.eq(Mux(can_acquire, acq, ACQUIRE_NONE))
            with m.Case(Reg.FINISHED >> 2):
                m.d.comb += rdata.eq(finished)
            with m.Case(Reg.STATUS >> 2):
                m.d.comb += rdata.eq(pending)
            with m.Case(Reg.RUNNING_JOB >> 2):
                m.d.comb += rdata.eq(running_job)
            with m.Case(Reg.CYCLES >> 2):
                m.d.comb += rdata.eq(self.status.cycles)
            with m.Case(Reg.ERROR >> 2):
                m.d.comb += rdata.eq(self.status.error)
            for r in JOB_REGS:
                with m.Case(r >> 2):
                    m.d.comb += rdata.eq(getattr(acq_regs, r.name.lower()))
        m.d.sync += [
            bus.r_valid.eq(accept),
            bus.r_data.eq(Mux(read, rdata, 0)),
        ]
        with m.If(accept):
            m.d.sync += bus.r_id.eq(bus.id)
        return m
