/**
 * client-node's KubernetesObjectApi with a server-side apply that sends the object as the JSON it is, a list and a
 * read, all handing back the server's answer as parsed, as kubernetes-fluent-client does (STYLE §2.5), over client-node's
 * own configured connection (authentication, TLS, middleware: `requestPromise`).
 *
 * Why: `KubernetesObjectApi.patch` walks the object through client-node's ObjectSerializer into its wire form, then
 * walks the answer back into typed models (Dates, model field names) which `v1.kube` copied back to plain JSON for its
 * callers: four passes over every object of every apply, ~6% of the CPU of a deployment's create (docs/performance.md,
 * change 63). The renders are plain JSON already, in the wire form but for the kinds below. And a typed list put
 * model field names into the watch cache (a listed LimitRange's `_default`, where a watched one has `default`), which
 * made the namespaces' drift check see every listed LimitRange as drifted (change 64); `v1.kube.get` and an uncached
 * `v1.kube.list` answered them so too, where a cached list answered `default`.
 */
import {
  HttpMethod,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ResponseContext,
} from "@kubernetes/client-node";

/**
 * Kinds whose client-node model names a field apart from its JSON name somewhere in its tree: LimitRange's `_default`
 * (`default`), NetworkPolicy's `_from`, CustomResourceDefinition's `_enum` and `x_kubernetes_*`, ResourceSlice's
 * `_int` and `_default`. Objects of these kinds may come in the model's shape (the suite's own LimitRange render
 * does), so they are applied through ObjectSerializer as before. test/unit/kube/object-api.test.ts derives this set
 * from client-node's models and fails when an upgrade changes it.
 */
export const MODEL_NAMED_KINDS: ReadonlySet<string> = new Set([
  "CustomResourceDefinition",
  "LimitRange",
  "NetworkPolicy",
  "ResourceSlice",
]);

/** The `type` that tells `processResponse` to hand back the parsed JSON; no client-node model has this name. */
const AS_PARSED = "(the answer as parsed JSON)";

export interface ApplyAsIsOptions {
  fieldManager: string;
  force: boolean;
  dryRun: boolean;
}

export class ObjectApi extends KubernetesObjectApi {
  /** As `KubernetesObjectApi.makeApiClient`: the context's namespace is the default one. */
  static fromConfig(kc: KubeConfig): ObjectApi {
    const api = kc.makeApiClient(ObjectApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  /**
   * Server-side apply of `spec` as it is (plain JSON in the wire form; `metadata.namespace` is filled in with the
   * default namespace when a namespaced kind has none, as `patch` does). Answers the object the server stored, as
   * parsed; a failure throws client-node's ApiException, as `patch` does.
   */
  async applyAsIs(spec: KubernetesObject, options: ApplyAsIsOptions): Promise<KubernetesObject> {
    const path = await this.specUriPath(spec, "patch");
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.PATCH);
    request.setHeaderParam("Accept", "application/json, */*;q=0.8");
    request.setHeaderParam("Content-Type", PatchStrategy.ServerSideApply);
    if (options.dryRun) request.setQueryParam("dryRun", "All");
    request.setQueryParam("fieldManager", options.fieldManager);
    request.setQueryParam("force", String(options.force));
    request.setBody(JSON.stringify(spec));
    return this.requestPromise(request, AS_PARSED);
  }

  /**
   * A JSON patch (RFC 6902) of the object `spec` names, as `fieldManager`: for what server-side apply cannot do, taking
   * out an item another manager owns. Answers the object the server stored, as parsed; a failure (a `test` operation
   * that does not hold: 422) throws client-node's ApiException.
   */
  async jsonPatchAsIs(
    spec: KubernetesObject,
    operations: readonly unknown[],
    fieldManager: string,
  ): Promise<KubernetesObject> {
    const path = await this.specUriPath(spec, "patch");
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.PATCH);
    request.setHeaderParam("Accept", "application/json, */*;q=0.8");
    request.setHeaderParam("Content-Type", PatchStrategy.JsonPatch);
    request.setQueryParam("fieldManager", fieldManager);
    request.setBody(JSON.stringify(operations));
    return this.requestPromise(request, AS_PARSED);
  }

  /**
   * The objects of one kind (in `namespace`, else in every namespace; those the selectors select), as the server
   * listed them: the wire form, items without apiVersion and kind (as the server sends them). A failure throws
   * client-node's ApiException.
   */
  async listAsIs(
    apiVersion: string,
    kind: string,
    query: { namespace?: string; labelSelector?: string; fieldSelector?: string } = {},
  ): Promise<KubernetesListObject<KubernetesObject>> {
    const path = await this.specUriPath(
      { apiVersion, kind, metadata: query.namespace === undefined ? {} : { namespace: query.namespace } },
      "list",
    );
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.GET);
    request.setHeaderParam("Accept", "application/json, */*;q=0.8");
    if (query.labelSelector !== undefined) request.setQueryParam("labelSelector", query.labelSelector);
    if (query.fieldSelector !== undefined) request.setQueryParam("fieldSelector", query.fieldSelector);
    return this.requestPromise(request, AS_PARSED);
  }

  /** One object (`spec` names it), as the server answered: the wire form. A failure throws client-node's ApiException. */
  async readAsIs(spec: KubernetesObject): Promise<KubernetesObject> {
    const path = await this.specUriPath(spec, "read");
    const request = this.configuration.baseServer.makeRequestContext(path, HttpMethod.GET);
    request.setHeaderParam("Accept", "application/json, */*;q=0.8");
    return this.requestPromise(request, AS_PARSED);
  }

  protected override async processResponse<T extends KubernetesObject>(
    response: ResponseContext,
    type?: string,
  ): Promise<T> {
    if (type !== AS_PARSED) return super.processResponse(response, type);
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) {
      return JSON.parse(await response.body.text()) as T;
    }
    // The ApiException of any other answer, as client-node makes it.
    return super.processResponse(response);
  }
}
