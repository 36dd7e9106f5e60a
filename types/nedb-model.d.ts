/** NeDB 3's document model module (CommonJS, no typings of its own): the serializer its persistence writes lines with. */
declare module "@seald-io/nedb/lib/model.js" {
  /** One document as one line of NeDB's data file (JSON, with NeDB's own handling of dates and `$$` keys). */
  export function serialize(doc: unknown): string;
}
