/** @module `kion-dedup [FILE...]`: the main job. Parses nothing itself: commander hands it typed options. */
import { Command, Option } from 'commander'
import { createWriteStream, type WriteStream } from 'node:fs'
import { openSync, writeFileSync } from 'node:fs'
import { DedupPipeline, StoreFailure, type Clock } from '../pipeline/dedup-pipeline.js'
import { openSources, SourceError } from '../source/index.js'
import { StreamSink } from '../sink/index.js'
import { SinkClosedError } from '../sink.js'
import { textReport, ndjsonReport, rejectsFile, formatSummary, progressBar, combine } from '../report/index.js'
import type { PipelineListener, Summary } from '../report.js'
import type { RecordOutput } from '../report/record-files.js'
import { InputError, type InputFormat } from '../framing.js'
import { parseBytes, parseCount, parseDuration } from './parse.js'
import { addKeyOptions, addLeaseOption, addPostgresOptions, addStoreOptions, openStore, type BackendOptions, type PostgresCliOptions } from './shared-options.js'
import { checkpointOf, checkpointPlace, cutOutputBack, readFileCheckpoint, saveCheckpoint, toResume, type CheckpointPlace, type Saver } from './checkpoints.js'
import { openPostgresRun } from './postgres-run.js'
import { PostgresSink } from '../sink/postgres/pg-sink.js'
import { saveState } from '../store/memory/index.js'
import type { Checkpoint } from '../pipeline/checkpoint.js'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { EXIT, SIGNAL_EXIT, UsageError } from './errors.js'
import { onStopSignals } from './process-edges.js'
import type { CliIo } from './io.js'

export interface DedupOptions extends BackendOptions, PostgresCliOptions {
  to: 'out' | 'postgres'
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
  lease: number
  checkpoint?: string
  checkpointEvery: number
  restart?: boolean
  resume?: boolean
}

/** One worker per core: on 2 cores, 66k against 52k NDJSON events/s on one (README "Performance"). */
/**
 * One key thread per core but one: the main thread frames, checks and writes on a core of its
 * own. Measured on 2 cores (bench/README.md, issue 13): --threads 1 did 55k events/s against
 * 51k for --threads 2, whose three busy threads shared two cores.
 */
export function defaultThreads(): number {
  return Math.max(0, availableParallelism() - 1)
}

