import { startServer, type ServerConfig } from './server.js';
import { configFrom, usage, version } from './config.js';

/** One line on stderr; 2 for a mistake in how csp-lens was started (the flag and the fix are named), 1 otherwise. */
function die(e: unknown): never {
  const message = (e as Error).message ?? String(e);
  console.error(message.startsWith('csp-lens:') ? message : `csp-lens: ${message}`);
  process.exit((e as { exitCode?: number }).exitCode === 2 ? 2 : 1);
}

async function main(): Promise<void> {
  let config: ServerConfig | 'help' | 'version';
  try {
    config = configFrom(process.argv.slice(2), process.env);
  } catch (e) {
    die(Object.assign(e as Error, { exitCode: 2 }));
  }
  if (config === 'help') {
    process.stdout.write(usage());
    return;
  }
  if (config === 'version') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  const generated = !config.token;
  const running = await startServer(config).catch(die);
  // With `--stream -` stdout carries the JSON lines: the banner goes to stderr then.
  const say = config.stream === '-' ? console.error : console.log;
  say(`csp-lens receiving at ${running.url}/report (native) and ${running.url}/sdk (SDK)`);
  say(`  SDK script: ${running.url}/sdk.js`);
  say(`  dashboard:  ${running.url}/dashboard#token=${running.token}`);
  say(`  health:     ${running.url}/health`);
  say(`  read token${generated ? ' (generated; pass --token to keep one)' : ''}: ${running.token}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      running.close().then(() => process.exit(0), () => process.exit(1));
    });
  }
}

await main();
