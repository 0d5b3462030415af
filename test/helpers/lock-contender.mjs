// A receiver process that opens a file store when told to (lock.test.ts): one line on stdin per
// command, one line on stdout per answer. Several of these started together and told `open` at
// once are receivers racing for one store.
import { createInterface } from 'node:readline';
import { openFileStore } from '../../packages/receiver/dist/index.js';

let store;
const say = (line) => process.stdout.write(`${line}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const [command, path] = line.split(' ');
  if (command === 'open') {
    try {
      store = await openFileStore({ path });
      say('won');
    } catch (e) {
      say(`refused ${String(e.message).replace(/\n/g, ' ')}`);
    }
  } else if (command === 'ping') {
    say('pong');
  } else if (command === 'close') {
    await store?.close();
    store = undefined;
    say('closed');
  }
}
await store?.close();
