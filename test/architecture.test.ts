/**
 * The layout rules of docs/architecture.md that a compiler does not enforce: no import cycles
 * in lib/, no hidden (computed or delayed) requires, and a typed native API that matches what
 * the addon really exports.
 */
import * as path from 'node:path';
import { native } from '../lib/native';
import { NATIVE_API_NAMES } from '../lib/native_api';
import { importCycles, importGraph } from './import_graph';

const LIB = path.join(__dirname, '..', 'lib');

describe('lib/ import graph', () => {
  const graph = importGraph(LIB);

  test('has no cycles (type-only imports excluded: they load nothing)', () => {
    expect(graph.edges.size).toBeGreaterThan(50);
    expect(importCycles(graph.edges)).toEqual([]);
  });

  test('loads local files with import statements only: no require() of a lib/ file', () => {
    expect(graph.literalRequires).toEqual([]);
  });

  test('computes require() paths only where it loads a compiled addon', () => {
    // native.ts loads flexconv.node and distributed/engine.ts flexconv_mpi.node, from paths
    // found at run time; nothing else may hide a dependency behind a computed path.
    expect([...new Set(graph.computedRequires.map((r) => r.file))].sort()).toEqual([
      'distributed/engine.ts',
      'native.ts',
    ]);
  });

  test('the cycle finder itself reports cycles, self-imports and nothing else', () => {
    const edges = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a', 'd']],
      ['e', ['d']],
    ]);
    expect(importCycles(edges)).toEqual([['a', 'b', 'c'], ['d']]);
    expect(
      importCycles(
        new Map([
          ['x', ['y']],
          ['y', []],
        ]),
      ),
    ).toEqual([]);
  });
});

describe('typed native API (lib/native_api.ts)', () => {
  test('declares exactly the functions the addon exports', () => {
    const exported = Object.keys(native()).filter(
      (k) => typeof (native() as unknown as Record<string, unknown>)[k] === 'function',
    );
    expect([...NATIVE_API_NAMES].sort()).toEqual(exported.sort());
  });
});
