/** The option tables and --help must not drift apart: one table per command, under its heading (the main command's in README, the others' in docs/options.md). */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cli, ROOT } from './helpers.js'

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const optionsDoc = readFileSync(join(ROOT, 'docs', 'options.md'), 'utf8')

/** The long options `kion-dedup <command> --help` lists: lines of its Options section that start with one. */
function optionsFromHelp(command: string): string[] {
  const run = cli(command === '' ? ['--help'] : [command, '--help'])
  assert.equal(run.status, 0, run.stderr)
  const section = run.stdout.slice(run.stdout.indexOf('\nOptions:\n'))
  const end = section.search(/\n\n/)
  const options = end < 0 ? section : section.slice(0, end)
  return [...options.matchAll(/^ {2}(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]).filter((o) => o !== '--help' && o !== '--version')
}

/** The options of the table under `### \`kion-dedup <command>\`` (the main command: `[files...]`, in README; the others in docs/options.md), up to the next heading. */
function optionsFromReadme(command: string): string[] {
  const heading = `### \`kion-dedup ${command === '' ? '[files...]' : command}\``
  const doc = command === '' ? readme : optionsDoc
  const start = doc.indexOf(`\n${heading}\n`)
  assert.ok(start >= 0, `${command === '' ? 'README' : 'docs/options.md'} has no heading ${heading}`)
  const rest = doc.slice(start + heading.length + 2)
  const next = rest.search(/^#{1,3} /m)
  const section = next < 0 ? rest : rest.slice(0, next)
  assert.ok(section.includes('| option | default | meaning |'), `no option table under ${heading}`)
  return [...section.matchAll(/^\| `(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1])
}

for (const command of ['', 'serve', 'consume', 'replay', 'generate']) {
  test(`the table for \`kion-dedup ${command || '[files...]'}\` names exactly the options its --help lists`, () => {
    const fromHelp = optionsFromHelp(command)
    const fromReadme = optionsFromReadme(command)
    assert.ok(fromHelp.length >= 3, `too few options parsed from ${command || 'main'} --help`)
    assert.equal(new Set(fromReadme).size, fromReadme.length, 'an option is listed twice in the README table')
    assert.deepEqual([...new Set(fromReadme)].sort(), [...new Set(fromHelp)].sort())
  })
}

test("the main command's table still sits between the markers other tools slice on", () => {
  const table = readme.slice(readme.indexOf('| option | default | meaning |'), readme.indexOf('`kion-dedup --help` and'))
  assert.deepEqual(
    [...table.matchAll(/^\| `(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]).sort(),
    optionsFromReadme('').sort(),
  )
})
