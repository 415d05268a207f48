"""Formal properties of the system's ports: the TCDM initiator, the peripheral target, ``evt``.

Each harness instantiates a block with free inputs and adds properties that read its ports only
(see ``engine/properties.py``); ``sim/formal.py`` runs them. Assumptions describe the environment:
a memory that answers in order, at least one cycle after the grant, only what was asked.
"""
from functools import partial

from amaranth.hdl import Elaboratable, Module, Mux, ResetSignal, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import Config
from redmule_hdl.engine.job_slots import JOBS_IN_FLIGHT, JobSlots
from redmule_hdl.engine.properties import Properties, parameters_only, past, port_signals, started
from redmule_hdl.interfaces import StreamerJob
from redmule_hdl.spec.regmap import ADDR_BITS, WINDOW_BITS, JobError, Reg
from redmule_hdl.spec.schedule import Schedule
from redmule_hdl.system.controller import Controller
from redmule_hdl.system.job_guard import JobGuard
from redmule_hdl.system.regfile import RegFile
from redmule_hdl.system.streamer import Streamer
from redmule_hdl.system.streamer.address import RowAddress, WAddress, XAddress
from redmule_hdl.system.streamer.arbiter import Source
from redmule_hdl.system.streamer.loads import read_tag
from redmule_hdl.system.top import RedMulE

__all__ = ["stream_source_rules", "tcdm_contract", "periph_contract", "job_ring", "queued_job_done",
           "address_windows", "job_regions", "StreamerProperties", "WalkedAddress", "AddressProperties",
           "RegFileProperties", "JobGuardProperties", "ControllerProperties", "TopProperties", "response_capacity", "WINDOW_DIM",
           "WINDOW_ADDR_BITS"]

#: The address-window properties look at jobs of at most this many rows and columns (M, N, K), so
#: that a byte's row is found by comparing with each row (no division by a free pitch).
WINDOW_DIM = 3
#: ... and addresses and pitches below 2**WINDOW_ADDR_BITS.
WINDOW_ADDR_BITS = 10


def response_capacity(config, streamer):
    """Transfers whose response may be outstanding on a streamer's port: its read credits (and, with
    write responses, its Z beats in flight) times the transfers per beat."""
    beats = sum(streamer.depths.values()) + (streamer.z_depth if config.write_responses else 0)
    return beats * (2 if config.beat_format == "fp8" else 1)


def stream_source_rules(p, m, stream, abort=None, dropped=None):
    """Assume the rules of ``amaranth.lib.stream`` for a stream the block receives: once ``valid``
    is high it stays high, with the same payload, until ``ready``; except after an ``abort`` cycle,
    when the source drops what it offered (as the engine drops its Z beat), or in a ``dropped``
    cycle (the register file empties its queue at the edge into the cycle of its ``clear``)."""
    first = started(m)
    was_valid = past(m, stream.valid, name="past_valid")
    was_ready = past(m, stream.ready, name="past_ready")
    was_payload = past(m, stream.payload.as_value(), name="past_payload")
    waiting = first & was_valid & ~was_ready & ~past(m, ResetSignal(), name="past_rst_stream")
    if abort is not None:
        waiting &= ~past(m, abort, name="past_abort_stream")
    if dropped is not None:
        waiting &= ~dropped
    p.assume(m, ~waiting | (stream.valid & (stream.payload.as_value() == was_payload)))


def tcdm_contract(p, m, port, *, capacity, write_responses, abort=None):
    """Properties of a TCDM initiator ``port`` (``TcdmSignature``, as the block drives it).

    Assumes the memory: a response (``r_valid``) only for an accepted read (or write, with
    ``write_responses``) of an earlier cycle, in order; a reset only with nothing outstanding.
    Asserts:
      ``tcdm_hold``: a request raised and not granted is raised in the next cycle with the same
          ``add``, ``wen``, ``be`` and, for a write, ``data`` (across an ``abort`` too);
      ``tcdm_no_request_after_reset``: no request in the cycle after a reset cycle;
      ``tcdm_outstanding``: at most ``capacity`` responses are outstanding.
    Covers ``tcdm_wait``: a request waits for its grant; ``tcdm_wait_across_abort`` (with
    ``abort``): a request waits while ``abort`` is high.
    Mutants: ``tcdm_add_drops_hold`` (``add`` seen changed while a request waits),
    ``tcdm_req_in_reset`` (a request seen in the cycle after a reset).
    Returns the count of responses outstanding (for lemmas).
    """
    rst = ResetSignal()
    first = started(m)
    req, add = port.req, port.add
    was = {name: past(m, getattr(port, name), name=f"past_{name}")
           for name in ("req", "gnt", "add", "wen", "be", "data")}
    was_rst = past(m, rst, name="past_rst")
    waiting = first & was["req"] & ~was["gnt"] & ~was_rst
    if p.mutated("tcdm_add_drops_hold"):
        add = add ^ (waiting << 2)
    if p.mutated("tcdm_req_in_reset"):
        req = req | was_rst
    # ``data`` is only defined for a write (TCDM and OBI ignore it on reads).
    held = req & (add == was["add"]) & (port.wen == was["wen"]) & (port.be == was["be"]) \
        & (port.wen | (port.data == was["data"]))
    p.check(m, "tcdm_hold", ~waiting | held)
    p.check(m, "tcdm_no_request_after_reset", ~(first & was_rst) | ~req)

    answered = port.req & port.gnt & (port.wen | write_responses)
    outstanding = Signal(range(capacity + 3))
    with m.If(outstanding <= capacity):
        m.d.sync += outstanding.eq(outstanding + answered - port.r_valid)
    p.assume(m, ~port.r_valid | (outstanding != 0))
    p.assume(m, ~rst | (outstanding == 0))
    p.check(m, "tcdm_outstanding", outstanding <= capacity)
    p.cover(m, "tcdm_wait", waiting)
    if abort is not None:
        p.cover(m, "tcdm_wait_across_abort", waiting & past(m, abort, name="past_abort"))
    return outstanding


