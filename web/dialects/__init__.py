"""The other APIs this server speaks: OpenAI's and Ollama's, on the same queue."""

from shared.config import Settings
from shared.errors import UnknownModel


def resolve_model(settings: Settings, name: str, refusal: str) -> str:
    """The allowed model a dialect's `model` names; `refusal` (with {name}) if none."""
    model = settings.allowed_model(name)
    if model is None:
        raise UnknownModel(refusal.format(name=name))
    return model
