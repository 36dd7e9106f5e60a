/**
 * Just enough of Kubernetes' protobuf encoding to take the bodies imperative kubectl commands send
 * (`kubectl create namespace|configmap|secret|serviceaccount`): the `k8s\0` + runtime.Unknown envelope, ObjectMeta,
 * and the fields of those four kinds. Other kinds are answered with 415 (send JSON or YAML).
 */
import { badRequestError, unsupportedMediaTypeError } from "../status.ts";

export const PROTOBUF = "application/vnd.kubernetes.protobuf";
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Field = { no: number; wire: number; value: bigint | Buffer };

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw badRequestError("invalid protobuf: truncated varint");
      const byte = buf[pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw badRequestError("invalid protobuf: varint too long");
    }
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const no = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ no, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw badRequestError("invalid protobuf: truncated field");
      out.push({ no, wire, value: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw badRequestError(`invalid protobuf: wire type ${wire}`);
  }
  return out;
}

const text = (f: Field): string => (Buffer.isBuffer(f.value) ? f.value.toString("utf8") : String(f.value));

function map(entries: Field[], no: number, bytes: boolean): Record<string, string> | undefined {
  const matching = entries.filter((f) => f.no === no && Buffer.isBuffer(f.value));
  if (matching.length === 0) return undefined;
  const result: Record<string, string> = {};
  for (const entry of matching) {
    const kv = fields(entry.value as Buffer);
    const key = kv.find((f) => f.no === 1);
    const value = kv.find((f) => f.no === 2);
    const v = value === undefined ? Buffer.alloc(0) : (value.value as Buffer);
    result[key === undefined ? "" : text(key)] = bytes ? v.toString("base64") : v.toString("utf8");
  }
  return result;
}

function objectMeta(buf: Buffer): Record<string, unknown> {
  const f = fields(buf);
  const meta: Record<string, unknown> = {};
  const str = (no: number, name: string): void => {
    const found = f.find((x) => x.no === no);
    if (found !== undefined) meta[name] = text(found);
  };
  str(1, "name");
  str(2, "generateName");
  str(3, "namespace");
  const labels = map(f, 11, false);
  if (labels !== undefined) meta.labels = labels;
  const annotations = map(f, 12, false);
  if (annotations !== undefined) meta.annotations = annotations;
  const finalizers = f.filter((x) => x.no === 14).map(text);
  if (finalizers.length > 0) meta.finalizers = finalizers;
  return meta;
}

/** Decodes a protobuf request body into a JSON object, or throws 415 for kinds it does not know. */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC))
    throw badRequestError("invalid protobuf: missing the k8s envelope");
  const unknown = fields(body.subarray(4));
  const typeMeta = unknown.find((f) => f.no === 1);
  const raw = unknown.find((f) => f.no === 2);
  const tm = typeMeta === undefined ? [] : fields(typeMeta.value as Buffer);
  const apiVersion = tm.find((f) => f.no === 1);
  const kindField = tm.find((f) => f.no === 2);
  const kind = kindField === undefined ? "" : text(kindField);
  const obj: Record<string, unknown> = {
    ...(apiVersion === undefined ? {} : { apiVersion: text(apiVersion) }),
    ...(kind === "" ? {} : { kind }),
  };
  const parts = raw === undefined ? [] : fields(raw.value as Buffer);
  const meta = parts.find((f) => f.no === 1);
  obj.metadata = meta === undefined ? {} : objectMeta(meta.value as Buffer);
  switch (kind) {
    case "Namespace":
    case "ServiceAccount":
      break;
    case "ConfigMap": {
      const data = map(parts, 2, false);
      if (data !== undefined) obj.data = data;
      const binary = map(parts, 3, true);
      if (binary !== undefined) obj.binaryData = binary;
      break;
    }
    case "Secret": {
      const data = map(parts, 2, true);
      if (data !== undefined) obj.data = data;
      const type = parts.find((f) => f.no === 3);
      if (type !== undefined) obj.type = text(type);
      const stringData = map(parts, 4, false);
      if (stringData !== undefined) obj.stringData = stringData;
      break;
    }
    default:
      throw unsupportedMediaTypeError(["application/json", "application/yaml"]);
  }
  return obj;
}
