"""`trainwise export RUN --onnx FILE`: the run's network as ONNX, with its preprocessing as metadata."""

from __future__ import annotations

from argparse import Namespace

from trainwise.cli.output import emit


def run(args: Namespace) -> int:
    from trainwise.serve import load
    from trainwise.serve.onnx import export_onnx

    path = export_onnx(load(args.run), args.onnx)
    if args.json:
        emit(args, {"onnx": str(path), "input": "features", "outputs": ["logits", "proba"]})
    elif not args.quiet:
        print(f"Wrote {path} (input 'features': the preprocessed rows, see docs/predict.md; outputs 'logits', "
              "'proba').")
    return 0
