/** @module `kion-dedup replay`: fires events at a serve URL at a fixed rate and reports latency and correctness. */
import { Command, InvalidArgumentError, Option } from 'commander'
import { fileURLToPath } from 'node:url'
import { addKeyFieldOptions } from './shared-options.js'
import { parseDuration, parseNonNegativeInt, parsePositiveInt, parseRate } from './parse.js'
import { EXIT, UsageError } from './errors.js'
import { caOf, tokenOf, TOKEN_ENV } from './secrets.js'
import type { CliIo } from './io.js'
import { loadEvents } from '../replay/events.js'
import type { RunResult } from '../replay/runner.js'

interface ReplayCliOptions {
  url: string
  rps: number
  duration?: number
  count?: number
  skip: number
  concurrency: number
  dupRate: number
  batch: number
  timeout: number
  json?: boolean
  findMax?: boolean
  slo: number
  step: number
  key: string[]
  allowMissing?: boolean
  tokenFile?: string
  ca?: string
}

const FIXTURE = fileURLToPath(new URL('../../../fixtures/events.ndjson', import.meta.url))
const DEFAULT_DURATION_MS = 10_000

function parseRps(text: string): number {
  const n = Number(text)
  if (!(n > 0 && n <= 1_000_000)) throw new InvalidArgumentError(`expected a rate in requests a second, from 1 to 1000000, got "${text}"`)
  return n
}

export function replayCommand(io: CliIo, done: (status: number) => void): Command {
  const cmd = new Command('replay')
    .usage('[options] [files...]')
    .description('send events to a serve URL at a fixed rate (open loop), and report latency, errors and whether the answers were right')
    .argument('[files...]', `events to send (NDJSON or JSON arrays; looped over as needed); default: the committed fixture`)
    .option('--url <url>', 'the server', 'http://127.0.0.1:8080')
    .addOption(new Option('--rps <n>', 'requests a second, on a fixed schedule').argParser(parseRps).default(500))
    .addOption(new Option('--duration <duration>', 'how long to send (with --find-max: each step) (default: 10s, or with --find-max the --step)').argParser(parseDuration))
    .addOption(new Option('--count <n>', 'how many requests to send (instead of --duration)').argParser(parsePositiveInt))
    .addOption(new Option('--skip <n>', 'start at event n of the files (0-based), e.g. to go on where an earlier replay stopped').argParser(parseNonNegativeInt).default(0))
    .addOption(new Option('--concurrency <n>', 'most requests in flight (and connections); a request held back by it is counted as late, its wait counted as latency').argParser(parsePositiveInt).default(256))
    .addOption(new Option('--dup-rate <r>', 'share of requests that re-send an event sent before, as a retrying client would').argParser(parseRate).default(0))
    .addOption(new Option('--batch <n>', 'events a request: more than 1 posts NDJSON batches to /events').argParser(parsePositiveInt).default(1))
    .addOption(new Option('--timeout <duration>', 'a request unanswered this long counts as a timeout').argParser(parseDuration).default(parseDuration('5s'), '5s'))
    .option('--token-file <file>', `a file holding the token a serve started with one asks for (sent as "Authorization: Bearer"); default: $${TOKEN_ENV}`)
    .option('--ca <file>', 'with an https:// --url: a certificate (PEM) to trust, e.g. the self-signed one the server uses')
    .option('--json', 'print the summary as one JSON object')
    .option('--find-max', 'raise the rate step by step from --rps (×1.25 a step) and report the highest one held with no errors and p99 under --slo')
    .addOption(new Option('--slo <duration>', 'with --find-max: the p99 latency a held rate must stay under').argParser(parseDuration).default(parseDuration('50ms'), '50ms'))
    .addOption(new Option('--step <duration>', 'with --find-max: how long each rate is held').argParser(parseDuration).default(parseDuration('5s'), '5s'))
  return addKeyFieldOptions(cmd)
    .addHelpText(
      'after',
      `
The server should not have seen these events before: replay checks that each key is answered
"unique" exactly once, and exits ${EXIT.failure} when not (a duplicate let through, or a unique event lost).

Examples:
  $ kion-dedup replay --url http://127.0.0.1:8080 --rps 2000 --duration 30s
  $ kion-dedup replay events.ndjson --rps 500 --dup-rate 0.2 --json
  $ kion-dedup replay --find-max --rps 1000 --slo 50ms`,
    )
    .action(async (files: string[], opts: ReplayCliOptions) => {
      done(await runReplayCommand(files, opts, io))
    })
}

