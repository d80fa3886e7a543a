"""The order in which waiting generations start: fair between priority classes, between keys
within a class (weighted by each key's `weight`), and between a key's end users, decided in Redis
atomically for every API and worker process.

Each level is start-time fair queueing (Goyal et al.): every active flow (a class, a key in its
class, an end user in its key) has a virtual time, the next job comes from the flow whose time
is lowest, and serving a flow advances its time by 1 / its weight. A flow that becomes active
starts at its level's current virtual time (or at its own next time, if it was served a moment
ago), so being idle earns no credit and emptying and refilling earns no extra turn; a flow with one
waiting job is served within one round of the flows ahead of it: a quiet key behind a flood of
another key's forty requests waits for about one generation, not forty. No flow starves: at
every level each active flow is served at least once per round, and a class's share is its
weight against the others' (CLASS_WEIGHTS: `interactive` 16 : `standard` 4 : `batch` 1, so
interactive work goes first and batch still progresses).

Layout (names from shared/keys.py, under REDIS_NAMESPACE):

    fair:classes                 ZSET   class -> virtual time
    fair:class:<class>:keys      ZSET   owner -> virtual time within the class
    fair:key:<owner>:users       ZSET   end user ("" for none) -> virtual time within the key
    fair:key:<owner>:user:<u>    LIST   the user's waiting job ids, oldest first
    fair:meta                    HASH   each level's virtual time, each owner's weight
    <a level's ZSET>:done        ZSET   flows that left it empty -> their next tag, while ahead

The waiting set (Keys.waiting) stays the truth about what waits: a job that was cancelled or
expired is dropped when the order reaches it. ORDER_SCRIPT runs the same choice without changing
anything, for queue positions ("how many start before you"); tests/shared/test_fair_queue.py
checks that the two agree.
"""

from shared import arq_layout

CLASS_WEIGHTS = {"interactive": 16, "standard": 4, "batch": 1}
DEFAULT_CLASS = "standard"

# The pick and the bookkeeping shared by the claim and the order (`redis.call` is passed in as
# `r`, so that the order can run on a copy).
LUA_FAIR = (
    "local CLASS_WEIGHT = {"
    + ", ".join(f"{name} = {weight}" for name, weight in CLASS_WEIGHTS.items())
    + "}\n"
    + """
local function lowest(r, zkey)
  local got = r('ZRANGE', zkey, 0, 0, 'WITHSCORES')
  if #got == 0 then return nil, nil end
  return got[1], tonumber(got[2])
end
-- A flow served: the level's time moves to its start tag; its next tag is one step on. A flow
-- left empty leaves the level, its next tag kept in `<level>:done` while it is still ahead of
-- the level's time (so that emptying and refilling at once earns no extra turn); tags the time
-- has passed are dropped there, which keeps that set to the flows served in the last round.
local function served(r, meta, zkey, member, score, step, vt_field, empty)
  r('HSET', meta, vt_field, score)
  local done = zkey .. ':done'
  r('ZREMRANGEBYSCORE', done, '-inf', score)
  if empty then
    r('ZREM', zkey, member)
    r('ZADD', done, score + step, member)
  else
    r('ZADD', zkey, score + step, member)
  end
end
-- A flow that becomes active starts at its level's time, or at its own next tag if that is
-- later (it was served a moment ago).
local function join(zkey, member, vt)
  if redis.call('ZSCORE', zkey, member) then return end
  local start = tonumber(vt or 0)
  local done = zkey .. ':done'
  local next_tag = redis.call('ZSCORE', done, member)
  if next_tag then
    start = math.max(start, tonumber(next_tag))
    redis.call('ZREM', done, member)
  end
  redis.call('ZADD', zkey, start, member)
end
-- The next job id in fair order, taken off its list; false for a stale entry; nil: none.
local function fair_next(r, n)
  local cls, cs = lowest(r, n.classes)
  if not cls then return nil end
  local keys_z = string.format(n.class_keys, cls)
  local owner, os = lowest(r, keys_z)
  if not owner then r('ZREM', n.classes, cls) return false end
  local users_z = string.format(n.key_users, owner)
  local user, us = lowest(r, users_z)
  if not user then
    r('ZREM', keys_z, owner)
    if r('ZCARD', keys_z) == 0 then r('ZREM', n.classes, cls) end
    return false
  end
  local list = string.format(n.user_jobs, owner, user)
  local job = r('LPOP', list)
  local user_empty = r('LLEN', list) == 0
  served(r, n.meta, users_z, user, us, 1, 'vt:key:' .. owner, user_empty)
  local key_empty = user_empty and r('ZCARD', users_z) == 0
  local weight = tonumber(r('HGET', n.meta, 'w:' .. owner) or '1')
  served(r, n.meta, keys_z, owner, os, 1 / weight, 'vt:class:' .. cls, key_empty)
  local class_empty = key_empty and r('ZCARD', keys_z) == 0
  served(r, n.meta, n.classes, cls, cs, 1 / (CLASS_WEIGHT[cls] or 4), 'vt:classes', class_empty)
  return job or false
end
-- A waiting job joins its user's list; each flow that becomes active starts at its level's time.
local function fair_enqueue(n, cls, owner, user, weight, job)
  local list = string.format(n.user_jobs, owner, user)
  redis.call('RPUSH', list, job)
  join(string.format(n.key_users, owner), user, redis.call('HGET', n.meta, 'vt:key:' .. owner))
  join(string.format(n.class_keys, cls), owner, redis.call('HGET', n.meta, 'vt:class:' .. cls))
  join(n.classes, cls, redis.call('HGET', n.meta, 'vt:classes'))
  redis.call('HSET', n.meta, 'w:' .. owner, weight)
end
"""
)

