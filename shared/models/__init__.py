"""SQLAlchemy models, one table per module."""

from shared.models.base import Base
from shared.models.generation import Generation, GenerationStatus

__all__ = ["Base", "Generation", "GenerationStatus"]
