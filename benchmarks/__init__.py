"""Benchmarks of nnc against torch, torch.compile, ONNX Runtime and hand-written C (issue 6).

Run `python benchmarks/run.py --quick`; see benchmarks/README.md for what each column means.
"""