def periph_contract(p, m, port, evt=None):
    """Properties of the peripheral target ``port`` (``PeriphSignature``, flipped: as the block
    sees it), and of ``evt``.

    Asserts:
      ``periph_response``: ``r_valid`` is high exactly in the cycle after an accepted request;
      ``periph_id``: that response carries the request's ``id``;
      ``evt_per_job`` (with ``evt``): ``evt`` pulses at most once per TRIGGER write of 0 (every job
          needs one; a refused or soft-cleared job may pulse less).
    Covers ``periph_read``: a read answered; ``evt_raised``: an ``evt``.
    Mutants: ``periph_wrong_id`` (``r_id`` seen with its low bit flipped), ``evt_double`` (each
    ``evt`` seen for two cycles).
    """
    rst = ResetSignal()
    first = started(m)
    accepted = past(m, port.req & port.gnt, name="past_accepted")
    was_id = past(m, port.id, name="past_id")
    was_rst = past(m, rst, name="past_rst_periph")
    r_id = port.r_id ^ 1 if p.mutated("periph_wrong_id") else port.r_id
    live = first & ~was_rst
    p.check(m, "periph_response", ~live | (port.r_valid == accepted))
    p.check(m, "periph_id", ~(live & accepted) | (r_id == was_id))
    p.cover(m, "periph_read", live & accepted & port.r_valid & past(m, port.wen, name="past_wen"))
    if evt is None:
        return
    seen_evt = evt | past(m, evt, name="past_evt") if p.mutated("evt_double") else evt
    offset = port.add[2:WINDOW_BITS]
    trigger = port.req & port.gnt & ~port.wen & (offset == Reg.TRIGGER >> 2) & (port.data == 0)
    # evts minus triggers, saturated; never above 0 while the property holds.
    # A reset clears every job, so the count starts again.
    balance = Signal(range(-4, 4))
    with m.If(rst):
        m.d.sync += balance.eq(0)
    with m.Elif((balance > -3) & (balance < 3)):
        m.d.sync += balance.eq(balance + seen_evt - trigger)
    p.check(m, "evt_per_job", balance <= 0)
    p.cover(m, "evt_raised", seen_evt)



def job_ring(m, put, job, release, clear, depth=JOBS_IN_FLIGHT):
    """The jobs a block holds, as its ports show them: ``job`` enters when ``put``, the oldest
    leaves when ``release`` (the cycle after), all leave on ``clear``. Returns ``(count, jobs)``,
    ``jobs[0]`` the oldest (valid while ``count > 0``)."""
    count = Signal(range(depth + 1), name="ring_count")
    jobs = [Signal(StreamerJob, name=f"ring_job{i}") for i in range(depth)]
    left = Signal(range(depth + 1), name="ring_left")      # jobs kept after a release
    m.d.comb += left.eq(count - (release & (count != 0)))
    # A release with no job held releases the job put in that cycle (as the controller counts it:
    # a ``stored`` in a job's start cycle, which the solver may choose in the first step).
    put = put & ~(release & (count == 0))
    with m.If(clear):
        m.d.sync += count.eq(0)
    with m.Else():
        m.d.sync += count.eq(left + put)
        for i in range(depth):
            # A put lands behind the jobs kept; a release moves the others forward.
            with m.If(put & (left == i)):
                m.d.sync += jobs[i].eq(job)
            if i + 1 < depth:
                with m.Elif(release):
                    m.d.sync += jobs[i].eq(jobs[i + 1])
    return count, jobs


def queued_job_done(m, count, done, clear):
    """A job queued behind another (``count``, the ring's, reached 2) is done: the second ``done``
    after that (``clear`` forgets the queue). For the covers that show a depth reaching a queued
    job's end."""
    queued, dones = Signal(name="queued_seen"), Signal(2, name="done_since_queued")
    with m.If(clear):
        m.d.sync += [queued.eq(0), dones.eq(0)]
    with m.Else():
        with m.If(count == 2):
            m.d.sync += queued.eq(1)
        with m.If(queued & done & (dones != 3)):
            m.d.sync += dones.eq(dones + 1)
    return queued & done & (dones == 1)


#: Each matrix of a ``StreamerJob``: the fields of its base address, row pitch and element format,
#: and of the dimensions that count its rows and columns (Y and Z share Z's pitch).
_MATRICES = {"x": ("x_addr", "x_pitch", "in_fmt", "m", "n"), "w": ("w_addr", "w_pitch", "in_fmt", "n", "k"),
             "y": ("y_addr", "z_pitch", "out_fmt", "m", "k"), "z": ("z_addr", "z_pitch", "out_fmt", "m", "k")}


def _matrix(job, name):
    """``(base, pitch, fmt, rows, cols)`` of matrix ``name`` ("x", "w", "y", "z") of ``job``."""
    return tuple(getattr(job, field) for field in _MATRICES[name])


def _in_span(addr, start, length):
    """``addr`` lies in ``[start, start + length)``, addresses modulo 2**32 (as the generators count)."""
    return (addr - start)[:ADDR_BITS] < length


def _rows(base, rows, pitch, length):
    """``(valid, start, length)`` of the first ``WINDOW_DIM`` rows of a matrix (``valid``: row < rows)."""
    out, start = [], base
    for i in range(WINDOW_DIM):
        out.append((rows > i, start, length))
        start = (start + pitch)[:ADDR_BITS]
    return out


def _row_bytes(cols, fmt):
    return Mux(fmt.wide, cols << 1, cols)


