"""Diagnostics: the adding problem, gradient flow through time, gate statistics, activation view, run report.

Imports here are light (NumPy and rnnkit's core); matplotlib is imported inside functions.
"""
from .adding import adding_problem, train_adding
from .flow import gradflow_experiment, step_metrics
from .gates import forget_gate_mean, gate_metrics, gate_activations, gate_names, gate_saturation
from .activation import activation_page, feature_search, text_features
from .report import write_report

__all__ = ["adding_problem", "train_adding", "gradflow_experiment", "step_metrics", "forget_gate_mean",
           "gate_activations", "gate_metrics", "gate_names", "gate_saturation", "activation_page",
           "feature_search", "text_features", "write_report"]
