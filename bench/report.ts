/** @module The plain-text result table (no colour: it is meant to be pasted into issues and notes). */
import type { ContenderResult } from './contenders.js'
import type { DataSet, DataFormat } from './data.js'
import { DUP_RATE, SEED } from './data.js'
import { machineLine, type Machine } from './machine.js'
import { BATCH, BLOOM_ERROR_RATE, APPROX_FP_RATE, JS_SET_MAX_ENTRIES, PROJECTED_KEYS, type StoreSection } from './store-bench.js'
import { DEFAULT_SETS, PROJECTED_FILL, type RedisSection } from './redis-bench.js'
import { goalsTable, type GoalRow } from './goals.js'
import type { StartupResult } from './startup-goals.js'
import type { MemoryResult } from './memory-goals.js'
import { SMALL_REPEAT_RATE } from './small-data.js'
import { pgText, type PgSection } from './pg-goals.js'

export interface Projection {
  keys: number
  memoryStoreFirstSeenBytes: number
  memoryStoreNoFirstSeenBytes: number
  jsSetBytes: number
  bloomBytes: number
  redisCompactBytes: number
  redisSimpleBytes: number
}

export interface BenchReport {
  machine: Machine
  runs: number
  data: Record<DataFormat, DataSet>
  contenders: ContenderResult[]
  store: StoreSection
  redis: RedisSection
  projection: Projection
  /** The small-event contenders (the small-event goal), interleaved among themselves. */
  small: { data: Record<DataFormat, DataSet>; contenders: ContenderResult[] }
  /** hyperfine's times for the start-up goals; null when hyperfine could not be installed. */
  startup: StartupResult | null
  /** One entry a measured key count of the memory goal. */
  memory: MemoryResult[]
  /** The CLI into PostgreSQL against /dev/null; a string says why it was not measured; null: skipped (--no-postgres). */
  postgres: PgSection | string | null
  /** Every goal row: the batch goals from the contenders above, start-up, memory, then serve's. */
  goals: GoalRow[]
  /** 1-minute load average when the run started and ended: others' processes on the shared machine show here. */
  load: { start: number; end: number; cores: number }
}

export function project(store: StoreSection, redis: RedisSection): Projection {
  const at = (bytesPerKey: number) => Math.round(bytesPerKey * PROJECTED_KEYS)
  const byFlag = (flag: boolean) => store.memory.find((m) => m.keepFirstSeen === flag)?.bytesPerKey ?? NaN
  return {
    keys: PROJECTED_KEYS,
    memoryStoreFirstSeenBytes: at(byFlag(true)),
    memoryStoreNoFirstSeenBytes: at(byFlag(false)),
    jsSetBytes: at(store.set.bytesPerKey),
    bloomBytes: at(store.bloom.bytesPerKey),
    redisCompactBytes: at(redis.layouts.find((l) => l.layout === 'compact')?.bytesPerKey ?? NaN),
    redisSimpleBytes: at(redis.layouts.find((l) => l.layout === 'simple')?.bytesPerKey ?? NaN),
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const fixed = (n: number, digits: number) => n.toFixed(digits)
const mb = (bytes: number) => (bytes / 1e6).toFixed(1)
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1)
const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2)

