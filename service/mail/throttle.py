"""The send rate, shared by every worker: no relay ever sees more than the configured
messages per minute, however many workers send.

Each message takes the next free slot, `interval` after the one before (and at
least `interval` after the last message reached the relay), from a counter in
Redis (the Redis server's clock, so workers on machines with different clocks
agree). A relay that says it is overloaded (Microsoft 365's 432,
421 4.3.2) pauses every worker. Without Redis (the embedded default, one worker)
the slots are kept in the process. A minute's messages are spread over 61 s:
slots are exact, but with several workers the time a message takes to reach the
relay varies (a few milliseconds, more on a busy relay), and without that second
a 60-second window at the relay could see one message more than the rate
(`bench/send_rate.py` measures both). With no rate configured, a worker asks
Redis about pauses only every PAUSE_CHECK_SECONDS. While Redis is away no
worker can take a turn (`NoTurn`): sending waits for it, rather than guess.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)

#: With no rate to keep, how long a worker goes on without asking whether another has paused all.
PAUSE_CHECK_SECONDS = 0.25
_NEXT_SLOT = "osa:send:next-slot"
_PAUSED_UNTIL = "osa:send:paused-until"

# Returns the slot (server time, seconds, as a string: Redis truncates Lua numbers) and server now.
_TAKE_SLOT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next_slot, paused)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot + interval - now) * 1000) + 60000)
return {tostring(slot), tostring(now)}
"""

# After a send: the next slot is at least one interval from now, so a message that reached the
# relay late (a slow connection, a busy machine) still has a full interval before the next.
_SENT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local next_slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if now + tonumber(ARGV[1]) > next_slot then
  redis.call('SET', KEYS[1], tostring(now + tonumber(ARGV[1])), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 60000)
end
return 1
"""

_PAUSE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return tostring(until_)
"""


#: The slack in each minute for the varying time a message takes to reach the relay.
JITTER_SECONDS = 1.0


def seconds_per_message(per_minute: float) -> float:
    """The time between two messages at `per_minute`; 0 for no limit."""
    return (60.0 + JITTER_SECONDS) / per_minute if per_minute > 0 else 0.0


class NoTurn(Exception):
    """Redis, which keeps the turns of every worker, cannot be reached: no message may go now."""


class SendThrottle:
    def __init__(self, per_minute: float, redis_url: str = ""):
        self.interval = seconds_per_message(per_minute)
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._next_check = 0.0

    def wait_turn(self) -> None:
        """Block until this worker may send one message; NoTurn while Redis cannot be reached."""
        if self._redis is not None:
            if not self.interval and time.monotonic() < self._next_check:
                return  # no rate to keep, and no pause a moment ago
            try:
                slot, now = self._redis.eval(_TAKE_SLOT, 2, _NEXT_SLOT, _PAUSED_UNTIL, self.interval)
            except redis.RedisError as error:
                raise NoTurn(type(error).__name__) from error
            delay = float(slot) - float(now)
            self._next_check = time.monotonic() + max(delay, 0.0) + PAUSE_CHECK_SECONDS
        else:
            with self._lock:
                now = time.monotonic()
                slot = max(now, self._next_slot, self._paused_until)
                self._next_slot = slot + self.interval
            delay = slot - now
        if delay > 0:
            time.sleep(delay)

    def sent(self) -> None:
        """A message has just reached the relay: keep the next one a full interval away (if Redis is
        away, the next turn waits for it anyway, and what the relay took must still be recorded)."""
        if not self.interval:
            return
        if self._redis is not None:
            self._tell_redis(_SENT, _NEXT_SLOT, self.interval)
        else:
            with self._lock:
                self._next_slot = max(self._next_slot, time.monotonic() + self.interval)

    def pause_all(self, seconds: float) -> None:
        """The relay asked us to slow down: no worker sends for `seconds`."""
        self._next_check = 0.0
        if self._redis is not None:
            self._tell_redis(_PAUSE, _PAUSED_UNTIL, seconds)
        else:
            with self._lock:
                self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _tell_redis(self, script: str, key: str, seconds: float) -> None:
        try:
            self._redis.eval(script, 1, key, seconds)
        except redis.RedisError as error:
            log.warning("send rate: Redis unreachable (%s)", type(error).__name__)
