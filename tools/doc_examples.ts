/**
 * Lists the doc examples of the published files and says which ones check what they show.
 *
 * A doc example is a fence tagged `ts` (or `js`, `tsx`, …) inside a JSDoc comment, the fences
 * `deno test --doc` runs; a bare fence (a formula) and a fence marked `ignore` are not run and
 * not listed. The published files are the modules that deno.json
 * `exports` reach (`deno info --json` per entry), minus `tests/`, `tools/`, `bench/` and
 * `examples/`. An example **asserts** when its code (comments and string literals removed)
 * contains a `throw`, an `assert…(` call or an `if (…) throw`; otherwise it only prints, and
 * cannot fail on a wrong value.
 *
 * Usage: `deno run -A tools/doc_examples.ts [--check] [--all] [FILE...]`
 *
 * - Without `--check`, prints every example as `file:line  symbol  asserts|print-only`
 *   (`--all`; by default only the print-only ones), then the counts per file and in total.
 * - With `--check`, exits 1 when a print-only example is not in {@linkcode ALLOWED} (each
 *   entry gives the reason an example may stay print-only: its point is a side effect).
 * - `FILE...` restricts the listing (and the check) to those files (paths from the repository
 *   root); they must be published files.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";

/** One doc example: where it is, the symbol it documents, its code and whether it asserts. */
export interface DocExample {
  /** Path from the repository root, e.g. `layers/linear.ts`. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The declaration the comment documents (`@module` for a module comment). */
  readonly symbol: string;
  /** The example's code, comment stars removed. */
  readonly code: string;
  /** Whether the code can fail on a wrong value (`throw`, `assert…(`). */
  readonly asserts: boolean;
}

/**
 * Print-only examples that may stay so, keyed `file#symbol`, each with its reason (the point
 * of the example is a side effect: writing a file, printing a table, …).
 */
export const ALLOWED: Readonly<Record<string, string>> = {};

const FOLDERS_SKIPPED = ["tests/", "tools/", "bench/", "examples/"];

/** The repository root (the folder above `tools/`). */
export const ROOT: string = join(dirname(fromFileUrl(import.meta.url)), "..");

/** The published `.ts` files, relative to the root, sorted. */
export function publishedFiles(root: string = ROOT): string[] {
  const config = JSON.parse(Deno.readTextFileSync(join(root, "deno.json")));
  const exportsMap: Record<string, string> = typeof config.exports === "string"
    ? { ".": config.exports }
    : config.exports;
  const files = new Set<string>();
  for (const target of Object.values(exportsMap)) {
    const out = new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", target],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      throw new Error(`deno info ${target} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const m of info.modules ?? []) {
      if (typeof m.specifier !== "string" || !m.specifier.startsWith("file:")) continue;
      const rel = relative(root, fromFileUrl(m.specifier)).replaceAll("\\", "/");
      if (rel.startsWith("..") || !rel.endsWith(".ts")) continue;
      if (FOLDERS_SKIPPED.some((f) => rel.startsWith(f))) continue;
      files.add(rel);
    }
  }
  return [...files].sort();
}

/** `src` without `//` and block comments and without the contents of string literals. */
export function stripCommentsAndStrings(src: string): string {
  let out = "";
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "/" && src[i + 1] === "/") {
      while (i < src.length && src[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? src.length : end + 1;
      out += " ";
    } else if (c === '"' || c === "'" || c === "`") {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      // Template literals keep their substitutions: `${…}` may hold code.
      if (c === "`") {
        const body = src.slice(i + 1, j);
        out += "`" + [...body.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]).join(" ") + "`";
      } else out += c + c;
      i = j;
    } else out += c;
  }
  return out;
}

