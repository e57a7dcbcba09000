/** The CLI with --backend redis, end to end, against real redis-servers started here. */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { cli, cliAsync, tempDir, FIXTURES, BIN } from './helpers.js'
import { startRedis, type RedisServer } from './support/redis-server.js'

const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as { read: number; unique: number; duplicate: number }
const LAYOUTS = ['compact', 'simple'] as const

let server: RedisServer
let prefixes = 0
before(async () => void (server = await startRedis()))
after(() => server.dispose())

/** Options for a fresh namespace on the shared server. */
function redis(layout: string, url = server.url): string[] {
  return ['--backend', 'redis', '--redis-url', url, '--redis-layout', layout, '--key-prefix', `e${++prefixes}:`, '--redis-sets', '256']
}

function keysOf(lines: string[]): string[] {
  return lines.map((l) => (JSON.parse(l) as { _key: string })._key)
}

/** Runs the CLI with its stdin fed by `feed`; resolves with status, stdout lines, stderr. */
function runFed(args: string[], feed: (stdin: NodeJS.WritableStream, outputLines: () => number) => Promise<void>) {
  const child = cliAsync(args)
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  // A run that stops (as it should when Redis is gone) closes its stdin under the feeder.
  child.stdin.on('error', () => {})
  return feed(child.stdin, () => out.split('\n').length - 1)
    .then(() => exited)
    .then((status) => ({ status, lines: out.split('\n').filter((l) => l !== ''), stderr: err }))
}

async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

for (const layout of LAYOUTS) {
  test(`redis ${layout}: the fixtures give the promised counts, and a second run finds every event seen`, () => {
    for (const file of ['events.ndjson', 'events.json']) {
      const opts = redis(layout)
      const first = cli([join(FIXTURES, file), ...opts])
      assert.equal(first.status, 0, first.stderr)
      assert.equal(first.lines.length, expected.unique)
      assert.match(first.stderr, new RegExp(`read ${expected.read}, unique ${expected.unique}, duplicate ${expected.duplicate}`))
      const second = cli([join(FIXTURES, file), ...opts])
      assert.equal(second.status, 0, second.stderr)
      assert.equal(second.lines.length, 0)
      assert.match(second.stderr, new RegExp(`unique 0, duplicate ${expected.read}`))
    }
  })

  test(`redis ${layout}: four processes over the same events at once emit every key exactly once between them`, async (t) => {
    const dir = tempDir()
    const g = cli(['generate', '--count', '4000', '--dup-rate', '0.3', '--seed', '11'])
    const lines = g.lines
    const truth = Number(/unique (\d+)/.exec(g.stderr)![1])
    // Each process reads all events, from a different starting point, so that all four race for every key.
    const inputs = [0, 1, 2, 3].map((k) => {
      const at = Math.floor((k * lines.length) / 4)
      const file = join(dir, `part${k}.ndjson`)
      writeFileSync(file, [...lines.slice(at), ...lines.slice(0, at)].join('\n') + '\n')
      return file
    })
    const opts = redis(layout)
    const outputs = await Promise.all(
      inputs.map(
        (file) =>
          new Promise<string[]>((resolve, reject) => {
            const child = spawn(process.execPath, [BIN, file, ...opts, '--emit-key', '-q', '--threads', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
            let out = ''
            child.stdout.on('data', (b: Buffer) => (out += b.toString()))
            child.on('close', (code) => (code === 0 ? resolve(out.split('\n').filter((l) => l !== '')) : reject(new Error(`exit ${code}`))))
          }),
      ),
    )
    const all = outputs.flatMap(keysOf)
    assert.equal(new Set(all).size, truth, 'every unique key is out')
    assert.equal(all.length, truth, 'and none twice')
    // How the work was shared depends on how fast each process started: told, not asserted.
    t.diagnostic(`unique events output by each process: ${outputs.map((o) => o.length).join(', ')}`)
  })

  test(`redis ${layout}: a short window expires in Redis: seen at once, unique again after the window`, async (t) => {
    // Bounds from the clock, not from how fast a run starts: keys are stamped no earlier than the
    // first run's start and no later than its end.
    const W = 10_000
    const opts = [...redis(layout), '--window', '10s']
    const file = join(FIXTURES, 'events.ndjson')
    const start1 = Date.now()
    assert.equal(cli([file, ...opts]).lines.length, expected.unique)
    const end1 = Date.now()
    const again = cli([file, ...opts]).lines.length
    const end2 = Date.now()
    // Checked only when the second run ended inside the window (on a machine so loaded that one run
    // outlasts 10 s it may not have); the rest of the test holds either way.
    if (end2 < start1 + W) assert.equal(again, 0, 'within the window every key is seen')
    else t.diagnostic(`the second run ended ${end2 - start1} ms after the first began, past the ${W} ms window`)
    // Forgotten at most one bucket (W/8) after the window: wait until that has surely passed for every
    // key, including any a late second run remembered anew.
    const forgotten = (end2 < start1 + W ? end1 : end2) + W + W / 8 + 500
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, forgotten - Date.now())))
    assert.equal(cli([file, ...opts]).lines.length, expected.unique)
  })
}

