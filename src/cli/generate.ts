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
      let pending: Promise<void> = Promise.resolve()
      const parts: string[] = []
      let size = 0
      const write = (s: string) => {
        parts.push(s)
        size += s.length
        if (size > 1 << 20) {
          const data = parts.join('')
          parts.length = 0
          size = 0
          if (!io.stdout.write(data)) pending = Promise.all([pending, new Promise<void>((r) => io.stdout.once('drain', () => r()))]).then(() => undefined)
        }
      }
      // Generation is synchronous; writes are flushed in 1 MiB pieces, and we wait for drains at the end.
      const { unique, total } = generate(opts, write)
      io.stdout.write(parts.join(''))
      await pending
      io.stderr.write(`generated ${total} events: unique ${unique}, duplicates ${total - unique}\n`)
      done(EXIT.ok)
    })
}
