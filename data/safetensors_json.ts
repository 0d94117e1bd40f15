/**
 * A strict JSON parser for the safetensors header. `JSON.parse` silently keeps the last of
 * duplicate keys, and the spec forbids duplicates, so the header is parsed here: objects become
 * Maps (rejecting duplicate keys), numbers keep their text (shapes and offsets must be written
 * as integers), nesting is bounded, lone surrogates are rejected (they cannot round-trip
 * through UTF-8).
 *
 * @module
 */

/** A name as error messages quote it (JSON-escaped, long ones shortened). */
export function quote(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 77)}...` : name);
}

/** Nesting deeper than this cannot be a valid header (which nests 3 deep). */
const MAX_JSON_DEPTH = 16;

/** A JSON number, kept as its text. */
export class JsonNumber {
  constructor(readonly text: string) {}
}
/** A parsed JSON value: objects are Maps, numbers {@link JsonNumber}s. */
export type Json = null | boolean | string | JsonNumber | Json[] | Map<string, Json>;

/** Why the text is not one JSON value (thrown by {@link parseJson}). */
export class JsonSyntaxError {
  constructor(readonly message: string) {}
}

/**
 * Parses one JSON value, rejecting duplicate keys and nesting past {@link MAX_JSON_DEPTH}.
 *
 * @throws JsonSyntaxError naming what is wrong and the character index
 */
export function parseJson(s: string): Json {
  let i = 0;
  const err = (what: string): never => {
    throw new JsonSyntaxError(`${what} at character ${i}`);
  };
  const ws = () => {
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const literal = (word: string, v: Json): Json => {
    if (s.startsWith(word, i)) {
      i += word.length;
      return v;
    }
    return err("unexpected token");
  };
  const str = (): string => {
    i++; // opening quote
    let out = "";
    let run = i;
    for (;;) {
      if (i >= s.length) err("unterminated string");
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        out += s.slice(run, i);
        i++;
        break;
      }
      if (c < 0x20) err("control character in string");
      // Raw surrogates come in pairs: the fatal TextDecoder never yields a lone one.
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(run, i);
      const e = s[i + 1];
      i += 2;
      switch (e) {
        case '"':
          out += '"';
          break;
        case "\\":
          out += "\\";
          break;
        case "/":
          out += "/";
          break;
        case "b":
          out += "\b";
          break;
        case "f":
          out += "\f";
          break;
        case "n":
          out += "\n";
          break;
        case "r":
          out += "\r";
          break;
        case "t":
          out += "\t";
          break;
        case "u": {
          const hex = () => {
            const h = s.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) err("bad \\u escape");
            i += 4;
            return parseInt(h, 16);
          };
          const u = hex();
          if (u >= 0xdc00 && u <= 0xdfff) err("lone surrogate in \\u escape");
          if (u >= 0xd800 && u <= 0xdbff) {
            if (s[i] !== "\\" || s[i + 1] !== "u") err("lone surrogate in \\u escape");
            i += 2;
            const lo = hex();
            if (lo < 0xdc00 || lo > 0xdfff) err("lone surrogate in \\u escape");
            out += String.fromCharCode(u, lo);
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default:
          err("bad escape");
      }
      run = i;
    }
    return out;
  };
  const num = (): JsonNumber => {
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(s);
    if (r === null || r[0] === "" || r[0] === "-") return err("bad number");
    i += r[0].length;
    return new JsonNumber(r[0]);
  };
  const value = (depth: number): Json => {
    if (depth > MAX_JSON_DEPTH) err("nesting too deep");
    ws();
    const c = s[i];
    if (c === "{") {
      i++;
      const m = new Map<string, Json>();
      ws();
      if (s[i] === "}") {
        i++;
        return m;
      }
      for (;;) {
        ws();
        if (s[i] !== '"') err("expected a string key");
        const k = str();
        if (m.has(k)) throw new JsonSyntaxError(`duplicate key ${quote(k)}`);
        ws();
        if (s[i] !== ":") err("expected ':'");
        i++;
        m.set(k, value(depth + 1));
        ws();
        if (s[i] === ",") i++;
        else if (s[i] === "}") {
          i++;
          return m;
        } else err("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const a: Json[] = [];
      ws();
      if (s[i] === "]") {
        i++;
        return a;
      }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (s[i] === ",") i++;
        else if (s[i] === "]") {
          i++;
          return a;
        } else err("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    if (c === "t") return literal("true", true);
    if (c === "f") return literal("false", false);
    if (c === "n") return literal("null", null);
    if (c === "-" || (c >= "0" && c <= "9")) return num();
    return err(i >= s.length ? "unexpected end of header" : "unexpected character");
  };
  const v = value(0);
  ws();
  if (i !== s.length) err("unexpected data after the JSON value");
  return v;
}

/** A non-negative integer written without fraction or exponent, within the safe range. */
export function asIndex(v: Json): number | undefined {
  if (!(v instanceof JsonNumber) || !/^(?:0|[1-9][0-9]*)$/.test(v.text)) return undefined;
  const n = Number(v.text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A JSON value as an error message shows it. */
export function describe(v: Json): string {
  if (v === null) return "null";
  if (v instanceof JsonNumber) return v.text;
  if (v instanceof Map) return "an object";
  if (Array.isArray(v)) return "an array";
  return JSON.stringify(v);
}