function summaryText(r: RunResult): string {
  const l = r.latency_ms
  const statuses = Object.entries(r.status)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')
  return [
    `rate ${r.target_rps}/s for ${r.duration_s} s: ${r.completed} of ${r.requests} requests done (${r.completed - r.errors.timeout - r.errors.connection} answered), ${r.achieved_rps}/s achieved, ${r.sent_late} sent late`,
    `latency ms (from scheduled start): p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  p99.9 ${l.p999}  max ${l.max}`,
    `statuses: ${statuses}; errors: timeout ${r.errors.timeout}, connection ${r.errors.connection}, other statuses ${r.errors.http}`,
    `answers: unique ${r.answers.unique}, duplicate ${r.answers.duplicate}, ${r.answers.accepted > 0 ? `accepted ${r.answers.accepted} (forwarded to Kafka), ` : ''}rejected ${r.answers.rejected}`,
  ].join('\n')
}

export async function runReplayCommand(files: string[], o: ReplayCliOptions, io: CliIo): Promise<number> {
  const say = (s: string) => void io.stderr.write(s)
  try {
    const u = new URL(o.url)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('only http:// and https:// are supported')
  } catch (e) {
    throw new UsageError(`bad --url "${o.url}": ${e instanceof Error ? e.message : String(e)}`)
  }
  const token = tokenOf(o.tokenFile, io.env)
  const ca = o.ca === undefined ? undefined : caOf(o.ca)
  // The runner (and its histogram library) is loaded by this command only.
  const { AnswerLedger, EventPicker, runReplay } = await import('../replay/runner.js')
  const events = await loadEvents(files.length > 0 ? files : [FIXTURE], io.stdin, { keyFields: o.key, allowMissing: o.allowMissing === true, timeField: null })
  const ledger = new AnswerLedger()
  // One picker for the whole replay: --find-max steps go on through the file instead of starting over.
  const picker = new EventPicker(events, o.dupRate, o.skip)
  const live = io.stderr.isTTY === true && o.json !== true
  const durationMs = o.duration ?? DEFAULT_DURATION_MS
  const run = (rps: number, ms: number) =>
    runReplay(
      events,
      {
        url: o.url,
        rps,
        requests: o.count ?? Math.max(1, Math.round((rps * ms) / 1000)),
        concurrency: o.concurrency,
        dupRate: o.dupRate,
        batch: o.batch,
        timeoutMs: o.timeout,
        token,
        ca,
        picker,
        onTick: live ? (s) => say(`\r${s.elapsedS.toFixed(0)} s: ${s.sent} sent, ${s.done} answered, p99 ${s.p99Ms.toFixed(1)} ms, ${s.errors} errors   `) : undefined,
      },
      ledger,
    )

  const steps: RunResult[] = []
  let held: RunResult | null = null
  if (o.findMax === true) {
    for (let rps = o.rps, step = 0; step < 100; rps = Math.max(rps + 1, Math.round(rps * 1.25)), step++) {
      const r = await run(rps, o.duration ?? o.step)
      steps.push(r)
      const ok = r.errors.timeout + r.errors.connection + r.errors.http === 0 && r.latency_ms.p99 <= o.slo && r.achieved_rps >= 0.95 * rps
      if (o.json !== true) say(`${live ? '\r' : ''}step ${rps}/s: ${ok ? 'held' : 'not held'} (achieved ${r.achieved_rps}/s, p99 ${r.latency_ms.p99} ms, errors ${r.errors.timeout + r.errors.connection + r.errors.http})\n`)
      if (!ok) break
      held = r
    }
  } else steps.push(await run(o.rps, durationMs))
  if (live) say('\n')

  const check = ledger.check()
  const mismatch = check.uniqueTwice + check.neverUnique + ledger.wrongKeys
  const correctness = { keys: check.keys, unique_twice: check.uniqueTwice, never_unique: check.neverUnique, wrong_keys: ledger.wrongKeys, ok: mismatch === 0 }
  if (o.json === true) {
    const body = o.findMax === true ? { max_rps: held?.target_rps ?? null, slo_ms: o.slo, steps, correctness } : { ...steps[0], correctness }
    io.stdout.write(JSON.stringify(body) + '\n')
  } else {
    if (o.findMax === true) io.stdout.write(`highest rate held with no errors and p99 under ${o.slo} ms: ${held === null ? `none (from ${o.rps}/s)` : `${held.target_rps}/s`}\n`)
    io.stdout.write(summaryText(held ?? steps[steps.length - 1]) + '\n')
    io.stdout.write(
      mismatch !== 0
        ? `WRONG: ${check.uniqueTwice} keys answered unique more than once, ${check.neverUnique} never unique, ${ledger.wrongKeys} answers with a wrong key\n`
        : check.keys === 0
          ? 'no answers to check\n'
          : `correct: each of ${check.keys} keys answered unique exactly once\n`,
    )
  }
  // Nothing answered at all is no load test: most likely the server is not there.
  const answered = steps.reduce((n, r) => n + r.completed - r.errors.timeout - r.errors.connection, 0)
  if (answered === 0) {
    say(`kion-dedup: no request was answered by ${o.url}: is the server up?\n`)
    return EXIT.failure
  }
  return mismatch === 0 ? EXIT.ok : EXIT.failure
}