/** Left-aligns the text columns named in `left`, right-aligns the numbers. */
function table(rows: string[][], left: readonly number[]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  return rows.map((r) => r.map((cell, c) => (left.includes(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd())
}

function contenderTable(results: readonly ContenderResult[]): string[] {
  const rows = [['contender', 'input', 'median s', 'min s', 'events/s med', 'events/s best', 'MB/s med', 'MB/s best', 'peak RSS MiB', 'x floor', 'unique count']]
  for (const r of results) {
    const check = r.name.startsWith('floor') ? '-' : r.mismatches.length === 0 ? 'ok' : `MISMATCH ${r.mismatches.join(',')}`
    rows.push([
      r.name,
      r.format,
      fixed(r.medianSeconds, 3),
      fixed(r.minSeconds, 3),
      int(r.events / r.medianSeconds),
      int(r.events / r.minSeconds),
      fixed(r.bytes / 1e6 / r.medianSeconds, 1),
      fixed(r.bytes / 1e6 / r.minSeconds, 1),
      r.peakRssBytes === null ? 'n/a' : mib(r.peakRssBytes),
      r.floorRatio === null ? '-' : fixed(r.floorRatio, 1),
      check,
    ])
  }
  return table(rows, [0, 1, 10])
}

function storeTable(s: StoreSection): string[] {
  const rows = [['structure', 'keys', 'ns/key', 'bytes/key', 'RSS growth MiB', 'note']]
  for (const m of s.memory) {
    rows.push([`MemoryStore keepFirstSeen=${m.keepFirstSeen}`, int(m.keys), fixed(m.nsPerKey, 1), fixed(m.bytesPerKey, 2), mib(m.rssGrowthBytes), `stats().bytes / keys; false duplicates ${m.falseDuplicates}`])
  }
  const a = s.approx
  rows.push([`ApproxStore (--approx --fp-rate ${APPROX_FP_RATE})`, int(a.keys), fixed(a.nsPerKey, 1), fixed(a.bytesPerKey, 2), mib(a.rssGrowthBytes), `unique keys lost ${a.falseDuplicates} (${fixed((100 * a.falseDuplicates) / a.keys, 4)} %)`])
  rows.push(['JS Set of 32-char hex strings', int(s.set.keys), fixed(s.set.nsPerKey, 1), fixed(s.set.bytesPerKey, 2), mib(s.set.rssGrowthBytes), 'child --expose-gc; ns incl. hex; bytes = heapUsed delta after gc'])
  const b = s.bloom
  rows.push([`bloom-filters BloomFilter.create(K, ${BLOOM_ERROR_RATE})`, int(b.keys), fixed(b.nsPerKey, 1), fixed(b.bytesPerKey, 2), '-', `has+add a key, ${fixed(b.nsPerOp, 1)} ns/op; false positives ${b.falsePositives} (unique events lost)`])
  return table(rows, [0, 5])
}

function redisTable(s: RedisSection): string[] {
  const rows = [['layout', 'keys', 'sets/bucket', 'members/set', 'bytes/key (used_memory)', 'keys/s (one store)', 'false duplicates']]
  for (const l of s.layouts) {
    rows.push([l.layout, int(l.keys), l.sets === null ? '-' : int(l.sets), l.sets === null ? '-' : fixed(l.keys / l.sets, 0), fixed(l.bytesPerKey, 1), int(l.keysPerSecond), String(l.falseDuplicates)])
  }
  return table(rows, [0])
}

export function textReport(r: BenchReport): string {
  const d = r.data
  const p = r.projection
  const lines = [
    machineLine(r.machine),
    `data: ${int(d.ndjson.count)} events, ${int(d.ndjson.unique)} unique (generate --dup-rate ${DUP_RATE} --seed ${SEED}); ndjson ${mb(d.ndjson.bytes)} MB, json ${mb(d.json.bytes)} MB`,
    `end to end: ${r.runs} timed rounds after 1 warm-up, contenders interleaved; wall clock per child process, peak RSS from /usr/bin/time; MB = 10^6 bytes; x floor = median time / cat's median time on the same file`,
    '',
    ...contenderTable(r.contenders),
    '',
    `store: ${int(r.store.keys)} random 16-byte keys (crypto.randomBytes), MemoryStore.check in batches of ${BATCH}, one constant time (no expiry); bloom-filters capped at ${int(r.store.bloom.keys)} keys`,
    '',
    ...storeTable(r.store),
    'RSS growth = this process\'s RSS after the inserts minus before; it also counts tables freed while growing that the allocator has not returned.',
    '',
    `redis: Redis ${r.redis.version} started by the bench on loopback; random keys in batches of ${BATCH}, one time bucket; compact sets sized so each holds what the default --redis-sets ${int(DEFAULT_SETS)} holds at ${int(PROJECTED_KEYS)} keys (${fixed(PROJECTED_FILL, 0)})`,
    '',
    ...redisTable(r.redis),
    '',
    `projected for ${int(p.keys)} keys (7 d at 500 events/s), at the bytes/key above:`,
    `  MemoryStore keepFirstSeen=true   ${gib(p.memoryStoreFirstSeenBytes)} GiB`,
    `  MemoryStore keepFirstSeen=false  ${gib(p.memoryStoreNoFirstSeenBytes)} GiB`,
    `  JS Set of hex strings            ${gib(p.jsSetBytes)} GiB (and a JS Set holds at most ${int(JS_SET_MAX_ENTRIES)} entries)`,
    `  bloom-filters BloomFilter        ${gib(p.bloomBytes)} GiB (approximate: drops about 1 in ${int(1 / BLOOM_ERROR_RATE)} unique events once full; no expiry)`,
    `  Redis, compact layout            ${gib(p.redisCompactBytes)} GiB of used_memory`,
    `  Redis, simple layout             ${gib(p.redisSimpleBytes)} GiB of used_memory`,
    '',
    `small events: ${int(r.small.data.ndjson.count)} events of about ${fixed(r.small.data.ndjson.bytes / r.small.data.ndjson.count, 0)} B, ${int(r.small.data.ndjson.unique)} unique (written by bench/small-data.ts, ${SMALL_REPEAT_RATE} repeats); ${r.runs} timed rounds after 1 warm-up, interleaved`,
    '',
    ...contenderTable(r.small.contenders),
    '',
    ...(r.postgres === null ? [] : [...pgText(r.postgres), '']),
    `GOALS (issue 13), all measured in this run; ratio = measured / target; medians of interleaved rounds; load average ${fixed(r.load.start, 1)} at the start, ${fixed(r.load.end, 1)} at the end, on ${r.load.cores} cores:`,
    '',
    ...goalsTable(r.goals),
  ]
  return lines.join('\n') + '\n'
}