export function dedupCommand(io: CliIo, done: (status: number) => void): Command {
  const cmd = new Command('dedup')
    .usage('[options] [files...]')
    // The main job is the default command: its help names the program alone, as users type it.
    .configureHelp({ commandUsage: () => 'kion-dedup [options] [files...]' })
    .description('remove duplicate events: unique events to stdout as NDJSON, a duplicate report and a summary to stderr')
    .argument('[files...]', "input files, read in order as one stream; '-' is stdin (the default); .gz is read transparently")
    .addOption(new Option('-f, --format <format>', 'input format').choices(['auto', 'ndjson', 'json']).default('auto'))
  addKeyOptions(cmd)
  cmd
    .option('--emit-key', 'add the key digest to each output event as "_key"')
    .option('-o, --output <file>', 'write unique events to FILE instead of stdout')
    .addOption(new Option('--to <sink>', 'where unique events go: out (stdout, or -o FILE) or postgres (a table, exactly once; see --pg-url)').choices(['out', 'postgres']).default('out'))
    .option('--report <file>', 'write duplicates and rejects as NDJSON records to FILE instead of text on stderr')
    .option('--rejects <file>', 'write each rejected input, verbatim, with its reason, as NDJSON to FILE')
    .option('--stats-json <file>', 'write the summary as one JSON object to FILE')
    .option('-q, --quiet', 'no duplicate lines, progress or summary on stderr; rejects and errors still show')
    .option('--strict', `exit ${EXIT.rejects} when any input was rejected`)
    .option('--no-progress', 'never show the progress bar (it shows only on a TTY anyway)')
    .addOption(new Option('--max-event-bytes <size>', 'longest event accepted').argParser(parseBytes).default(64 * 1024 * 1024, '64m'))
    .addOption(
      new Option('--threads <n>', 'worker threads that validate and key events (0: all on the main thread)').argParser(parseCount).default(defaultThreads(), 'one per core but one'),
    )
  addLeaseOption(addStoreOptions(cmd, io.env))
  addPostgresOptions(cmd, '60s')
  return cmd
    .option('--checkpoint <file>', 'with Redis: where progress is saved for a rerun after a kill to go on from (default: <--output>.checkpoint; with --state it is kept in the state file)')
    .addOption(new Option('--checkpoint-every <duration>', 'least time between checkpoints (longer when saving takes long: at most about 5 % of the run)').argParser(parseDuration).default(parseDuration('5s'), '5s'))
    .option('--restart', 'discard the checkpoint of an interrupted run and start from the beginning (a rerun over the same files otherwise goes on from it)')
    .option('--resume', 'go on from the checkpoint of an interrupted run over stdin: the caller vouches that stdin brings the same events again')
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
  $ PGURL=postgres://kion@127.0.0.1/analytics kion-dedup --to postgres --pg-retention 30d day-*.ndjson

Other commands:
  kion-dedup serve --help      the same deduplication behind HTTP (POST /event, /events)
  kion-dedup consume --help    a dedup worker of a Kafka consumer group (raw topic in, unique events out)
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
  const { Chalk } = await import('chalk')
  const chalk = new Chalk({ level: colour ? 1 : 0 })
  const say = (s: string) => void io.stderr.write(s)

  let pipeline: DedupPipeline | null = null
  const sources = openSources(files, io.stdin, (n) => pipeline?.countRawBytes(n))
  // A bare `kion-dedup` on a terminal would otherwise wait without a word (as cat does).
  if (sources.some((s) => s.name === '-') && (io.stdin as { isTTY?: boolean }).isTTY === true && io.stderr.isTTY === true) say('kion-dedup: reading events from stdin (end with Ctrl-D; files as arguments, --help for more)\n')
  const inputs = sources.map((source) => ({ name: source.name, size: source.size }))
  const settings = `key=${opts.key.join(',')} clock=${opts.clock}${opts.clock === 'event' ? ` time-field=${opts.timeField}` : ''} format=${opts.format} emit-key=${opts.emitKey === true}`
  const toPg = opts.to === 'postgres'
  if (toPg && opts.output !== undefined) throw new UsageError('--to postgres stores unique events in a table; -o writes a file: choose one')
  if (toPg && opts.checkpoint !== undefined) throw new UsageError('with --to postgres the checkpoint is kept in the database, in the transaction of each batch: drop --checkpoint')
  const choice = { restart: opts.restart === true, force: opts.resume === true }
  if (choice.restart && choice.force) throw new UsageError('--resume and --restart: choose one')
  // First of all: a database that cannot be used fails the run before any input is read.
  const pg = toPg ? await openPostgresRun(opts, io, inputs, choice.restart) : null
  const place: CheckpointPlace | null = pg !== null ? pg.place : checkpointPlace(opts)
  const decide = (found: unknown): Checkpoint | null => {
    const { resume, note } = toResume(place!, found, inputs, settings, choice)
    if (note !== undefined) say(`kion-dedup: ${note}\n`)
    return resume
  }
  let resume: Checkpoint | null = place?.kind === 'file' ? decide(readFileCheckpoint(place)) : pg !== null ? decide(pg.found) : null
  // With Redis a new key stays reserved for this run until its output holds the event: a run killed
  // first leaves its events to a rerun (at once for the events past its checkpoint, else once its lease runs out).
  const owner = opts.backend === 'redis' ? randomBytes(6).toString('hex') : null
  const adopted = resume?.owners ?? []

  // First, before any output is opened: a backend that cannot be used fails the run with nothing written.
  const { store, exact, lock, stateCheckpoint } = await openStore(opts, owner === null ? {} : { reserve: { owner, leaseMs: opts.lease, adopted } }).catch(async (e: unknown) => {
    await pg?.writer.close()
    throw e
  })
  try {
    if (place?.kind === 'state') resume = decide(stateCheckpoint)
    if (resume !== null && opts.output !== undefined) cutOutputBack(opts.output, resume)
  } catch (e) {
    await store.close()
    await pg?.writer.close()
    lock?.release()
    throw e
  }
  if (resume !== null) {
    const cut = pg !== null ? '; the table refuses any event it already holds' : resume.output !== null ? `; ${resume.output.path} cut back to its ${resume.output.bytes} bytes` : '; events output after it may come out again (stdout cannot be cut back)'
    say(`kion-dedup: resuming an interrupted run from its checkpoint (${place!.path}, saved ${resume.savedAt}): skipping the ${resume.events} events it delivered${cut}\n`)
  }

  const owned: WriteStream[] = []
  const ownedPaths = new Map<WriteStream, string>()
  let fileError: Error | null = null
  /** Opened now, so that a bad path fails before any output; a write error later fails the run (exit 1). */
  const openForWriting = (path: string): WriteStream => {
    const s = createWriteStream(path, { fd: openSync(path, 'w') })
    s.on('error', (e) => (fileError ??= new Error(`${path}: ${e.message}`)))
    owned.push(s)
    ownedPaths.set(s, path)
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

  // A resumed run appends to the output its checkpoint cut back; a new one starts it empty.
  const outFd = opts.output === undefined ? null : openSync(opts.output, resume?.output != null ? 'a' : 'w')
  const out = outFd !== null ? createWriteStream(opts.output!, { fd: outFd }) : io.stdout
  const pgSink =
    pg === null
      ? null
      : new PostgresSink(
          pg.writer,
          () => {
            const progress = pipeline!.checkpointable()
            return progress === null ? undefined : pg.checkpointStep(checkpointOf(progress, inputs, settings, owner, adopted))
          },
          (rows) => {
            for (const r of rows) say(`kion-dedup: not stored (kept in ${pg.writer.names.rejects}): ${r.origin} byte ${String(r.originOffset)}: ${r.reason}\n`)
          },
        )
  const sink = pgSink ?? new StreamSink(out, opts.output !== undefined, opts.output ?? 'stdout')
  const saver: Saver | null =
    place === null || place.kind === 'postgres' ? null : { place, inputs, settings, output: outFd === null ? null : { fd: outFd, path: opts.output! }, owner, adopted, exact, keyFields: opts.key, clock: opts.clock }
  let waitSaid = false
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
      skipEvents: resume?.events ?? 0,
      resumeAt: resume?.last ?? null,
      checkpoint:
        saver === null
          ? undefined
          : {
              everyMs: opts.checkpointEvery,
              save: async (progress, delivered) => {
                await sink.written()
                await saveCheckpoint(saver, progress)
                await pipeline!.releaseDelivered(delivered)
              },
            },
      onReservedWait: (n) => {
        if (waitSaid) return
        waitSaid = true
        say(`kion-dedup: waiting for ${n} event(s) that another process holds reserved: it outputs them (then they are duplicates here) or dies (then they are output here once its --lease runs out)\n`)
      },
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

  /**
   * Output durable, state or checkpoint saved, reservations released, summary out: the end of every
   * run whose output was delivered. A run that did not finish (a signal, an error part way) leaves a
   * checkpoint for its rerun to go on from.
   */
  const finish = async (summary: Summary) => {
    await sink.flush()
    await sink.written()
    if (saver !== null) await saveCheckpoint(saver, summary.stopped === undefined ? null : pipeline!.progress())
    if (pg !== null) {
      // Every event is committed with its checkpoint; a run that went to the end leaves none to resume from.
      if (summary.stopped === undefined) await pg.finished()
      if (exact !== null && opts.state !== undefined) saveState(opts.state, exact, opts.key, opts.clock)
      summary.postgres = { table: pg.writer.names.events, ...pgSink!.counts }
    }
    await pipeline!.releaseDelivered(pipeline!.takeDelivered()).catch(() => {})
    await sink.close()
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
      if (opts.state !== undefined) {
        const c = pipeline.counts
        say(`kion-dedup: output closed by its reader after ${c.unique} unique events (of ${c.read} read); ${opts.state} left as it was (not saved), so a rerun delivers them again\n`)
      }
      return EXIT.ok
    }
    await finish(summary)
    await Promise.all(
      owned.map(
        (s) =>
          new Promise<void>((resolve) =>
            s.end((e?: Error | null) => {
              // A file stream emits its write error only once its descriptor is closed, after this.
              const failed = s.errored ?? e
              if (failed) fileError ??= new Error(`${ownedPaths.get(s) ?? 'an output file'}: ${failed.message}`)
              resolve()
            }),
          ),
      ),
    )
    if (fileError !== null) throw fileError
    if (signal !== null) return SIGNAL_EXIT[signal]
    if (opts.strict && (summary.rejected > 0 || (summary.postgres?.unstorable ?? 0) > 0)) return EXIT.rejects
    return EXIT.ok
  } finally {
    bar?.stop()
    unhookSignals()
    for (const s of owned) if (!s.writableEnded) s.end()
    await store.close()
    await pg?.writer.close()
    lock?.release()
    if (outputClosed) io.stdout.destroy()
    // A stop may leave stdin mid-read; let the process end rather than wait for more input.
    if (signal !== null || outputClosed) io.stdin.destroy()
  }
}
