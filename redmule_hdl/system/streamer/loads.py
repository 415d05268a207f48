"""The streamer's load path: the tag FIFO of reads in flight, the response shift and cast-in, and the
FIFO (no bypass) of each load stream."""
from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from redmule_hdl.arith.cast import Fp8ToFp16
from redmule_hdl.config import check_config, check_int
from redmule_hdl.engine.job_slots import ring_next
from redmule_hdl.interfaces import ElementFormat, beat_layout
from redmule_hdl.system.streamer.arbiter import Source

__all__ = ["ReadTag", "read_tag", "ResponsePath", "LoadFifo"]

#: What the streamer remembers of each read in flight: its stream, the byte offset of the transfer in
#: its first word, whether its beat is the last of its group (the rows of a tile or an n-chunk), and
#: the format of its elements (reads of two jobs can be in flight at once).
ReadTag = data.StructLayout({"src": Source, "off": 2, "last": 1, "fmt": ElementFormat})


def read_tag(config):
    """The tag layout of ``config``: ``ReadTag``, plus ``low`` when an FP16 beat takes two transfers
    (``Config.splits_fp16``): the transfer is the low half of its beat, held until the high half."""
    if not check_config(config).splits_fp16:
        return ReadTag
    return data.StructLayout({**{name: f.shape for name, f in ReadTag}, "low": 1})


