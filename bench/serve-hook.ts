/**
 * @module Loads the serve goals (bench/serve-goals.ts, written separately) when that module exists.
 * It is imported by a computed name, so this harness builds and runs without it.
 */
import { notMeasured, type GoalRow } from './goals.js'

type ServeGoals = (root: string, log: (s: string) => void) => Promise<GoalRow[]>

const MODULE = './serve-goals.js'

export async function loadServeGoals(root: string, log: (s: string) => void): Promise<GoalRow[]> {
  let serveGoals: ServeGoals | undefined
  try {
    serveGoals = ((await import(MODULE)) as { serveGoals?: ServeGoals }).serveGoals
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('serve-goals')
    if (!missing) throw e
  }
  if (serveGoals === undefined) {
    log('serve goals: bench/serve-goals.ts is not here (or exports no serveGoals): skipped')
    return [notMeasured('serve goals (serve vs node:http, Redis backend, Kafka pipeline)', '-', 'not measured: bench/serve-goals.ts is missing')]
  }
  try {
    return await serveGoals(root, log)
  } catch (e) {
    // One failing section should not throw away the goals measured before it.
    log(`serve goals failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    return [notMeasured('serve goals (bench/serve-goals.ts)', '-', `not measured: it failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`)]
  }
}
