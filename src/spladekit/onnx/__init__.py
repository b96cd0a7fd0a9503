"""ONNX export tooling: the SPLADE pooling inside the graph, and the int8 head.

:mod:`.export` (torch, onnx, onnxscript) is imported only to export; loading an exported folder
needs only :mod:`spladekit.checkpoint.onnx_folder`, which the runtime backend uses.
"""
