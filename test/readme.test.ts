/** README's option table and --help must not drift apart. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, ROOT } from './helpers.js'

test("README's option table names exactly the options --help lists", () => {
  const help = cli(['--help']).stdout
  const fromHelp = new Set([...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]).filter((o) => o !== '--help'))
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const table = readme.slice(readme.indexOf('| option | default | meaning |'), readme.indexOf('`kion-dedup --help` and'))
  const fromReadme = new Set([...table.matchAll(/^\| `(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]))
  assert.ok(fromHelp.size > 10)
  assert.deepEqual([...fromReadme].sort(), [...fromHelp].sort())
})