def _whole_beats(cols, D):
    """``cols`` (1 .. WINDOW_DIM) rounded up to whole beats of ``D`` elements."""
    value = cols
    for c in range(1, WINDOW_DIM + 1):
        value = Mux(cols == c, -(-c // D) * D, value)
    return value


def address_windows(p, m, port, count, jobs, *, stored, D, mutant_past_end=False):
    """Address windows of a TCDM initiator ``port`` against the ``jobs`` it holds (``job_ring``).

    Asserts:
      ``window_write``: every enabled byte of a write lies in the Z region (M rows of K elements at
          ``z_pitch``) of the oldest job, or of the next one in the cycle of ``stored`` (the Z
          generator moves on at the oldest's last grant, ``stored`` follows a cycle later);
      ``window_read``: the first word ``[add, add+4)`` of every read holds a byte of the X, W or Y
          region of a job held, each row taken in whole beats of ``D`` elements (the streamer reads
          whole beats: the high half of a two-transfer beat may lie past a row's last element).
    No request at all while no job is held. Both only for jobs of at most ``WINDOW_DIM`` rows and
    columns (the caller assumes it). Mutant ``z_write_past_end``: each write seen with one element
    more enabled after every enabled one (a store one element past its row).
    """
    lanes = len(port.be)
    held = [count > i for i in range(len(jobs))]

    def z_rows(job):
        base, pitch, fmt, rows, cols = _matrix(job, "z")
        return _rows(base, rows, pitch, _row_bytes(cols, fmt))

    def read_rows(job):
        out = []
        for name in ("x", "w", "y"):
            base, pitch, fmt, rows, cols = _matrix(job, name)
            read = job.uses_y if name == "y" else 1
            out += [(read & valid, start, length) for valid, start, length in
                    _rows(base, rows, pitch, _row_bytes(_whole_beats(cols, D), fmt))]
        return out

    be = port.be
    if mutant_past_end:
        be = Mux(jobs[0].out_fmt.wide, be | (be << 2), be | (be << 1))[:lanes]
    owners = [held[0]] + [stored & held[1]]
    lane_ok = []
    for j in range(lanes):
        byte = (port.add + j)[:ADDR_BITS]
        inside = 0
        for owner, job in zip(owners, jobs):
            for valid, start, length in z_rows(job):
                inside = inside | (owner & valid & _in_span(byte, start, length))
        lane_ok.append(~be[j] | inside)
    writes_ok = 1
    for ok in lane_ok:
        writes_ok = writes_ok & ok
    p.check(m, "window_write", ~(port.req & ~port.wen) | writes_ok)
    read_ok = 0
    for owner, job in zip(held, jobs):
        for valid, start, length in read_rows(job):
            read_ok = read_ok | (owner & valid & (_in_span(port.add, start, length)
                                                  | _in_span(start, port.add, 4)))
    p.check(m, "window_read", ~(port.req & port.wen) | read_ok)


class _TagFifo(SyncFIFO):
    """The streamer's tag FIFO (``ResponsePath.TagFifo``) that also drives ``entries`` (one signal
    per entry) and its read and write pointers ``consume`` and ``produce`` for lemmas (formal
    only)."""

    def __init__(self, *, width, depth, entries, consume, produce):
        super().__init__(width=width, depth=depth)
        self.entries, self.consume, self.produce = entries, consume, produce

    def elaborate(self, platform):
        m = super().elaborate(platform)
        storage = m.submodules.storage
        m.d.comb += [self.consume.eq(storage.read_ports[0].addr),
                     self.produce.eq(storage.write_ports[0].addr)]
        for i, entry in enumerate(self.entries):
            port = storage.read_port(domain="comb")
            m.d.comb += [port.addr.eq(i), entry.eq(port.data)]
        return m


class StreamerProperties(Elaboratable):
    """``Streamer(config)`` with free inputs: the TCDM port contract, with ``abort``.

    Assumes what the controller and the engine guarantee: the ``job`` and ``z`` streams follow the
    stream rules, a job has M, N, K >= 1 and reads Y (MATMUL jobs are checked on the top), the
    engine offers a Z beat only after taking more X, W and Y beats than Z beats so far (as every Z
    row needs them), and no job comes after an ``abort`` cycle until ``idle`` (one may come in the
    abort cycle itself: the controller hands its job on from a register, which a soft clear may meet;
    the streamer drops it). Without that assumption ``tcdm_hold`` still holds (BMC, depth 14: the
    streamer keeps a waiting request whole), but ``tcdm_outstanding`` does not: the credits restart
    at the abort while the aborted job's responses are still in flight, so the streamer relies on
    the controller's wait for ``idle``.

    Also the address windows (``address_windows``) against the jobs taken on ``job`` (``job_ring``),
    for jobs of at most ``WINDOW_DIM`` rows and columns and addresses and pitches below
    ``2**WINDOW_ADDR_BITS``, with the engine's Z masks of ``spec.schedule`` (``_engine_masks``);
    covers ``job_stored``, ``two_jobs_in_flight`` and, on an FP8 port, ``beat_in_two_transfers``."""

    def __init__(self, config, *, props=None, **streamer_args):
        self.props = props or Properties()
        self.config = config
        self.bound_of = parameters_only(Streamer(config, **streamer_args))   # the streamer as specified
        # Mutant ``tcdm_extra_credit``: one more X credit than the bound the properties assume.
        extra = ({"x_depth": self.bound_of.depths[Source.X] + 1}
                 if self.props.mutated("tcdm_extra_credit") else {})
        self.dut = Streamer(config, **{**streamer_args, **extra})
        if self.props.lemmas:
            self.dut.lemmas = self._lemmas
        self.ports = port_signals(self.dut)

    def _lemmas(self, m, *, slots, arbiter, request, halves, **parts):
        """The streamer's invariants that k-induction needs (README "Formal"), over its parts' ports
        and (through their ``lemmas`` hooks) registers."""
        self._request_lemmas(m, slots=slots, arbiter=arbiter, request=request, halves=halves, **parts)
        self._response_lemmas(m, slots=slots, arbiter=arbiter, request=request, halves=halves, **parts)

    def _request_lemmas(self, m, *, slots, gen, credits, arbiter, request, z_credits, halves, z_full,
                        **parts):
        p = self.props
        waiting = arbiter.holding & ~request.orphan
        # A request held for its grant (not an orphan of an abort) belongs to an active address
        # generator with a credit (a store: to a Z beat in the streamer's Z beat register), so it
        # stays whole. A high half took its beat's credit with the low half.
        high = halves.high if halves is not None else 0
        for s, g in gen.items():
            offered = g.active & (z_full if s == Source.Z else 1)
            if s in credits:
                offered &= credits[s].available | high
            elif z_credits is not None:
                offered &= z_credits.available | high
            p.lemma(m, ~(waiting & (arbiter.src == s)) | offered)
        if halves is not None:
            # A pending high half is the request (it has the highest priority; it waits as itself).
            p.lemma(m, ~high | (arbiter.src == halves.high_src))
            # Its generator stays at the beat until the last transfer (a store: with its Z beat),
            # unless an abort made it an orphan.
            for s, g in gen.items():
                p.lemma(m, ~(high & ~request.orphan & (halves.high_src == s))
                        | (g.active & (z_full if s == Source.Z else 1)))
        # ``stays``, the register of its own for a generator's ``active``, is ``~moved``.
        for g in gen.values():
            g.lemmas = lambda m, moved, stays: p.lemma(m, stays == ~moved)
        # The Z walker, which releases the slots, is at a full slot while active.
        release = slots.walk.z
        slots.lemmas = lambda m, full, wr: p.lemma(m, ~release.active | full.bit_select(release.ptr, 1))

    def _response_lemmas(self, m, *, slots, credits, fifo, responses, arbiter, request, z_credits, halves,
                         **parts):
        p, c = self.props, self.config
        high = halves.high if halves is not None else 0
        # The responses outstanding: those of the aborted jobs still to drop, and one per credit of
        # a beat requested and not yet in its FIFO (the credits of each stream count the beats in
        # flight and buffered). After an abort, until idle: no job, no credit, nothing buffered.
        used = {s: self._mirror(credit, "used", f"used_{s.name.lower()}") for s, credit in credits.items()}
        if z_credits is not None:
            used[Source.Z] = self._mirror(z_credits, "used", "used_z")
        level = {s: self._mirror(f, "level", f"level_{s.name.lower()}") for s, f in fifo.items()}
        drop = self._mirror(responses, "drop", "drop")
        layout = read_tag(c)
        entries = [Signal(layout, name=f"lemma_tag{i}") for i in range(responses.n_tags)]
        consume = Signal(range(responses.n_tags), name="lemma_tag_consume")
        produce = Signal.like(consume, name="lemma_tag_produce")
        responses.TagFifo = partial(_TagFifo, entries=entries, consume=consume, produce=produce)
        in_flight = responses.in_flight
        p.lemma(m, self._outstanding == in_flight)
        p.lemma(m, drop <= in_flight)
        # The tag FIFO's pointers and level agree (its entries in flight are those from ``consume``).
        p.lemma(m, (in_flight <= response_capacity(c, self.bound_of))
                & (produce == (consume + in_flight)[:len(consume)]))
        # Per stream: the tags in flight and not to be dropped are its beats requested and not yet
        # in its FIFO (with write responses, Z's are its stores in flight; without, there are none).
        # Two transfers per FP16 beat: the beat is counted by its high half's tag (or its pending
        # high half), and a low half's tag is followed by its high half's (or that is pending).
        bits = len(consume)
        ages = [(i - consume)[:bits] for i in range(len(entries))]
        live = [(age >= drop) & (age < in_flight) for age in ages]
        pending = {s: 0 for s in Source}
        if c.splits_fp16:
            pending = {s: high & (halves.high_src == s) & ~request.orphan for s in Source}
        if not c.write_responses:
            pending[Source.Z] = 0       # (stores are not tagged)
        for s in Source:
            tagged = 0
            for entry, is_live in zip(entries, live):
                tagged += is_live & (entry.src == s) & ~(entry.low if c.splits_fp16 else 0)
            counted = used[s] - level[s] if s in level else used.get(s, 0)
            p.lemma(m, tagged + pending[s] == counted)
        if not c.write_responses:
            for entry, is_live in zip(entries, live):
                p.lemma(m, ~is_live | (entry.src != Source.Z))
        if c.splits_fp16:
            for i, entry in enumerate(entries):
                after = entries[(i + 1) % len(entries)]
                newest = (ages[i] + 1)[:bits + 1] == in_flight
                p.lemma(m, ~(live[i] & entry.low)
                        | Mux(newest, high & (halves.high_src == entry.src) & ~request.orphan,
                              (after.src == entry.src) & ~after.low))
        p.lemma(m, (drop == 0) | self._draining)
        # An orphan waits for its grant, and only after an abort, until idle.
        p.lemma(m, ~request.orphan | (arbiter.holding & self._draining))
        idle_walkers = 1
        for name in ("x", "w", "y", "z"):
            idle_walkers &= ~getattr(slots.walk, name).active
        p.lemma(m, ~self._draining | (~slots.any_full & idle_walkers & (sum(used.values()) == 0)
                                      & (sum(level.values()) == 0)))
        depths = {**self.bound_of.depths, Source.Z: self.bound_of.z_depth}
        for s, count in used.items():
            p.lemma(m, count <= depths[s])
        # An orphan that will be answered leaves room for its response.
        answered = request.tcdm.wen | c.write_responses     # (wen: a read)
        p.lemma(m, ~(arbiter.holding & request.orphan & answered)
                | (in_flight < response_capacity(c, self.bound_of)))

    def _mirror(self, part, register, name):
        """A signal equal to ``part``'s internal ``register``, driven through the part's ``lemmas`` hook."""
        mirror = Signal(16, name=f"lemma_{name}")
        previous = part.lemmas

        def hook(m, **registers):
            m.d.comb += mirror.eq(registers[register])
            if previous is not None:
                previous(m, **registers)
        part.lemmas = hook
        return mirror

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        for stream in (dut.control.job, dut.z):
            stream_source_rules(self.props, m, stream, abort=dut.control.abort)
        # The controller's side of ``abort``: after it no job until the streamer is idle (its
        # waiting request granted, its responses back). A job in the abort cycle is dropped.
        draining = Signal()
        with m.If(dut.control.abort):
            m.d.sync += draining.eq(1)
        with m.Elif(dut.control.idle):
            m.d.sync += draining.eq(0)
        self.props.assume(m, ~dut.control.job.valid | ~draining)
        # The engine's side: it offers a Z beat only after it took at least as many X, W and Y
        # beats (a necessary condition: every Z row needs its X row, a W row and, if read, its Y
        # row), counted since the last abort.
        taken = {}
        for name in ("x", "w", "y", "z"):
            stream = getattr(dut, name)
            count = taken[name] = Signal(8, name=f"{name}_taken")
            with m.If(dut.control.abort):
                m.d.sync += count.eq(0)
            with m.Elif(stream.valid & stream.ready & (count != 255)):
                m.d.sync += count.eq(count + 1)
        for name in ("x", "w", "y"):
            self.props.assume(m, ~dut.z.valid | (taken["z"] < taken[name]))
        # Only jobs that pass the controller's checks start: M, N and K are at least 1.
        job = dut.control.job.payload
        self.props.assume(m, ~dut.control.job.valid | ((job.m != 0) & (job.n != 0) & (job.k != 0)))
        # Jobs read Y (the Y count above then bounds Z); MATMUL jobs are checked on the top.
        self.props.assume(m, ~dut.control.job.valid | job.uses_y)
        self._draining = draining
        self._outstanding = tcdm_contract(self.props, m, dut.tcdm,
                                          capacity=response_capacity(self.config, self.bound_of),
                                          write_responses=self.config.write_responses,
                                          abort=dut.control.abort)
        # The jobs held, as the ports show them: taken on ``job`` (not in an abort cycle), released
        # by ``stored``; after an abort they stay until ``idle`` (a request waiting at the abort
        # still belongs to its job).
        taken_job = dut.control.job.valid & dut.control.job.ready & ~dut.control.abort
        count, jobs = job_ring(m, taken_job, job,
                               dut.control.stored, draining & dut.control.idle)
        if self.props.emits("window_write", "window_read"):
            self.props.assume(m, ~dut.control.job.valid
                              | ((job.m <= WINDOW_DIM) & (job.n <= WINDOW_DIM) & (job.k <= WINDOW_DIM)))
            # Addresses and pitches below 2**WINDOW_ADDR_BITS: the same arithmetic in fewer bits
            # for the solver (a wrap past 2**32 is not looked at).
            for name in ("x_addr", "w_addr", "y_addr", "z_addr", "x_pitch", "w_pitch", "z_pitch"):
                high = getattr(job, name)[WINDOW_ADDR_BITS:]
                self.props.assume(m, ~dut.control.job.valid | ~high.any())
            self._engine_masks(m, count, jobs)
        address_windows(self.props, m, dut.tcdm, count, jobs, stored=dut.control.stored, D=self.config.D,
                        mutant_past_end=self.props.mutated("z_write_past_end"))
        self.props.cover(m, "job_stored", dut.control.stored)
        self.props.cover(m, "two_jobs_in_flight", count == 2)
        self.props.cover(m, "queued_job_stored", queued_job_done(m, count, dut.control.stored,
                                                                 dut.control.abort))
        if self.config.splits_fp16:
            # An FP16 X beat (two transfers on this port) reaches the engine.
            self.props.cover(m, "beat_in_two_transfers",
                             dut.x.valid & dut.x.ready & (count == 1) & jobs[0].in_fmt.wide)
        return m


    def _engine_masks(self, m, count, jobs):
        """Assume the engine's Z masks: the n-th Z beat of a job enables the columns of the n-th beat
        of ``spec.schedule``'s Z walk (the columns below K of its k-tile), for jobs of at most
        ``WINDOW_DIM`` rows and columns. The beats are counted per job, the oldest first; after the
        oldest's last beat (``moved``) they belong to the next until ``stored`` releases the oldest."""
        dut = self.dut
        taken = dut.z.valid & dut.z.ready
        beats = Signal(range(2 * WINDOW_DIM * WINDOW_DIM + 1), name="z_beat")
        moved = Signal(name="z_moved")
        job = Signal(StreamerJob, name="z_job")
        m.d.comb += job.eq(Mux(moved, jobs[1].as_value(), jobs[0].as_value()))
        expected, total = Signal(self.config.D, name="z_mask"), Signal.like(beats, name="z_beats")
        for mm in range(1, WINDOW_DIM + 1):
            for kk in range(1, WINDOW_DIM + 1):
                walk = list(Schedule(self.config, mm, 1, kk).z_beats())
                with m.If((job.m == mm) & (job.k == kk)):
                    m.d.comb += total.eq(len(walk))
                    with m.Switch(beats):
                        for i, beat in enumerate(walk):
                            with m.Case(i):
                                m.d.comb += expected.eq((1 << beat.count) - 1)
        self.props.assume(m, ~dut.z.valid | (dut.z.payload.mask == expected))
        with m.If(dut.control.abort):
            m.d.sync += [beats.eq(0), moved.eq(0)]
        with m.Else():
            with m.If(taken):
                m.d.sync += beats.eq(Mux(beats == total - 1, 0, beats + 1))
            with m.If(taken & (beats == total - 1)):
                m.d.sync += moved.eq(1)
            with m.Elif(dut.control.stored):
                m.d.sync += moved.eq(0)


class WalkedAddress(wiring.Component):
    """One of the streamer's address generators (``which``: "x", "w", "y" or "z") walking the jobs
    of a ``JobSlots`` whose only walker it is, wired as the streamer wires it (formal harness only).

    Ports: ``put`` (stream in: a job enters the slots), ``advance`` (in: the grant of the current
    beat's last transfer), ``clear`` (in: abort); ``cur``, ``active``, ``finishing`` (out: the
    generator's). A slot is freed by this generator's own finish (in the streamer, by Z's)."""

    def __init__(self, config, which):
        self.config, self.which = config, which
        super().__init__({
            "put": In(stream.Signature(StreamerJob)), "advance": In(1), "clear": In(1),
            "cur": Out(ADDR_BITS), "active": Out(1), "finishing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        make = {"x": XAddress, "w": WAddress}.get(self.which, partial(RowAddress, stream=self.which))
        m.submodules.gen = gen = make(self.config)
        m.submodules.slots = slots = JobSlots(StreamerJob, {"a": gen.walker.signature.flip()}, release="a")
        wiring.connect(m, slots.walk.a, gen.walker)
        wiring.connect(m, wiring.flipped(self.put), slots.put)
        m.d.comb += [gen.offered.eq(self.put.payload), gen.advance.eq(self.advance),
                     slots.clear.eq(self.clear),
                     self.cur.eq(gen.cur), self.active.eq(gen.active), self.finishing.eq(gen.finishing)]
        if self.which == "y":
            m.d.comb += gen.skip.eq(~slots.walk.a.job.uses_y)     # a job without Y
        return m


class AddressProperties(Elaboratable):
    """An address generator of the streamer (``which``) with free inputs (``WalkedAddress``): its
    walk against ``spec.schedule``, beat by beat, for queued jobs too.

    Assumes: jobs of 1 to ``dim`` (default ``WINDOW_DIM``) rows and columns, the stream's base address
    and pitch below ``2**WINDOW_ADDR_BITS`` (the same arithmetic in fewer free bits); ``advance``
    only while ``active`` (the streamer grants only an active generator's request).
    Asserts (``<which>`` the stream's letter):
      ``<which>_address``: while active, ``cur`` is the address of the schedule's next beat of the
          oldest job held (``base + row * pitch + col * element bytes``, modulo 2**32), the beats
          counted by ``advance``; no beat while no job is held;
      ``<which>_finish``: the generator finishes a job exactly at the grant of the schedule's last
          beat of it, and a job without beats in its stream (Y of a job without Y) without a request.
    Together: every beat of a job lies in its matrix (the schedule's beats do), in the schedule's
    order, and the generator leaves a job only after its own work.
    Covers ``<which>_queued_job_done``: a job queued behind another finished.
    Mutant ``address_skips_row`` (X only): ``cur`` seen one row pitch further on the job's second beat.
    """

    def __init__(self, config, which, *, props=None, dim=WINDOW_DIM):
        self.props = props or Properties()
        self.config, self.which, self.dim = config, which, dim
        self.dut = WalkedAddress(config, which)
        self.ports = port_signals(self.dut)

    def elaborate(self, platform):
        m = Module()
        p, dut, s = self.props, self.dut, self.which
        m.submodules.dut = dut
        offered = dut.put.payload
        for dim in (offered.m, offered.n, offered.k):
            p.assume(m, ~dut.put.valid | ((dim != 0) & (dim <= self.dim)))
        for field in _matrix(offered, s)[:2]:       # base address and pitch
            p.assume(m, ~dut.put.valid | ~field[WINDOW_ADDR_BITS:].any())
        p.assume(m, ~dut.advance | dut.active)
        put = dut.put.valid & dut.put.ready
        count, jobs = job_ring(m, put, offered, dut.finishing, dut.clear)
        job = jobs[0]
        base, pitch, fmt, _, _ = _matrix(job, s)
        has_beats = job.uses_y if s == "y" else 1
        # The schedule's beats of the oldest job: the n-th beat's row and column, and their number.
        dims = range(1, self.dim + 1)
        beat = Signal(range(self.dim ** 3 + 1), name="beat")
        row, col = Signal(range(self.dim), name="beat_row"), Signal(range(self.dim), name="beat_col")
        total = Signal.like(beat, name="beats")
        for mm in dims:
            for nn in dims:
                for kk in dims:
                    walk = list(getattr(Schedule(self.config, mm, nn, kk), f"{s}_beats")())
                    with m.If((job.m == mm) & (job.n == nn) & (job.k == kk)):
                        m.d.comb += total.eq(len(walk))
                        with m.Switch(beat):
                            for i, b in enumerate(walk):
                                with m.Case(i):
                                    m.d.comb += [row.eq(b.row), col.eq(b.col)]
        with m.If(dut.clear | dut.finishing):
            m.d.sync += beat.eq(0)
        with m.Elif(dut.advance):
            m.d.sync += beat.eq(beat + 1)
        row_offset = 0
        for r in range(1, self.dim):
            row_offset = Mux(row == r, pitch * r, row_offset)
        expected = (base + row_offset + Mux(fmt.wide, col << 1, col))[:ADDR_BITS]
        cur = dut.cur
        if p.mutated("address_skips_row"):
            cur = (cur + Mux(beat == 1, pitch, 0))[:ADDR_BITS]
        p.check(m, f"{s}_address", ~dut.active | ((count != 0) & (cur == expected)))
        last_grant = dut.advance & (beat == total - 1)
        p.check(m, f"{s}_finish", Mux(count == 0, ~dut.finishing,
                                      Mux(has_beats, dut.finishing == last_grant, ~dut.active)))
        p.cover(m, f"{s}_queued_job_done", queued_job_done(m, count, dut.finishing, dut.clear))
        return m


class RegFileProperties(Elaboratable):
    """``RegFile(contexts)`` with every input free: the peripheral port contract."""

    def __init__(self, contexts=1, *, props=None):
        self.props = props or Properties()
        self.dut = RegFile(contexts)
        self.ports = port_signals(self.dut)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        periph_contract(self.props, m, dut.periph)
        return m


def _byte_range(base, rows, pitch, row):
    """``(base, length)`` of the bytes from a matrix's first to its last element, for at most
    ``WINDOW_DIM`` rows (a multiplication by a free row count would ask the solver to prove the
    guard's carry-save multiplier equal to its own: no SAT solver does that in time)."""
    span = 0
    for i in range(1, WINDOW_DIM):
        span = Mux(rows == i + 1, pitch * i, span)
    return base, span + row


def _ranges_meet(a, b):
    """Two byte ranges ``(base, length)`` (length >= 1) share a byte, addresses modulo 2**32 (as
    the address generators count); a range of 2**32 bytes or more meets every other."""
    (a_base, a_len), (b_base, b_len) = a, b
    whole = (a_len >> ADDR_BITS).any() | (b_len >> ADDR_BITS).any()
    return whole | _in_span(b_base, a_base, a_len) | _in_span(a_base, b_base, b_len)


def job_regions(job):
    """The byte ranges of a ``StreamerJob``: ``{"x", "w", "y", "z": (base, length)}``."""
    regions = {}
    for name in _MATRICES:
        base, pitch, fmt, rows, cols = _matrix(job, name)
        regions[name] = _byte_range(base, rows, pitch, _row_bytes(cols, fmt))
    return regions


def _bounded(job):
    """A ``StreamerJob`` within the guard harnesses' bounds: 1 to ``WINDOW_DIM`` rows and columns,
    addresses within 2**WINDOW_ADDR_BITS of 0 or of 2**32 (so ranges may still wrap), pitches below
    2**WINDOW_ADDR_BITS: fewer free bits, the same arithmetic. Written as bits, which the solver
    uses at once."""
    return _within_bounds((job.m, job.n, job.k), (job.x_addr, job.w_addr, job.y_addr, job.z_addr),
                          (job.x_pitch, job.w_pitch, job.z_pitch))


def _within_bounds(dims, addrs, pitches):
    """The test of ``_bounded`` on the fields themselves (a job's, or the job registers')."""
    assert WINDOW_DIM < 4
    test = 1
    for dim in dims:
        test &= ~dim[2:].any() & dim[:2].any() & (dim <= WINDOW_DIM)
    for addr in addrs:
        high = addr[WINDOW_ADDR_BITS:]
        test &= ~high.any() | high.all()
    for pitch in pitches:
        test &= ~pitch[WINDOW_ADDR_BITS:].any()
    return test


def guard_inputs(m, guard):
    """What a ``JobGuard`` relies on from its user, as one test: a take only of a presented head;
    a head presented and not taken is presented unchanged in the next cycle (a queued job cannot
    change; a reset between starts over); a presented head within ``_bounded``. The guard's
    harness assumes it, the controller's asserts it (``guard_inputs``)."""
    head = guard.head.as_value()
    was_valid = past(m, guard.valid, name="guard_past_valid")
    was_take = past(m, guard.take, name="guard_past_take")
    was_head = past(m, head, name="guard_past_head")
    was_rst = past(m, ResetSignal(), name="guard_past_rst")
    waiting = started(m) & was_valid & ~was_take & ~was_rst & guard.valid
    return (~guard.take | guard.valid) & (~waiting | (head == was_head)) \
        & (~guard.valid | _bounded(guard.head))


def guard_contract(m, guard, beside_ok, checked, self_overlap):
    """The promises of a ``JobGuard`` (results ``beside_ok``, ``checked``, ``self_overlap``, of the
    head ``guard.head``, while ``guard.valid``), as tests on the byte ranges of ``job_regions``,
    addresses modulo 2**32: a dict of ``beside``, ``own``, ``reads_z`` and ``taken_any``.
    ``beside``: ``beside_ok`` only if no byte of the head's X, W or (if read) Y range lies in the Z
    range of the job taken last (recorded here at ``guard.take``; before any take, nothing is
    promised). ``own``: a checked head without ``self_overlap`` has a Z range that shares no byte
    with its X or W range, nor with its Y range when Y is read from elsewhere. ``reads_z``: the head
    reads a byte of the Z range of the job taken last; ``own_overlap``: the head's own Z range
    meets its X, W or separate Y range; ``taken_any``: a job was taken since the reset; ``last``: the
    job taken last."""
    taken_any = Signal(name="guard_taken_any")
    last = Signal(StreamerJob, name="guard_last_taken")
    with m.If(guard.take):
        m.d.sync += [taken_any.eq(1), last.eq(guard.head)]
    head = guard.head
    new, z = job_regions(head), job_regions(last)["z"]
    reads_z = taken_any & (_ranges_meet(new["x"], z) | _ranges_meet(new["w"], z)
                           | (head.uses_y & _ranges_meet(new["y"], z)))
    own = _ranges_meet(new["x"], new["z"]) | _ranges_meet(new["w"], new["z"]) \
        | (head.uses_y & (head.y_addr != head.z_addr) & _ranges_meet(new["y"], new["z"]))
    # Results while the head is presented (the controller takes a head only then).
    return {"beside": ~(guard.valid & beside_ok & reads_z),
            "own": ~(guard.valid & checked & ~self_overlap & own),
            "reads_z": reads_z, "own_overlap": own, "taken_any": taken_any, "last": last}


class _ShortGuard(JobGuard):
    """Mutant ``guard_short``: the guard's result taken one cycle early."""
    LATENCY = JobGuard.LATENCY - 1


class JobGuardProperties(Elaboratable):
    """``JobGuard`` with free inputs within ``guard_inputs``: its contract (``guard_contract``).

    Asserts ``guard_beside_sound`` and ``guard_self_sound`` (the contract's ``beside`` and
    ``own``). Covers ``guard_passed_beside`` (a head passed beside the job taken last) and
    ``guard_found_hazard`` (a checked head that reads the last job's Z, which the guard must then
    hold back). Mutant ``guard_short``: a guard that reports its result one cycle early. ``fpga_arith``:
    the guard's arithmetic for an FPGA (``JobGuard(fpga_arith=...)``, ``Config.fpga_arith``).
    """

    def __init__(self, *, props=None, fpga_arith=False):
        self.props = props or Properties()
        guard = _ShortGuard if self.props.mutated("guard_short") else JobGuard
        self.dut = guard(fpga_arith=fpga_arith)
        self.ports = port_signals(self.dut)

    def elaborate(self, platform):
        m = Module()
        p, dut = self.props, self.dut
        m.submodules.dut = dut
        p.assume(m, guard_inputs(m, dut))
        contract = guard_contract(m, dut, dut.beside_ok, dut.checked, dut.self_overlap)
        last, taken_any = contract["last"], contract["taken_any"]

        def lemmas(m, z_lo, z_hi, z_over, taken, age):
            base, length = job_regions(last)["z"]
            p.lemma(m, ~taken_any | (_bounded(last) & (z_lo == last.z_addr)))
            p.lemma(m, ~taken_any | taken.any() | ((z_hi == base + length) & ~z_over))
            p.lemma(m, age <= dut.LATENCY)
            for i in range(len(taken)):
                p.lemma(m, ~taken[i] | (age <= i))
        dut.lemmas = lemmas
        p.check(m, "guard_beside_sound", contract["beside"])
        p.check(m, "guard_self_sound", contract["own"])
        p.cover(m, "guard_passed_beside", contract["taken_any"] & dut.beside_ok)
        p.cover(m, "guard_found_hazard", dut.checked & contract["reads_z"])
        return m


class _FreeGuard(wiring.Component):
    """A ``JobGuard`` whose results are free inputs (``free``: ports of the harness), held to the
    guard's contract by the harness's assumptions. Mutant ``guard_passes_all``: ``beside_ok``
    whenever checked, whatever the free input."""

    def __init__(self, passes_all=False):
        super().__init__(parameters_only(JobGuard()).signature)
        self.free = {name: Signal(name=f"free_{name}") for name in ("checked", "beside_ok", "self_overlap")}
        self.passes_all = passes_all

    def elaborate(self, platform):
        m = Module()
        free = self.free
        m.d.comb += [self.checked.eq(free["checked"]), self.self_overlap.eq(free["self_overlap"]),
                     self.beside_ok.eq(free["checked"] if self.passes_all else free["beside_ok"])]
        return m


class ControllerProperties(Elaboratable):
    """``Controller`` with free inputs and its ``JobGuard`` abstracted: the starts of jobs.

    The guard's results are free inputs held to its contract (``guard_contract``, proven of the
    ``JobGuard`` itself by ``JobGuardProperties``), so every run of the real controller is a run of
    this harness. The harness records, at each take of a head, the head, the job taken before it
    and the contract's verdicts on the head (computed in the take cycle on the guard's own inputs).
    Assumes: the head follows the stream rules, except that the register file empties its queue at
    the edge into a ``clear`` cycle (the head may then be new: a TRIGGER written in that cycle, so
    not if the next cycle clears too); ``stored`` only while a job runs; jobs within the guard's
    bounds. The jobs running are recorded from the ``streamer.job`` handshakes and ``stored``.
    Asserts:
      ``guard_inputs``: the controller presents the guard its head as the guard expects;
      ``guard_start_is_take``: a job started is the head of its take, and a job started beside a
          running one is started beside the job taken before it (the only one running);
      ``guard_beside_kept``: a job starts beside a running job only if, at its take, a job had been
          taken before it and its X, W or (if read) Y range shared no byte with that job's Z range;
      ``guard_self_kept``: a job of more than one tile (M > L or K > D) starts only if, at its take,
          its Z range shared no byte with its own X or W range, nor with its Y range when Y is read
          from elsewhere.
    With the first, the other two are the job guard's two properties on the jobs started (the same
    values; the harness compares them at the take, where the solver does not have to find the
    values equal through the registers between): ``guard_beside``, a job starts beside a running
    job only if it reads no byte of that job's Z range (so that, with the streamer's windows, none
    of its reads can overtake a store of the running job), and ``guard_self``.
    Ranges are modulo 2**32 as the address generators count; jobs have at most ``WINDOW_DIM`` rows
    and columns (pitches and addresses bounded). Covers ``two_jobs_running``, ``queued_job_finished``,
    ``overlap_refused`` (ERROR reads OVERLAP after an evt). Mutant ``guard_passes_all``: a guard
    that passes every checked head beside the running job.
    """

    def __init__(self, config, *, props=None):
        self.props = props or Properties()
        self.config = config
        self.dut = Controller(misaligned=config.misaligned, D=config.D, L=config.L)
        # Read for its ports by ``properties_of`` too, where the controller is not elaborated.
        self.guard = parameters_only(_FreeGuard(passes_all=self.props.mutated("guard_passes_all")))
        self.dut.Guard = lambda fpga_arith: self.guard
        self.free_inputs = list(self.guard.free.values())
        self.ports = port_signals(self.dut) + self.free_inputs

    def elaborate(self, platform):
        m = Module()
        p, c = self.props, self.config
        m.submodules.dut = dut = self.dut
        clear = dut.status.clear
        stream_source_rules(p, m, dut.head, dropped=clear)
        # The register file presents a job in a clear cycle only for a TRIGGER written in it, so not
        # if the next cycle clears too (that needs a SOFT_CLEAR write in the same cycle).
        p.assume(m, ~(clear & past(m, clear, name="past_clear")
                      & past(m, dut.head.valid, name="past_head_valid")))
        sjob = dut.streamer.job
        started = sjob.valid & sjob.ready
        finished = dut.streamer.stored & ~clear
        count, jobs = job_ring(m, started, sjob.payload, finished, clear)
        # The streamer stores only jobs it was given: no ``stored`` while it holds none. (The
        # controller counts a job from its head handshake, the ring from the streamer's, a cycle or
        # more later; a free ``stored`` in between made the controller count the job as done.)
        p.assume(m, ~dut.streamer.stored | (count != 0))
        # Jobs within the guard's bounds, on the registers the head is decoded from (the decoded
        # job's are then asserted by ``guard_inputs``).
        head = dut.head.payload
        p.assume(m, _within_bounds((head.mcfg0.m, head.mcfg1.n, head.mcfg0.k),
                                   (head.x_addr, head.w_addr, head.y_addr, head.z_addr),
                                   (head.x_stride, head.w_stride, head.z_stride)))
        guard, free = self.guard, self.guard.free
        p.check(m, "guard_inputs", guard_inputs(m, guard))
        contract = guard_contract(m, guard, free["beside_ok"], free["checked"], free["self_overlap"])
        p.assume(m, contract["beside"] & contract["own"])
        taken_head = Signal(StreamerJob, name="taken_head")
        taken_before = Signal(StreamerJob, name="taken_before")
        beside_safe, self_safe = Signal(name="taken_beside_safe"), Signal(name="taken_self_safe")
        with m.If(guard.take):
            m.d.sync += [taken_head.eq(guard.head), taken_before.eq(contract["last"]),
                         # A job was taken before it, and the head reads nothing of its Z.
                         beside_safe.eq(contract["taken_any"] & ~contract["reads_z"]),
                         self_safe.eq(~contract["own_overlap"])]
        last = contract["last"]

        def lemmas(m, running, streamer_pending, streamer_next):
            pending, held = streamer_pending, count != 0
            p.lemma(m, (running == count + pending) & (count <= JOBS_IN_FLIGHT))
            p.lemma(m, ~pending | (streamer_next.as_value() == taken_head.as_value()))
            p.lemma(m, ~pending | (last.as_value() == taken_head.as_value()))
            p.lemma(m, ~pending | (count <= 1))
            p.lemma(m, ~(pending & held) | beside_safe)
            p.lemma(m, ~(pending & held) | (jobs[0].as_value() == taken_before.as_value()))
            p.lemma(m, ~pending | ~((streamer_next.m > c.L) | (streamer_next.k > c.D)) | self_safe)
            p.lemma(m, pending | (count != 1) | (jobs[0].as_value() == last.as_value()))
            p.lemma(m, pending | (count != 2) | (jobs[1].as_value() == last.as_value()))
            p.lemma(m, ~(pending | held) | contract["taken_any"])
        dut.lemmas = lemmas
        job = sjob.payload
        beside = started & (count != 0)
        p.check(m, "guard_start_is_take", ~started | ((job.as_value() == taken_head.as_value())
                                                     & (~beside | ((count == 1) & (jobs[0].as_value() == taken_before.as_value())))))
        p.check(m, "guard_beside_kept", ~beside | beside_safe)
        multi_tile = (job.m > c.L) | (job.k > c.D)
        p.check(m, "guard_self_kept", ~(started & multi_tile) | self_safe)
        p.cover(m, "two_jobs_running", count == 2)
        p.cover(m, "queued_job_finished", queued_job_done(m, count, finished, clear))
        refused = past(m, dut.evt, name="past_evt") & (dut.status.error == JobError.OVERLAP)
        p.cover(m, "overlap_refused", refused)
        return m


class TopProperties(Elaboratable):
    """``RedMulE(config)`` with free bus inputs: the TCDM contract (soft clears included, since the
    peripheral port is free), the peripheral contract and ``evt``."""

    def __init__(self, config=None, *, props=None):
        self.props = props or Properties()
        self.config = Config(L=1, H=1, P=1, contexts=1) if config is None else config
        self.dut = RedMulE(self.config)
        self.ports = port_signals(self.dut)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        tcdm_contract(self.props, m, dut.tcdm, capacity=response_capacity(self.config, parameters_only(Streamer(self.config))),
                      write_responses=self.config.write_responses)
        periph_contract(self.props, m, dut.periph, evt=dut.evt)
        return m
