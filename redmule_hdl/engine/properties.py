"""Formal properties: the helpers every property file uses, and the job ring's properties.

Properties are Amaranth ``Assert``/``Assume``/``Cover`` statements that read a block's ports only.
They live in harnesses (``*Properties`` elaboratables) that instantiate the block and add the
statements around it; the blocks themselves carry none, so the exported Verilog and the simulation
netlists stay as they are. The formal flow (``redmule_hdl.sim.formal``) elaborates a harness with
one assertion (or cover) selected and runs SymbiYosys on it.
"""
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Signal
from amaranth.lib import data

from redmule_hdl.engine.job_slots import JobSlots

__all__ = ["Properties", "past", "started", "port_signals", "parameters_only", "JobSlotsProperties"]


class Properties:
    """The named properties of one harness.

    ``only``: the name of the one assertion or cover to emit (``None``: every one); assumptions are
    always emitted. ``mutant``: the name of a deliberate defect the harness puts between the block
    and its properties (the flow's mutation tests), or ``None``. ``lemmas``: also emit the lemmas,
    assertions over a block's internal registers that k-induction needs (through the block's
    formal-only ``lemmas`` hook; BMC does not need them). ``observe``: for simulation (the replay of
    a counterexample), each emitted assertion drives a signal ``observed[name]`` and each
    assumption one of ``assumptions`` (1: holds) instead of an ``Assert``/``Assume`` cell.
    """

    def __init__(self, only=None, mutant=None, lemmas=False, observe=False):
        self.only = only
        self.mutant = mutant
        self.lemmas = lemmas and not observe
        self.observe = observe
        self.kinds = {}      # name -> "assert" / "cover", in definition order
        self.observed = {}
        self.assumptions = []

    def emits(self, *names):
        """One of ``names`` is emitted (a harness adds the assumptions only those need)."""
        return self.only is None or self.only in names

    def _add(self, m, kind, name, test):
        if name in self.kinds:
            raise ValueError(f"property {name!r} is defined twice")
        self.kinds[name] = kind
        if not self.emits(name):
            return
        if self.observe:
            self.observed[name] = self._observe(m, f"prop_{name}", test)
        else:
            m.d.comb += (Assert if kind == "assert" else Cover)(test)

    @staticmethod
    def _observe(m, name, test):
        sig = Signal(name=name)
        m.d.comb += sig.eq(test)
        return sig

    def check(self, m, name, test):
        """Assertion ``name``: ``test`` holds in every cycle."""
        self._add(m, "assert", name, test)

    def cover(self, m, name, test):
        """Cover ``name``: some trace reaches a cycle in which ``test`` holds."""
        self._add(m, "cover", name, test)

    def lemma(self, m, test):
        """A lemma: ``test`` holds in every reachable cycle (an invariant that makes the selected
        property inductive). Asserted, so proven with it, in prove mode only."""
        if self.lemmas:
            m.d.comb += Assert(test, src_loc_at=1)    # the solver's log names the caller's line

    def assume(self, m, test):
        if self.observe:
            self.assumptions.append(self._observe(m, f"assumption{len(self.assumptions)}", test))
        else:
            m.d.comb += Assume(test)

    def mutated(self, name):
        """The harness applies mutant ``name``."""
        return self.mutant == name


def past(m, value, name=None):
    """A register (without reset) holding ``value`` of the previous cycle (0 in the first cycle)."""
    # Not reset: the value before a reset cycle (the reset itself among them) stays visible.
    reg = Signal(len(value), name=name, reset_less=True)
    m.d.sync += reg.eq(value)
    return reg


def started(m):
    """1 from the second cycle on: past values are meaningful."""
    flag = Signal(name="started", reset_less=True)
    m.d.sync += flag.eq(1)
    return flag


def parameters_only(elaboratable):
    """Mark ``elaboratable`` as read for its parameters only (never elaborated: no warning)."""
    elaboratable._MustUse__silence = True
    return elaboratable


def port_signals(component):
    """Every signal of a component's signature (free inputs and observed outputs of a harness)."""
    out = []
    for _, _, value in component.signature.flatten(component):
        out.append(value.as_value() if isinstance(value, data.View) else value)
    return out


class JobSlotsProperties(Elaboratable):
    """``JobSlots`` with two walkers (``a``, then ``release``) and free inputs.

    Assumes: a walker finishes only while active. Asserts ``slots_bounded``: jobs in flight (puts
    accepted minus the release walker's finishes, since the last clear) never exceed ``depth``, and
    ``slots_put_only_free``: a put is accepted only while fewer than ``depth`` jobs are in flight.
    Covers ``slots_full``: every slot holds a job. Mutant ``slots_ignore_full``: the ring's
    ``put.ready`` stuck at 1 as seen by the properties (the ring takes a job into a full slot).

    Lemmas (``JobSlots.lemmas``): the jobs in flight are the full slots, and the release walker,
    while active, is at a full slot (so its finish frees one, never the slot a put fills).
    """

    def __init__(self, depth=2, *, props=None):
        self.props = props or Properties()
        self.depth = depth
        self.dut = JobSlots(data.StructLayout({"v": 2}), ["a", "release"], release="release",
                            depth=depth)
        self.ports = port_signals(self.dut)

    def elaborate(self, platform):
        m = Module()
        p, dut, depth = self.props, self.dut, self.depth
        m.submodules.dut = dut
        for name in ("a", "release"):
            walker = getattr(dut.walk, name)
            p.assume(m, ~walker.finish | walker.active)
        ready = 1 if p.mutated("slots_ignore_full") else dut.put.ready
        put = dut.put.valid & ready
        release = dut.walk.release.finish & dut.walk.release.active
        in_flight = Signal(range(depth + 3))

        def lemmas(m, full, wr):
            rel = dut.walk.release
            p.lemma(m, in_flight == sum(full[i] for i in range(depth)))
            p.lemma(m, ~rel.active | full.bit_select(rel.ptr, 1))
        dut.lemmas = lemmas
        with m.If(dut.clear):
            m.d.sync += in_flight.eq(0)
        with m.Elif(in_flight <= depth):
            m.d.sync += in_flight.eq(in_flight + put - release)
        p.check(m, "slots_bounded", in_flight <= depth)
        p.check(m, "slots_put_only_free", ~put | (in_flight < depth))
        p.cover(m, "slots_full", in_flight == depth)
        return m
