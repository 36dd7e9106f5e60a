/**
 * Kubernetes' protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl's typed clients send
 * (`kubectl create namespace|deployment|job|service|configmap|secret|quota ...`): the `k8s\0` + runtime.Unknown
 * envelope, then the kind's message decoded into its JSON form with the field tables of protobuf-schema.ts.
 * Responses stay JSON (clients accept it). A kind without a table is answered with 415 (send JSON or YAML).
 */
import { badRequestError, unsupportedMediaTypeError } from "../status.ts";
import { MESSAGES } from "./protobuf-schema.ts";

export const PROTOBUF = "application/vnd.kubernetes.protobuf";
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
const ZERO_TIME_SECONDS = -62135596800n; // Go's time.Time{} as Unix seconds

type Kind = "s" | "r" | "m";
interface FieldDef {
  name: string;
  kind: Kind;
  type: string;
}
type Wire = { no: number; wire: number; varint?: bigint; bytes?: Buffer; fixed?: Buffer };

const tables = new Map<string, Map<number, FieldDef>>();
function table(message: string): Map<number, FieldDef> | undefined {
  let t = tables.get(message);
  if (t !== undefined) return t;
  const spec = MESSAGES[message];
  if (spec === undefined) return undefined;
  t = new Map();
  for (const entry of spec.split(";")) {
    const [no, name, kind, type] = entry.split(" ");
    t.set(Number(no), { name: name ?? "", kind: (kind ?? "s") as Kind, type: type ?? "string" });
  }
  tables.set(message, t);
  return t;
}

