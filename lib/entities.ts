/**
 * Entity shapes shared by the record services and their callers, and the image schema (one fastest-validator schema
 * used for the catalog files, for `v1.k8s.images.create` and, later, by deployments that read an image).
 */
import { defineParams, type ParamsOf } from "./params.ts";
import {
  ABSOLUTE_PATH,
  DNS_1123_LABEL,
  DNS_1123_LABEL_MAX,
  DNS_1123_SUBDOMAIN,
  DNS_1123_SUBDOMAIN_MAX,
  ENV_VAR_NAME,
  IANA_SVC_NAME,
  IANA_SVC_NAME_MAX,
  IMAGE_DIGEST,
} from "./validators.ts";

/** Fields every stored entity has (ISO-8601 timestamps set by the db mixin). */
export interface EntityBase {
  id: string;
  createdAt: string;
  updatedAt: string;
}

export const ROLES = ["owner", "member", "viewer"] as const;
/** A person's role in a namespace: owners change the namespace and its members, members write what is in it, viewers read. */
export type Role = (typeof ROLES)[number];

export interface Member {
  userID: string;
  role: Role;
}

/** Rule for a non-negative integer quota value. */
const quotaValue = { type: "number", integer: true, min: 0, optional: true } as const;

/** A namespace's quota: cpu in millicores, memory in Mi, storage in Gi, counts of pods and PVCs. */
export const quotaRule = {
  type: "object",
  strict: true,
  props: {
    cpu: quotaValue,
    memory: quotaValue,
    pods: quotaValue,
    persistentvolumeclaims: quotaValue,
    storage: quotaValue,
  },
} as const;
export type Quota = ParamsOf<(typeof quotaRule)["props"]>;

export interface NamespaceStatus {
  phase: "Pending" | "Active" | "Terminating";
  reason?: string;
}

/** A namespace record as callers see it. */
export interface NamespaceEntity extends EntityBase {
  name: string;
  domain: string;
  owner: string;
  members: Member[];
  quota: Quota;
  /** True for a namespace the cluster owns (`default`): the suite may use it but never deletes it. */
  clusterOwned: boolean;
  status: NamespaceStatus;
  /** The cluster's metadata.uid once the namespace exists there; empty before. */
  uid: string;
}

const resourceAmounts = {
  type: "object",
  strict: true,
  props: {
    cpu: { type: "number", integer: true, min: 0 },
    memory: { type: "number", integer: true, min: 0 },
  },
} as const;

/** The image shape of the reference document (images/*.json, `v1.k8s.images.create`). */
export const imageSchema = defineParams({
  $$strict: true,
  name: { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL },
  namespace: {
    type: "string",
    empty: false,
    max: 255,
    pattern: /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/,
  },
  tag: { type: "string", empty: false, max: 128, pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/ },
  digest: { type: "string", pattern: IMAGE_DIGEST },
  // [registry[:port]/]path[:tag][@digest], e.g. php:8.1.0-fpm, ghcr.io/org/app:1.2, localhost:5000/app
  image: {
    type: "string",
    empty: false,
    max: 512,
    pattern:
      /^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(\/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/,
  },
  registry: { type: "string", empty: false, max: 253, pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?$/ },
  repository: {
    type: "string",
    empty: false,
    max: 255,
    pattern: /^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/,
  },
  description: { type: "string", max: 1024, optional: true },
  imagePullPolicy: { type: "enum", values: ["Always", "IfNotPresent", "Never"], default: "IfNotPresent" },
  imagePullSecrets: {
    type: "array",
    max: 16,
    default: [],
    items: { type: "string", empty: false, max: DNS_1123_SUBDOMAIN_MAX, pattern: DNS_1123_SUBDOMAIN },
  },
  ports: {
    type: "array",
    max: 32,
    default: [],
    items: {
      type: "object",
      strict: true,
      props: {
        name: { type: "string", empty: false, max: IANA_SVC_NAME_MAX, pattern: IANA_SVC_NAME },
        port: { type: "number", integer: true, min: 1, max: 65535 },
        protocol: { type: "enum", values: ["TCP", "UDP", "SCTP"], default: "TCP" },
      },
    },
  },
  env: {
    type: "array",
    max: 128,
    default: [],
    items: {
      type: "object",
      strict: true,
      props: {
        key: { type: "string", empty: false, max: 256, pattern: ENV_VAR_NAME },
        type: { type: "enum", values: ["plain", "secret"] },
        value: { type: "string", max: 65536, optional: true },
      },
    },
  },
  volumes: {
    type: "array",
    max: 32,
    default: [],
    items: {
      type: "object",
      strict: true,
      props: {
        name: { type: "string", empty: false, max: DNS_1123_LABEL_MAX, pattern: DNS_1123_LABEL },
        type: { type: "enum", values: ["persistentVolumeClaim", "emptyDir"] },
        mountPath: { type: "string", empty: false, max: 1024, pattern: ABSOLUTE_PATH },
      },
    },
  },
  resources: {
    type: "object",
    strict: true,
    props: { limits: resourceAmounts, requests: resourceAmounts },
  },
  config: {
    type: "object",
    strict: true,
    optional: true,
    props: { mountPath: { type: "string", empty: false, max: 1024, pattern: ABSOLUTE_PATH } },
  },
});

/** An image as stored (without id and timestamps). */
export type Image = ParamsOf<typeof imageSchema>;
/** An image record as callers see it. */
export type ImageEntity = Image & EntityBase;
