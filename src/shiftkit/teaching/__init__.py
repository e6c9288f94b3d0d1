"""What the lesson teaches on the way to mean shift: the matrix-multiplication ladder.

`matmul`: every rung, from three Python loops to a GPU kernel (and a Python
model of a CUDA launch); `ladder`: each rung checked against ``a @ b`` in
float64 and timed (``shiftkit matmul``). Not part of the clustering library:
nothing in `shiftkit` imports this package.
"""