function fields(buf: Buffer): Wire[] {
  const out: Wire[] = [];
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
  const take = (n: number): Buffer => {
    if (n < 0 || pos + n > buf.length) throw badRequestError("invalid protobuf: truncated field");
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  while (pos < buf.length) {
    const tag = Number(varint());
    const no = tag >> 3;
    const wire = tag & 7;
    if (wire === 0) out.push({ no, wire, varint: varint() });
    else if (wire === 2) out.push({ no, wire, bytes: take(Number(varint())) });
    else if (wire === 1) out.push({ no, wire, fixed: take(8) });
    else if (wire === 5) out.push({ no, wire, fixed: take(4) });
    else throw badRequestError(`invalid protobuf: wire type ${wire}`);
  }
  return out;
}

function int(w: Wire, bits: 32 | 64): number {
  const v = w.varint ?? 0n;
  return Number(bits === 32 ? BigInt.asIntN(32, v) : BigInt.asIntN(64, v));
}

function timeOf(buf: Buffer): string | null {
  let seconds = 0n;
  for (const w of fields(buf)) if (w.no === 1) seconds = BigInt.asIntN(64, w.varint ?? 0n);
  // Go's zero time.Time is written as an empty Timestamp (or as year 1): JSON says null, i.e. absent
  if (seconds === 0n || seconds <= ZERO_TIME_SECONDS) return null;
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** One value of `type` from its wire form. */
function value(w: Wire, type: string, depth: number): unknown {
  switch (type) {
    case "string":
      return (w.bytes ?? Buffer.alloc(0)).toString("utf8");
    case "bytes":
      return (w.bytes ?? Buffer.alloc(0)).toString("base64");
    case "int32":
    case "uint32":
      return int(w, 32);
    case "int64":
    case "uint64":
      return int(w, 64);
    case "bool":
      return (w.varint ?? 0n) !== 0n;
    case "double":
      return w.fixed?.length === 8 ? w.fixed.readDoubleLE(0) : 0;
    case "float":
      return w.fixed?.length === 4 ? w.fixed.readFloatLE(0) : 0;
    case "quantity": {
      const s = fields(w.bytes ?? Buffer.alloc(0)).find((f) => f.no === 1);
      return s?.bytes?.toString("utf8") ?? "0";
    }
    case "intorstring": {
      let kind = 0;
      let intVal = 0;
      let strVal = "";
      for (const f of fields(w.bytes ?? Buffer.alloc(0))) {
        if (f.no === 1) kind = int(f, 64);
        else if (f.no === 2) intVal = int(f, 32);
        else if (f.no === 3) strVal = f.bytes?.toString("utf8") ?? "";
      }
      return kind === 1 ? strVal : intVal;
    }
    case "time":
      return timeOf(w.bytes ?? Buffer.alloc(0));
    case "duration": {
      const d = fields(w.bytes ?? Buffer.alloc(0)).find((f) => f.no === 1);
      return `${int(d ?? { no: 1, wire: 0, varint: 0n }, 64) / 1e9}s`;
    }
    case "raw": {
      const raw = fields(w.bytes ?? Buffer.alloc(0)).find((f) => f.no === 1)?.bytes;
      if (raw === undefined || raw.length === 0) return {};
      try {
        return JSON.parse(raw.toString("utf8"));
      } catch {
        throw badRequestError("invalid protobuf: an embedded object is not JSON");
      }
    }
    default:
      return message(w.bytes ?? Buffer.alloc(0), type, depth + 1);
  }
}

/** Repeated scalars may come packed (one length-delimited field holding several varints or fixed values). */
function unpack(w: Wire, type: string): Wire[] {
  if (
    w.wire !== 2 ||
    ["string", "bytes", "quantity", "intorstring", "time", "duration", "raw"].includes(type) ||
    MESSAGES[type] !== undefined
  ) {
    return [w];
  }
  const buf = w.bytes ?? Buffer.alloc(0);
  const out: Wire[] = [];
  if (type === "double" || type === "float") {
    const size = type === "double" ? 8 : 4;
    for (let i = 0; i + size <= buf.length; i += size)
      out.push({ no: w.no, wire: size === 8 ? 1 : 5, fixed: buf.subarray(i, i + size) });
    return out;
  }
  let pos = 0;
  while (pos < buf.length) {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw badRequestError("invalid protobuf: truncated packed field");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
      shift += 7n;
    }
    out.push({ no: w.no, wire: 0, varint: result });
  }
  return out;
}

/**
 * Go structs embedded with `json:",inline"`: protobuf nests them under a field, JSON does not.
 * (Volume.volumeSource, PersistentVolumeSpec.persistentVolumeSource, Probe.handler, IngressRule.ingressRuleValue, ...)
 */
const INLINE = new Set(["volumeSource", "persistentVolumeSource", "ingressRuleValue", "ephemeralContainerCommon"]);
function inline(type: string, field: string): boolean {
  return INLINE.has(field) || (type === "core.v1.Probe" && field === "handler");
}

/**
 * Pointer fields, whose zero value was set on purpose. Every other scalar field is a Go value field, which gogo
 * protobuf always writes and Go's JSON omits when zero ("", 0, false): those zeros are dropped.
 */
const POINTERS = new Set([
  "replicas",
  "parallelism",
  "completions",
  "backoffLimit",
  "activeDeadlineSeconds",
  "ttlSecondsAfterFinished",
  "terminationGracePeriodSeconds",
  "revisionHistoryLimit",
  "progressDeadlineSeconds",
  "suspend",
  "immutable",
  "automountServiceAccountToken",
  "runAsUser",
  "runAsGroup",
  "fsGroup",
  "runAsNonRoot",
  "privileged",
  "readOnlyRootFilesystem",
  "allowPrivilegeEscalation",
  "optional",
  "defaultMode",
  "mode",
  "controller",
  "blockOwnerDeletion",
  "enableServiceLinks",
  "shareProcessNamespace",
  "hostUsers",
  "allocateLoadBalancerNodePorts",
]);

function isZero(v: unknown): boolean {
  return v === "" || v === 0 || v === false;
}

function message(buf: Buffer, type: string, depth: number): Record<string, unknown> {
  if (depth > 64) throw badRequestError("invalid protobuf: nested too deeply");
  const t = table(type);
  if (t === undefined) throw badRequestError(`invalid protobuf: unknown message ${type}`);
  const out: Record<string, unknown> = {};
  for (const w of fields(buf)) {
    const def = t.get(w.no);
    if (def === undefined) continue; // a field newer than the tables: skipped, as proto2 readers do
    if (def.kind === "m") {
      const entry = fields(w.bytes ?? Buffer.alloc(0));
      const key = entry.find((f) => f.no === 1)?.bytes?.toString("utf8") ?? "";
      const val = entry.find((f) => f.no === 2);
      const map = (out[def.name] as Record<string, unknown> | undefined) ?? {};
      map[key] =
        val === undefined ? (def.type === "string" || def.type === "bytes" ? "" : {}) : value(val, def.type, depth);
      out[def.name] = map;
    } else if (def.kind === "r") {
      const list = (out[def.name] as unknown[] | undefined) ?? [];
      for (const item of unpack(w, def.type)) list.push(value(item, def.type, depth));
      out[def.name] = list;
    } else {
      const v = value(w, def.type, depth);
      if (v === null || (isZero(v) && !POINTERS.has(def.name))) delete out[def.name];
      else if (inline(type, def.name) && typeof v === "object") Object.assign(out, v);
      else out[def.name] = v;
    }
  }
  return out;
}

/** "apps/v1" + "Deployment" → "apps.v1.Deployment" (the core group's package is "core"). */
function messageName(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
  return `${(group ?? "").replace(/\.k8s\.io$/, "")}.${version ?? ""}.${kind}`;
}

/** Decodes a protobuf request body into its JSON object, or throws 400 (malformed) / 415 (a kind without a table). */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC))
    throw badRequestError("invalid protobuf: missing the k8s envelope");
  const unknown = fields(body.subarray(4));
  const typeMeta = unknown.find((f) => f.no === 1)?.bytes;
  const raw = unknown.find((f) => f.no === 2)?.bytes ?? Buffer.alloc(0);
  const tm = typeMeta === undefined ? [] : fields(typeMeta);
  const apiVersion = tm.find((f) => f.no === 1)?.bytes?.toString("utf8") ?? "";
  const kind = tm.find((f) => f.no === 2)?.bytes?.toString("utf8") ?? "";
  const name = messageName(apiVersion, kind);
  if (MESSAGES[name] === undefined) throw unsupportedMediaTypeError(["application/json", "application/yaml"]);
  return { apiVersion, kind, ...message(raw, name, 0) };
}
