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

export const USAGE = `usage: npm run bench -- [--quick] [--count N] [--runs R] [--keys K] [--redis-keys K] [--json]
  --quick     smoke run: ${QUICK_COUNT} events, ${QUICK_STORE_KEYS} store keys, ${QUICK_REDIS_KEYS} Redis keys
  --count N   events per generated file (default ${DEFAULT_COUNT})
  --runs R    timed rounds after one warm-up round (default ${DEFAULT_RUNS})
  --keys K    random keys for the store section (default ${DEFAULT_STORE_KEYS})
  --redis-keys K  random keys for the Redis memory section (default ${DEFAULT_REDIS_KEYS})
  --json      print one JSON object instead of the table
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
    quick,
    json,
  }
}
