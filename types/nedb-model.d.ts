/**
 * NeDB 3's document model module (CommonJS, no typings of its own): the serializer its persistence writes lines with,
 * and the field reader its indexes key documents by.
 */
declare module "@seald-io/nedb/lib/model.js" {
  /** One document as one line of NeDB's data file (JSON, with NeDB's own handling of dates and `$$` keys). */
  export function serialize(doc: unknown): string;
  /** The value at a dotted field path (`a.b.c`); over arrays, the values of their elements. */
  export function getDotValue(doc: unknown, field: string): unknown;
}
