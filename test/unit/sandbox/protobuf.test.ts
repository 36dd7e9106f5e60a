import { describe, it, expect } from "@jest/globals";
import { decodeProtobuf } from "../../../lib/sandbox/http/protobuf.ts";
import { StatusError } from "../../../lib/sandbox/status.ts";

// a minimal protobuf writer for the test: length-delimited and varint fields
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const bytesField = (no: number, data: Buffer | string): Buffer => {
  const b = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([Buffer.from([...varint((no << 3) | 2), ...varint(b.length)]), b]);
};
const intField = (no: number, n: number): Buffer => Buffer.from([...varint(no << 3), ...varint(n)]);
const envelope = (apiVersion: string, kind: string, raw: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from("k8s\0", "latin1"),
    bytesField(1, Buffer.concat([bytesField(1, apiVersion), bytesField(2, kind)])),
    bytesField(2, raw),
  ]);

function statusOf(fn: () => unknown): StatusError["status"] {
  try {
    fn();
  } catch (err) {
    if (err instanceof StatusError) return err.status;
    throw err;
  }
  throw new Error("expected a StatusError");
}

describe("sandbox protobuf bodies", () => {
  it("decodes a ConfigMap with labels and data, dropping Go zero values but keeping pointer zeros", () => {
    const meta = Buffer.concat([
      bytesField(1, "conf"),
      bytesField(3, ""),
      bytesField(11, Buffer.concat([bytesField(1, "app"), bytesField(2, "web")])),
    ]);
    const raw = Buffer.concat([
      bytesField(1, meta),
      bytesField(2, Buffer.concat([bytesField(1, "k"), bytesField(2, "v")])),
      intField(4, 0),
    ]);
    expect(decodeProtobuf(envelope("v1", "ConfigMap", raw))).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "conf", labels: { app: "web" } },
      data: { k: "v" },
      immutable: false,
    });
  });

  it("decodes IntOrString values inside repeated messages", () => {
    const port = Buffer.concat([
      intField(3, 80),
      bytesField(4, Buffer.concat([intField(1, 1), bytesField(3, "http")])),
    ]);
    const raw = Buffer.concat([bytesField(1, bytesField(1, "svc")), bytesField(2, bytesField(1, port))]);
    expect(decodeProtobuf(envelope("v1", "Service", raw))).toMatchObject({
      spec: { ports: [{ port: 80, targetPort: "http" }] },
    });
  });

  it("refuses malformed bodies with 400 and kinds it has no table for with 415", () => {
    expect(statusOf(() => decodeProtobuf(Buffer.from("not protobuf")))).toMatchObject({ code: 400 });
    expect(
      statusOf(() => decodeProtobuf(Buffer.concat([Buffer.from("k8s\0", "latin1"), Buffer.from([0x0a, 0x7f])]))),
    ).toMatchObject({ code: 400 });
    expect(statusOf(() => decodeProtobuf(envelope("example.com/v1", "Widget", Buffer.alloc(0))))).toMatchObject({
      code: 415,
      reason: "UnsupportedMediaType",
    });
  });
});
