/**
 * A fuzz worker (child of scripts/fuzz.ts): runs cases [start, start + count) of the run seeded
 * `seed`, printing per case "START i" before the call and one verdict after it:
 *   OK i target            a valid result
 *   TYPED i target code    a FlexconvError (the message names the argument)
 *   GENERIC i target msg   any other error: a failure
 *   SILENT i target        a certainly invalid call returned normally: a failure
 * A crash or hang shows as a START without a verdict (the parent handles it).
 */
import { FlexconvError } from '../../lib/errors';
import { tidy } from '../../lib/scope';
import { cleanup, makeCase } from './targets';

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').slice(0, 300);
}

async function main(): Promise<void> {
  const [seed, start, count] = process.argv.slice(2).map(Number);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  for (let i = start; i < start + count; i++) {
    let target = '?';
    out(`START ${i}`);
    // The suite's own test makes the first case misbehave, to show each failure is caught.
    const selfTest = i === 0 ? process.env.FLEXCONV_FUZZ_SELFTEST : undefined;
    if (selfTest === 'crash') process.kill(process.pid, 'SIGSEGV');
    if (selfTest === 'hang') for (;;);
    try {
      if (selfTest === 'generic') throw new TypeError('self-test: a generic error');
      const c = makeCase(seed, i);
      target = c.target;
      // Loaders are async: their promise is awaited outside tidy (which wants a synchronous body).
      let pending: Promise<unknown> | null = null;
      tidy(() => {
        const r = c.run();
        if (r instanceof Promise) pending = r;
      });
      if (pending) await pending;
      out(c.certain ? `SILENT ${i} ${target}` : `OK ${i} ${target}`);
    } catch (e) {
      if (e instanceof FlexconvError) out(`TYPED ${i} ${target} ${e.code}`);
      else out(`GENERIC ${i} ${target} ${oneLine(e instanceof Error ? `${e.name}: ${e.message}` : String(e))}`);
    }
  }
  cleanup();
}

main().catch((e: unknown) => {
  process.stdout.write(`GENERIC -1 worker ${String(e)}\n`);
  process.exitCode = 1;
});
