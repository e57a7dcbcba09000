/**
 * @module Loads the serve goals (bench/serve-goals.ts, written separately) when that module exists.
 * It is imported by a computed name, so this harness builds and runs without it.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { notMeasured, type GoalRow } from './goals.js'

type ServeGoals = (root: string, log: (s: string) => void) => Promise<GoalRow[]>
type KafkaGoal = (root: string, log: (s: string) => void) => Promise<GoalRow>

const MODULE = './serve-goals.js'

export async function loadServeGoals(root: string, log: (s: string) => void): Promise<GoalRow[]> {
  // Missing is told by the file, not by the import's error: a present module may fail to import for its own reasons.
  if (!existsSync(fileURLToPath(new URL(MODULE, import.meta.url)))) {
    log('serve goals: bench/serve-goals.ts is not here: skipped')
    return [notMeasured('serve goals (serve vs node:http, Redis backend, Kafka pipeline)', '-', 'not measured: bench/serve-goals.ts is missing')]
  }
  try {
    const { serveGoals, kafkaGoal } = (await import(MODULE)) as { serveGoals?: ServeGoals; kafkaGoal?: KafkaGoal }
    if (typeof serveGoals !== 'function') throw new Error('bench/serve-goals.ts exports no serveGoals function')
    const rows = await serveGoals(root, log)
    // The Kafka pipeline's goal: its load test (a few minutes), run in the same bench.
    if (typeof kafkaGoal === 'function') rows.push(await kafkaGoal(root, log))
    return rows
  } catch (e) {
    // One failing section should not throw away the goals measured before it.
    log(`serve goals failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
    return [notMeasured('serve goals (bench/serve-goals.ts)', '-', `not measured: it failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`)]
  }
}