class ResponsePath(wiring.Component):
    """Matches read responses with their tags and turns them into FP16 beats for the engine.

    Each response is shifted right by its tag's byte offset to one transfer (``config.transfer_width``
    bits). A transfer of D FP8 elements is widened by the cast-in. On a port of D FP8 elements
    (``config.splits_fp16``) an FP16 beat arrives as two consecutive responses: the low half (tag
    ``low``) is kept in an assembly register of ``8*D`` bits and delivers nothing; the high half
    completes the beat, which is delivered in the cycle it arrives.

    Ports:
        issue, tag (in): a read (with ``write_responses`` also a write, tagged ``Source.Z``) is
            accepted by the memory in this cycle, with its tag (``read_tag(config)``).
        orphan (in): the request accepted now was raised before an abort: drop its response.
        r_valid, r_data (in): the memory's in-order responses.
        clear (in): job start or abort: the reads in flight at the end of this cycle are dropped when
            their responses arrive.
        deliver (out, one bit per ``Source``): a response of that stream that completes a beat
            arrives in this cycle (for ``Source.Z``: a write's response, which carries no data).
        beat, last (out): its D FP16 elements (shifted by the tag's offset, cast from FP8 if needed)
            and its tag's group-last flag.
        in_flight (out): requests (transfers) whose responses have not arrived.
    Parameters: ``config``; ``depth``, the most requests in flight (the credits times the transfers
    per beat). Latency: combinational, ``r_valid`` to ``deliver``/``beat``.
    Storage: a tag FIFO of ``depth`` rounded up to a power of two 7-bit entries (8-bit with
    ``splits_fp16``, plus the ``8*D``-bit assembly register).
    """

    #: Formal only: ``lemmas(m, **registers)``, set by a property harness to add assertions over
    #: the responses to drop (k-induction needs them); ``None`` in hardware (nothing is added).
    lemmas = None
    #: The tag FIFO (a formal harness substitutes a ``SyncFIFO`` that also shows its entries).
    TagFifo = SyncFIFO

    def __init__(self, config, depth):
        self.config = check_config(config)
        self.n_tags = 1 << (check_int("depth", depth, 1) - 1).bit_length()
        super().__init__({
            "issue": In(1),
            "tag": In(read_tag(config)),
            "orphan": In(1),
            "r_valid": In(1),
            "r_data": In(config.port_width),
            "clear": In(1),
            "deliver": Out(len(Source)),
            "beat": Out(beat_layout(config.D)),
            "last": Out(1),
            "in_flight": Out(range(self.n_tags + 1)),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        n_tags = self.n_tags
        layout = read_tag(c)
        # The credits keep the tags in flight below n_tags: the FIFO is never full when a request
        # is issued, and a response always finds its tag at the head.
        m.submodules.tags = tags = self.TagFifo(width=layout.size, depth=n_tags)
        level = self.in_flight
        drop = Signal(range(n_tags + 1))   # responses of an aborted job still to come
        resp = self.r_valid & tags.r_rdy
        head = layout(tags.r_data)
        m.d.comb += [
            tags.w_en.eq(self.issue),
            tags.w_data.eq(self.tag),
            tags.r_en.eq(self.r_valid),
            level.eq(tags.r_level),
        ]
        with m.If(self.clear):
            m.d.sync += drop.eq(level + self.issue - resp)
        with m.Else():
            m.d.sync += drop.eq(drop + (self.issue & self.orphan) - (resp & (drop != 0)))

        m.submodules.cast_in = cast_in = Fp8ToFp16(c.D)
        if c.misaligned:
            shifted = (self.r_data >> (head.off * 8))[:c.transfer_width]
        else:
            shifted = self.r_data[:c.transfer_width]
        if c.splits_fp16:
            # An FP16 beat: its low half waits here for the high half, the next response.
            low_half = Signal(8 * c.D)
            with m.If(resp & head.low):
                m.d.sync += low_half.eq(shifted)
            wide_beat = Cat(low_half, shifted)
            completes = ~head.low
        else:
            wide_beat = shifted
            completes = 1
        fmt = head.fmt
        m.d.comb += [
            cast_in.fmt.eq(fmt.fp8),
            cast_in.a.eq(shifted[:8 * c.D]),
            self.beat.eq(Mux(fmt.wide, wide_beat, cast_in.z)),
            self.last.eq(head.last),
        ]
        for s in Source:
            m.d.comb += self.deliver[s.value].eq(resp & (drop == 0) & (head.src == s) & completes)
        if self.lemmas is not None:
            self.lemmas(m, drop=drop, tags=tags)
        return m


class LoadFifo(wiring.Component):
    """A FIFO of ``depth`` beats in registers; the engine reads its head.

    Ports: ``push_valid``, ``push_beat``, ``push_last`` (in: a response for this stream, never
    refused: the streamer's credits guarantee room); ``out`` (stream out to the engine);
    ``take``, ``take_last`` (out: the engine takes a beat, and that beat's group-last flag);
    ``clear`` (in: empty the FIFO at the end of the cycle). Latency: 1, push to ``out.valid``.
    There is no bypass: a response is shifted and cast into an entry, and the engine's operand
    logic starts from a register, which keeps the response path (tag, shift, cast-in) and the
    engine's operand select (the X/W buffers, a CE's comparators) in separate cycles; a stream
    then needs ``read latency + 2`` entries to move one beat per cycle.
    ``memories`` (``Config.storage("fifos")``): the entries are registers (``"flops"``) or one
    ``amaranth.lib.memory.Memory`` with a write port and an asynchronous read port (``"ram"``),
    whose head is then a register of its own, loaded a cycle ahead; the two behave identically.
    """

    #: Formal only: ``lemmas(m, **registers)``, set by a property harness to add assertions over
    #: the level (k-induction needs them); ``None`` in hardware (nothing is added).
    lemmas = None

    def __init__(self, D, depth, *, memories="flops"):
        self.depth = check_int("depth", depth, 1)
        if memories not in ("flops", "ram"):
            raise ValueError(f"memories must be 'flops' or 'ram', not {memories!r}")
        self.memories = memories
        super().__init__({
            "push_valid": In(1),
            "push_beat": In(beat_layout(D)),
            "push_last": In(1),
            "out": Out(stream.Signature(beat_layout(D))),
            "take": Out(1),
            "take_last": Out(1),
            "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        entry = Cat(self.push_beat.as_value(), self.push_last)     # what a push writes
        wp = Signal(range(depth))
        level = Signal(range(depth + 1))
        push, pop = self.push_valid, self.take
        if self.memories == "ram":
            # The head is a register loaded a cycle ahead, from the push that makes it the head or
            # from the entry after it: the engine's operand logic (W goes straight to the CEs'
            # comparators) then starts at a register, not at the read pointer through the RAM.
            m.submodules.entries = entries = Memory(shape=len(entry), depth=depth, init=[])
            write, read = entries.write_port(), entries.read_port(domain="comb")
            head = Signal(len(entry), name="head")
            after = Signal(range(depth), init=1 % depth)     # the entry after the head
            m.d.comb += [write.addr.eq(wp), write.data.eq(entry), write.en.eq(push),
                         read.addr.eq(after)]
            with m.If(push & (level == pop)):       # the FIFO is empty but for this push
                m.d.sync += head.eq(entry)
            with m.Elif(pop):
                m.d.sync += head.eq(read.data)
            with m.If(pop):
                m.d.sync += after.eq(ring_next(after, depth))
            with m.If(self.clear):
                m.d.sync += after.eq(after.init)
        else:
            entries = Array(Signal(len(entry), name=f"entry{i}") for i in range(depth))
            rp = Signal(range(depth))
            head = entries[rp]
            with m.If(push):
                m.d.sync += entries[wp].eq(entry)
            with m.If(pop):
                m.d.sync += rp.eq(ring_next(rp, depth))
            with m.If(self.clear):
                m.d.sync += rp.eq(0)
        m.d.comb += [
            self.out.valid.eq(level != 0),
            self.out.payload.eq(head[:-1]),
            self.take_last.eq(head[-1]),
            self.take.eq(self.out.valid & self.out.ready),
        ]
        with m.If(push):
            m.d.sync += wp.eq(ring_next(wp, depth))
        m.d.sync += level.eq(level + push - pop)
        with m.If(self.clear):
            m.d.sync += [level.eq(0), wp.eq(0)]
        if self.lemmas is not None:
            self.lemmas(m, level=level)
        return m
