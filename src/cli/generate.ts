/** @module `kion-dedup generate`: synthetic sample-shaped events with retries; the true counts go to stderr. */
import { Command, Option } from 'commander'
import { generate, type GenerateFormat } from '../generate/synthetic.js'
import { parsePositiveInt, parseRate } from './parse.js'
import { EXIT } from './errors.js'
import type { CliIo } from './io.js'

interface GenerateCliOptions {
  count: number
  dupRate: number
  seed: number
  format: GenerateFormat
}

export function generateCommand(io: CliIo, done: (status: number) => void): Command {
  return new Command('generate')
    .description('write synthetic events shaped like the seed sample, with client retries mixed in; prints the true unique count on stderr')
    .option('-n, --count <n>', 'events to write, retries included', parsePositiveInt, 10000)
    .option('-d, --dup-rate <r>', 'share of events that are retries of an earlier one (0..1)', parseRate, 0.1)
    .option('-s, --seed <n>', 'random seed: the same seed gives the same bytes', (v) => parsePositiveInt(v), 1)
    .addOption(new Option('-f, --format <format>', 'ndjson, a JSON array, or the database-export shape').choices(['ndjson', 'json', 'export']).default('ndjson'))
    .addHelpText(
      'after',
      `
Examples:
  $ kion-dedup generate --count 100000 --dup-rate 0.2 --seed 7 > events.ndjson
  $ kion-dedup generate --count 1000 --format export > export.json`,
    )
    .action(async (opts: GenerateCliOptions) => {
      const chunks = generate(opts)
      let ended: IteratorReturnResult<{ unique: number; total: number }>
      try {
        ended = await writeToStream(chunks, io.stdout)
      } catch (e) {
        // The reader went away (`| head`): a normal end for a producer. Anything else is a failure.
        if (e instanceof ReaderGone) return done(EXIT.ok)
        io.stderr.write(`kion-dedup: stdout: ${e instanceof Error ? e.message : String(e)}\n`)
        return done(EXIT.failure)
      }
      const { unique, total } = ended.value
      io.stderr.write(`generated ${total} events: unique ${unique}, duplicates ${total - unique}\n`)
      done(EXIT.ok)
    })
}

type Chunks = Generator<Buffer, { unique: number; total: number }>

class ReaderGone extends Error {}

/** Through the stream, waiting for a slow reader instead of buffering the whole output in memory. */
async function writeToStream(chunks: Chunks, stdout: CliIo['stdout']): Promise<IteratorReturnResult<{ unique: number; total: number }>> {
  let failure: NodeJS.ErrnoException | null = null
  const onError = (e: NodeJS.ErrnoException) => (failure ??= e)
  stdout.on('error', onError)
  const failed = () => {
    const e = failure as NodeJS.ErrnoException | null
    if (e === null) return null
    return e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED' ? new ReaderGone() : e
  }
  try {
    for (;;) {
      const error = failed()
      if (error !== null) throw error
      const next = chunks.next()
      if (next.done === true) {
        // The last chunk's write may fail too (a full disk): wait for its outcome.
        await new Promise<void>((resolve) => stdout.write('', () => resolve()))
        const last = failed()
        if (last !== null) throw last
        return next
      }
      if (!stdout.write(next.value)) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            stdout.off('drain', wake)
            stdout.off('close', wake)
            stdout.off('error', wake)
            resolve()
          }
          stdout.on('drain', wake)
          stdout.on('close', wake)
          stdout.on('error', wake)
        })
      }
    }
  } finally {
    stdout.off('error', onError)
  }
}
