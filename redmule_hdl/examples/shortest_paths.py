"""All-pairs shortest paths on the engine: min-plus squaring with the ADDMIN GEMM-Op.

``D[i, j]`` starts as the weight of edge i -> j (0 on the diagonal, +Inf for no edge). One ADDMIN job
with X = W = Y = D computes ``Z[i, j] = min(D[i, j], min_n (D[i, n] + D[n, j]))``: the shortest paths
of at most twice as many edges. Squaring until D stops changing (at most ceil(log2(nodes - 1)) + 1
times) gives all shortest path lengths. The weights are integers small enough that every path sum
is exact in FP16 (below 2048), so the result must equal ``scipy.sparse.csgraph.shortest_path``
exactly, +Inf for unreachable pairs included.
"""
import time
from dataclasses import dataclass

import numpy as np

from redmule_hdl.config import Config
from redmule_hdl.runtime import DEFAULT_TCDM_BYTES, Runtime, Stats
from redmule_hdl.spec import golden

from .progress import Progress

__all__ = ["ApspResult", "random_graph", "max_weight", "run", "format_table"]

#: Integers up to 2**11 are exact in FP16 (11 significant bits).
FP16_EXACT = 2048


@dataclass
class ApspResult:
    nodes: int
    edges: int
    max_weight: int
    squarings: int        # ADDMIN squarings run (the last one changed nothing)
    reachable: int        # ordered pairs (i != j) with a path
    longest: float        # the longest shortest path
    matches: bool         # equal to scipy.sparse.csgraph.shortest_path, element for element
    checked: int          # squarings checked bit for bit against golden.gemm_op
    stats: Stats          # the engine's work (jobs, cycles, utilization, bytes)
    distances: np.ndarray  # float64, +Inf for no path
    seconds: float = 0.0


def max_weight(nodes):
    """The largest integer edge weight for which every simple path sum stays exact in FP16."""
    return max(1, min(20, (FP16_EXACT - 1) // max(nodes - 1, 1)))


def random_graph(nodes, seed=0, *, density=0.05):
    """A random directed graph as a float64 weight matrix: each ordered pair i != j is an edge with
    probability ``density``, with an integer weight in 1..``max_weight(nodes)``; 0 on the diagonal,
    +Inf for no edge."""
    rng = np.random.default_rng(seed)
    edges = rng.random((nodes, nodes)) < density
    np.fill_diagonal(edges, False)
    weights = rng.integers(1, max_weight(nodes) + 1, size=(nodes, nodes)).astype(np.float64)
    g = np.where(edges, weights, np.inf)
    np.fill_diagonal(g, 0.0)
    return g


def run(config=None, *, backend="verilator", nodes=100, seed=0, density=0.05, verify=False,
        progress=None, tcdm_bytes=DEFAULT_TCDM_BYTES, runtime_options=None):
    """Shortest paths of ``random_graph(nodes, seed, density=...)`` by ADDMIN squaring on the
    engine, checked against scipy; returns an ``ApspResult``. ``verify``: also check each squaring
    bit for bit against ``golden.gemm_op``. ``runtime_options``: more keywords of the ``Runtime``
    (e.g. ``trace``)."""
    from scipy.sparse.csgraph import csgraph_from_dense, shortest_path
    config = Config() if config is None else config
    if isinstance(nodes, bool) or not isinstance(nodes, int) or not 2 <= nodes <= FP16_EXACT:
        raise ValueError(f"nodes must be an int in 2..{FP16_EXACT}, not {nodes!r}")
    g = random_graph(nodes, seed, density=density)
    d = golden.from_float(g)
    most = int(np.ceil(np.log2(max(nodes - 1, 1)))) + 1
    bar = Progress(most, "shortest-paths", enabled=progress)
    stats = Stats(peak=config.L * config.H)
    squarings = checked = 0
    t0 = time.monotonic()
    try:
        with Runtime(config, tcdm_bytes=tcdm_bytes, backend=backend, **(runtime_options or {})) as rt:
            while True:
                r = rt.gemm_op("addmin", d, d, d)
                squarings += 1
                stats = stats + r.stats
                if verify:
                    if not np.array_equal(r.z, golden.gemm_op("addmin", d, d, d)):
                        raise AssertionError(f"squaring {squarings} differs from golden.gemm_op")
                    checked += 1
                bar.update(note=f"squaring {squarings}: {r.jobs} jobs, {r.cycles} cycles")
                if np.array_equal(r.z, d):
                    break
                if squarings > most:
                    raise AssertionError(f"D still changes after {squarings} squarings")
                d = r.z
    finally:
        bar.close()
    dist = golden.to_float(d).astype(np.float64)
    ref = shortest_path(csgraph_from_dense(g, null_value=np.inf), method="D", directed=True)
    off = ~np.eye(nodes, dtype=bool)
    finite = np.isfinite(dist) & off
    return ApspResult(nodes=nodes, edges=int(np.sum(np.isfinite(g) & off)), max_weight=max_weight(nodes),
                      squarings=squarings, reachable=int(finite.sum()),
                      longest=float(dist[finite].max()) if finite.any() else 0.0,
                      matches=bool(np.array_equal(dist, ref)), checked=checked, stats=stats,
                      distances=dist, seconds=time.monotonic() - t0)


def format_table(r, config, *, clock_mhz=613):
    """Markdown table of one run."""
    s = r.stats
    rows = [
        ("graph", f"{r.nodes} nodes, {r.edges} edges, integer weights 1..{r.max_weight}"),
        ("reachable pairs", f"{r.reachable} of {r.nodes * (r.nodes - 1)}"),
        ("longest shortest path", f"{r.longest:g}"),
        ("squarings (ADDMIN jobs of D, D, D)", f"{r.squarings}"),
        ("jobs", f"{s.jobs}"),
        ("engine cycles", f"{s.cycles:,}"),
        ("simulated cycles", f"{s.sim_cycles:,}"),
        ("CE utilization", f"{100 * s.utilization:.1f}%"),
        (f"time at {clock_mhz} MHz", f"{s.cycles / clock_mhz:.1f} us"),
        ("TCDM traffic (engine port)", f"{s.port_bytes:,} bytes"),
        ("equal to scipy shortest_path", "yes" if r.matches else "NO"),
    ]
    if r.checked:
        rows.append(("squarings checked against golden", f"{r.checked}/{r.squarings}"))
    return "\n".join(["| | |", "|---|---:|"] + [f"| {a} | {b} |" for a, b in rows])
