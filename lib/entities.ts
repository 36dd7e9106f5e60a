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
/** A quota change: the fields given change, the others keep their values; `null` sets a field back to its default. */
const quotaChangeValue = { ...quotaValue, nullable: true } as const;
export const quotaChangeRule = {
  type: "object",
  strict: true,
  props: {
    cpu: quotaChangeValue,
    memory: quotaChangeValue,
    pods: quotaChangeValue,
    persistentvolumeclaims: quotaChangeValue,
    storage: quotaChangeValue,
  },
} as const;

export interface NamespaceStatus {
  phase: "Pending" | "Active" | "Terminating";
  /** Why the phase is what it is: "ClusterUnavailable", "Applying", "NamespaceTerminating", ... */
  reason?: string;
  /** Details for people (the cluster's error message). */
  message?: string;
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
/** Limits of 0 are no limits at all (the kubelet sets none) and count 0 against the namespace's quota. */
const resourceLimits = {
  ...resourceAmounts,
  props: {
    cpu: { type: "number", integer: true, min: 1 },
    memory: { type: "number", integer: true, min: 1 },
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
    props: { limits: resourceLimits, requests: resourceAmounts },
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

/** A deployment's phase, from its Deployment and pods in the cluster. */
export const DEPLOYMENT_PHASES = ["Pending", "Progressing", "Available", "Failed"] as const;
export type DeploymentPhase = (typeof DEPLOYMENT_PHASES)[number];

/** One condition of the Deployment, as the cluster reports it. */
export interface DeploymentCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/**
 * A deployment record's `status`, from the `kube.deployments.*` / `kube.pods.*` events (or `ClusterUnavailable` while
 * the cluster cannot be reached). `reason`/`message` explain a phase other than Available (e.g. ImagePullBackOff).
 */
export interface DeploymentStatus {
  phase: DeploymentPhase;
  replicas: number;
  readyReplicas: number;
  availableReplicas: number;
  updatedReplicas: number;
  conditions: DeploymentCondition[];
  reason?: string;
  message?: string;
}

/** A PVC mounted into a deployment (the reference shape); the claim is a volume record of the same namespace. */
export interface DeploymentVolumeSpec {
  name: string;
  type: "persistentVolumeClaim";
  mountPath: string;
  persistentVolumeClaim: { claimName: string };
  subPath?: string;
  readOnly?: boolean;
}

/** A deployment's config files, rendered as the ConfigMap `<name>-<configMap.name>`. */
export interface DeploymentConfigMapSpec {
  name: string;
  data: Record<string, string>;
  mountPath?: string;
}

/** A deployment record as callers see it. */
export interface DeploymentEntity extends EntityBase {
  /** A DNS label ≤ 55 characters (so `<name>-service` is a valid Service name). */
  name: string;
  /** The namespace record's id. */
  namespace: string;
  /** The image record's id. */
  image: string;
  replicas: number;
  vHosts: string[];
  volumes: DeploymentVolumeSpec[];
  configMap?: DeploymentConfigMapSpec;
  /** CPU in millicores, memory in MiB, over the image's. */
  resources?: { limits?: { cpu?: number; memory?: number }; requests?: { cpu?: number; memory?: number } };
  /** An ISO time set by a restart; a new value rolls the pods. */
  restartedAt?: string;
  /** 1 at creation, +1 on every change. */
  revision: number;
  status: DeploymentStatus;
}

/** The two kinds of env value: `plain` goes to the `<deployment>-env` ConfigMap, `secret` to the Secret of that name. */
export const ENV_TYPES = ["plain", "secret"] as const;
export type EnvType = (typeof ENV_TYPES)[number];

/** What a secret env value looks like in every response and event. */
export const SECRET_MASK = "********";

/** An env record as callers see it (`value` is SECRET_MASK for a secret). */
export interface EnvEntity extends EntityBase {
  /** The namespace record id. */
  namespace: string;
  /** The deployment record id. */
  deployment: string;
  /** The variable name, unique per deployment. */
  key: string;
  value: string;
  type: EnvType;
}

/** The kinds of volume a namespace can have (the reference document's `type`). */
export const VOLUME_TYPES = ["persistentVolumeClaim"] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];
/** PersistentVolumeClaim access modes. */
export const VOLUME_ACCESS_MODES = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"] as const;
export type VolumeAccessMode = (typeof VOLUME_ACCESS_MODES)[number];

/** A volume record's `status`: the claim's phase, and why it is not Bound (e.g. ProvisioningFailed, ClusterUnavailable). */
export interface VolumeStatus {
  phase: "Pending" | "Bound" | "Lost";
  reason?: string;
  message?: string;
}

/** A volume record as callers see it: one PersistentVolumeClaim named `name` in the namespace. */
export interface VolumeEntity extends EntityBase {
  /** The namespace record id. */
  namespace: string;
  /** The Kubernetes namespace name (the namespace record's name, which cannot change). */
  namespaceName: string;
  /** The claim's name (a DNS-1123 label, unique per namespace); deployments mount it as `claimName`. */
  name: string;
  type: VolumeType;
  /** Where deployments mount it by default (an absolute path). */
  mountPath: string;
  /** A storage quantity such as "1Gi". */
  size: string;
  /** The StorageClass; absent = the cluster's default class. */
  storageClass?: string;
  accessModes: VolumeAccessMode[];
  status: VolumeStatus;
}

// ---------------------------------------------------------------------------------------------------------------
// Day-2 operations of a deployment (mixins/deployment-operations.mixin.ts)

/** One container of a pod as `pods`/`state` show it: `state` is the Kubernetes state key, `reason` why it waits or ended. */
export interface DeploymentContainerInfo {
  name: string;
  state: "running" | "waiting" | "terminated" | "unknown";
  /** e.g. ImagePullBackOff, CrashLoopBackOff, ContainerCreating (waiting); Completed, Error, OOMKilled (terminated). */
  reason?: string;
  message?: string;
  ready: boolean;
  restartCount: number;
  image?: string;
  /** Why the container's last run ended (after a restart), e.g. Error, OOMKilled. */
  lastTerminationReason?: string;
}

/** One pod of a deployment (`pods`). */
export interface DeploymentPodInfo {
  name: string;
  phase: string;
  ready: boolean;
  restarts: number;
  node?: string;
  startTime?: string;
  /** Being deleted (an old pod of a rollout on its way out). */
  terminating: boolean;
  /** The pod template hash (which ReplicaSet it belongs to). */
  templateHash?: string;
  /** The first container's reason to wait or to have ended (ImagePullBackOff, CrashLoopBackOff, ...), if any. */
  reason?: string;
  containers: DeploymentContainerInfo[];
}

/** `state`: one summary a dashboard shows, from the watch cache only. */
export interface DeploymentState {
  id: string;
  name: string;
  namespace: string;
  /** The record's revision. */
  revision: number;
  /** Phase as `status` computes it (Pending, Progressing, Available, Failed). */
  phase: DeploymentPhase;
  desired: number;
  /** Pods the Deployment counts (all ReplicaSets). */
  replicas: number;
  updated: number;
  ready: number;
  available: number;
  conditions: DeploymentCondition[];
  /** The pods, each with its state. */
  pods: DeploymentPodInfo[];
  /** How many pods are in each phase (`Running`, `Pending`, ...). */
  podPhases: Record<string, number>;
  /** The reason of the latest failure seen (a container waiting in ImagePullBackOff/CrashLoopBackOff, ProgressDeadlineExceeded, a ReplicaFailure, a container that ended in Error/OOMKilled); absent when none. */
  lastFailureReason?: string;
  lastFailureMessage?: string;
  /** True while the Deployment has not reached its desired state with the current template (kubectl rollout status' rule). */
  rolloutInProgress: boolean;
}

/** A pod's usage in `top` (cpu millicores, memory MiB). */
export interface DeploymentPodUsage {
  name: string;
  cpu: number;
  memory: number;
  containers: { name: string; cpu: number; memory: number }[];
}

/** `top`: usage per pod and in total (cpu millicores, memory MiB). */
export interface DeploymentTop {
  id: string;
  name: string;
  pods: DeploymentPodUsage[];
  total: { cpu: number; memory: number };
}

/** An env value in a revision as callers see it (a secret's value is SECRET_MASK). */
export interface RevisionEnvValue {
  key: string;
  type: EnvType;
  value: string;
}

/** What a revision restores: the record's fields and the env values of that time. */
export interface DeploymentRevisionSpec {
  /** The image record's id. */
  image: string;
  /**
   * What the pods pulled at this revision: the catalog image's reference (`registry/repository:tag`, or `@digest`). A
   * change of the catalog image (a build, an admin update, a catalog reload) is a revision with `changes:
   * ["imageReference"]`; a rollback does not restore it (the catalog is shared). Absent in revisions stored before it.
   */
  imageReference?: string;
  replicas: number;
  vHosts: string[];
  volumes: DeploymentVolumeSpec[];
  configMap?: DeploymentConfigMapSpec;
  resources?: DeploymentEntity["resources"];
  restartedAt?: string;
  /** The env checksum (lib/manifests envChecksum) of `env`. */
  envChecksum: string;
  env: RevisionEnvValue[];
}

/** One entry of `history` (secrets masked). */
export interface DeploymentRevision extends DeploymentRevisionSpec {
  revision: number;
  /** ISO time of the change. */
  time: string;
  /** The userID that made the change; absent for env changes (they reach the deployments service as events, without the caller). */
  who?: string;
  /** The fields that changed since the previous revision (`image`, `replicas`, `env`, `configMap`, ...); `created` for the first. */
  changes: string[];
  /** The revision this one restored, for a rollback. */
  rolledBackFrom?: number;
}

/** `history`: newest first; `kept` is how many revisions are kept (older ones are dropped). */
export interface DeploymentHistory {
  id: string;
  name: string;
  revision: number;
  kept: number;
  items: DeploymentRevision[];
}

/** `v1.k8s.deployments.imageChangeProblems`: a deployment that a change of its image would leave unable to run. */
export interface ImageChangeProblem {
  /** `<namespace>/<name>`. */
  deployment: string;
  /** Issues it would have with the changed image and has not with the image as it is (fields as in its `validate`). */
  issues: { type: string; field: string; message: string; actual?: unknown }[];
}
