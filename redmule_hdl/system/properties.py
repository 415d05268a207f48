"""Formal properties of the system's ports: the TCDM initiator, the peripheral target, ``evt``.

Each harness instantiates a block with free inputs and adds properties that read its ports only
(see ``engine/properties.py``); ``sim/formal.py`` runs them. Assumptions describe the environment:
a memory that answers in order, at least one cycle after the grant, only what was asked.
"""
from amaranth.hdl import ClockSignal, Elaboratable, Module, ResetSignal, Signal

from redmule_hdl.config import Config
from redmule_hdl.engine.properties import Properties, parameters_only, past, port_signals, started
from redmule_hdl.spec.regmap import Reg, WINDOW_BITS
from redmule_hdl.system.regfile import RegFile
from redmule_hdl.system.streamer import Streamer
from redmule_hdl.system.top import RedMulE

__all__ = ["stream_source_rules", "tcdm_contract", "periph_contract", "StreamerProperties", "RegFileProperties",
           "TopProperties", "response_capacity"]


def response_capacity(config, streamer):
    """Transfers whose response may be outstanding on a streamer's port: its read credits (and, with
    write responses, its Z beats in flight) times the transfers per beat."""
    beats = sum(streamer.depths.values()) + (streamer.z_depth if config.write_responses else 0)
    return beats * (2 if config.beat_format == "fp8" else 1)


def stream_source_rules(p, m, stream, abort=None):
    """Assume the rules of ``amaranth.lib.stream`` for a stream the block receives: once ``valid``
    is high it stays high, with the same payload, until ``ready``; except after an ``abort`` cycle,
    when the source drops what it offered (as the engine drops its Z beat)."""
    first = started(m)
    was_valid = past(m, stream.valid, name="past_valid")
    was_ready = past(m, stream.ready, name="past_ready")
    was_payload = past(m, stream.payload.as_value(), name="past_payload")
    waiting = first & was_valid & ~was_ready & ~past(m, ResetSignal(), name="past_rst_stream")
    if abort is not None:
        waiting &= ~past(m, abort, name="past_abort_stream")
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


class StreamerProperties(Elaboratable):
    """``Streamer(config)`` with free inputs: the TCDM port contract, with ``abort``.

    Assumes what the controller and the engine guarantee: the ``job`` and ``z`` streams follow the
    stream rules, a job has M, N, K >= 1 and reads Y (MATMUL jobs are checked on the top), the
    engine offers a Z beat only after taking more X, W and Y beats than Z beats so far (as every Z
    row needs them), and no job comes in an ``abort`` cycle or after it until ``idle``. Without that
    assumption ``tcdm_hold`` still holds (BMC, depth 14: the streamer keeps a waiting request
    whole), but ``tcdm_outstanding`` does not: the credits restart at the abort while the aborted
    job's responses are still in flight, so the streamer relies on the controller's wait for
    ``idle``."""

    def __init__(self, config, *, props=None, **streamer_args):
        self.props = props or Properties()
        self.config = config
        # Mutant ``tcdm_extra_credit``: one more X credit than the bound the properties assume.
        extra = {"x_depth": 3} if self.props.mutated("tcdm_extra_credit") else {}
        self.bound_of = parameters_only(Streamer(config, **streamer_args))   # the streamer as specified
        self.dut = Streamer(config, **{**streamer_args, **extra})
        self.ports = port_signals(self.dut)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        for stream in (dut.control.job, dut.z):
            stream_source_rules(self.props, m, stream, abort=dut.control.abort)
        # The controller's side of ``abort``: no job in the abort cycle, and after it none until
        # the streamer is idle (its waiting request granted, its responses back).
        draining = Signal()
        with m.If(dut.control.abort):
            m.d.sync += draining.eq(1)
        with m.Elif(dut.control.idle):
            m.d.sync += draining.eq(0)
        self.props.assume(m, ~dut.control.job.valid | ~(dut.control.abort | draining))
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
        tcdm_contract(self.props, m, dut.tcdm, capacity=response_capacity(self.config, self.bound_of),
                      write_responses=self.config.write_responses, abort=dut.control.abort)
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
