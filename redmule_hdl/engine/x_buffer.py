"""The X-buffer: per row of the array, a pending X beat and the chunk being consumed.

It takes a beat (D elements of one row) per cycle and gives one element of every row per take: a
corner turn. In flip-flops (``memories="flops"``) each row is a register and a shift register; in
RAM (``memories="ram"``) the elements are spread over ``max(L, D)`` memory banks diagonally, so that
both a row and a column touch each bank at most once (see ``XBuffer``).
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from redmule_hdl.config import check_int
from redmule_hdl.interfaces import beat_layout

__all__ = ["XBuffer"]


class XBuffer(wiring.Component):
    """X operands: per row a pending beat (filled from memory) and an active chunk (being consumed).

    An X beat is ``D`` consecutive elements ``X[m, n0 : n0+D]`` of one row. Beats are filled in groups of
    ``fill_rows`` rows (one n-chunk of one tile). The engine consumes one element per row every ``P+1``
    cycles with ``take``; the first take of a chunk moves the pending group into the active shift
    register, freeing the pending beats for the next group while the chunk is still in use.

    Ports:
        beat (stream in): X beats, accepted while ``fill_enable`` and the pending group is not full.
        fill_enable, fill_rows: rows of the group being filled (1..L); the caller advances its
            iterator on ``group_done`` (one-cycle pulse with the last beat of a group).
        take, take_last: consume the head element of every row; ``take_last`` marks the chunk's last.
        can_take: an element is available (active chunk non-empty or pending group complete).
        head: the element ``take`` consumes, one per row, from a register (``_head``): the buffer's
            storage and its read logic stay off the path into the CEs.
        clear: empty both stages (abort, job start).
    Parameters: ``L`` rows, ``D`` elements per beat; ``memories``, "flops" or "ram"
    (``Config.storage("xbuf")``).
    Storage: ``"flops"``: ``L * (2*D - 1)`` FP16 elements in registers (per row the pending beat,
    the head and the active chunk's ``D - 2`` further elements). ``"ram"``: two groups
    (pending, active; they swap roles at a chunk's first take) in ``B = max(L, D)`` banks of
    16-bit words, each with one write port and one asynchronous read port: element ``j`` of row
    ``r`` is in bank ``(j + r) mod B`` at address ``(group, r)``. A beat writes each bank at most
    once (rotated by its row), a cycle reads each bank at most once (each bank at its own address,
    the outputs rotated by the element index), and each row's first element is also kept in a
    register (``pending_first``). Both builds behave identically, cycle for cycle; each also
    registers the head (``L`` elements).
    """

    def __init__(self, L, D, *, memories="flops"):
        self.L, self.D = L, D = check_int("L", L, 1), check_int("D", D, 2)
        if memories not in ("flops", "ram"):
            raise ValueError(f"memories must be 'flops' or 'ram', not {memories!r}")
        self.memories = memories
        super().__init__({
            "beat": In(stream.Signature(beat_layout(D))),
            "fill_enable": In(1),
            "fill_rows": In(range(L + 1)),
            "group_done": Out(1),
            "take": In(1), "take_last": In(1),
            "can_take": Out(1),
            "head": Out(data.ArrayLayout(16, L)),
            "clear": In(1),
        })

    def elaborate(self, platform):
        if self.memories == "ram":
            return self._elaborate_banks()
        m = Module()
        L, D = self.L, self.D
        pending = Array(Signal(beat_layout(D), name=f"pending{r}") for r in range(L))
        # The chunk's elements after the head (which the head register holds), D - 2 at most.
        active = [Signal(data.ArrayLayout(16, D - 2), name=f"active{r}") for r in range(L)] if D > 2 else []
        pending_full = Signal()
        active_full = Signal()
        wr_row = Signal(range(L))

        from_pending = ~active_full
        # can_take = active_full | pending_full, as a register of its own (set from the two flags'
        # next values, ``*_next`` below): ``active_full`` selects every element of the buffer and
        # sits behind a deep buffer tree, and ``can_take`` starts the array's enable.
        active_full_next, pending_full_next, can_take = Signal(), Signal(), Signal()
        m.d.sync += [active_full.eq(active_full_next), pending_full.eq(pending_full_next),
                     can_take.eq(active_full_next | pending_full_next)]
        m.d.comb += [self.can_take.eq(can_take), active_full_next.eq(active_full),
                     pending_full_next.eq(pending_full)]
        for r, chunk in enumerate(active):
            with m.If(self.take):
                # Shift the chunk by one element; a fresh chunk comes from the pending beat.
                shifted = chunk.as_value() >> 16
                m.d.sync += chunk.eq(Mux(from_pending, pending[r].as_value()[32:], shifted))
        write = Signal()
        m.d.comb += write.eq(self.beat.valid & self.beat.ready)
        # The element after the head. (With D = 2 a chunk's second element is its last: no take
        # from the active register needs one.)
        second = [Mux(from_pending, pending[r][1], active[r][0]) if active else pending[r][1]
                  for r in range(L)]
        self._head(m, second, [pending[r][0] for r in range(L)], write, wr_row, from_pending)

        with m.If(self.take):
            m.d.comb += active_full_next.eq(~self.take_last)
            with m.If(from_pending):
                m.d.comb += pending_full_next.eq(0)

        m.d.comb += self.beat.ready.eq(self.fill_enable & ~pending_full)
        with m.If(write):
            m.d.sync += pending[wr_row].eq(self.beat.payload)
            with m.If(wr_row == self.fill_rows - 1):
                m.d.comb += [self.group_done.eq(1), pending_full_next.eq(1)]
                m.d.sync += wr_row.eq(0)
            with m.Else():
                m.d.sync += wr_row.eq(wr_row + 1)

        with m.If(self.clear):
            m.d.comb += [pending_full_next.eq(0), active_full_next.eq(0)]
            m.d.sync += wr_row.eq(0)
        return m

    def _elaborate_banks(self):
        m = Module()
        L, D = self.L, self.D
        B = max(L, D)
        pending_full = Signal()
        active_full = Signal()
        wr_row = Signal(range(L))
        active_group = Signal()        # the group being consumed; the other one is pending
        index = Signal(range(D))       # the active chunk's head element

        from_pending = ~active_full
        m.d.comb += self.can_take.eq(active_full | pending_full)
        # The state after this cycle (``*_next``): the next cycle's read is registered from it.
        active_full_next, pending_full_next = Signal(), Signal()
        active_group_next, index_next = Signal(), Signal(range(D))
        m.d.comb += [active_full_next.eq(active_full), pending_full_next.eq(pending_full),
                     active_group_next.eq(active_group), index_next.eq(index)]
        m.d.sync += [active_full.eq(active_full_next), pending_full.eq(pending_full_next),
                     active_group.eq(active_group_next), index.eq(index_next)]
        with m.If(self.take):
            m.d.comb += [active_full_next.eq(~self.take_last), index_next.eq(Mux(from_pending, 1, index + 1))]
            with m.If(from_pending):
                m.d.comb += [pending_full_next.eq(0), active_group_next.eq(~active_group)]

        write = Signal()
        m.d.comb += [self.beat.ready.eq(self.fill_enable & ~pending_full),
                     write.eq(self.beat.valid & self.beat.ready)]
        with m.If(write):
            with m.If(wr_row == self.fill_rows - 1):
                m.d.comb += [self.group_done.eq(1), pending_full_next.eq(1)]
                m.d.sync += wr_row.eq(0)
            with m.Else():
                m.d.sync += wr_row.eq(wr_row + 1)
        with m.If(self.clear):
            m.d.comb += [pending_full_next.eq(0), active_full_next.eq(0)]
            m.d.sync += wr_row.eq(0)

        # The beat of row r, rotated by r: bank b takes element (b - r) mod B (if it is < D).
        beat = Cat(self.beat.payload.as_value(), Const(0, 16 * (B - D)))
        start = Signal(range(B + 1))
        m.d.comb += start.eq(B - wr_row)
        rotated = Cat(beat, beat).bit_select(start * 16, 16 * B)
        # The element read in a cycle: the one after the head, of the chunk's group (the pending
        # group's second, or the active chunk's next; after a chunk's last element any one will do),
        # registered from the state after the cycle before: the banks' addresses and the rotation
        # start at registers. (Reset: the pending group, group 1, is read.)
        element, read_group = Signal(range(D), init=1), Signal(init=1)
        from_pending_next = ~active_full_next
        m.d.sync += [element.eq(Mux(from_pending_next | (index_next == D - 1), 1, index_next + 1)),
                     read_group.eq(Mux(from_pending_next, ~active_group_next, active_group_next))]
        row_bits = len(wr_row)
        outputs = []
        for b in range(B):
            m.submodules[f"bank{b}"] = bank = Memory(shape=16, depth=2 << row_bits, init=[])
            wr, rd = bank.write_port(), bank.read_port(domain="comb")
            # Bank b holds element (b - r) mod B of row r; only elements below D exist.
            from_row = _minus_mod(b, wr_row, L - 1, B)
            every_row = all((b - r) % B < D for r in range(L))
            # Bank b serves row (b - element) mod B in a read (rows from L on are not read).
            to_row = _minus_mod(b, element, D - 1, B)
            m.d.comb += [
                wr.addr.eq(Cat(wr_row, ~active_group)), wr.data.eq(rotated[16 * b:16 * (b + 1)]),
                wr.en.eq(write if every_row else write & (from_row < D)),
                rd.addr.eq(Cat(to_row[:row_bits], read_group)),
            ]
            outputs.append(rd.data)
        # Row r's element is in bank (element + r) mod B.
        banks = Cat(*outputs)
        second = Signal(data.ArrayLayout(16, L))
        m.d.comb += second.as_value().eq(Cat(banks, banks).bit_select(element * 16, 16 * L))
        # Each row's first element also goes to a register, so no second read port is needed.
        pending_first = [Signal(16, name=f"pending_first{r}") for r in range(L)]
        for r in range(L):
            with m.If(write & (wr_row == r)):
                m.d.sync += pending_first[r].eq(self.beat.payload[0])
        self._head(m, [second[r] for r in range(L)], pending_first, write, wr_row, from_pending)
        return m

    def _head(self, m, second, pending_first, write, wr_row, from_pending):
        """Drive ``head`` from registers holding, in every cycle, the element a take would consume:
        after a take the chunk's ``second`` element (the one after the head), or if that take was
        the chunk's last, or while the pending group is being filled, the pending group's first
        (``pending_first``, with the beat written in this cycle). Otherwise the head stays."""
        head = [Signal(16, name=f"head{r}") for r in range(self.L)]
        for r in range(self.L):
            first = Mux(write & (wr_row == r), self.beat.payload[0], pending_first[r])
            # Priority: a take moves on (to the chunk's next element, or after its last to the
            # pending group); without one, only the pending group's first element can change.
            with m.If(self.take & ~self.take_last):
                m.d.sync += head[r].eq(second[r])
            with m.Elif(self.take | from_pending):
                m.d.sync += head[r].eq(first)
            m.d.comb += self.head[r].eq(head[r])


def _minus_mod(b, value, most, B):
    """``(b - value) mod B`` for a constant ``b`` and a ``value`` of at most ``most`` (< B)."""
    if b >= most:
        return b - value
    return Mux(value <= b, b - value, b + B - value)
