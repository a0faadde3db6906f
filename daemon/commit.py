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
# The expected values and the writes travel as two arguments, the values end to end and
# their sizes (an op is its argument count, then the sizes of its arguments): redis-py
# packs every argument of a command in Python, which for a large batch cost more than
# the commit itself.

_CHECK_AND_APPLY: Final = """
local data, sizes = ARGV[1], {}
for n in string.gmatch(ARGV[2], '[^,]+') do sizes[#sizes + 1] = tonumber(n) end
local k, at = 1, 1
local function take()
  local size = sizes[k]
  k = k + 1
  local value = string.sub(data, at, at + size - 1)
  at = at + size
  return value
end
for i = 1, #KEYS do
  local current = redis.call('GET', KEYS[i])
  if current == false then current = '' end
  if current ~= take() then return 0 end
end
while k <= #sizes do
  local n = sizes[k]
  k = k + 1
  local op = {}
  for j = 1, n do op[j] = take() end
  if op[1] == 'SETIFEQ' then
    if redis.call('GET', op[2]) == op[4] then redis.call('SET', op[2], op[3]) end
  elseif op[1] == 'DELIFEQ' then
    if redis.call('GET', op[2]) == op[3] then redis.call('DEL', op[2]) end
  else
    redis.call(unpack(op))
  end
end
return 1
"""


class Commit:
    """Checked keys plus the writes to apply if they hold."""

    def __init__(self) -> None:
        self._check_keys: list[str] = []
        self._expected: list[bytes] = []
        self._data: list[bytes] = []
        self._sizes: list[int] = []

    def expect(self, key: str, raw: bytes | str | None) -> None:
        """Apply only if ``key`` still holds ``raw`` (None: still absent).

        Stored values are never empty, so the empty string stands for "absent".
        """
        self._check_keys.append(key)
        self._expected.append(_bytes(raw or b""))

    def command(self, *args: Arg) -> None:
        self._sizes.append(len(args))
        for arg in args:
            value = _bytes(arg)
            self._data.append(value)
            self._sizes.append(len(value))

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

    def srem(self, key: str, members: Iterable[str]) -> None:
        self._members("SREM", key, members)

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
        sizes = [*map(len, self._expected), *self._sizes]
        data = b"".join((*self._expected, *self._data))
        return bool(await script(keys=self._check_keys, args=[data, ",".join(map(str, sizes))]))


def _bytes(arg: Arg) -> bytes:
    """An argument as Redis receives it (numbers as their exact text, as redis-py does)."""
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    return repr(arg).encode()