test('Redis killed mid-run and restarted (append-only file): the run waits, goes on, and the output is exact', async () => {
  const persistent = await startRedis({ persistent: true })
  try {
    const g = cli(['generate', '--count', '3000', '--dup-rate', '0.3', '--seed', '12'])
    const truth = Number(/unique (\d+)/.exec(g.stderr)![1])
    const half = Math.floor(g.lines.length / 2)
    const r = await runFed([...redis('compact', persistent.url), '--emit-key', '-q', '--redis-retry', '20s'], async (stdin, outputLines) => {
      stdin.write(g.lines.slice(0, half).join('\n') + '\n')
      await until(() => outputLines() > 0)
      await persistent.kill()
      // Input keeps coming while Redis is away.
      stdin.write(g.lines.slice(half, half + 200).join('\n') + '\n')
      await new Promise((resolve) => setTimeout(resolve, 300))
      await persistent.start()
      stdin.end(g.lines.slice(half + 200).join('\n') + '\n')
    })
    assert.equal(r.status, 0, r.stderr)
    const keys = keysOf(r.lines)
    assert.equal(new Set(keys).size, truth)
    assert.equal(keys.length, truth)
  } finally {
    await persistent.dispose()
  }
})

test('Redis killed mid-run for good: exit 1 with the position reached and a resume token; the rerun with it completes the output exactly', async () => {
  const persistent = await startRedis({ persistent: true })
  try {
    const g = cli(['generate', '--count', '3000', '--dup-rate', '0.3', '--seed', '13'])
    const truth = Number(/unique (\d+)/.exec(g.stderr)![1])
    const opts = [...redis('compact', persistent.url), '--emit-key', '-q']
    const half = Math.floor(g.lines.length / 2)
    const first = await runFed([...opts, '--redis-retry', '500ms'], async (stdin, outputLines) => {
      stdin.write(g.lines.slice(0, half).join('\n') + '\n')
      await until(() => outputLines() > 0)
      await persistent.kill()
      stdin.end(g.lines.slice(half).join('\n') + '\n')
    })
    assert.equal(first.status, 1, first.stderr)
    assert.match(first.stderr, /Redis unavailable for 0\.5 s/)
    const at = /stopped at - line (\d+) \(byte (\d+), event (\d+) of the run\)/.exec(first.stderr)
    assert.ok(at, first.stderr)
    const token = /--redis-resume ([0-9a-f]{12}:\d+)/.exec(first.stderr)?.[1]
    assert.ok(token, first.stderr)
    // Everything before the position was delivered: its unique keys are all in the first output.
    const line = Number(at[1])
    assert.ok(line > 1 && line <= g.lines.length)
    assert.equal(Number(at[2]), Buffer.byteLength(g.lines.slice(0, line - 1).join('\n') + '\n'))

    await persistent.start()
    // Rerun from the reported position (the whole input would do too: what was delivered is found seen).
    const rest = g.lines.slice(line - 1).join('\n') + '\n'
    const second = cli([...opts, '--redis-resume', token], rest)
    assert.equal(second.status, 0, second.stderr)
    const keys = [...keysOf(first.lines), ...keysOf(second.lines)]
    assert.equal(new Set(keys).size, truth)
    assert.equal(keys.length, truth)
  } finally {
    await persistent.dispose()
  }
})

