import {
  compareRow,
  convFlops,
  formatTable,
  measure,
  measuredPeakGflops,
  measureInterleaved,
  rateColumns,
  summarize,
  threadList,
} from '../scripts/bench/harness';

describe('benchmark harness', () => {
  test('summarize: median and quartiles by linear interpolation, order-independent', () => {
    const m = summarize([9, 1, 5, 3, 7]);
    expect(m).toEqual({ median: 5, q1: 3, q3: 7, iqr: 4, min: 1, iters: 5 });
    const even = summarize([4, 1, 3, 2]);
    expect(even.median).toBeCloseTo(2.5);
    expect(even.q1).toBeCloseTo(1.75);
    expect(even.q3).toBeCloseTo(3.25);
    expect(summarize([42])).toMatchObject({ median: 42, iqr: 0, iters: 1 });
  });

  test('measure runs warmup + fixed iterations; interleaved alternates the functions', async () => {
    const calls: string[] = [];
    const m = await measure(() => calls.push('a'), { warmup: 2, iters: 5 });
    expect(calls.length).toBe(7);
    expect(m.iters).toBe(5);
    expect(m.median).toBeGreaterThanOrEqual(0);
    calls.length = 0;
    const [ma, mb] = await measureInterleaved(
      [
        () => calls.push('a'),
        async () => {
          calls.push('b');
        },
      ],
      { warmup: 1, iters: 3 },
    );
    expect(calls.join('')).toBe('abababab');
    expect([ma.iters, mb.iters]).toEqual([3, 3]);
  });

  test('warmupMs keeps warming up in whole rounds until that much time has passed', async () => {
    const busyMs = (ms: number): void => {
      const end = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
      while (process.hrtime.bigint() < end);
    };
    const calls: string[] = [];
    await measureInterleaved(
      [
        () => {
          calls.push('a');
          busyMs(2);
        },
        () => calls.push('b'),
      ],
      { warmup: 1, warmupMs: 40, iters: 2 },
    );
    // Each round takes >= 2 ms, so 40 ms of warm-up take at most 20 rounds (fewer where the
    // machine stretched a round: its real length counts), and more than the one round that
    // `warmup` alone asks for unless a single round took 40 ms.
    const warmupRounds = calls.length / 2 - 2;
    expect(calls.join('')).toBe('ab'.repeat(calls.length / 2));
    expect(warmupRounds).toBeGreaterThan(1);
    expect(warmupRounds).toBeLessThanOrEqual(20);
  });

  test('compareRow gives anchor / ours as the ratio and the table aligns every row', () => {
    const ours = summarize([2, 2, 2]);
    const anchor = summarize([3, 3, 3]);
    const row = compareRow('case A', 2, ours, 'ORT', anchor, { scaling: 1.9 });
    expect(row['vs anchor']).toBe(1.5);
    const table = formatTable([row, compareRow('a longer case name', 1, anchor, 'ORT', ours)]);
    const lines = table.split('\n');
    expect(lines).toHaveLength(4);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[0]).toMatch(/^\| case +\| threads \| flexconv ms \|/);
    expect(lines[2]).toContain('1.50x');
    expect(lines[2]).toContain('1.90x');
    expect(lines[3]).toContain('0.67x');
    expect(formatTable([])).toBe('(no rows)');
  });

  test('conv rows: nominal FLOPs by the closed form, GFLOP/s and % of the measured peak', () => {
    // 2 images, 8 outputs, 4 inputs per group, a 3x3 kernel, 10x10 outputs: 57600 multiply-adds.
    expect(convFlops(2, 8, 4, 9, 100)).toBe(115200);
    const peak = measuredPeakGflops(1);
    expect(peak).toBeGreaterThan(0.1);
    const cols = rateColumns(peak * 1e6, 2, 1); // half the peak's work per millisecond
    expect(cols['GFLOP/s']).toBeCloseTo(peak / 2, 0);
    expect(cols['% peak']).toBe(50);
  });

  test('threadList: --threads overrides the defaults', () => {
    expect(threadList({ json: false, threads: null, quick: false })).toEqual([1, 2]);
    expect(threadList({ json: false, threads: [2], quick: false }, [1, 2, 4])).toEqual([2]);
  });
});
