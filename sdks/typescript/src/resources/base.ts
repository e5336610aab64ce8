/** What every resource shares: the typed call, `X-Chronos-Reason`, tag filters, cursors. */

import type { Method, PathOf, PathParams, QueryValue, RequestOptions, Transport } from '../http.js';
import type { Page } from '../types.js';

/** Per call: abort it, give it its own time limit, retries or headers. */
export type CallOptions = Pick<RequestOptions, 'signal' | 'timeoutMs' | 'maxRetries' | 'headers'>;

/** `reason` (why) goes to the audit log. */
export type ReasonOptions = CallOptions & { reason?: string };

export abstract class Resource {
  constructor(protected readonly http: Transport) {}

  /** A call to a path of the OpenAPI document, its method and `{params}` checked by tsc. */
  protected call<T, M extends Method, P extends PathOf<M>>(
    method: M,
    path: P,
    options: Omit<RequestOptions, 'path'> & { path?: PathParams<P> } = {},
  ): Promise<T> {
    return this.http.request<T>(method, path, options as RequestOptions);
  }
}

/** The call options out of a method's options (leaving its own fields behind). */
export function callOptions(options: CallOptions = {}): CallOptions {
  const { signal, timeoutMs, maxRetries, headers } = options;
  return { signal, timeoutMs, maxRetries, headers };
}

/** Call options with the audit log's `X-Chronos-Reason` header, when a reason is given. */
export function withReason(options: ReasonOptions = {}): CallOptions {
  const base = callOptions(options);
  if (options.reason === undefined) return base;
  return { ...base, headers: { ...base.headers, 'X-Chronos-Reason': options.reason } };
}

/** A list query as the API reads it: `tags: {team: "x"}` becomes `tag.team=x`. */
export function listQuery(query: object): Record<string, QueryValue> {
  const out: Record<string, QueryValue> = {};
  for (const [key, value] of Object.entries(query)) {
    if (key === 'tags' && value && typeof value === 'object') {
      for (const [tag, tagValue] of Object.entries(value as Record<string, string>)) {
        out[`tag.${tag}`] = tagValue;
      }
    } else {
      out[key] = value as QueryValue;
    }
  }
  return out;
}

/** Every item of a cursor-paginated list, fetching pages as the loop needs them. */
export async function* paginate<T>(
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
  startCursor?: string | null,
): AsyncGenerator<T, void, undefined> {
  let cursor = startCursor ?? undefined;
  for (;;) {
    const page = await fetchPage(cursor);
    yield* page.data;
    if (!page.next_cursor) return;
    cursor = page.next_cursor;
  }
}