# Claim the next waiting generations in fair order, as arq claims a job, up to `want` of them;
# returns id, score, id, score, ... Entries no longer waiting (cancelled, expired, claimed by the
# safety-net poll) are dropped on the way, within a bounded number of steps. A job in the order
# is due whatever its arq score says: that is the submitting API's clock, which may be ahead of
# the worker's (by the milliseconds a claim waits in its pipeline behind the submit, or by the
# skew between two machines); checked against the worker's clock, a job taken off its list
# would be left to the safety net (measured: 2 of 5,120 under load, each about 5 s late).
#   KEYS: waiting, arq queue;  ARGV: names (JSON), want, lock (ms), in-progress prefix
CLAIM_NEXT_SCRIPT = arq_layout.LUA_CLAIM + LUA_FAIR + """
local n = cjson.decode(ARGV[1])
local want, lock, prefix = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local now = 2^53  -- see above: any score is due
local claimed, steps = {}, 0
while #claimed < 2 * want and steps < want + 1000 do
  steps = steps + 1
  local job = fair_next(redis.call, n)
  if job == nil then break end
  if job and redis.call('ZSCORE', KEYS[1], job) then
    local score = arq_claim(prefix .. job, KEYS[2], job, now, lock)
    if score then
      claimed[#claimed + 1] = job
      claimed[#claimed + 1] = score
    end
  end
end
return claimed
"""

# The order waiting generations will start in, without changing anything: the same choice run
# on a copy of the structures. Returns the job ids still waiting, first first.
#   KEYS: waiting;  ARGV: names (JSON), at most how many
ORDER_SCRIPT = LUA_FAIR + """
local n = cjson.decode(ARGV[1])
local limit = tonumber(ARGV[2])
local z, h, l = {}, {}, {}  -- sorted sets {member -> score}, hashes, lists (copies)
local function zload(key)
  if z[key] then return end
  z[key] = {}
  local got = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #got, 2 do z[key][got[i]] = tonumber(got[i + 1]) end
end
local function copy(cmd, key, a, b)
  if cmd == 'ZRANGE' then
    zload(key)
    local best, score = nil, nil
    for member, s in pairs(z[key]) do
      if not score or s < score or (s == score and member < best) then best, score = member, s end
    end
    if not best then return {} end
    return {best, score}
  elseif cmd == 'ZREM' then zload(key) z[key][a] = nil
  elseif cmd == 'ZADD' then zload(key) z[key][b] = tonumber(a)
  elseif cmd == 'ZCARD' then
    zload(key)
    local count = 0
    for _ in pairs(z[key]) do count = count + 1 end
    return count
  elseif cmd == 'ZREMRANGEBYSCORE' then
    -- only prunes the tags kept for flows that left: nothing the order reads
  elseif cmd == 'HSET' then
    h[key] = h[key] or {}
    h[key][a] = b
  elseif cmd == 'HGET' then
    if h[key] and h[key][a] ~= nil then return h[key][a] end
    return redis.call('HGET', key, a)
  elseif cmd == 'LPOP' then
    if not l[key] then l[key] = {items = redis.call('LRANGE', key, 0, -1), at = 1} end
    local item = l[key].items[l[key].at]
    if item then l[key].at = l[key].at + 1 end
    return item or false
  elseif cmd == 'LLEN' then
    if not l[key] then l[key] = {items = redis.call('LRANGE', key, 0, -1), at = 1} end
    return #l[key].items - l[key].at + 1
  end
end
local order = {}
local steps = 0
while #order < limit and steps < limit + 1000 do
  steps = steps + 1
  local job = fair_next(copy, n)
  if job == nil then break end
  if job and redis.call('ZSCORE', KEYS[1], job) then order[#order + 1] = job end
end
return order
"""
