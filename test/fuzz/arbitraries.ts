/**
 * fast-check arbitraries built from JSON Schema (the gateway's OpenAPI 3.1 document): values that satisfy a schema
 * (`valid`), and the hostile inputs every field is also tried with (`hostile`): wrong types, huge strings and arrays,
 * deep nesting, unicode (lone surrogates, RTL marks, NUL), prototype-pollution keys and numbers at the edges.
 */
import fc from "fast-check";

export type JsonSchema = Record<string, unknown>;

/** A value the schema-driven arbitraries produce: JSON, or raw JSON text spliced in where the value stands. */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** Known good values, by field or path-param name, so that many requests get past validation and lookups. */
export type Known = Record<string, readonly string[]>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** JSON text of a value that may hold RawJson pieces (spliced verbatim). */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(",")}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${toJsonText(value[k])}`)
      .join(",")}}`;
  }
  const text = JSON.stringify(value);
  return text === undefined ? "null" : text;
}

/** An object with own properties named like the prototype keys (an object literal would set the prototype). */
export function objectWith(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  return out;
}

const MB = 1024 * 1024;
export const DEPTH = 1000;

/** 1000 levels of nesting as JSON text: objects, arrays, or both. */
export const deepText = (kind: "object" | "array" | "mixed"): string => {
  if (kind === "object") return `${'{"a":'.repeat(DEPTH)}1${"}".repeat(DEPTH)}`;
  if (kind === "array") return `${"[".repeat(DEPTH)}1${"]".repeat(DEPTH)}`;
  return `${'{"a":['.repeat(DEPTH / 2)}1${"]}".repeat(DEPTH / 2)}`;
};

/** Strings that have hurt parsers, validators, databases, regexps and Kubernetes names. */
export const nastyString = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\uD800",
    "\uDFFF",
    "x\uDBFFy",
    "\u202Eevil\u202C",
    "\u200F\u200E",
    "\uFEFF",
    "e\u0301\u0301\u0301",
    "😀🇺🇳👩‍👩‍👧",
    "..",
    "../../etc/passwd",
    "%00",
    "%",
    "%ZZ",
    "$where",
    "$ne",
    "__proto__",
    "constructor",
    "prototype",
    "toString",
    "hasOwnProperty",
    "NaN",
    "Infinity",
    "-0",
    "1e308",
    "9007199254740993",
    "true",
    "null",
    "undefined",
    "[object Object]",
    "<script>alert(1)</script>",
    "'; DROP TABLE x; --",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "a".repeat(300),
    "A-UPPER",
    "-leading",
    "trailing-",
    "x.y.z",
    "a/b",
    "line\nbreak",
    "tab\there",
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
);

/** Numbers at the edges (as JSON values or raw JSON text for -0 and overflowing literals). */
export const edgeNumber: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(
  0,
  new RawJson("-0"),
  -1,
  -2147483649,
  1e308,
  -1e308,
  5e-324,
  new RawJson("1e400"),
  new RawJson("-1e400"),
  2 ** 53 + 1,
  new RawJson("9007199254740993"),
  2 ** 31,
  2 ** 32,
  0.5,
  -0.5,
  1.000000000000001,
  "NaN",
  "Infinity",
  "-Infinity",
  "1e308",
  "0x10",
  "1_000",
  "",
);

const protoPayload = (): Record<string, unknown> =>
  objectWith([
    ["__proto__", { polluted: "yes", isAdmin: true }],
    ["constructor", { prototype: { polluted: "yes" } }],
    ["prototype", { polluted: "yes" }],
  ]);

