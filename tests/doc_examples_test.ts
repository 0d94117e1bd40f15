// The doc examples of the published files check what they show (tools/doc_examples.ts): a
// print-only example (one that cannot fail on a wrong value) fails this test.
import { assert, assertEquals } from "@std/assert";
import {
  ALLOWED,
  asserts,
  type DocExample,
  examplesOf,
  publishedFiles,
  unexcused,
} from "../tools/doc_examples.ts";

/**
 * Published files whose doc examples may still only print, each being converted by its owner.
 * Shrink it as they are: every other published file is held to examples that assert.
 */
const PENDING: readonly string[] = [];

const where = (e: DocExample) => `${e.file}:${e.line} (${e.symbol})`;
const published = publishedFiles(); // runs `deno info` once per deno.json export

Deno.test("every doc example of the published files asserts what it shows", () => {
  const stale = PENDING.filter((f) => !published.includes(f));
  assertEquals(stale, [], "PENDING names files that deno.json exports do not reach");
  const examples = published.filter((f) => !PENDING.includes(f)).flatMap((f) => examplesOf(f));
  assert(examples.length > 350, `only ${examples.length} examples found: is the parser broken?`);
  const bad = unexcused(examples).map(where);
  assertEquals(bad, [], "print-only doc examples (add a check that throws, see issue 12)");
});

Deno.test("doc examples import the package by name, as a JSR reader copies them", () => {
  // the entry points (mod.ts, layers/mod.ts, …) by a relative path are what a reader cannot copy
  const entries = /from\s+["'](\.{1,2}\/)+(\w+\/)*mod\.ts["']/;
  const relative = published.filter((f) => !PENDING.includes(f))
    .flatMap((f) => examplesOf(f))
    .filter((e) => entries.test(e.code))
    .map(where);
  assertEquals(relative, [], "write `@denax/denax` (or a subpath such as `@denax/denax/nn`)");
});

Deno.test("every entry of the allow-list names a print-only example that exists", () => {
  const all = published.flatMap((f) => examplesOf(f));
  for (const key of Object.keys(ALLOWED)) {
    const hit = all.filter((e) => `${e.file}#${e.symbol}` === key);
    assert(hit.length > 0, `ALLOWED lists ${key}, which has no doc example`);
    assert(hit.some((e) => !e.asserts), `ALLOWED lists ${key}, whose examples all assert`);
  }
});

Deno.test("an example asserts when its code throws or calls assert, not when it only prints", () => {
  assert(!asserts("console.log(await y.item()); // 6"));
  assert(!asserts('console.log("throw"); // throw in a string or a comment does not count'));
  assert(!asserts("const x = f(); /* throw */"));
  assert(asserts('if (await y.item() !== 6) throw new Error("expected 6");'));
  assert(asserts("assertEquals(a, b);"));
  assert(asserts("console.log(`${a}`);\nif (a !== b) {\n  throw new Error(`got ${a}`);\n}"));
});
