"""Using a trained run: :func:`load` a run folder, predict new rows with its saved preprocessing and
threshold, check them against the training data, and export the network (see ``docs/predict.md``)."""

from trainwise.serve.load import load
from trainwise.serve.predictor import Predictions, Predictor

__all__ = ["Predictions", "Predictor", "load"]
