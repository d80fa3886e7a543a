"""Every Redis key and channel name, spelled here and nowhere else (as arq's constants.py does).

Ours all start with REDIS_NAMESPACE (default `llm`), so that two deployments can share one
Redis, even one database, without hearing each other's wake-ups, revocations or streams:

    <ns>:arq:queue              arq's queue (its queue_name): job id -> when it is due (ms)
    <ns>:queue:waiting          generations queued and not yet started (score: queue time, s)
    <ns>:queue:wake             channel: wake-up notices for the workers (`job`, `abort`)
    <ns>:control                channel: notices for every web process (`key-changed <id>`)
    <ns>:hub:<id>:echo          channel: a web process's check that its subscription hears
    <ns>:workers                live workers (score: last heartbeat, s)
    <ns>:worker:<id>            a worker's heartbeat (JSON), expiring 3 heartbeats after the last
    <ns>:health-check:<host>    arq's health key for one host's worker (`python -m worker --check`)
    <ns>:gen:<id>:live          channel: a generation's live events
    <ns>:gen:<id>:log           a generation's replay log (a Stream with ids 0-<seq>)
    <ns>:gen:<id>:clients       how many clients are attached to its stream
    <ns>:gen:<id>:cancel        set when a cancel was asked for
    <ns>:gen:<id>:response      a Responses API request's echoed fields (JSON), for retrieval
    <ns>:limits:<owner>:rpm     the owner's generations of the last minute (score: start, s)
    <ns>:limits:<owner>:active  the owner's generations not yet ended (score: latest end, s)
    <ns>:limits:<owner>:resumes the owner's open resumed streams (score: latest end, s)
    <ns>:limits:<owner>:user:<u>:rpm / :active   the same per end user of the owner
    <ns>:usage:<owner>:day:<date> / :month:<yyyy-mm>   tokens counted against the budgets
    <ns>:idempotency:<owner>:<key>              the generation an Idempotency-Key made
    <ns>:fair:...               the fair order of waiting generations (shared/fair_queue.py)

arq 0.28 has no setting for the prefix of its per-job keys: `arq:job:<id>`, `arq:in-progress:<id>`,
`arq:retry:<id>`, `arq:result:<id>` and the abort set `arq:abort` keep arq's own names (they are
read by arq's `run_job`). A job's id is its generation's random UUID, so deployments sharing a
database cannot collide there either. Their names come from arq's constants, through this module.
"""

import re
from dataclasses import dataclass

from arq import constants as arq

NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Keys:
    namespace: str = "llm"

    def __post_init__(self) -> None:
        if not NAMESPACE_PATTERN.match(self.namespace):
            raise ValueError(f"not a usable Redis namespace: {self.namespace!r}")

    @property
    def arq_queue(self) -> str:
        return f"{self.namespace}:arq:queue"

    @property
    def waiting(self) -> str:
        return f"{self.namespace}:queue:waiting"

    @property
    def wake_channel(self) -> str:
        return f"{self.namespace}:queue:wake"

    @property
    def control_channel(self) -> str:
        return f"{self.namespace}:control"

    def hub_echo(self, hub_id: str) -> str:
        return f"{self.namespace}:hub:{hub_id}:echo"

    @property
    def workers(self) -> str:
        return f"{self.namespace}:workers"

    def worker(self, worker_id: str) -> str:
        return f"{self.namespace}:worker:{worker_id}"

    def health_check(self, host: str) -> str:
        return f"{self.namespace}:health-check:{host}"

    def live(self, generation_id: str) -> str:
        return f"{self.namespace}:gen:{generation_id}:live"

    def log(self, generation_id: str) -> str:
        return f"{self.namespace}:gen:{generation_id}:log"

    def clients(self, generation_id: str) -> str:
        return f"{self.namespace}:gen:{generation_id}:clients"

    def cancel(self, generation_id: str) -> str:
        return f"{self.namespace}:gen:{generation_id}:cancel"

    def response(self, generation_id: str) -> str:
        return f"{self.namespace}:gen:{generation_id}:response"

    def rate(self, owner: str) -> str:
        return f"{self.namespace}:limits:{owner}:rpm"

    def active(self, owner: str) -> str:
        return f"{self.namespace}:limits:{owner}:active"

    def resumes(self, owner: str) -> str:
        return f"{self.namespace}:limits:{owner}:resumes"

    def user_rate(self, owner: str, end_user: str) -> str:
        return f"{self.namespace}:limits:{owner}:user:{end_user}:rpm"

    def user_active(self, owner: str, end_user: str) -> str:
        return f"{self.namespace}:limits:{owner}:user:{end_user}:active"

    def usage_day(self, owner: str, day: str) -> str:
        return f"{self.namespace}:usage:{owner}:day:{day}"

    def usage_month(self, owner: str, month: str) -> str:
        return f"{self.namespace}:usage:{owner}:month:{month}"

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.namespace}:idempotency:{owner}:{key}"

    @property
    def fair(self) -> dict[str, str]:
        """The fair order's names, as the Lua of shared/fair_queue.py builds them (`%s`: the
        class, the owner, the end user)."""
        ns = self.namespace
        return {
            "classes": f"{ns}:fair:classes",
            "class_keys": f"{ns}:fair:class:%s:keys",
            "key_users": f"{ns}:fair:key:%s:users",
            "user_jobs": f"{ns}:fair:key:%s:user:%s",
            "meta": f"{ns}:fair:meta",
        }

    # arq's own names (see the module docstring).
    arq_abort = arq.abort_jobs_ss

    @staticmethod
    def arq_job(job_id: str) -> str:
        return arq.job_key_prefix + job_id

    @staticmethod
    def arq_in_progress(job_id: str) -> str:
        return arq.in_progress_key_prefix + job_id

    @staticmethod
    def arq_retry(job_id: str) -> str:
        return arq.retry_key_prefix + job_id

    @staticmethod
    def arq_result(job_id: str) -> str:
        return arq.result_key_prefix + job_id

    # Prefixes, for scripts that build the names of many jobs themselves.
    arq_in_progress_prefix = arq.in_progress_key_prefix
