/**
 * `npm run kafka`: a single-node Kafka broker on loopback until Ctrl-C (the demo), or around one
 * command (`-- --run cmd args...`: the test suite shares one broker through KION_TEST_KAFKA).
 */
import { spawn } from 'node:child_process'
import { KafkaBroker } from './kafka-broker.js'

const argv = process.argv.slice(2)
const runAt = argv.indexOf('--run')
const command = runAt >= 0 ? argv.slice(runAt + 1) : []
const own = runAt >= 0 ? argv.slice(0, runAt) : argv
const portAt = own.indexOf('--port')
const port = portAt >= 0 ? Number(own[portAt + 1]) : undefined
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  process.stderr.write(`kafka: --port needs a port number, got ${own[portAt + 1]}\n`)
  process.exit(2)
}

const broker = new KafkaBroker(port === undefined ? {} : { port })
await broker.start()
let stopping = false
const stop = async (code: number): Promise<never> => {
  if (!stopping) {
    stopping = true
    await broker.dispose()
  }
  process.exit(code)
}

if (command.length === 0) {
  process.stdout.write(`${broker.bootstrap}\n`)
  process.stderr.write(`Kafka broker (KRaft, single node) listening on ${broker.bootstrap}; log: ${broker.logFile}\nCtrl-C stops it and removes its data.\n`)
  process.on('SIGINT', () => void stop(0))
  process.on('SIGTERM', () => void stop(0))
} else {
  process.stderr.write(`Kafka broker on ${broker.bootstrap} for: ${command.join(' ')}\n`)
  const child = spawn(command[0], command.slice(1), { stdio: 'inherit', env: { ...process.env, KION_TEST_KAFKA: broker.bootstrap } })
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => child.kill(s))
  child.on('exit', (code, signal) => void stop(code ?? (signal === null ? 1 : 128 + 2)))
}
