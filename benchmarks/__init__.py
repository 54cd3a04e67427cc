"""Benchmarks of nnc against torch, torch.compile, AOTInductor, ONNX Runtime and hand-written C
(issues 6 and 7).

Run `python benchmarks/run.py --quick`; see benchmarks/README.md for what each column means.
"""
