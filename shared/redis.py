"""Redis connections: one arq pool per process serves the queue, the stream log and pub/sub."""

import orjson
from arq.connections import ArqRedis, RedisSettings, create_pool

from shared.config import Settings


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


def serialize_job(data: object) -> bytes:
    # JSON, not arq's default pickle: whoever can write to Redis must not run code in our
    # processes. `default=repr` keeps arq's failure results (exceptions) serialisable.
    return orjson.dumps(data, default=repr)


def deserialize_job(data: bytes) -> object:
    return orjson.loads(data)


async def create_redis(settings: Settings) -> ArqRedis:
    return await create_pool(
        redis_settings(settings),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
    )
