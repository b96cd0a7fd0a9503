"""ONNX tooling: export with the SPLADE pooling inside the graph, and the exported folder's layout.

Runtime code (``spladekit.backends.onnx_backend``) needs only :mod:`spladekit.onnx.layout`;
:mod:`spladekit.onnx.export` (torch, onnx, onnxscript) is imported only to export.
"""
