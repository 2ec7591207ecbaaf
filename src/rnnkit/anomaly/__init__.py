"""Anomaly detection with recurrent networks: :class:`AnomalyDetector` (forecast-error and
reconstruction scores, static, dynamic and robust thresholds, streaming alerts),
:class:`EarlyWarning` (predictive alerts before a series leaves its operating band),
one detector per sensor (:func:`fit_sensors`), generated slow faults and point/event
evaluation.  See ``docs/anomaly.md``."""
from .detector import AnomalyDetector
from .evaluate import event_scores, false_alerts_per_1000, intervals, point_scores
from .predictive import EarlyWarning
from .sensors import detect_sensors, fit_sensors
from .stream import LeanLSTM
from .synthetic import degradation_series
from .thresholds import DynamicThreshold, RobustThreshold, ewma, robust_epsilon, static_threshold, telemanom_epsilon

__all__ = ["AnomalyDetector", "DynamicThreshold", "EarlyWarning", "LeanLSTM", "RobustThreshold", "degradation_series",
           "detect_sensors", "event_scores", "ewma", "false_alerts_per_1000", "fit_sensors", "intervals",
           "point_scores", "robust_epsilon", "static_threshold", "telemanom_epsilon"]
