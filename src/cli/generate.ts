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
      let closed = false
      const onError = () => (closed = true)
      io.stdout.on('error', onError)
      for (;;) {
        if (closed) {
          // The reader went away (`| head`): a normal end for a producer.
          io.stdout.off('error', onError)
          return done(EXIT.ok)
        }
        const next = chunks.next()
        if (next.done) {
          const { unique, total } = next.value
          io.stderr.write(`generated ${total} events: unique ${unique}, duplicates ${total - unique}\n`)
          break
        }
        // Wait for a slow reader instead of buffering the whole output in memory.
        if (!io.stdout.write(next.value)) {
          await new Promise<void>((resolve) => {
            const wake = () => {
              io.stdout.off('drain', wake)
              io.stdout.off('close', wake)
              io.stdout.off('error', wake)
              resolve()
            }
            io.stdout.on('drain', wake)
            io.stdout.on('close', wake)
            io.stdout.on('error', wake)
          })
        }
      }
      io.stdout.off('error', onError)
      done(EXIT.ok)
    })
}
