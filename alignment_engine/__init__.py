"""alignment_engine: Linear Alignment decoding (Gao et al., ICML 2024) as a framework-free library."""

from alignment_engine.config import DEFAULT_ALPHA, GenerationConfig, InvalidParameterError
from alignment_engine.engine import Engine
from alignment_engine.loader import load_engine
from alignment_engine.types import GenerationRequest, GenerationResult, Principle, StreamEvent

__all__ = [
    "DEFAULT_ALPHA",
    "Engine",
    "GenerationConfig",
    "GenerationRequest",
    "GenerationResult",
    "InvalidParameterError",
    "Principle",
    "StreamEvent",
    "load_engine",
]
