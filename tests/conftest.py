"""The order in which the two xdist workers take the test files (``--dist loadfile
--no-loadscope-reorder`` in pyproject.toml): the longest files first, so that the run does not end
with one worker in a long file while the other has nothing left (xdist's own order, by number of
tests per file, left the Verilator files for the end)."""

#: Test files in decreasing run time, seconds of one worker with the Verilator models cached
#: (``pytest --durations=0``, commit 4c3d1e7): cli 193, timing 139, formal 128, streamer 123,
#: sweep 116, verilator_flows 116, top 108, verilator 102, engine 89, power 87, fma 70, prefix 47,
#: trace 44, fpga 36, memories 34, port 32. The other files follow in pytest's order.
LONGEST_FIRST = ("test_cli.py", "test_timing.py", "test_formal.py", "test_streamer.py", "test_sweep.py",
                 "test_verilator_flows.py", "test_top.py", "test_verilator.py", "test_engine.py",
                 "test_power.py", "test_fma.py", "test_prefix.py", "test_trace.py", "test_fpga.py",
                 "test_memories.py", "test_port.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: a file keeps its order
