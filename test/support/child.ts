/** Ending a server process that the test harness started (redis-server, the Kafka broker). */
import type { ChildProcess } from 'node:child_process'

/** Sends `signal` and resolves once the process has exited; SIGKILL after `forceAfterMs` if it has not. */
export function stopChild(child: ChildProcess | null, signal: NodeJS.Signals, forceAfterMs = Infinity): Promise<void> {
  if (child === null || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const force = forceAfterMs < Infinity ? setTimeout(() => child.kill('SIGKILL'), forceAfterMs) : undefined
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill(signal)
  })
}