test('Redis unreachable at start: one line, exit 1, nothing output, no output file created', () => {
  const dir = tempDir()
  const out = join(dir, 'unique.ndjson')
  const r = cli([join(FIXTURES, 'events.ndjson'), '--backend', 'redis', '--redis-url', 'redis://127.0.0.1:1/0', '-o', out])
  assert.equal(r.status, 1)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /^kion-dedup: cannot use Redis at redis:\/\/127\.0\.0\.1:1\/0: connect: .*ECONNREFUSED/)
  assert.equal(existsSync(out), false)
})

test('a bad Redis URL is one line and exit 1', () => {
  for (const url of ['http://127.0.0.1:6379', 'not a url', 'redis://127.0.0.1:6379/x']) {
    const r = cli([join(FIXTURES, 'events.ndjson'), '--backend', 'redis', '--redis-url', url])
    assert.equal(r.status, 1, url)
    assert.equal(r.stdout, '')
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(r.stderr, /bad (Redis URL|database number)/)
  }
})

test('password auth: without it or with a wrong one, one line and exit 1 (the password never shown); with it, the run works', async () => {
  const secured = await startRedis({ password: 's3cret!' })
  try {
    const file = join(FIXTURES, 'events.ndjson')
    const bare = `redis://127.0.0.1:${secured.port}/0`
    const none = cli([file, '--backend', 'redis', '--redis-url', bare])
    assert.equal(none.status, 1)
    assert.match(none.stderr, /NOAUTH|Authentication required/)
    const wrong = cli([file, '--backend', 'redis', '--redis-url', `redis://:wrong-pass@127.0.0.1:${secured.port}/0`])
    assert.equal(wrong.status, 1)
    assert.match(wrong.stderr, /WRONGPASS|invalid password/)
    assert.doesNotMatch(wrong.stderr, /wrong-pass/)
    assert.equal(wrong.stderr.trim().split('\n').length, 1)
    const right = cli([file, '--backend', 'redis', '--redis-url', secured.url])
    assert.equal(right.status, 0, right.stderr)
    assert.equal(right.lines.length, expected.unique)
    // REDIS_URL is the default for --redis-url.
    const fromEnv = cli([file, '--backend', 'redis'], undefined, { REDIS_URL: secured.url })
    assert.equal(fromEnv.status, 0, fromEnv.stderr)
    assert.equal(fromEnv.lines.length, 0)
  } finally {
    await secured.dispose()
  }
})

test('a prefix already used with other options is refused before any output', () => {
  const opts = redis('compact')
  assert.equal(cli([join(FIXTURES, 'events.ndjson'), ...opts]).status, 0)
  const other = cli([join(FIXTURES, 'events.ndjson'), ...opts.slice(0, -1), '512'])
  assert.equal(other.status, 1)
  assert.equal(other.stdout, '')
  assert.match(other.stderr, /already holds keys under prefix .* written with other options/)
})

test('options that do not go with Redis are usage errors (exit 2)', () => {
  const dir = tempDir()
  const file = join(FIXTURES, 'events.ndjson')
  assert.equal(cli([file, '--backend', 'redis', '--state', join(dir, 's')]).status, 2)
  assert.equal(cli([file, '--backend', 'redis', '--approx']).status, 2)
  assert.equal(cli([file, '--redis-resume', '0123456789ab:1']).status, 2)
  assert.equal(cli([file, '--backend', 'redis', '--redis-sets', '1000']).status, 2)
})