/** Values of the wrong shape for anything. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, "", "x", [], {}, [null], [[]], { a: 1 }) },
  { weight: 3, arbitrary: nastyString },
  { weight: 3, arbitrary: edgeNumber },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constant(null).map(protoPayload) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("object", "array", "mixed").map((k) => new RawJson(deepText(k as "object"))),
  },
  { weight: 1, arbitrary: fc.constant(null).map(() => new RawJson(`[${"0,".repeat(100_000)}0]`)) },
  {
    weight: 1,
    arbitrary: fc
      .constant(null)
      .map(() => new RawJson(`{${Array.from({ length: 20_000 }, (_, i) => `"k${i}":${i}`).join(",")}}`)),
  },
  // a string just under the gateway's 1 MB body limit, and one over it (413)
  { weight: 1, arbitrary: fc.constantFrom(MB - 4096, MB + 16).map((n) => "x".repeat(n)) },
);

function patternArbitrary(pattern: string, minLength: number, maxLength: number): fc.Arbitrary<string> | undefined {
  try {
    const re = new RegExp(pattern);
    return fc
      .stringMatching(re)
      .map((s) => s.slice(0, maxLength))
      .filter((s) => s.length >= minLength);
  } catch {
    return undefined;
  }
}

/** Values that satisfy `schema` (as far as JSON Schema says: server-side rules beyond it may still refuse them). */
export function valid(schema: unknown, known: Known = {}, name = ""): fc.Arbitrary<unknown> {
  if (!isRecord(schema)) return fc.jsonValue({ maxDepth: 2 });
  const knownValues = known[name];
  const own = validOwn(schema, known, name);
  if (knownValues !== undefined && knownValues.length > 0) {
    return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...knownValues) }, { weight: 1, arbitrary: own });
  }
  return own;
}

