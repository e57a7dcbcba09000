/**
 * Start-up loads only what the command needs: the Kafka client, the Redis client, the replay
 * histogram, the progress bar and the colours are each loaded by the command that uses them. A
 * check of what is imported, not of how long it takes (time depends on the machine).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BIN, ROOT, tempDir } from './helpers.js'

const HOOK = join(ROOT, 'test', 'support', 'record-imports.mjs')
const HEAVY = ['@platformatic/kafka', 'ioredis', 'hdr-histogram-js', 'cli-progress', 'chalk']

function importsOf(args: string[], input = '', status = 0): string[] {
  const file = join(tempDir(), 'imports.txt')
  writeFileSync(file, '')
  const r = spawnSync(process.execPath, ['--import', HOOK, BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, KION_RECORD_IMPORTS: file } })
  assert.equal(r.status, status, r.stderr)
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '')
}

function heavyIn(urls: string[]): string[] {
  return HEAVY.filter((name) => urls.some((u) => u.includes(`/node_modules/${name}/`)))
}

test('--version and --help load none of the heavy dependencies', () => {
  assert.deepEqual(heavyIn(importsOf(['--version'])), [])
  assert.deepEqual(heavyIn(importsOf(['--help'])), [])
})

test('a one-event run loads neither the Kafka nor the Redis client, and no progress bar off a terminal', () => {
  const urls = importsOf(['--quiet'], '{"client_id":"c","event_datetime":"d","event_name":"e","product_id":"p","sid":"s","r":"1"}\n')
  assert.ok(urls.some((u) => u.includes('/dist/src/pipeline/')), 'the hook saw the pipeline load')
  assert.deepEqual(heavyIn(urls).filter((n) => n !== 'chalk'), [])
})

test('the command that needs a dependency loads it, and only then', () => {
  assert.deepEqual(heavyIn(importsOf(['replay', '--help'])), [])
  // A replay against a port where nothing listens: it runs (and fails, exit 1), with its histogram.
  const urls = importsOf(['replay', '--url', 'http://127.0.0.1:9', '--count', '1', '--timeout', '2s', '--json'], '', 1)
  assert.deepEqual(heavyIn(urls), ['hdr-histogram-js'])
})
