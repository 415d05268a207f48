"""The facts of the design and its reference model: number formats, GEMM-Ops, the register map, the
tile schedule and the bit-exact numpy model. Pure Python (Amaranth enums only): the hardware, the
simulation drivers, the documentation and the tests all import these instead of repeating them."""
