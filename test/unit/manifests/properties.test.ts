/**
 * Property tests: any valid input renders objects that the API server would take by name and label (well-formed per
 * expectWellFormed), deterministically.
 */
import { describe, expect, it } from "@jest/globals";
import fc from "fast-check";
import type { DeploymentInput, ImagePort } from "../../../lib/manifests/deployment.ts";
import { renderDeployment, renderDeploymentObjects } from "../../../lib/manifests/deployment.ts";
import { envChecksum, renderEnvConfigMap, renderEnvSecret } from "../../../lib/manifests/env.ts";
import { getIdFromAnnotation } from "../../../lib/manifests/labels.ts";
import { renderLimitRange, renderNamespace, renderResourceQuota } from "../../../lib/manifests/namespace.ts";
import { deploymentInputIssues, isValidEnvName } from "../../../lib/manifests/validate.ts";
import { renderPersistentVolumeClaim } from "../../../lib/manifests/volume.ts";
import { expectWellFormed } from "./fixtures.ts";

const label = (max: number): fc.Arbitrary<string> =>
  fc.stringMatching(new RegExp(`^[a-z]([-a-z0-9]{0,${max - 2}}[a-z0-9])?$`));
const id = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9]{16}$/),
  fc.stringMatching(/^[0-9a-f]{24}$/),
  fc.string({ minLength: 1, maxLength: 90 }),
);
const host = fc
  .tuple(fc.boolean(), fc.array(label(20), { minLength: 1, maxLength: 4 }))
  .map(([wild, labels]) => `${wild ? "*." : ""}${labels.join(".")}`);
const port: fc.Arbitrary<ImagePort> = fc.record(
  {
    name: fc.oneof(fc.string({ maxLength: 25 }), label(15)),
    port: fc.integer({ min: 1, max: 65535 }),
    protocol: fc.constantFrom("TCP" as const, "UDP" as const, "SCTP" as const),
  },
  { requiredKeys: ["port"] },
);
const configKey = fc.stringMatching(/^[-._a-zA-Z0-9]{1,30}$/).filter((k) => k !== "." && !k.startsWith(".."));
const amounts = fc.record({ cpu: fc.nat(64000), memory: fc.nat(65536) }, { requiredKeys: [] });
const resources = fc.record({ limits: amounts, requests: amounts }, { requiredKeys: [] });

const deploymentInput: fc.Arbitrary<DeploymentInput> = fc
  .record({
    id,
    name: label(55),
    namespace: label(63),
    image: fc.record({
      image: fc.constantFrom("nginx:1.25", "php:8.1.0-fpm", "ghcr.io/org/app", "library/redis"),
      ports: fc.uniqueArray(port, { maxLength: 5, selector: (p) => `${p.port}/${p.protocol ?? "TCP"}` }),
      resources,
      config: fc.constant({ mountPath: "/etc/app/conf.d" }),
    }),
    replicas: fc.nat(10),
    vHosts: fc.array(host, { maxLength: 4 }),
    volumes: fc.uniqueArray(
      fc.oneof(
        fc.record({
          name: label(20),
          type: fc.constant("persistentVolumeClaim" as const),
          mountPath: label(20).map((s) => `/data/${s}`),
          persistentVolumeClaim: fc.record({ claimName: label(63) }),
        }),
        fc.record(
          {
            name: label(20),
            type: fc.constant("emptyDir" as const),
            mountPath: label(20).map((s) => `/scratch/${s}`),
            sizeLimit: fc.constantFrom("64Mi", "1Gi"),
          },
          { requiredKeys: ["name", "type", "mountPath"] },
        ),
      ),
      { maxLength: 3, selector: (v) => v.name },
    ),
    configMap: fc.option(
      fc.record({
        name: label(20).map((s) => `cfg-${s}`.slice(0, 20).replace(/-$/, "x")),
        data: fc.dictionary(configKey, fc.string({ maxLength: 40 })),
      }),
      { nil: undefined },
    ),
    env: fc.record({
      configMapName: fc.constant("e-env"),
      secretName: fc.constant("e-env"),
      checksum: fc.stringMatching(/^[0-9a-f]{64}$/),
    }),
    revision: fc.nat(),
  })
  .map(({ configMap, ...rest }) => (configMap === undefined ? rest : { ...rest, configMap }))
  // Hosts need a TCP port to route to (deploymentInputIssues).
  .map((d) => (d.image.ports.some((p) => (p.protocol ?? "TCP") === "TCP") ? d : { ...d, vHosts: [] }))
  .filter((d) => new Set(d.volumes.map((v) => v.mountPath)).size === d.volumes.length);

describe("lib/manifests properties", () => {
  it("the generator yields valid inputs almost always (so the property below is not vacuous)", () => {
    const sample = fc.sample(deploymentInput, { numRuns: 200, seed: 42 });
    const valid = sample.filter((d) => deploymentInputIssues(d).length === 0);
    expect(valid.length).toBeGreaterThan(180);
    expect(sample.some((d) => d.configMap !== undefined && d.vHosts.length > 0 && d.image.ports.length > 0)).toBe(true);
  });

  it("any valid deployment renders well-formed, owned objects with valid names and labels, the same each time", () => {
    fc.assert(
      fc.property(deploymentInput, (input) => {
        fc.pre(deploymentInputIssues(input).length === 0);
        const objects = renderDeploymentObjects(input);
        expect(objects.map((o) => o.kind)).toContain("Deployment");
        for (const o of objects) {
          expectWellFormed(o);
          expect(getIdFromAnnotation(o)).toBe(input.id);
        }
        expect(renderDeploymentObjects(input)).toEqual(objects);
      }),
      { numRuns: 150 },
    );
  });

  it("a deployment's selector depends on its name only", () => {
    fc.assert(
      fc.property(deploymentInput, deploymentInput, (a, b) => {
        const selector = renderDeployment(a).spec?.selector;
        expect(renderDeployment({ ...b, name: a.name }).spec?.selector).toEqual(selector);
      }),
      { numRuns: 50 },
    );
  });

  it("namespace, quota, limit range, PVC and env objects are well-formed for any valid names and any id", () => {
    const env = fc.dictionary(fc.stringMatching(/^[-._a-zA-Z][-._a-zA-Z0-9]{0,20}$/), fc.string({ maxLength: 20 }));
    fc.assert(
      fc.property(id, label(63), label(55), label(63), env, env, (rid, ns, deployment, claim, plain, secret) => {
        expect(Object.keys(plain).every(isValidEnvName)).toBe(true);
        for (const o of [
          renderNamespace({ id: rid, name: ns, domain: "example.com" }),
          renderResourceQuota({ id: rid, namespace: ns, quota: { cpu: 1500 } }),
          renderLimitRange({ id: rid, namespace: ns }),
          renderPersistentVolumeClaim({ id: rid, namespace: ns, name: claim, size: "2Gi" }),
          renderEnvConfigMap({ deploymentId: rid, deploymentName: deployment, namespace: ns, plain }),
          renderEnvSecret({ deploymentId: rid, deploymentName: deployment, namespace: ns, secret }),
        ]) {
          expectWellFormed(o);
          expect(getIdFromAnnotation(o)).toBe(rid);
        }
        expect(envChecksum(plain, secret)).toBe(envChecksum({ ...plain }, { ...secret }));
      }),
      { numRuns: 100 },
    );
  });
});
