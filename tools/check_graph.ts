/**
 * The dependency gate of `deno task ok`: fails on an import cycle between the library's modules
 * and on a file that grows past its line budget.
 *
 * - Cycles: runtime imports only (`import type` / `export type` are erased and cannot form a
 *   cycle at run time). Strongly connected components of the import graph (Tarjan) larger than
 *   one module are printed with one path through them.
 * - Lines: every library file has at most {@linkcode DEFAULT_BUDGET} lines of code, except the
 *   files listed in `tools/line_budget.json`, which may not grow past their listed count (a file
 *   that shrinks should have its entry lowered: `deno run -A tools/check_graph.ts
 *   --write-budget`). Lines of code are those that are neither blank nor comment (tinygrad counts
 *   the same way), so documentation and doc examples never count against a file.
 *
 * Usage: `deno run --allow-read tools/check_graph.ts [--write-budget]`
 *
 * @module
 */
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The folders (and top-level files) that make up the published library. */
const ROOTS = ["mod.ts", "core", "gpu", "layers", "optim", "train", "data", "models", "native"];
/** The lines of code a file may have without an entry in the budget file. */
export const DEFAULT_BUDGET = 450;

/**
 * The lines of `src` that are code: not blank, not a `//` comment line, and not inside a block
 * comment (`/* … *\/`, JSDoc included). A line with code before or after a comment counts.
 */
export function codeLines(src: string): number {
  let n = 0, inBlock = false;
  for (const raw of src.split("\n")) {
    let line = raw.trim(), code = false;
    while (line.length > 0) {
      if (inBlock) {
        const end = line.indexOf("*/");
        if (end < 0) break;
        inBlock = false;
        line = line.slice(end + 2).trim();
      } else if (line.startsWith("//")) {
        break;
      } else if (line.startsWith("/*")) {
        inBlock = true;
        line = line.slice(2);
      } else {
        code = true;
        break;
      }
    }
    if (code) n++;
  }
  return n;
}

/** Cycles that are known and accepted, each with its reason. Everything else fails. */
const ACCEPTED: readonly string[][] = [];

const root = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));
const budgetPath = join(root, "tools", "line_budget.json");

function listFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(join(root, rel));
    } catch {
      return;
    }
    if (info.isFile) {
      if (rel.endsWith(".ts")) out.push(rel);
      return;
    }
    for (const e of Deno.readDirSync(join(root, rel))) walk(join(rel, e.name));
  };
  ROOTS.forEach(walk);
  return out.sort();
}

/** Relative module specifiers a file imports at run time. */
export function runtimeImports(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const specs: string[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']/gms;
  for (const m of code.matchAll(re)) {
    if (m[2]) continue; // `import type … from`
    const clause = m[3];
    // `import { type A, type B } from` is erased too
    const braces = clause.match(/^\{([\s\S]*)\}$/);
    if (braces && braces[1].split(",").every((s) => /^\s*(type\s|$)/.test(s))) continue;
    specs.push(m[4]);
  }
  for (const m of code.matchAll(/^\s*import\s+["']([^"']+)["']/gm)) specs.push(m[1]);
  return specs.filter((s) => s.startsWith("."));
}

function graph(files: string[]): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files) {
    const src = Deno.readTextFileSync(join(root, f));
    const deps = runtimeImports(src)
      .map((s) => relative(root, normalize(join(root, dirname(f), s))))
      .filter((d) => files.includes(d));
    g.set(f, [...new Set(deps)]);
  }
  return g;
}

/** Strongly connected components with more than one module (Tarjan's algorithm). */
export function cycles(g: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of g.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** One import path `a → … → a` inside a component, for the message. */
function loopIn(g: Map<string, string[]>, comp: string[]): string[] {
  const inComp = new Set(comp);
  const start = comp[0];
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of g.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) {
          path.splice(1, 0, u);
        }
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return comp;
}

if (import.meta.main) {
  const files = listFiles();
  const g = graph(files);
  const problems: string[] = [];
  const accepted = (c: string[]) => ACCEPTED.some((a) => a.join() === c.join());
  for (const comp of cycles(g).filter((c) => !accepted(c))) {
    problems.push(`import cycle (${comp.length} modules): ${loopIn(g, comp).join(" → ")}`);
  }
  const lines = new Map(
    files.map((f) => [f, codeLines(Deno.readTextFileSync(join(root, f)))]),
  );
  if (Deno.args.includes("--write-budget")) {
    const over = Object.fromEntries([...lines].filter(([, n]) => n > DEFAULT_BUDGET));
    Deno.writeTextFileSync(budgetPath, JSON.stringify(over, null, 2) + "\n");
    console.log(`wrote ${budgetPath}: ${Object.keys(over).length} files over ${DEFAULT_BUDGET}`);
  }
  const budget: Record<string, number> = JSON.parse(Deno.readTextFileSync(budgetPath));
  for (const [f, n] of lines) {
    const max = budget[f] ?? DEFAULT_BUDGET;
    if (n > max) {
      problems.push(
        `${f}: ${n} lines of code, over its budget of ${max}` +
          " (split it, or raise its entry in tools/line_budget.json with a reason in the commit)",
      );
    }
  }
  const total = [...lines.values()].reduce((a, b) => a + b, 0);
  if (problems.length) {
    console.error(problems.join("\n"));
    console.error(`check_graph: ${problems.length} problem(s)`);
    Deno.exit(1);
  }
  console.log(`check_graph: ${files.length} modules, ${total} lines of code, no import cycle`);
}
