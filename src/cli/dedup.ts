/** @module `kion-dedup [FILE...]`: the main job. Parses nothing itself: commander hands it typed options. */
import { Command, Option } from 'commander'
import { createWriteStream, type WriteStream } from 'node:fs'
import { openSync, writeFileSync } from 'node:fs'
import { Chalk } from 'chalk'
import { DedupPipeline, StoreFailure, type Clock } from '../pipeline/dedup-pipeline.js'
import { saveState } from '../store/memory/index.js'
import { openSources, SourceError } from '../source/index.js'
import { StreamSink } from '../sink/index.js'
import { SinkClosedError } from '../sink.js'
import { textReport, ndjsonReport, rejectsFile, formatSummary, progressBar, combine } from '../report/index.js'
import type { PipelineListener, Summary } from '../report.js'
import type { RecordOutput } from '../report/record-files.js'
import { InputError, type InputFormat } from '../framing.js'
import { parseBytes, parseCount } from './parse.js'
import { addKeyOptions, addStoreOptions, openStore, type BackendOptions } from './shared-options.js'
import { availableParallelism } from 'node:os'
import { EXIT, SIGNAL_EXIT } from './errors.js'
import { onStopSignals } from './process-edges.js'
import type { CliIo } from './io.js'

export interface DedupOptions extends BackendOptions {
  format: InputFormat | 'auto'
  key: string[]
  allowMissing?: boolean
  window: number
  clock: Clock
  timeField: string
  emitKey?: boolean
  output?: string
  report?: string
  rejects?: string
  statsJson?: string
  quiet?: boolean
  strict?: boolean
  state?: string
  progress: boolean
  firstSeen: boolean
  maxEventBytes: number
  threads: number
  approx?: boolean
  fpRate: number
}

/** One worker per core: on 2 cores, 66k against 52k NDJSON events/s on one (README "Performance"). */
export function defaultThreads(): number {
  return availableParallelism() > 1 ? availableParallelism() : 0
}

export function dedupCommand(io: CliIo, done: (status: number) => void): Command {
  const cmd = new Command('dedup')
    .usage('[options] [files...]')
    .description('remove duplicate events: unique events to stdout as NDJSON, a duplicate report and a summary to stderr')
    .argument('[files...]', "input files, read in order as one stream; '-' is stdin (the default); .gz is read transparently")
    .addOption(new Option('-f, --format <format>', 'input format').choices(['auto', 'ndjson', 'json']).default('auto'))
  addKeyOptions(cmd)
  cmd
    .option('--emit-key', 'add the key digest to each output event as "_key"')
    .option('-o, --output <file>', 'write unique events to FILE instead of stdout')
    .option('--report <file>', 'write duplicates and rejects as NDJSON records to FILE instead of text on stderr')
    .option('--rejects <file>', 'write each rejected input, verbatim, with its reason, as NDJSON to FILE')
    .option('--stats-json <file>', 'write the summary as one JSON object to FILE')
    .option('-q, --quiet', 'no duplicate lines, progress or summary on stderr; rejects and errors still show')
    .option('--strict', `exit ${EXIT.rejects} when any input was rejected`)
    .option('--no-progress', 'never show the progress bar (it shows only on a TTY anyway)')
    .addOption(new Option('--max-event-bytes <size>', 'longest event accepted').argParser(parseBytes).default(64 * 1024 * 1024, '64m'))
    .addOption(
      new Option('--threads <n>', 'worker threads that validate and key NDJSON events (0: all on the main thread)').argParser(parseCount).default(defaultThreads(), 'one per core when there are several'),
    )
  return addStoreOptions(cmd, io.env)
    .addHelpText(
      'after',
      `
Examples:
  $ kion-dedup events.json > unique.ndjson
  $ cat events.ndjson | kion-dedup > unique.ndjson
  $ kion-dedup day1.ndjson.gz day2.ndjson.gz --report dups.ndjson --stats-json stats.json > unique.ndjson
  $ kion-dedup --clock event --state week.state backfill/*.ndjson > unique.ndjson
  $ kion-dedup --strict --rejects bad.ndjson events.ndjson > unique.ndjson
  $ kion-dedup --backend redis --redis-url redis://127.0.0.1:6379/0 part-*.ndjson > unique.ndjson

Other commands:
  kion-dedup serve --help      the same deduplication behind HTTP (POST /event, /events)
  kion-dedup replay --help     fire events at a serve URL at a fixed rate: latency and correctness
  kion-dedup generate --help   synthetic events with retries, for tests and benchmarks

Exit status: 0 ok, 1 failure (input, output, state file or Redis), 2 usage, 3 --strict and inputs were rejected,
130/143 stopped by SIGINT/SIGTERM (after writing what was read and saving --state).`,
    )
    .action(async (files: string[], opts: DedupOptions) => {
      done(await runDedup(files, opts, io))
    })
}

/** Resolves on 'drain' or 'close', leaving no listener behind. */
function drained(s: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      s.off('drain', done)
      s.off('close', done)
      resolve()
    }
    s.on('drain', done)
    s.on('close', done)
  })
}

