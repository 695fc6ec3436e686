"""What users call: the command line (`kgreason`), `run_pipeline`, `GraphQA`, batch `predict` and the demo.

`from kgreason.pipelines import GraphQA` (or `run_pipeline`, `evaluate_model`, `predict`) imports its module (and
torch) on first use only, so importing the package (the CLI does) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .evidence import Evidence
    from .predict import predict
    from .qa import Answer, GraphQA, QAError
    from .run import PipelineResult, evaluate_model, run_pipeline

_LAZY = {"GraphQA": "qa", "Answer": "qa", "QAError": "qa", "Evidence": "evidence", "predict": "predict",
         "run_pipeline": "run", "evaluate_model": "run", "PipelineResult": "run"}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
