/**
 * SIGKILL at random moments, then a rerun (the CLI) or a restart with client retries (serve): the
 * union of everything delivered must hold every unique event of the input. The moments are random
 * points of progress (output bytes written), not of time, so the test does not depend on how fast
 * the machine is. Duplicates are allowed only where the output cannot be cut back (a pipe, or a
 * server that acknowledged an event and died before releasing it); the tests count them.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { prng } from '../src/generate/synthetic.js'
import { BIN, cli, tempDir } from './helpers.js'
import { startRedis, type RedisServer } from './support/redis-server.js'
import { serve, post, type Served } from './support/serve.js'
import { Deduplicator } from 'kion-dedup'

const KILLS = 20
let redis: RedisServer
let prefixes = 0
let data: { file: string; lines: string[]; truth: Set<string> }

before(async () => {
  redis = await startRedis()
  const dir = tempDir()
  const file = join(dir, 'events.ndjson')
  const g = cli(['generate', '--count', '30000', '--dup-rate', '0.3', '--seed', '21'])
  writeFileSync(file, g.stdout)
  const truth = new Set(cli(['--emit-key', '-q', file]).lines.map(keyOf))
  assert.equal(truth.size, Number(/unique (\d+)/.exec(g.stderr)![1]))
  data = { file, lines: g.lines, truth }
})
after(async () => {
  await redis.dispose()
})

function keyOf(line: string): string {
  return (JSON.parse(line) as { _key: string })._key
}

function linesOf(text: string): string[] {
  return text.split('\n').filter((l) => l !== '')
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Run {
  /** Whether it was killed (else it ended by itself, with this status). */
  killed: boolean
  status: number | null
  stdout: string
  stderr: string
}

/**
 * Runs the CLI; once `progress()` (bytes of output so far) has grown past `killAfter`, SIGKILLs it.
 * A run that ends first is not killed.
 */
async function runAndKill(args: string[], killAfter: number, progress: (stdout: string) => number): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()))
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
  let ended = false
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => ((ended = true), resolve(code))))
  let killed = false
  while (!ended) {
    if (progress(stdout) > killAfter) {
      killed = child.kill('SIGKILL')
      break
    }
    await wait(2)
  }
  const status = await exited
  return { killed, status, stdout, stderr }
}

/** Kills a chain of reruns of `args` at random points of output progress, then lets the last one finish; returns every run. */
async function killChain(args: string[], seed: number, progress: (stdout: string) => number): Promise<Run[]> {
  const rand = prng(seed)
  const runs: Run[] = []
  const total = readFileSync(data.file).length / 2
  let kills = 0
  for (let attempt = 0; attempt < 3 * KILLS && kills < KILLS; attempt++) {
    // A random point between what is there now and a little more: every kill lands part way.
    const r = await runAndKill(args, progress('') + Math.floor(rand() * (total / KILLS)) + 1, progress)
    runs.push(r)
    if (r.killed) kills++
    else assert.equal(r.status, 0, r.stderr)
  }
  assert.ok(kills >= KILLS / 2, `most runs were killed part way (${kills})`)
  const last = await runAndKill(args, Infinity, progress)
  assert.equal(last.status, 0, last.stderr)
  runs.push(last)
  return runs
}

for (const backend of ['memory', 'redis'] as const) {
  test(`CLI, ${backend}, -o FILE: killed ${KILLS} times and rerun, the file holds every unique event exactly once`, async () => {
    const dir = tempDir()
    const out = join(dir, 'unique.ndjson')
    const store = backend === 'memory' ? ['--state', join(dir, 'run.state')] : ['--backend', 'redis', '--redis-url', redis.url, '--key-prefix', `kill${++prefixes}:`, '--lease', '2s']
    const size = () => (existsSync(out) ? statSync(out).size : 0)
    const runs = await killChain([data.file, '--emit-key', '-q', '-o', out, '--checkpoint-every', '100ms', ...store], 100 + prefixes, () => size())
    const keys = linesOf(readFileSync(out, 'utf8')).map(keyOf)
    assert.equal(new Set(keys).size, keys.length, 'no event twice in the file')
    assert.deepEqual([...new Set(keys)].sort(), [...data.truth].sort(), 'every unique event, none other')
    assert.ok(runs.some((r) => /resuming an interrupted run/.test(r.stderr)), 'reruns went on from checkpoints')
  })
}

test(`CLI, redis, stdout: killed ${KILLS} times and rerun over the whole input, the outputs together hold every unique event`, async (t) => {
  const args = [data.file, '--emit-key', '-q', '--backend', 'redis', '--redis-url', redis.url, '--key-prefix', `kill${++prefixes}:`, '--lease', '2s']
  const runs = await killChain(args, 7, (stdout) => stdout.length)
  const keys = runs.flatMap((r) => linesOf(r.stdout).filter((l) => l.endsWith('}')).map(keyOf))
  const union = new Set(keys)
  for (const k of data.truth) assert.ok(union.has(k), `unique event ${k} lost`)
  // Into a pipe a killed run's events may come out again in the rerun: counted, not lost.
  const repeated = keys.length - union.size
  t.diagnostic(`repeated into the pipe: ${repeated} of ${keys.length}`)
  assert.ok(repeated < keys.length, 'most events came out once')
})

for (const backend of ['memory', 'redis'] as const) {
  test(`serve, ${backend}: killed ${KILLS} times under a client that retries, every unique event is in the output`, async (t) => {
    const out = join(tempDir(), 'unique.ndjson')
    const args = backend === 'memory' ? [] : ['--backend', 'redis', '--redis-url', redis.url, '--key-prefix', `kill${++prefixes}:`, '--lease', '2s']
    const rand = prng(300 + prefixes)
    const batches: string[] = []
    for (let i = 0; i < data.lines.length; i += 100) batches.push(data.lines.slice(i, i + 100).join('\n'))
    let s: Served = await serve(args, out)
    let answered = 0
    let kills = 0
    let retries = 0
    let done = false
    // The killer: at a random point of the client's progress, SIGKILL, mostly with a request in flight, and restart.
    const killer = (async () => {
      while (kills < KILLS && !done) {
        const at = answered + 1 + Math.floor(rand() * (batches.length / KILLS))
        while (answered < at && !done) await wait(1)
        if (done) break
        s.child.kill('SIGKILL')
        await s.exited
        kills++
        s = await serve(args, out)
      }
    })()
    try {
      for (const body of batches) {
        // The client's loop: retry (here, or on the restarted server) until the batch is answered 200.
        for (;;) {
          const r = await post(`${s.url}/events`, body).catch(() => null)
          if (r !== null && r.status === 200) break
          assert.ok(r === null || r.status === 503, `only 503 or a dead server ask for a retry, got ${r?.status} ${JSON.stringify(r?.json)}`)
          retries++
          await wait(20)
        }
        answered++
      }
    } finally {
      done = true
      await killer
      assert.equal(await s.stop(), 0)
    }
    assert.ok(kills >= KILLS - 1, `killed ${kills} times`)
    // Each output line's key (a duplicate's too): the library keys them as the server did.
    const keyer = await Deduplicator.open()
    const keys = (await keyer.checkMany(linesOf(readFileSync(out, 'utf8')))).map((r) => r.key!)
    await keyer.close()
    const union = new Set(keys)
    for (const k of data.truth) assert.ok(union.has(k), `unique event ${k} lost`)
    t.diagnostic(`retries ${retries}; repeated in the output: ${keys.length - union.size} of ${keys.length}`)
  })
}