/** Whether an example's code can fail on a wrong value. */
export function asserts(code: string): boolean {
  const bare = stripCommentsAndStrings(code);
  return /\bthrow\b/.test(bare) || /\bassert\w*\s*\(/.test(bare);
}

const DECL_RE =
  /^\s*(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\*?|const|let|var|class|interface|type|enum|namespace)\s+([A-Za-z_$][\w$]*)/;
const MEMBER_RE =
  /^\s*(?:(?:public|private|protected|static|readonly|override|async|abstract|get|set)\s+)*#?([A-Za-z_$][\w$]*)\s*[(<:?=!]/;

/** The doc examples of one file (`path` relative to `root`). */
export function examplesOf(path: string, root: string = ROOT): DocExample[] {
  const lines = Deno.readTextFileSync(join(root, path)).split("\n");
  const found: DocExample[] = [];
  let inDoc = false, docIsModule = false;
  let fence: { line: number; body: string[] } | null = null;
  let pending: { line: number; code: string; module: boolean }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (!inDoc) {
      if (/^\s*\/\*\*/.test(raw) && !/\*\/\s*$/.test(raw.replace(/^\s*\/\*\*/, ""))) {
        inDoc = true;
        docIsModule = false;
        continue;
      }
      if (pending.length > 0 && raw.trim() !== "" && !/^\s*(\/\/|@)/.test(raw)) {
        const m = DECL_RE.exec(raw) ?? MEMBER_RE.exec(raw);
        for (const p of pending) {
          found.push({
            file: path,
            line: p.line,
            symbol: p.module ? "@module" : m ? m[1] : "?",
            code: p.code,
            asserts: asserts(p.code),
          });
        }
        pending = [];
      }
      continue;
    }
    if (/\*\/\s*$/.test(raw) && fence === null) {
      inDoc = false;
      if (docIsModule) {
        found.push(...pending.map((p) => ({
          file: path,
          line: p.line,
          symbol: "@module",
          code: p.code,
          asserts: asserts(p.code),
        })));
        pending = [];
      }
      continue;
    }
    const body = raw.replace(/^\s*\*\s?/, "");
    if (/^\s*@module\b/.test(body)) docIsModule = true;
    const open = /^\s*```\s*([\w-]*)([^`]*)$/.exec(body);
    if (fence === null && open !== null) {
      const lang = open[1], attrs = open[2];
      const runs = ["ts", "typescript", "js", "javascript", "tsx", "jsx", "mts"].includes(lang) &&
        !/\bignore\b/.test(attrs);
      fence = { line: i + 1, body: runs ? [] : ["\u0000skip"] };
      continue;
    }
    if (fence !== null && /^\s*```\s*$/.test(body)) {
      if (fence.body[0] !== "\u0000skip") {
        pending.push({ line: fence.line, code: fence.body.join("\n"), module: docIsModule });
      }
      fence = null;
      continue;
    }
    if (fence !== null) fence.body.push(body);
  }
  for (const p of pending) {
    found.push({ file: path, line: p.line, symbol: "?", code: p.code, asserts: asserts(p.code) });
  }
  return found;
}

/** The print-only examples among `examples` that {@linkcode ALLOWED} does not list. */
export function unexcused(examples: readonly DocExample[]): DocExample[] {
  return examples.filter((e) => !e.asserts && !(`${e.file}#${e.symbol}` in ALLOWED));
}

if (import.meta.main) {
  const args = Deno.args;
  const check = args.includes("--check"), all = args.includes("--all");
  const published = publishedFiles();
  const wanted = args.filter((a) => !a.startsWith("--")).map((a) => a.replace(/^\.\//, ""));
  for (const w of wanted) {
    if (!published.includes(w)) {
      console.error(`${w} is not a published file (deno.json "exports" do not reach it)`);
      Deno.exit(2);
    }
  }
  const files = wanted.length > 0 ? wanted : published;
  const examples = files.flatMap((f) => examplesOf(f));
  const bad = unexcused(examples);
  if (!check) {
    for (const e of examples) {
      if (!all && e.asserts) continue;
      const allowed = `${e.file}#${e.symbol}` in ALLOWED ? " (allowed)" : "";
      console.log(
        `${e.file}:${e.line}  ${e.symbol}  ${e.asserts ? "asserts" : "print-only"}${allowed}`,
      );
    }
    console.log("\nprint-only / total per file:");
    for (const f of files) {
      const mine = examples.filter((e) => e.file === f);
      if (mine.length === 0) continue;
      const p = mine.filter((e) => !e.asserts).length;
      console.log(`  ${f}: ${p} / ${mine.length}`);
    }
  }
  const printOnly = examples.filter((e) => !e.asserts).length;
  console.log(
    `${examples.length} examples in ${files.length} files: ${
      examples.length - printOnly
    } assert, ${printOnly} print only (${printOnly - bad.length} allowed)`,
  );
  if (check && bad.length > 0) {
    for (const e of bad) console.error(`${e.file}:${e.line}  ${e.symbol}  print-only`);
    console.error(`${bad.length} print-only example(s) not in ALLOWED (tools/doc_examples.ts)`);
    Deno.exit(1);
  }
}
