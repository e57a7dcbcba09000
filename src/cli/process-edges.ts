/** @module The process edges every long-running command shares: SIGINT/SIGTERM handling and the JSON log line. */
import { SIGNAL_EXIT } from './errors.js'
import type { CliIo } from './io.js'

export type Log = (record: Record<string, unknown>) => void

/** One JSON object a line on stderr, with its time first (serve and consume log so). */
export function jsonLog(io: CliIo): Log {
  return (record) => void io.stderr.write(JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n')
}

/**
 * The first SIGINT/SIGTERM asks the command to stop gracefully (`first`); a second one means the
 * graceful stop is stuck (a reader that stopped reading, a backend that does not answer): `second`
 * says so, then the process exits at once with 128 + the signal's number. Returns the undo.
 */
export function onStopSignals(io: CliIo, first: (name: string) => void, second: (name: string) => void = () => {}): () => void {
  let received: string | null = null
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = () => {
      if (received === null) {
        received = name
        first(name)
        return
      }
      second(name)
      process.exit(SIGNAL_EXIT[name])
    }
    io.signals.on(name, handler)
    return [name, handler] as const
  })
  return () => handlers.forEach(([name, handler]) => io.signals.off(name, handler))
}
