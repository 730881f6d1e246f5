/**
 * Benchmarks: `npm run bench -- <suite> [--json] [--threads N] [--quick] [--profile]`.
 *
 * Every row shows its anchor (ONNX Runtime's kernel, or the plain op replaced) measured in the
 * same run, and the ratio; times are medians. A suite adds one line to `suites` below and its
 * own file scripts/bench/<suite>.ts exporting `run(opts): Promise<BenchRow[]>`.
 */
import * as os from 'node:os';
import { isa } from '../lib';
import { BenchOptions, formatTable, Suite } from './bench/harness';

const suites: Suite[] = [
  { name: 'gemm', run: async (opts) => (await import('./bench/gemm')).run(opts) },
  { name: 'conv', run: async (opts) => (await import('./bench/conv')).run(opts) },
  { name: 'deform', run: async (opts) => (await import('./bench/deform')).run(opts) },
  { name: 'dynamic', run: async (opts) => (await import('./bench/dynamic')).run(opts) },
  { name: 'layers', run: async (opts) => (await import('./bench/layers')).run(opts) },
  { name: 'octave', run: async (opts) => (await import('./bench/octave')).run(opts) },
  { name: 'optim', run: async (opts) => (await import('./bench/optim')).run(opts) },
  { name: 'pointwise', run: async (opts) => (await import('./bench/pointwise')).run(opts) },
  { name: 'epoch', run: async (opts) => (await import('./bench/epoch')).run(opts) },
  { name: 'inference', run: async (opts) => (await import('./bench/inference')).run(opts) },
  { name: 'gpu', run: async (opts) => (await import('./bench/gpu')).run(opts) },
  { name: 'distributed', run: async (opts) => (await import('./bench/distributed')).run(opts) },
];

function usage(): string {
  return [
    'usage: npm run bench -- <suite> [--json] [--threads N] [--quick] [--profile]',
    '  --profile: suites that support it (epoch) also print the time per native kernel',
    `suites: ${suites.map((s) => s.name).join(', ')}`,
  ].join('\n');
}

function parseArgs(argv: string[]): { suite: string | undefined; opts: BenchOptions } {
  const opts: BenchOptions = { json: false, threads: null, quick: false, profile: false };
  let suite: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return { suite: '--help', opts };
    if (arg === '--json') opts.json = true;
    else if (arg === '--quick') opts.quick = true;
    else if (arg === '--profile') opts.profile = true;
    else if (arg === '--threads' || arg.startsWith('--threads=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new Error(`bench: expected --threads to be a positive integer but received ${value}`);
      opts.threads = [n];
    } else if (arg.startsWith('--')) throw new Error(`bench: unknown option ${arg}\n${usage()}`);
    else if (suite === undefined) suite = arg;
    else throw new Error(`bench: unexpected argument ${arg}\n${usage()}`);
  }
  return { suite, opts };
}

async function main(): Promise<void> {
  const { suite: name, opts } = parseArgs(process.argv.slice(2));
  if (name === '--help') {
    console.log(usage());
    return;
  }
  const suite = suites.find((s) => s.name === name);
  if (!suite) {
    console.error(name === undefined ? usage() : `bench: unknown suite '${name}'\n${usage()}`);
    process.exitCode = 1;
    return;
  }
  const started = new Date();
  const loadBefore = os.loadavg()[0];
  const rows = await suite.run(opts);
  // The machine's 1-minute load average before and after: figures taken on a busy shared
  // machine are inflated and noisy (the interleaved ratios less so).
  const load = `${loadBefore.toFixed(1)} -> ${os.loadavg()[0].toFixed(1)}`;
  if (opts.json) {
    console.log(
      JSON.stringify(
        {
          suite: suite.name,
          date: started.toISOString(),
          cpu: os.cpus()[0]?.model,
          cores: os.cpus().length,
          isa: isa().active,
          load,
          rows,
        },
        null,
        2,
      ),
    );
    return;
  }
  console.log(
    `# ${suite.name} — ${started.toISOString()} — ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ISA ${isa().active}, load average ${load}`,
  );
  console.log(formatTable(rows));
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
