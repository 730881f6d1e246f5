/**
 * The report of scripts/gpu-check: reads what its steps left in --dir (steps.jsonl, jest.json,
 * compare.json, bench.json) and writes gpu-check.json (everything) and gpu-check.md (the
 * tables to paste into BENCHMARKS.md).
 */
import * as fs from 'fs';
import * as path from 'path';
import { formatTable } from '../bench/harness';
import type { BenchRow } from '../bench/harness';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : '';
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

interface JestResult {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: { name: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

interface CompareReport {
  tolerance: number;
  results: {
    model: string;
    ok: boolean;
    error?: string;
    lossRelDiff?: number;
    worstParamRelDiff?: number;
    worstParam?: string;
  }[];
}

function main(): void {
  const dir = arg('dir');
  const steps = fs.existsSync(path.join(dir, 'steps.jsonl'))
    ? fs
        .readFileSync(path.join(dir, 'steps.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { step: string; ok: boolean; seconds: number })
    : [];
  const jest = readJson<JestResult>(path.join(dir, 'jest.json'));
  const compare = readJson<CompareReport>(path.join(dir, 'compare.json'));
  const bench = readJson<{ rows: BenchRow[] }>(path.join(dir, 'bench.json'));
  const machine = {
    date: new Date().toISOString(),
    gpu: arg('gpu'),
    driver: arg('driver'),
    computeCapability: arg('cc'),
    nvcc: arg('nvcc'),
    seconds: Number(arg('seconds')),
  };
  const failures = jest
    ? jest.testResults.flatMap((f) =>
        f.assertionResults
          .filter((a) => a.status === 'failed')
          .map((a) => ({
            file: path.basename(f.name),
            test: a.fullName,
            message: (a.failureMessages[0] ?? '').split('\n')[0],
          })),
      )
    : [];
  const report = {
    machine,
    steps,
    tests: jest && {
      total: jest.numTotalTests,
      passed: jest.numPassedTests,
      failed: jest.numFailedTests,
      skipped: jest.numPendingTests,
      failures,
    },
    compare,
    bench: bench?.rows ?? null,
  };
  fs.writeFileSync(path.join(dir, 'gpu-check.json'), `${JSON.stringify(report, null, 2)}\n`);

  const md: string[] = [];
  md.push(`## gpu-check — ${machine.date}`, '');
  md.push(
    `${machine.gpu} (compute capability ${machine.computeCapability}), driver ${machine.driver}, nvcc ${machine.nvcc}; ${machine.seconds} s in all.`,
    '',
  );
  md.push(formatTable(steps.map((s) => ({ step: s.step, result: s.ok ? 'ok' : 'FAILED', seconds: s.seconds }))), '');
  if (jest) {
    md.push(
      `Tests (FLEXCONV_REQUIRE_CUDA=1): ${jest.numPassedTests} passed, ${jest.numFailedTests} failed, ${jest.numPendingTests} skipped of ${jest.numTotalTests}.`,
    );
    for (const f of failures.slice(0, 30)) md.push(`- FAILED ${f.file}: ${f.test} — ${f.message}`);
    md.push('');
  }
  if (compare) {
    md.push(`CUDA vs CPU training (relative max difference after the steps, tolerance ${compare.tolerance}):`, '');
    md.push(
      formatTable(
        compare.results.map((r) => ({
          model: r.model,
          result: r.ok ? 'ok' : 'FAILED',
          loss: r.lossRelDiff ?? null,
          'worst parameter': r.worstParamRelDiff ?? null,
          where: r.error ?? r.worstParam ?? '',
        })),
      ),
      '',
    );
  }
  if (bench)
    md.push(
      'Benchmarks (`npm run bench -- gpu`; `vs anchor` = anchor / flexconv, > 1: flexconv faster):',
      '',
      formatTable(bench.rows),
      '',
    );
  fs.writeFileSync(path.join(dir, 'gpu-check.md'), `${md.join('\n')}\n`);
}

main();
