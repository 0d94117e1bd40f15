/**
 * Rewrites the imports of doc examples (```ts fences in JSDoc comments of .ts files and in
 * Markdown files) from relative paths (`"../mod.ts"`, `"./combinators.ts"`) to the package's
 * own name (`"@denax/denax"`, `"@denax/denax/nn"`), so a reader on JSR can copy them. Deno
 * resolves the package's name from inside the package itself (self-reference through the
 * `name` and `exports` of deno.json), so `deno test --doc` runs the rewritten examples as they
 * are.
 *
 * A relative import maps to the entry point (deno.json `exports`) that exports every name it
 * imports as the same object, preferring subpath entries (`@denax/denax/nn`) to the root; a
 * namespace import of an entry file maps to that entry. An import no entry covers (a name that
 * is not public) is left alone and reported.
 *
 * Usage: `deno run -A tools/rewrite_doc_imports.ts [--check] FILE...`
 * (`--check` only lists what would change and exits 1 if anything would).
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
const pkg: string = config.name;
const exportsMap: Record<string, string> = typeof config.exports === "string"
  ? { ".": config.exports }
  : config.exports;

interface Entry {
  specifier: string;
  url: string;
  module: Record<string, unknown>;
  documented: Set<string>;
}

function documentedNames(url: string): Set<string> {
  const out = new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", url],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  const doc = JSON.parse(new TextDecoder().decode(out.stdout));
  const names = new Set<string>();
  for (const node of Object.values(doc.nodes ?? {}) as { symbols?: { name: string }[] }[]) {
    for (const s of node.symbols ?? []) names.add(s.name);
  }
  return names;
}

const entries: Entry[] = [];
for (const [sub, target] of Object.entries(exportsMap)) {
  const url = new URL(target, root).href;
  entries.push({
    specifier: sub === "." ? pkg : `${pkg}/${sub.replace(/^\.\//, "")}`,
    url,
    module: await import(url),
    documented: documentedNames(url),
  });
}
// Subpath entries first: `@denax/denax/nn` reads better than reaching through the root.
entries.sort((a, b) => Number(a.specifier === pkg) - Number(b.specifier === pkg));

interface Clause {
  names: { imported: string; type: boolean }[];
  namespace: boolean;
}

function parseClause(clause: string): Clause | null {
  const c = clause.trim().replace(/^type\s+/, "");
  if (/^\*\s+as\s+\w+$/.test(c)) return { names: [], namespace: true };
  const m = /^\{([^}]*)\}$/.exec(c);
  if (m === null) return null; // default imports and mixed forms: not used by this package
  const allType = /^type\s/.test(clause.trim());
  const names = m[1].split(",").map((s) => s.trim()).filter(Boolean).map((s) => {
    const type = allType || s.startsWith("type ");
    return { imported: s.replace(/^type\s+/, "").split(/\s+as\s+/)[0], type };
  });
  return { names, namespace: false };
}

async function entryFor(url: string, clause: Clause): Promise<string | null> {
  const exact = entries.find((e) => e.url === url);
  if (clause.namespace) return exact?.specifier ?? null;
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch {
    return null;
  }
  for (const e of [...(exact ? [exact] : []), ...entries]) {
    const ok = clause.names.every(({ imported, type }) =>
      type
        ? e.documented.has(imported)
        : imported in e.module && e.module[imported] === mod[imported]
    );
    if (ok) return e.specifier;
  }
  return null;
}

const IMPORT_RE = /(import\s+)([^;]*?)(\s+from\s+)"(\.{1,2}\/[^"]+)"/g;

async function rewriteLine(line: string, fileUrl: string, problems: string[]): Promise<string> {
  let out = "", at = 0;
  for (const m of line.matchAll(IMPORT_RE)) {
    const [whole, kw, clauseText, from, rel] = m;
    const clause = parseClause(clauseText);
    const target = new URL(rel, fileUrl).href;
    const spec = clause === null ? null : await entryFor(target, clause);
    out += line.slice(at, m.index);
    if (spec === null) {
      problems.push(`no public entry exports ${clauseText.trim()} (from "${rel}")`);
      out += whole;
    } else out += `${kw}${clauseText}${from}"${spec}"`;
    at = m.index! + whole.length;
  }
  return out + line.slice(at);
}

async function rewriteFile(path: string): Promise<{ text: string; problems: string[] }> {
  const text = await Deno.readTextFile(path);
  const fileUrl = new URL(path, `file://${Deno.cwd()}/`).href;
  const markdown = path.endsWith(".md");
  const problems: string[] = [];
  const lines = text.split("\n");
  let open = false, inFence = false; // inside a fence; inside a TypeScript/JavaScript fence
  for (let i = 0; i < lines.length; i++) {
    const body = markdown ? lines[i] : lines[i].replace(/^\s*\*\s?/, "");
    const isCommentLine = markdown || /^\s*\*/.test(lines[i]);
    if (isCommentLine && /^```/.test(body.trim())) {
      open = !open;
      inFence = open && /^```(ts|typescript|js|javascript)?\s*$/.test(body.trim());
      continue;
    }
    if (inFence && isCommentLine) {
      const before = problems.length;
      lines[i] = await rewriteLine(lines[i], fileUrl, problems);
      for (let k = before; k < problems.length; k++) {
        problems[k] = `${path}:${i + 1}: ${problems[k]}`;
      }
    }
  }
  return { text: lines.join("\n"), problems };
}

const check = Deno.args.includes("--check");
let changed = 0, problemCount = 0;
for (const path of Deno.args.filter((a) => a !== "--check")) {
  const { text, problems } = await rewriteFile(path);
  for (const p of problems) console.error(p);
  problemCount += problems.length;
  if (text !== await Deno.readTextFile(path)) {
    changed++;
    if (check) console.log(`would rewrite ${path}`);
    else {
      await Deno.writeTextFile(path, text);
      console.log(`rewrote ${path}`);
    }
  }
}
console.log(
  `${changed} file(s) ${check ? "to rewrite" : "rewritten"}, ${problemCount} import(s) left`,
);
if (check && changed > 0) Deno.exit(1);
