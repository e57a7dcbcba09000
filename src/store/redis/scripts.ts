/**
 * @module The Lua scripts that check-and-remember a group of keys in one atomic step.
 *
 * Both take KEYS[1] = the journal key and ARGV = seq, journal TTL (ms), the digests (16 bytes
 * each, binary), count, one layout argument, then the layout's arguments per event. They answer one character per event, '0' new (now remembered) or '1' seen ('2', '3', '4': seen, with a record saying more; see EPILOGUE), and
 * leave `seq:answers digests` in the journal: if the answer is lost on the way back (a dropped
 * connection), the journal tells whether the group was applied and what it answered.
 * Key names other than KEYS[1] are built here; they all share KEYS[1]'s hash tag, so they live
 * in its slot.
 */
import { createHash } from 'node:crypto'

const PROLOGUE = `
local seq, ttl, blob, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local answers = {}
`

// With KEYS[2] (the base name of the hashes of records not yet released), ARGV's last argument
// holds: the bucket length (ms); a mode line; then one line per event, '<hash suffix> <record>'.
// A new key records its record in its hash; what a seen key's record says decides its answer.
//
// Mode 'o', occurrences (consume): the hash is the event's time bucket (a redelivery has the same
// time), the record where the event was read. A seen key whose record is this very occurrence is
// answered '2': the same message again, whose output never committed.
//
// Mode 'r <now> <owner> [<owner>:<after>,...]', reservations (the CLI and serve): the hash 'r<n>' of the key's shard;
// the record 'r<lease until> <owner> <position> <key expiry>'. A record means "new to its owner,
// whose output does not hold it durably yet"; the owner deletes it (release) once it does. A seen
// key with a record is answered by it: '4' when the owner is this process; when the owner is one
// this process took over (a resumed run: '<owner>:<after>'), taken over ('0') past the position
// it had made durable, else '1' (and released); taken over ('0') when the lease has run out (its
// owner died, or stalled past it); else '3': another live owner holds it, wait.
//
// A hash's TTL is set when it is created and renewed only when a new record would otherwise
// outlive it, so a record left behind by a crash expires too, at most a TTL after the last write.
const EPILOGUE = `
if KEYS[2] then
  local occ = ARGV[#ARGV]
  local at = 1
  local function line()
    local e = string.find(occ, '\\n', at, true) or (#occ + 1)
    local s = string.sub(occ, at, e - 1)
    at = e + 1
    return s
  end
  local bucket = tonumber(line())
  local mode = line()
  local now, me, adopted = 0, nil, {}
  if string.sub(mode, 1, 1) == 'r' then
    local parts = {}
    for w in string.gmatch(mode, '%S+') do parts[#parts + 1] = w end
    now, me = tonumber(parts[2]), parts[3]
    if parts[4] then
      for o, after in string.gmatch(parts[4], '([^:,]+):(%d+)') do adopted[o] = tonumber(after) end
    end
  end
  local renewed = {}
  for i = 1, n do
    local l = line()
    local sp = string.find(l, ' ', 1, true)
    local hash = KEYS[2] .. ':' .. string.sub(l, 1, sp - 1)
    local id = string.sub(l, sp + 1)
    local field = string.sub(blob, (i - 1) * 16 + 1, i * 16)
    local take = answers[i] == '0'
    if not take then
      local rec = redis.call('HGET', hash, field)
      if rec == id and not me then
        answers[i] = '2'
      elseif rec and me then
        local lease, owner, pos = string.match(rec, '^r(%d+) (%S+) (%d+)')
        if lease then
          if owner == me then
            answers[i] = '4'
          elseif adopted[owner] ~= nil then
            if tonumber(pos) > adopted[owner] then take = true else redis.call('HDEL', hash, field) end
          elseif tonumber(lease) < now then
            take = true
          else
            answers[i] = '3'
          end
        end
      end
    end
    if take then
      answers[i] = '0'
      redis.call('HSET', hash, field, id)
      -- A record must outlive its key's window: a hash whose remaining time is less than that
      -- (a late event written into an old bucket's hash) is extended to a full TTL again.
      if not renewed[hash] then
        renewed[hash] = true
        if redis.call('PTTL', hash) < tonumber(ttl) - bucket then redis.call('PEXPIRE', hash, ttl) end
      end
    end
  end
end
local a = table.concat(answers)
redis.call('SET', KEYS[1], seq .. ':' .. a .. blob, 'PX', ttl)
return a
`

