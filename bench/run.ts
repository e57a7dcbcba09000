/** @module `npm run bench`: end-to-end contenders over generated files, the small-event contenders, the store and Redis sections, then the goals of issue 13 (start-up, memory, serve). Progress on stderr, results on stdout. */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HAVE_GNU_TIME } from './child.js'
import { contenders, runContenders, smallContenders } from './contenders.js'
import { coreGoals, sampleGoals, smallGoals } from './batch-goals.js'
import { measureMemory, memoryGoals } from './memory-goals.js'
import { loadServeGoals } from './serve-hook.js'
import { ensureSmallData, SMALL_REPEAT_RATE } from './small-data.js'
import { measureStartup, startupGoals } from './startup-goals.js'
import { ensureData } from './data.js'
import { describeMachine } from './machine.js'
import { parseOptions, UsageError, USAGE, type BenchOptions } from './options.js'
import { project, textReport, type BenchReport } from './report.js'
import { storeSection } from './store-bench.js'
import { redisSection } from './redis-bench.js'
import { pgGoals, pgSection } from './pg-goals.js'
import { startRedis } from '../test/support/redis-server.js'
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { Redis } from 'ioredis'

/** This file runs as dist/bench/run.js; the project root is two levels up. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

const log = (s: string) => void process.stderr.write(`bench: ${s}\n`)

async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions | null
  try {
    options = parseOptions(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    process.stderr.write(`bench: ${e.message}\n${USAGE}`)
    return 2
  }
  if (options === null) {
    process.stdout.write(USAGE)
    return 0
  }
  if (!HAVE_GNU_TIME) log('no /usr/bin/time here: peak RSS is not measured')
  const machine = describeMachine()
  // The machine is shared: the load around the run says how far to trust its absolute numbers.
  const loadAtStart = loadavg()[0]
  const data = await ensureData(ROOT, options.count, log)
  log(`data: ${data.ndjson.count} events, ${data.ndjson.unique} unique; ${options.runs} rounds after a warm-up`)
  const outFile = join(ROOT, 'bench', 'data', `out-${process.pid}.ndjson`)
  // The Redis backend is measured against a local redis-server of our own (installed like the tests do).
  if (spawnSync('bash', [join(ROOT, 'test', 'setup', 'ensure-redis.sh')], { stdio: 'inherit' }).status !== 0) throw new Error('redis-server could not be installed')
  const server = await startRedis()
  const admin = new Redis(server.port, '127.0.0.1')
  try {
    const flush = async () => void (await admin.flushall())
    const results = await runContenders(contenders(ROOT, data, { url: server.url, flush }), options.runs, outFile, log)
    const smallData = {
      ndjson: ensureSmallData(ROOT, 'ndjson', options.smallCount, SMALL_REPEAT_RATE, log),
      json: ensureSmallData(ROOT, 'json', options.smallCount, SMALL_REPEAT_RATE, log),
    }
    const small = await runContenders(smallContenders(ROOT, smallData), options.runs, outFile, log)
    const store = await storeSection(ROOT, options.storeKeys, options.bloomKeys, log)
    const redis = await redisSection(server, options.redisKeys, log)
    const startup = measureStartup(ROOT, options.runs, options.startupRuns, log)
    const memory = await measureMemory(ROOT, options.memoryKeys, log)
    const postgres = options.postgres ? await pgSection(ROOT, data.ndjson, options.runs, log) : null
    const goals = [...sampleGoals(results), ...smallGoals(small), ...startupGoals(startup), ...memoryGoals(memory, options.memoryKeys), ...coreGoals(results)]
    if (postgres !== null) goals.push(...pgGoals(postgres))
    if (options.serve) goals.push(...(await loadServeGoals(ROOT, log)))
    const report: BenchReport = {
      machine,
      runs: options.runs,
      data,
      contenders: results,
      store,
      redis,
      projection: project(store, redis),
      small: { data: smallData, contenders: small },
      startup,
      memory,
      postgres,
      goals,
      load: { start: loadAtStart, end: loadavg()[0], cores: machine.cores },
    }
    process.stdout.write(options.json ? JSON.stringify(report) + '\n' : textReport(report))

    const bad = [...results, ...small].filter((r) => r.mismatches.length > 0)
    for (const r of bad) {
      process.stderr.write(`\n!!! MISMATCH !!! ${r.name} ${r.format} (${r.events} events): unique counts ${r.mismatches.join(', ')}\n`)
    }
    return bad.length > 0 ? 1 : 0
  } finally {
    admin.disconnect()
    await server.dispose()
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exitCode = 1
}
