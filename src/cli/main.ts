/** @module The command line: builds the commander program, runs it, maps errors to exit statuses. The bin calls `runCli`. */
import { Command, CommanderError } from 'commander'
import { readFileSync } from 'node:fs'
import { dedupCommand } from './dedup.js'
import { generateCommand } from './generate.js'
import { serveCommand } from './serve.js'
import { replayCommand } from './replay.js'
import { consumeCommand } from './consume.js'
import { EXIT, describeError, exitStatusFor } from './errors.js'
import type { CliIo } from './io.js'

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

export function buildProgram(io: CliIo, done: (status: number) => void): Command {
  const program = new Command('kion-dedup')
    .description('Deduplicate product-analytics events: each event once within a time window.')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
  program.addCommand(dedupCommand(io, done), { isDefault: true })
  program.addCommand(serveCommand(io, done))
  program.addCommand(consumeCommand(io, done))
  program.addCommand(replayCommand(io, done))
  program.addCommand(generateCommand(io, done))
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: (s) => void io.stderr.write(s) })
  return program
}

/** Parses argv and runs; resolves to the exit status. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let status: number = EXIT.ok
  const program = buildProgram(io, (s) => (status = s))
  // `kion-dedup --help` shows the main job's options (with the other commands listed after them).
  const args = argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h') ? ['dedup', '--help'] : argv
  try {
    await program.parseAsync(args, { from: 'user' })
    return status
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage
    }
    io.stderr.write(`kion-dedup: ${describeError(e)}\n`)
    return exitStatusFor(e)
  }
}

export async function runCli(): Promise<void> {
  const io: CliIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signals: process }
  // A closed stdout (`| head`) is handled by the sink; keep the default EPIPE crash away.
  process.stdout.on('error', () => {})
  const status = await main(process.argv.slice(2), io)
  process.exitCode = status
}
