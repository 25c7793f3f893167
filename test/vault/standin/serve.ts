/**
 * The Vault stand-in as a program, for the demo and the examples when no real Vault is at hand:
 *   node scripts/run-ts.mjs test/vault/standin/serve.ts [--port 8200] [--root-token root]
 * Prints `VAULT_ADDR=...` and `VAULT_TOKEN=...` on stdout once listening; stops on SIGTERM/SIGINT.
 */
import { startVaultStandin } from './index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = arg('--port');
const standin = await startVaultStandin({
  ...(port !== undefined ? { port: Number(port) } : {}),
  rootToken: arg('--root-token') ?? 'root',
});
process.stdout.write(`VAULT_ADDR=${standin.addr}\nVAULT_TOKEN=${standin.rootToken}\n`);
const stop = (): void => {
  void standin.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => undefined, 1 << 30);
