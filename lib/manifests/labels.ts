/**
 * The labels and annotations every object the suite renders carries, from one place (docs/architecture.md,
 * "Reconciliation"): ownership is found from the object alone.
 *
 * - `app.kubernetes.io/managed-by: moleculer-k8s` and `app.kubernetes.io/part-of: moleculer-k8s` on everything.
 * - `app.kubernetes.io/name` / `app.kubernetes.io/instance`: the record's name (deployment, volume, namespace).
 * - `app.kubernetes.io/component`: which kind of record owns the object, and so which service reconciles it:
 *   `namespace` (Namespace, ResourceQuota, LimitRange), `volume` (PVC), `env` (the `<deployment>-env` ConfigMap
 *   and Secret), `deployment` (Deployment and its pods, Service, Ingress, `<name>-<config>` ConfigMap).
 * - `moleculer-k8s/id`: the record id, as a label (for selectors; sanitised) and as an annotation (exact; read it
 *   back with `getIdFromAnnotation`).
 *
 * Label values are made valid deterministically by `sanitizeLabelValue`.
 */
import { hash as cryptoHash } from "node:crypto";
import { LABEL_VALUE_MAX, isValidLabelValue } from "./validate.ts";

export const MANAGED_BY = "moleculer-k8s";
export const PART_OF = "moleculer-k8s";

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const PART_OF_LABEL = "app.kubernetes.io/part-of";
export const NAME_LABEL = "app.kubernetes.io/name";
export const INSTANCE_LABEL = "app.kubernetes.io/instance";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const ID_LABEL = "moleculer-k8s/id";

export const ID_ANNOTATION = "moleculer-k8s/id";
/** Pod-template annotation: a sha256 over the env values and the mounted config files; a change rolls the pods. */
export const CHECKSUM_ANNOTATION = "moleculer-k8s/config-checksum";
/** Deployment annotation: the record's revision the object was rendered from. */
export const REVISION_ANNOTATION = "moleculer-k8s/revision";
/**
 * On the watch cache's copy of a Secret only (never in the cluster): the keys of its `data` (comma-separated, sorted)
 * and a digest of it (`secretDataDigest`), which stand for the values the cache does not keep.
 */
export const DATA_KEYS_ANNOTATION = "moleculer-k8s/cached-data-keys";
export const DATA_DIGEST_ANNOTATION = "moleculer-k8s/cached-data-digest";
/** Namespace annotation: the domain the namespace's default routes use. */
export const DOMAIN_ANNOTATION = "moleculer-k8s/domain";
/** Pod-template annotation `kubectl rollout restart` uses; the same one, so both restart the same way. */
export const RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt";

/** Label selector for everything the suite manages (`v1.kube` lists and watches with it). */
export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/** Which kind of record owns an object. */
export type Component = "namespace" | "volume" | "env" | "deployment" | "image";

export interface LabelInput {
  /** The kind of record that owns the object. */
  readonly component: Component;
  /** The record's name (`app.kubernetes.io/name`). */
  readonly name: string;
  /** `app.kubernetes.io/instance`; defaults to `name`. */
  readonly instance?: string;
  /** The record id. */
  readonly id: string;
}

/**
 * A valid label value for any string, deterministically: a valid value is returned as is; otherwise characters outside
 * `[-_.A-Za-z0-9]` become `-`, non-alphanumeric ends are trimmed, and — because that may merge distinct inputs or the
 * result may be too long — the value is cut to 54 characters and suffixed with `-` and 8 hex digits of the input's
 * sha256, so distinct inputs keep distinct values. The empty string stays empty (a valid label value).
 */
export function sanitizeLabelValue(value: string): string {
  if (isValidLabelValue(value)) return value;
  const hash = cryptoHash("sha256", value, "hex").slice(0, 8);
  const cleaned = value
    .replace(/[^-_.A-Za-z0-9]/g, "-")
    .slice(0, LABEL_VALUE_MAX - hash.length - 1)
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/[^A-Za-z0-9]+$/, "");
  return cleaned === "" ? hash : `${cleaned}-${hash}`;
}

/**
 * The label selector of the objects the suite rendered for one record: ours (managed-by), of that component
 * (`deployment`, `env`, `volume`, `namespace`), carrying the record's id label. A label value is cut to 63 characters,
 * so callers that must not take another record's object also compare the id annotation (`getIdFromAnnotation`).
 */
export function recordSelector(component: Component, recordId: string): string {
  return `${MANAGED_BY_SELECTOR},${COMPONENT_LABEL}=${component},${ID_LABEL}=${sanitizeLabelValue(recordId)}`;
}

/** All labels of an object the suite renders. */
export function generateLabels(input: LabelInput): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [PART_OF_LABEL]: PART_OF,
    [NAME_LABEL]: sanitizeLabelValue(input.name),
    [INSTANCE_LABEL]: sanitizeLabelValue(input.instance ?? input.name),
    [COMPONENT_LABEL]: input.component,
    [ID_LABEL]: sanitizeLabelValue(input.id),
  };
}

/**
 * The labels a Deployment selects its pods by, and a Service its endpoints by: managed-by, name and instance, all fixed
 * when the record is created (a Deployment's selector is immutable). The record id is left out on purpose: a record
 * removed and created again under the same name must be able to apply over a Deployment the cluster has not yet
 * deleted, which a different selector would make fail with 422.
 */
export function selectorLabels(input: Pick<LabelInput, "name" | "instance">): Record<string, string> {
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [NAME_LABEL]: sanitizeLabelValue(input.name),
    [INSTANCE_LABEL]: sanitizeLabelValue(input.instance ?? input.name),
  };
}

export interface AnnotationInput {
  /** The record id (exact, unlike the label). */
  readonly id: string;
  /** The record revision the object was rendered from. */
  readonly revision?: number;
  /** More annotations (they may not override the id). */
  readonly extra?: Readonly<Record<string, string>>;
}

/** The annotations of an object the suite renders: the id, the revision when given, and any extras. */
export function generateAnnotations(input: AnnotationInput): Record<string, string> {
  return {
    ...input.extra,
    ...(input.revision === undefined ? {} : { [REVISION_ANNOTATION]: String(input.revision) }),
    [ID_ANNOTATION]: input.id,
  };
}

interface WithMetadata {
  readonly metadata?:
    | {
        readonly annotations?: Readonly<Record<string, string>> | undefined;
        readonly labels?: Readonly<Record<string, string>> | undefined;
      }
    | undefined;
}

/** The record id an object belongs to (its `moleculer-k8s/id` annotation), or undefined for objects not ours. */
export function getIdFromAnnotation(obj: WithMetadata | null | undefined): string | undefined {
  const id = obj?.metadata?.annotations?.[ID_ANNOTATION];
  return typeof id === "string" && id !== "" ? id : undefined;
}

/** True when the object carries `app.kubernetes.io/managed-by: moleculer-k8s`. */
export function isManaged(obj: WithMetadata | null | undefined): boolean {
  return obj?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY;
}
