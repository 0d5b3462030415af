import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileStore } from '../../packages/receiver/src/store/file/index.js';
import { requireBuiltCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';

const CONTENDER = fileURLToPath(new URL('../helpers/lock-contender.mjs', import.meta.url));

/** A receiver process waiting for `open <db>` (test/helpers/lock-contender.mjs). */
interface Contender {
  child: ChildProcess;
  ask(line: string): Promise<string>;
}

function contender(): Contender {
  const child = spawn(process.execPath, [CONTENDER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const answers: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => (waiting.length ? waiting.shift()!(line) : answers.push(line)));
  return {
    child,
    ask(line) {
      child.stdin!.write(`${line}\n`);
      return answers.length ? Promise.resolve(answers.shift()!) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

/** The pid of a process that has exited: what a receiver killed with -9 leaves in its lock. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  return child.pid!;
}

describe('one receiver per store file', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const contenders: Contender[] = [];

  beforeAll(async () => {
    requireBuiltCli();
    tmp = await tempDir();
    for (let i = 0; i < 6; i++) contenders.push(contender());
    // Each has loaded the receiver once it answers.
    await Promise.all(contenders.map((c) => c.ask('ping')));
  }, 60_000);
  afterAll(async () => {
    for (const c of contenders) c.child.stdin!.end();
    await Promise.all(contenders.map((c) => (c.child.exitCode === null ? once(c.child, 'exit') : undefined)));
    await tmp.remove();
  });

  it('lets exactly one of six receivers started together take over a lock left by a dead process, every time', async () => {
    const db = join(tmp.dir, 'race.json');
    const dead = await deadPid();
    const winners: number[] = [];
    const refusals = new Set<string>();
    for (let round = 0; round < 20; round++) {
      writeFileSync(`${db}.lock`, String(dead));
      const answers = await Promise.all(contenders.map((c) => c.ask(`open ${db}`)));
      const won = contenders.filter((_, i) => answers[i] === 'won');
      winners.push(won.length);
      for (const a of answers) if (a !== 'won') refusals.add(a.replace(/process \d+/, 'process N'));
      await Promise.all(won.map((c) => c.ask('close')));
    }
    expect(winners).toEqual(Array(20).fill(1));
    // The others are told who holds it (the winner), not an error of the lock's plumbing.
    expect([...refusals]).toEqual([`refused csp-lens: ${db} is in use by process N; one receiver per store file (lock: ${db}.lock)`]);
    // Nothing of the takeovers is left beside the store.
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('race.json.lock'))).toEqual([]);
  });

  it('takes over a lock whose takeover was itself killed midway (its marker left behind)', async () => {
    const db = join(tmp.dir, 'crashed-takeover.json');
    const dead = [await deadPid(), await deadPid()];
    writeFileSync(`${db}.lock`, String(dead[0]));
    // What a receiver killed -9 while taking over that lock leaves: the marker named for its content.
    const marker = `${db}.lock.0-${createHash('sha256').update(String(dead[0])).digest('hex').slice(0, 16)}.takeover`;
    writeFileSync(marker, String(dead[1]));
    const answers = await Promise.all(contenders.map((c) => c.ask(`open ${db}`)));
    expect(answers.filter((a) => a === 'won')).toHaveLength(1);
    await contenders[answers.indexOf('won')].ask('close');
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('crashed-takeover.json.'))).toEqual([]);
  });

  it('refuses a store reached through a symlink (to the file or to its folder) while the real path is open', async () => {
    const real = join(tmp.dir, 'real');
    mkdirSync(real);
    const db = join(real, 'db.json');
    const holder = contenders[0];
    expect(await holder.ask(`open ${db}`)).toBe('won');
    try {
      symlinkSync(db, join(tmp.dir, 'link.json'));
      symlinkSync(real, join(tmp.dir, 'linked-dir'));
      for (const path of [join(tmp.dir, 'link.json'), join(tmp.dir, 'linked-dir', 'db.json')]) {
        await expect(openFileStore({ path }), path).rejects.toThrow(`is in use by process ${holder.child.pid}`);
      }
    } finally {
      expect(await holder.ask('close')).toBe('closed');
    }
  });
});
