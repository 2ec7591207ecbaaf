"""Anomaly detection with recurrent networks: :class:`AnomalyDetector` (forecast-error and
reconstruction scores, static and dynamic thresholds, streaming early alerts) and
point/event evaluation.  See ``docs/anomaly.md``."""
from .detector import AnomalyDetector
from .evaluate import event_scores, intervals, point_scores
from .stream import LeanLSTM
from .thresholds import DynamicThreshold, ewma, static_threshold, telemanom_epsilon

__all__ = ["AnomalyDetector", "DynamicThreshold", "LeanLSTM", "event_scores", "ewma", "intervals",
           "point_scores", "static_threshold", "telemanom_epsilon"]