/**
 * compact: ARGV[5] = the intset size limit; then runs of events that share their time buckets,
 * each a header (insert bucket, first and last bucket to look in, expiry in unix ms for a set
 * created now, number of events) followed by a set base and a member per event. Under the
 * ingest clock a whole batch is one run. A time bucket's set is a chain of links (`base<bucket>`,
 * `base<bucket>.1`, ...): when a link is one short of the server's intset limit its member 0 is
 * added, meaning "full, go on to the next link", so no link ever leaves the 8-bytes-a-member
 * intset encoding, whatever the volume.
 */
export const COMPACT_LUA =
  PROLOGUE +
  `
local call, format = redis.call, string.format
local limit = tonumber(ARGV[5])
local i, p = 1, 6
local suffix = {}
while i <= n do
  local at, lo, hi, expireAt, count = tonumber(ARGV[p]), tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), ARGV[p + 3], tonumber(ARGV[p + 4])
  p = p + 5
  for b = lo, hi do
    if suffix[b] == nil then suffix[b] = format('%d', b) end
  end
  for _ = 1, count do
    local base, member = ARGV[p], ARGV[p + 1]
    p = p + 2
    local seen, tail = false, nil
    -- Newest bucket first: a client's retry mostly follows its original closely.
    for b = hi, lo, -1 do
      local key = base .. suffix[b]
      local link = 0
      while true do
        local r = call('SMISMEMBER', key, member, '0')
        if r[1] == 1 then seen = true break end
        if r[2] == 0 then
          if b == at then tail = key end
          break
        end
        link = link + 1
        key = base .. suffix[b] .. '.' .. link
      end
      if seen then break end
    end
    if seen then
      answers[i] = '1'
    else
      call('SADD', tail, member)
      local size = call('SCARD', tail)
      if size == 1 then call('PEXPIREAT', tail, expireAt) end
      if size >= limit - 1 then call('SADD', tail, '0') end
      answers[i] = '0'
    end
    i = i + 1
  end
end
` +
  EPILOGUE

/**
 * simple: ARGV[5] = the window (ms); per event: its key, its time (ms), how long to keep it (ms).
 * The value is the time of the first occurrence: under the event clock, event time runs ahead of
 * Redis's wall clock in a backfill, so a key still held may be older than the window in event
 * time, and then counts as new again (as in the memory store).
 */
export const SIMPLE_LUA =
  PROLOGUE +
  `
local window = tonumber(ARGV[5])
local p = 6
for i = 1, n do
  local key, t, keep = ARGV[p], ARGV[p + 1], ARGV[p + 2]
  p = p + 3
  if redis.call('SET', key, t, 'NX', 'PX', keep) then
    answers[i] = '0'
  else
    local first = tonumber(redis.call('GET', key))
    if first ~= nil and tonumber(t) - first >= window then
      redis.call('SET', key, t, 'PX', keep)
      answers[i] = '0'
    else
      answers[i] = '1'
    end
  end
end
` +
  EPILOGUE

/** Undo, compact: ARGV = per key its set base, member and insert bucket; removed from whichever link of the chain holds it. */
export const FORGET_COMPACT_LUA = `
local p = 1
while p <= #ARGV do
  local base, member, at = ARGV[p], ARGV[p + 1], ARGV[p + 2]
  p = p + 3
  local link = 0
  while true do
    local key = base .. at
    if link > 0 then key = key .. '.' .. link end
    if redis.call('SREM', key, member) == 1 then break end
    if redis.call('SISMEMBER', key, '0') == 0 then break end
    link = link + 1
  end
end
return 1
`

/** Undo, simple: ARGV = the keys. */
export const FORGET_SIMPLE_LUA = `
for p = 1, #ARGV do redis.call('DEL', ARGV[p]) end
return 1
`

export interface LoadedScript {
  lua: string
  sha: string
}

export function script(lua: string): LoadedScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}
