"""Real workloads on the engine, through ``redmule_hdl.runtime``.

* ``train_mlp``: a 64-64-10 multilayer perceptron trained on scikit-learn's handwritten digits with
  every matrix product of the forward pass, the backward pass and the weight gradients on the
  engine, in float32 (numpy reference), FP16 and hybrid FP8;
* ``shortest_paths``: all-pairs shortest paths by min-plus squaring (``ADDMIN``), checked against
  ``scipy.sparse.csgraph.shortest_path``.

Both need the ``examples`` extra (``pip install 'redmule-hdl[examples]'``: scikit-learn, scipy) and run
from the command line as ``redmule-hdl example train-mlp`` and ``redmule-hdl example shortest-paths``.
Nothing is imported here, so the command line can name the examples without loading them.
"""
EXAMPLES = ("train-mlp", "shortest-paths")
