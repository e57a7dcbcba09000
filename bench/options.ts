/** @module Command-line options of `npm run bench`. Hand-parsed: the harness should not depend on the CLI's own parser. */

export interface BenchOptions {
  /** Events per generated file. */
  count: number
  /** Timed rounds per contender (after one warm-up round). */
  runs: number
  /** Random keys for the store section. */
  storeKeys: number
  /** Keys for the bloom-filters comparison: capped, as that package costs microseconds a key. */
  bloomKeys: number
  /** Keys for the Redis section's memory and rate measurements. */
  redisKeys: number
  /** Events in each small-event file (the small-event goal). */
  smallCount: number
  /** N for the memory goal, each a file of N unique small events; empty skips it. */
  memoryKeys: number[]
  /** hyperfine runs per command in each of the start-up rounds. */
  startupRuns: number
  /** Run bench/serve-goals.ts (on by default in a full run, off with --quick). */
  serve: boolean
  /** Run bench/pg-goals.ts: the CLI into PostgreSQL against /dev/null (on by default, also with --quick). */
  postgres: boolean
  quick: boolean
  json: boolean
}

export const DEFAULT_COUNT = 60_000
export const QUICK_COUNT = 5_000
export const DEFAULT_STORE_KEYS = 5_000_000
export const QUICK_STORE_KEYS = 200_000
export const BLOOM_KEY_CAP = 200_000
export const DEFAULT_RUNS = 5
/** About a production-filled compact set layout's worth at a bench's scale (redis-bench.ts). */
export const DEFAULT_REDIS_KEYS = 600_000
export const QUICK_REDIS_KEYS = 60_000
/** The small-event goal is stated for a million events. */
export const DEFAULT_SMALL_COUNT = 1_000_000
export const QUICK_SMALL_COUNT = 50_000
/** The memory goal is stated at 4M and 30M keys; the 30M file is about 5 GB, written and deleted. */
export const DEFAULT_MEMORY_KEYS = [4_000_000, 30_000_000]
export const QUICK_MEMORY_KEYS = [200_000]
export const DEFAULT_STARTUP_RUNS = 20
export const QUICK_STARTUP_RUNS = 5

export const USAGE = `usage: npm run bench -- [--quick] [--count N] [--runs R] [--keys K] [--redis-keys K]
                         [--small-count N] [--memory-keys N,N|none] [--startup-runs N] [--serve|--no-serve] [--no-postgres] [--json]
  --quick     smoke run: ${QUICK_COUNT} events, ${QUICK_STORE_KEYS} store keys, ${QUICK_REDIS_KEYS} Redis keys,
              ${QUICK_SMALL_COUNT} small events, memory at ${QUICK_MEMORY_KEYS.join(',')} keys, no serve goals
  --count N   events per generated file (default ${DEFAULT_COUNT})
  --runs R    timed rounds after one warm-up round (default ${DEFAULT_RUNS})
  --keys K    random keys for the store section (default ${DEFAULT_STORE_KEYS})
  --redis-keys K  random keys for the Redis memory section (default ${DEFAULT_REDIS_KEYS})
  --small-count N  events in each small-event file (default ${DEFAULT_SMALL_COUNT})
  --memory-keys L  comma-separated unique-key counts for the memory goal, or none
              (default ${DEFAULT_MEMORY_KEYS.join(',')}: writes, runs and deletes a file of each; 30M is about 5 GB)
  --startup-runs N  hyperfine runs per command in each of the R start-up rounds (default ${DEFAULT_STARTUP_RUNS})
  --serve, --no-serve  run bench/serve-goals.ts, or not (default: in a full run, not with --quick)
  --postgres, --no-postgres  the CLI into PostgreSQL against /dev/null, on a durable cluster started
              here (bench/pg-goals.ts), or not (default: on)
  --json      print one JSON object instead of the tables (the goals included)
              (npm prints its own banner on stdout: use npm run -s bench -- --json)
`

export class UsageError extends Error {}

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value)
  if (value === undefined || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} needs a positive integer, got ${value ?? 'nothing'}`)
  return n
}

/** Returns null for --help. */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  let quick = false
  let json = false
  let count: number | null = null
  let runs = DEFAULT_RUNS
  let keys: number | null = null
  let redisKeys: number | null = null
  let smallCount: number | null = null
  let memoryKeys: number[] | null = null
  let startupRuns: number | null = null
  let serve: boolean | null = null
  let postgres = true
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    switch (arg) {
      case '--quick':
        quick = true
        break
      case '--json':
        json = true
        break
      case '--count':
        count = positiveInt(arg, argv[++i])
        break
      case '--runs':
        runs = positiveInt(arg, argv[++i])
        break
      case '--keys':
        keys = positiveInt(arg, argv[++i])
        break
      case '--redis-keys':
        redisKeys = positiveInt(arg, argv[++i])
        break
      case '--small-count':
        smallCount = positiveInt(arg, argv[++i])
        break
      case '--memory-keys': {
        const list = argv[++i]
        memoryKeys = list === 'none' ? [] : (list ?? '').split(',').map((n) => positiveInt(arg, n))
        // The goal subtracts a run over BASE_KEYS (1,000) keys: N must be above it.
        if (memoryKeys.some((n) => n <= 1000)) throw new UsageError(`${arg} needs counts above 1000, got ${list}`)
        break
      }
      case '--startup-runs':
        startupRuns = positiveInt(arg, argv[++i])
        break
      case '--serve':
        serve = true
        break
      case '--no-serve':
        serve = false
        break
      case '--postgres':
        postgres = true
        break
      case '--no-postgres':
        postgres = false
        break
      case '-h':
      case '--help':
        return null
      default:
        throw new UsageError(`unknown argument ${arg}`)
    }
  }
  const storeKeys = keys ?? (quick ? QUICK_STORE_KEYS : DEFAULT_STORE_KEYS)
  return {
    count: count ?? (quick ? QUICK_COUNT : DEFAULT_COUNT),
    runs,
    storeKeys,
    bloomKeys: Math.min(storeKeys, BLOOM_KEY_CAP),
    redisKeys: redisKeys ?? (quick ? QUICK_REDIS_KEYS : DEFAULT_REDIS_KEYS),
    smallCount: smallCount ?? (quick ? QUICK_SMALL_COUNT : DEFAULT_SMALL_COUNT),
    memoryKeys: memoryKeys ?? (quick ? QUICK_MEMORY_KEYS : DEFAULT_MEMORY_KEYS),
    startupRuns: startupRuns ?? (quick ? QUICK_STARTUP_RUNS : DEFAULT_STARTUP_RUNS),
    serve: serve ?? !quick,
    postgres,
    quick,
    json,
  }
}
