/**
 * The runtime import graph of lib/: which file loads which, read with TypeScript's own parser
 * (static imports, re-exports and require() calls; type-only imports are erased by the
 * compiler and load nothing, so they are not edges).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

export interface ImportGraph {
  /** file (relative to the root, '/'-separated) -> the files it loads at run time */
  edges: Map<string, string[]>;
  /** require() calls whose argument is not a string literal: file -> source text of the call */
  computedRequires: { file: string; call: string }[];
  /** require() calls with a literal relative path: what a static import could do instead */
  literalRequires: { file: string; target: string }[];
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

function resolveLocal(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null; // packages and node: builtins are leaves
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  return null;
}

function isTypeOnly(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const clause = node.exportClause;
    return (
      !!clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly)
    );
  }
  const clause = node.importClause;
  if (!clause) return false; // a side-effect import loads the file
  if (clause.isTypeOnly) return true;
  if (clause.name) return false;
  const bindings = clause.namedBindings;
  return (
    !!bindings &&
    ts.isNamedImports(bindings) &&
    bindings.elements.length > 0 &&
    bindings.elements.every((e) => e.isTypeOnly)
  );
}

export function importGraph(root: string): ImportGraph {
  const edges = new Map<string, string[]>();
  const computedRequires: ImportGraph['computedRequires'] = [];
  const literalRequires: ImportGraph['literalRequires'] = [];
  const rel = (f: string) => path.relative(root, f).split(path.sep).join('/');
  for (const file of sourceFiles(root)) {
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const deps = new Set<string>();
    const visit = (node: ts.Node): void => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        const target = resolveLocal(file, node.moduleSpecifier.text);
        if (target && !isTypeOnly(node)) deps.add(rel(target));
      }
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'require') {
        const arg = node.arguments[0];
        if (arg && ts.isStringLiteral(arg)) {
          const target = resolveLocal(file, arg.text);
          if (target) {
            deps.add(rel(target));
            literalRequires.push({ file: rel(file), target: rel(target) });
          }
        } else {
          computedRequires.push({ file: rel(file), call: node.getText(source) });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    edges.set(rel(file), [...deps].sort());
  }
  return { edges, computedRequires, literalRequires };
}

/** Every cycle's files (strongly connected components of more than one file, or a file importing itself). */
export function importCycles(edges: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative over an explicit stack (no recursion limit to worry about).
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  for (const start of edges.keys()) {
    if (index.has(start)) continue;
    const work: [string, number][] = [[start, 0]];
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      if (i === 0) {
        index.set(v, counter);
        low.set(v, counter);
        counter++;
        stack.push(v);
        onStack.add(v);
      }
      const next = edges.get(v) ?? [];
      if (i < next.length) {
        frame[1]++;
        const w = next[i];
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low.set(parent, Math.min(low.get(parent)!, low.get(v)!));
      }
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || next.includes(v)) cycles.push(component.sort());
      }
    }
  }
  return cycles;
}
