"""Notices: the one-line messages on the wake-up channel (to the workers) and the control channel
(to every web process), `<kind> <argument>`, encoded and decoded here only.

    job <generation id>       a job is waiting (not necessarily for you: claim the next one)
    abort <generation id>     stop this job if you run it
    key-changed <key id>      forget what you cached of this API key (revoked, limits changed)
"""

from dataclasses import dataclass

JOB = "job"
ABORT = "abort"
KEY_CHANGED = "key-changed"


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    argument: str

    def encode(self) -> str:
        return f"{self.kind} {self.argument}"

    @classmethod
    def decode(cls, data: bytes | str) -> "Notice":
        text = data.decode() if isinstance(data, bytes) else data
        kind, _, argument = text.partition(" ")
        return cls(kind, argument)
