"""Trained triage: category, service, urgency, priority and resolver group.

Models are trained from the shared datasets (``train_all``), measured on their fixed test
splits (``evaluate_all``), loaded once with their hashes checked (``load_models``), and
called once per pipeline batch (``Triager.classify_batch``). Operators' corrections take
effect at once through ``Triager.remember`` and become training data through ``retrain``.
"""

from triage.classify.artifacts import Manifest, ModelLoadError
from triage.classify.evaluation import evaluate_all, format_report
from triage.classify.memory import CorrectionsMemory
from triage.classify.priority import PriorityOverride, PriorityPolicy, prioritise
from triage.classify.retrain import retrain
from triage.classify.serving import TriageConfig, Triager, load_models
from triage.classify.training import train_all
from triage.classify.values import (
    Alternative,
    ChallengerOutcome,
    ClassMetrics,
    Correction,
    EvalReport,
    HoldoutScore,
    ModelMetrics,
    Prediction,
    PriorityDecision,
    RetrainResult,
    TriageInput,
    TriageResult,
)

__all__ = [
    "Alternative",
    "ChallengerOutcome",
    "ClassMetrics",
    "Correction",
    "CorrectionsMemory",
    "EvalReport",
    "HoldoutScore",
    "Manifest",
    "ModelLoadError",
    "ModelMetrics",
    "Prediction",
    "PriorityDecision",
    "PriorityOverride",
    "PriorityPolicy",
    "RetrainResult",
    "TriageConfig",
    "TriageInput",
    "TriageResult",
    "Triager",
    "evaluate_all",
    "format_report",
    "load_models",
    "prioritise",
    "retrain",
    "train_all",
]
