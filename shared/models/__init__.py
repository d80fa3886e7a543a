"""SQLAlchemy models, one table per module."""

from shared.models.api_key import ApiKey
from shared.models.base import Base
from shared.models.generation import Generation, GenerationStatus

__all__ = ["ApiKey", "Base", "Generation", "GenerationStatus"]
