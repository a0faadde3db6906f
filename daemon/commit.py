"""Compare-and-set commits: a batch of writes applied only if what was read is unchanged.

Every writer reads plain values, decides with the pure core, and hands a ``Commit`` to
Redis: one Lua call that first checks each read key still holds the exact bytes that
were read (absent counts as a value) and then applies every write, or applies nothing.
A failed check means another worker or daemon got there first; the caller re-reads and
decides again.

This is WATCH/MULTI/EXEC without WATCH's cost: Redis checks duplicate watches linearly,
so watching the thousands of keys of a large batch took tens of milliseconds per batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from redis.asyncio import Redis

Arg = bytes | str | int | float

# Longest run of arguments handed to one redis.call (Lua's unpack has a stack limit).
_CHUNK: Final = 500

_CHECK_AND_APPLY: Final = """
local checks = tonumber(ARGV[1])
for i = 1, checks do
  local current = redis.call('GET', KEYS[i])
  if current == false then current = '' end
  if current ~= ARGV[i + 1] then return 0 end
end
local i = checks + 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local op = ARGV[i + 1]
  if op == 'SETIFEQ' then
    if redis.call('GET', ARGV[i + 2]) == ARGV[i + 4] then
      redis.call('SET', ARGV[i + 2], ARGV[i + 3])
    end
  elseif op == 'DELIFEQ' then
    if redis.call('GET', ARGV[i + 2]) == ARGV[i + 3] then redis.call('DEL', ARGV[i + 2]) end
  else
    redis.call(unpack(ARGV, i + 1, i + n))
  end
  i = i + n + 1
end
return 1
"""


class Commit:
    """Checked keys plus the writes to apply if they hold."""

    def __init__(self) -> None:
        self._check_keys: list[str] = []
        self._expected: list[bytes | str] = []
        self._ops: list[Arg] = []

    def expect(self, key: str, raw: bytes | str | None) -> None:
        """Apply only if ``key`` still holds ``raw`` (None: still absent).

        Stored values are never empty, so the empty string stands for "absent".
        """
        self._check_keys.append(key)
        self._expected.append(raw or b"")

    def command(self, *args: Arg) -> None:
        self._ops += [len(args), *args]

    def set(self, key: str, value: bytes | str) -> None:
        self.command("SET", key, value)

    def mset(self, mapping: Mapping[str, bytes | str]) -> None:
        pairs = [item for pair in mapping.items() for item in pair]
        for start in range(0, len(pairs), _CHUNK * 2):
            self.command("MSET", *pairs[start : start + _CHUNK * 2])

    def zadd(self, key: str, scores: Mapping[str, float]) -> None:
        flat = [item for member, score in scores.items() for item in (score, member)]
        for start in range(0, len(flat), _CHUNK * 2):
            self.command("ZADD", key, *flat[start : start + _CHUNK * 2])

    def _members(self, command: str, key: str, members: Iterable[Arg]) -> None:
        items = list(members)
        for start in range(0, len(items), _CHUNK):
            self.command(command, key, *items[start : start + _CHUNK])

    def zrem(self, key: str, members: Iterable[str]) -> None:
        self._members("ZREM", key, members)

    def sadd(self, key: str, members: Iterable[str]) -> None:
        self._members("SADD", key, members)

    def rpush(self, key: str, values: Iterable[bytes]) -> None:
        self._members("RPUSH", key, values)

    def set_if(self, key: str, value: bytes | str, current: bytes | str) -> None:
        """Set ``key`` only if it holds ``current`` when the commit applies (a key this
        writer did not read, such as an incident key another incident may have taken)."""
        self.command("SETIFEQ", key, value, current)

    def delete_if(self, key: str, current: bytes | str) -> None:
        """Delete ``key`` only if it holds ``current`` when the commit applies."""
        self.command("DELIFEQ", key, current)

    def delete(self, *keys: str) -> None:
        self.command("DEL", *keys)

    def xack(self, stream: str, group: str, entry_ids: Iterable[bytes]) -> None:
        ids = list(entry_ids)
        for start in range(0, len(ids), _CHUNK):
            self.command("XACK", stream, group, *ids[start : start + _CHUNK])

    async def apply(self, redis: Redis) -> bool:
        """True if applied; False if a checked key changed since it was read."""
        script = redis.register_script(_CHECK_AND_APPLY)
        applied = await script(
            keys=self._check_keys, args=[len(self._check_keys), *self._expected, *self._ops]
        )
        return bool(applied)
