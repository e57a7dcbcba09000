/**
 * @module What one big POST /events does to everything else serve is asked meanwhile (issue 15,
 * item 17): single events are sent one at a time, 200 a second, first alone and then while
 * 100,000-event batches (16 MB of NDJSON) are posted back to back; their latency is compared,
 * and the batches' own time alone and with the single events beside them.
 * With `--baseline DIR`, a second build (another checkout's `bin/kion-dedup.js`, built) runs the
 * same rounds, interleaved with this one (the VM is shared: medians of the rounds are reported).
 *
 * `node dist/bench/big-batch.js [--rounds 3] [--batches 4] [--baseline ../kion-dedup-before] [--json]`
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { request, Agent } from 'node:http'
import { fileURLToPath } from 'node:url'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { stopChild } from '../test/support/child.js'

const PROBE_EVERY_MS = 5
const BATCH_EVENTS = 100_000

interface Contender {
  name: string
  bin: string
}

interface RoundResult {
  idle: number[]
  duringBatches: number[]
  /** Batches posted with nothing else asked meanwhile. */
  batchAloneSeconds: number[]
  /** Batches posted while single events are probing. */
  batchSeconds: number[]
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

function median(xs: readonly number[]): number {
  return percentile(xs, 50)
}

/** A batch of small events (the key fields and a little more), all new: `tag` keeps batches apart. */
function batchBody(tag: string): Buffer {
  const lines: string[] = []
  for (let i = 0; i < BATCH_EVENTS; i++) {
    lines.push(JSON.stringify({ client_id: `c${i % 5000}`, event_datetime: '2026-12-01 10:00:00', event_name: 'play_start', product_id: `p${i}`, sid: `s-${tag}`, r: String(i), pad: 'x'.repeat(24) }))
  }
  return Buffer.from(lines.join('\n') + '\n')
}

async function startServe(bin: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--max-body', '32m', '--out', '/dev/null'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let text = ''
  child.stderr!.setEncoding('utf8')
  for await (const chunk of child.stderr!) {
    text += chunk as string
    const m = /"msg":"listening".*?"port":(\d+)/.exec(text)
    if (m !== null) {
      child.stderr!.resume()
      return { child, port: Number(m[1]) }
    }
  }
  throw new Error(`serve did not start:\n${text}`)
}

function post(agent: Agent, port: number, path: string, body: Buffer): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson', 'content-length': body.length } }, (res) => {
      res.resume()
      res.on('end', () => resolveStatus(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Single events one at a time, every PROBE_EVERY_MS, until `stop` resolves; their latencies in ms. */
async function probe(port: number, tag: string, stop: Promise<unknown>): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const latencies: number[] = []
  let stopped = false
  void stop.then(() => (stopped = true))
  for (let i = 0; !stopped; i++) {
    const body = Buffer.from(JSON.stringify({ client_id: 'probe', event_datetime: '2026-12-01 10:00:00', event_name: 'play_start', product_id: 'p', sid: tag, r: String(i) }))
    const started = performance.now()
    const status = await post(agent, port, '/event', body)
    if (status !== 200) throw new Error(`a probe was answered ${status}`)
    const ms = performance.now() - started
    latencies.push(ms)
    if (ms < PROBE_EVERY_MS) await new Promise((r) => setTimeout(r, PROBE_EVERY_MS - ms))
  }
  agent.destroy()
  return latencies
}

async function round(contender: Contender, r: number, batches: number): Promise<RoundResult> {
  const { child, port } = await startServe(contender.bin)
  try {
    const bodies = Array.from({ length: batches }, (_, b) => batchBody(`${r}-${b}`))
    const idle = await probe(port, `idle-${r}`, new Promise((done) => setTimeout(done, 2000)))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const postAll = async (list: Buffer[], into: number[]) => {
      for (const body of list) {
        const started = performance.now()
        const status = await post(agent, port, '/events', body)
        if (status !== 200) throw new Error(`a batch was answered ${status}`)
        into.push((performance.now() - started) / 1000)
      }
    }
    const batchAloneSeconds: number[] = []
    await postAll(bodies.slice(0, Math.ceil(bodies.length / 2)), batchAloneSeconds)
    const batchSeconds: number[] = []
    const sending = postAll(bodies.slice(Math.ceil(bodies.length / 2)), batchSeconds)
    const duringBatches = await probe(port, `busy-${r}`, sending)
    await sending
    agent.destroy()
    return { idle, duringBatches, batchAloneSeconds, batchSeconds }
  } finally {
    await stopChild(child, 'SIGTERM', 10_000)
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, batches: { type: 'string', default: '4' }, baseline: { type: 'string' }, json: { type: 'boolean', default: false } } })
  const here = resolve(fileURLToPath(new URL('../..', import.meta.url)))
  const contenders: Contender[] = [{ name: 'this build', bin: join(here, 'bin/kion-dedup.js') }]
  if (values.baseline !== undefined) contenders.push({ name: `baseline (${values.baseline})`, bin: join(resolve(values.baseline), 'bin/kion-dedup.js') })
  const rounds = Number(values.rounds)
  const batches = Number(values.batches)
  const results = new Map<string, RoundResult[]>(contenders.map((c) => [c.name, []]))
  for (let r = 0; r < rounds; r++) {
    // Interleaved, and the order flipped each round: neither contender always runs on a warmer machine.
    const order = r % 2 === 0 ? contenders : [...contenders].reverse()
    for (const c of order) {
      const res = await round(c, r, batches)
      results.get(c.name)!.push(res)
      if (!values.json) process.stderr.write(`round ${r + 1}/${rounds} ${c.name}: single-event p99 ${percentile(res.idle, 99).toFixed(1)} ms alone, ${percentile(res.duringBatches, 99).toFixed(1)} ms during batches (max ${Math.max(...res.duringBatches).toFixed(0)} ms)\n`)
    }
  }
  const rows = contenders.map((c) => {
    const rs = results.get(c.name)!
    return {
      contender: c.name,
      singleP50AloneMs: median(rs.map((x) => percentile(x.idle, 50))),
      singleP99AloneMs: median(rs.map((x) => percentile(x.idle, 99))),
      singleP50DuringMs: median(rs.map((x) => percentile(x.duringBatches, 50))),
      singleP99DuringMs: median(rs.map((x) => percentile(x.duringBatches, 99))),
      singleMaxDuringMs: median(rs.map((x) => Math.max(...x.duringBatches))),
      batchAloneSeconds: median(rs.flatMap((x) => x.batchAloneSeconds)),
      batchSeconds: median(rs.flatMap((x) => x.batchSeconds)),
    }
  })
  if (values.json) {
    process.stdout.write(JSON.stringify({ rounds, batches, batchEvents: BATCH_EVENTS, rows }, null, 2) + '\n')
    return
  }
  console.log(`medians of ${rounds} rounds; ${batches} batches of ${BATCH_EVENTS.toLocaleString('en-US')} events a round; single events every ${PROBE_EVERY_MS} ms`)
  console.log('| build | single p50 alone | p99 alone | p50 during batches | p99 during batches | max during | a batch alone | a batch with singles |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const r of rows) console.log(`| ${r.contender} | ${r.singleP50AloneMs.toFixed(1)} ms | ${r.singleP99AloneMs.toFixed(1)} ms | ${r.singleP50DuringMs.toFixed(1)} ms | ${r.singleP99DuringMs.toFixed(1)} ms | ${r.singleMaxDuringMs.toFixed(0)} ms | ${r.batchAloneSeconds.toFixed(2)} s | ${r.batchSeconds.toFixed(2)} s |`)
}

await main()