/** Runs the job; returns the exit status. Errors it cannot handle propagate to main. */
export async function runDedup(files: string[], opts: DedupOptions, io: CliIo): Promise<number> {
  const colour = io.stderr.isTTY === true && !io.env.NO_COLOR
  const chalk = new Chalk({ level: colour ? 1 : 0 })
  const say = (s: string) => void io.stderr.write(s)

  // First, before any output is opened: a backend that cannot be used fails the run with nothing written.
  const { store, exact, lock } = await openStore(opts)

  let pipeline: DedupPipeline | null = null
  const sources = openSources(files, io.stdin, (n) => pipeline?.countRawBytes(n))

  const owned: WriteStream[] = []
  let fileError: Error | null = null
  /** Opened now, so that a bad path fails before any output; a write error later fails the run (exit 1). */
  const openForWriting = (path: string): WriteStream => {
    const s = createWriteStream(path, { fd: openSync(path, 'w') })
    s.on('error', (e) => (fileError ??= new Error(`${path}: ${e.message}`)))
    owned.push(s)
    return s
  }
  const fileWriter = (path: string): RecordOutput => {
    const s = openForWriting(path)
    return {
      write: (line) => void s.write(line),
      // Backpressure: a slow disk holds the pipeline back instead of piling records up in memory.
      flush: () => (s.writableNeedDrain && !s.destroyed ? drained(s) : Promise.resolve()),
    }
  }
  const listeners: PipelineListener[] = []
  if (opts.report !== undefined) listeners.push(ndjsonReport(fileWriter(opts.report)))
  else listeners.push(textReport(say, chalk, !opts.quiet))
  if (opts.rejects !== undefined) listeners.push(rejectsFile(fileWriter(opts.rejects)))
  const total = sources.every((s) => s.size !== null) ? sources.reduce((a, s) => a + (s.size ?? 0), 0) : null
  const bar = opts.progress && !opts.quiet && io.stderr.isTTY === true && total !== null && total > 0 ? progressBar(total, io.stderr as NodeJS.WriteStream) : null
  if (bar) listeners.push(bar)

  const out = opts.output !== undefined ? createWriteStream(opts.output, { fd: openSync(opts.output, 'w') }) : io.stdout
  const sink = new StreamSink(out, opts.output !== undefined)
  pipeline = new DedupPipeline(
    {
      keyFields: opts.key,
      allowMissing: opts.allowMissing === true,
      format: opts.format,
      clock: opts.clock,
      timeField: opts.timeField,
      emitKey: opts.emitKey === true,
      maxEventBytes: opts.maxEventBytes,
      threads: opts.threads,
    },
    store,
    sink,
    combine(listeners),
  )

  let signal: string | null = null
  const unhookSignals = onStopSignals(
    io,
    (name) => {
      signal = name
      pipeline!.stop(`received ${name}`)
    },
    // The first is still waiting (typically on a reader that stopped reading). Exit at once without
    // saving --state: a rerun may deliver some events again, but loses none.
    (name) => say(`kion-dedup: second ${name}: exiting now${opts.state !== undefined ? `; state not saved to ${opts.state}` : ''}\n`),
  )

  /** Output closed, state saved, summary out: the end of every run whose output was delivered. */
  const finish = async (summary: Summary) => {
    await sink.close()
    if (opts.state !== undefined && exact !== null) saveState(opts.state, exact, opts.key, opts.clock)
    if (opts.statsJson !== undefined) writeFileSync(opts.statsJson, JSON.stringify(summary) + '\n')
    if (!opts.quiet) say(formatSummary(summary, chalk))
  }

  let outputClosed = false
  try {
    const summary = await pipeline.run(sources).catch(async (e: unknown) => {
      if (e instanceof SinkClosedError) {
        outputClosed = true
        return null
      }
      // Everything before the broken spot was delivered: keep the state consistent with it, report, then fail.
      if (e instanceof InputError || e instanceof SourceError || e instanceof StoreFailure) await finish(pipeline!.summary(`error: ${e.message}`))
      throw e
    })
    bar?.stop()
    if (summary === null) {
      // The reader went away (`| head`): a normal end for a filter. State is not saved, as the
      // keys of events it never received would otherwise be remembered as already delivered.
      if (opts.state !== undefined) say(`kion-dedup: output closed early; state not saved to ${opts.state}\n`)
      return EXIT.ok
    }
    await finish(summary)
    await Promise.all(owned.map((s) => new Promise<void>((resolve) => s.end(resolve))))
    if (fileError !== null) throw fileError
    if (signal !== null) return SIGNAL_EXIT[signal]
    if (opts.strict && summary.rejected > 0) return EXIT.rejects
    return EXIT.ok
  } finally {
    bar?.stop()
    unhookSignals()
    for (const s of owned) if (!s.writableEnded) s.end()
    await store.close()
    lock?.release()
    if (outputClosed) io.stdout.destroy()
    // A stop may leave stdin mid-read; let the process end rather than wait for more input.
    if (signal !== null || outputClosed) io.stdin.destroy()
  }
}