function validOwn(schema: JsonSchema, known: Known, name: string): fc.Arbitrary<unknown> {
  if ("const" in schema) return fc.constant(schema["const"]);
  if (Array.isArray(schema["enum"])) return fc.constantFrom(...(schema["enum"] as unknown[]));
  if (Array.isArray(schema["anyOf"]))
    return fc.oneof(...(schema["anyOf"] as unknown[]).map((s) => valid(s, known, name)));
  if (isRecord(schema["not"])) return fc.constant(undefined);
  let type = schema["type"];
  if (Array.isArray(type)) {
    const types = type.filter((t) => t !== "null");
    type = types[0];
  }
  switch (type) {
    case "string": {
      const minLength = typeof schema["minLength"] === "number" ? schema["minLength"] : 0;
      const maxLength = Math.min(typeof schema["maxLength"] === "number" ? schema["maxLength"] : 64, 64);
      if (typeof schema["pattern"] === "string") {
        const arb = patternArbitrary(schema["pattern"], minLength, Math.max(minLength, maxLength));
        if (arb !== undefined) return arb;
      }
      if (schema["format"] === "email") return fc.emailAddress();
      // names of new records: the server wants a DNS-1123 label even where the schema says only "a string"
      if (name === "name" && minLength <= 2 && maxLength >= 3)
        return fc.stringMatching(/^[a-z][a-z0-9-]{0,20}[a-z0-9]$/);
      return fc.string({ minLength, maxLength: Math.max(minLength, maxLength) });
    }
    case "integer":
    case "number": {
      let min = typeof schema["minimum"] === "number" ? schema["minimum"] : -1000;
      if (typeof schema["exclusiveMinimum"] === "number") min = Math.max(min, schema["exclusiveMinimum"] + 1);
      // replicas and the like: a valid but huge count would only measure the sandbox's controllers
      const cap = name === "replicas" ? 3 : 100_000;
      const max = Math.min(typeof schema["maximum"] === "number" ? schema["maximum"] : min + cap, min + cap);
      return type === "integer"
        ? fc.integer({ min: Math.ceil(min), max: Math.floor(max) })
        : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
    }
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const minLength = typeof schema["minItems"] === "number" ? schema["minItems"] : 0;
      const maxLength = Math.max(
        minLength,
        Math.min(typeof schema["maxItems"] === "number" ? schema["maxItems"] : 4, 4),
      );
      return fc.array(valid(schema["items"], known, name), { minLength, maxLength });
    }
    case "object": {
      const props = isRecord(schema["properties"]) ? schema["properties"] : undefined;
      if (props !== undefined) {
        const required = Array.isArray(schema["required"]) ? (schema["required"] as string[]) : [];
        const entries = Object.entries(props).filter(([, s]) => !(isRecord(s) && isRecord(s["not"])));
        const model: Record<string, fc.Arbitrary<unknown>> = {};
        for (const [k, s] of entries) model[k] = valid(s, known, k);
        return fc.record(model, { requiredKeys: required.filter((k) => k in model) });
      }
      const additional = schema["additionalProperties"];
      if (isRecord(additional)) {
        const key = isRecord(schema["propertyNames"])
          ? (valid(schema["propertyNames"], known) as fc.Arbitrary<string>)
          : fc.string({ minLength: 1, maxLength: 20 });
        return fc.dictionary(
          key.filter((k) => typeof k === "string"),
          valid(additional, known),
          { maxKeys: 4 },
        );
      }
      return fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A valid object with one thing broken: a field removed, retyped, made hostile, or an extra key added. */
export function broken(schema: unknown, known: Known = {}): fc.Arbitrary<unknown> {
  if (!isRecord(schema) || !isRecord(schema["properties"])) return wrongValue;
  const props = schema["properties"];
  const keys = Object.keys(props);
  const required = Array.isArray(schema["required"]) ? (schema["required"] as string[]) : [];
  const base = valid(schema, known) as fc.Arbitrary<Record<string, unknown>>;
  const mutations: fc.Arbitrary<unknown>[] = [
    // one field (top level or one level down) given a hostile value
    fc.tuple(base, fc.constantFrom(...keys), wrongValue).map(([obj, k, v]) => ({ ...obj, [k]: v })),
    fc.tuple(base, fc.constantFrom(...keys), wrongValue, nastyString).map(([obj, k, v, inner]) => ({
      ...obj,
      [k]: objectWith([[inner, v]]),
    })),
    // prototype-pollution keys at the top level and nested
    fc
      .tuple(base, fc.constantFrom("__proto__", "constructor", "prototype"))
      .map(([obj, k]) =>
        objectWith([...Object.entries(obj), [k, { polluted: "yes", prototype: { polluted: "yes" } }]]),
      ),
    fc
      .tuple(base, fc.constantFrom(...keys))
      .map(([obj, k]) => objectWith([...Object.entries(obj), [k, protoPayload()]])),
    // extra unknown fields
    fc.tuple(base, nastyString, wrongValue).map(([obj, k, v]) => objectWith([...Object.entries(obj), [k, v]])),
    // many fields with wrong types at once
    fc.dictionary(fc.constantFrom(...keys), wrongValue, { maxKeys: keys.length }),
  ];
  if (required.length > 0) {
    mutations.push(
      fc.tuple(base, fc.constantFrom(...required)).map(([obj, k]) => {
        const { [k]: _drop, ...rest } = obj;
        return rest;
      }),
    );
  }
  return fc.oneof(...mutations);
}

/** A path parameter: a known id or name, or garbage (very long, `..`, `%00`, unicode, malformed percent escapes). */
export function pathParam(known: readonly string[]): fc.Arbitrary<string> {
  const garbage = fc.oneof(
    fc.constantFrom(
      "..",
      "%2e%2e",
      "%00",
      "a%00b",
      "%",
      "%ZZ",
      "%E0%A4%A",
      "%F0%9F%98%80",
      "%EF%BF%BF",
      "%ED%A0%80",
      "__proto__",
      "constructor",
      "prototype",
      "%24where",
      "null",
      "undefined",
      "0",
      "-1",
      "%20",
      "%2F",
      "a%2Fb",
      "%5B%5D",
    ),
    fc.constantFrom(200, 5000, 60_000).map((n) => "a".repeat(n)),
    nastyString.filter((s) => s !== "").map(encodeAny),
    fc.string({ minLength: 1, maxLength: 30 }).map(encodeAny),
  );
  return known.length === 0
    ? garbage
    : fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known).map(encodeAny) }, { weight: 2, arbitrary: garbage });
}

/** encodeURIComponent that also takes lone surrogates (as the 3 bytes WTF-8 gives them) instead of throwing. */
export function encodeAny(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const next = s.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join("");
    } else {
      out += encodeURIComponent(s[i] ?? "");
    }
  }
  return out;
}
