import { startServer, type ServerConfig } from './server.js';
import { configFrom, usage } from './config.js';

async function main(): Promise<void> {
  let config: ServerConfig | 'help';
  try {
    config = configFrom(process.argv.slice(2), process.env);
  } catch (e) {
    console.error((e as Error).message.startsWith('csp-lens:') ? (e as Error).message : `csp-lens: ${(e as Error).message}`);
    console.error('Try csp-lens --help');
    process.exit(2);
  }
  if (config === 'help') {
    process.stdout.write(usage());
    return;
  }
  const generated = !config.token;
  const running = await startServer(config).catch((e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
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
