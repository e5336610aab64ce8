/**
 * `chronos.monitors`: heartbeat monitors for work that runs outside Chronos.
 *
 * ```ts
 * await chronos.monitors.create({ name: 'backup', cron: '0 2 * * *', grace: '30m' });
 * await chronos.monitors.ping('backup');            // or 'start' / 'fail'
 * ```
 */

import type {
  CursorQuery,
  Monitor,
  MonitorInput,
  MonitorListQuery,
  MonitorPing,
  MonitorPingAnswer,
  MonitorUpdate,
  Page,
} from '../types.js';
import { type CallOptions, Resource, callOptions, listQuery, paginate } from './base.js';

export type PingKind = 'ok' | 'start' | 'fail';

export class Monitors extends Resource {
  create(body: MonitorInput, options?: CallOptions): Promise<Monitor> {
    return this.call('post', '/v1/monitors', { body, ...callOptions(options) });
  }

  /** Create or replace by name (`PUT`). */
  upsert(
    name: string,
    body: Omit<MonitorInput, 'name'> & { name?: string },
    options?: CallOptions,
  ): Promise<Monitor> {
    return this.call('put', '/v1/monitors/{name}', {
      path: { name },
      body,
      ...callOptions(options),
    });
  }

  /** With its latest pings (`pings`). */
  get(idOrName: string, options: CallOptions & { pings?: number } = {}): Promise<Monitor> {
    return this.call('get', '/v1/monitors/{monitor}', {
      path: { monitor: idOrName },
      query: { pings: options.pings },
      ...callOptions(options),
    });
  }

  list(query: MonitorListQuery = {}, options?: CallOptions): Promise<Page<Monitor>> {
    return this.call('get', '/v1/monitors', { query: listQuery(query), ...callOptions(options) });
  }

  iterate(query: MonitorListQuery = {}, options?: CallOptions): AsyncGenerator<Monitor, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }

  /** Change some fields (`PATCH`); `enabled: false` pauses. */
  update(idOrName: string, patch: MonitorUpdate, options?: CallOptions): Promise<Monitor> {
    return this.call('patch', '/v1/monitors/{monitor}', {
      path: { monitor: idOrName },
      body: patch,
      ...callOptions(options),
    });
  }

  async delete(idOrName: string, options?: CallOptions): Promise<void> {
    await this.call('delete', '/v1/monitors/{monitor}', {
      path: { monitor: idOrName },
      ...callOptions(options),
    });
  }

  pause(idOrName: string, options?: CallOptions): Promise<Monitor> {
    return this.call('post', '/v1/monitors/{monitor}/pause', {
      path: { monitor: idOrName },
      ...callOptions(options),
    });
  }

  resume(idOrName: string, options?: CallOptions): Promise<Monitor> {
    return this.call('post', '/v1/monitors/{monitor}/resume', {
      path: { monitor: idOrName },
      ...callOptions(options),
    });
  }

  /** A new ping token: the old ping URLs stop working. */
  rotateToken(idOrName: string, options?: CallOptions): Promise<Monitor> {
    return this.call('post', '/v1/monitors/{monitor}/rotate-token', {
      path: { monitor: idOrName },
      ...callOptions(options),
    });
  }

  /** Ping with the API key (admin or worker): `ok` (default), `start` or `fail`;
   * `message` is sent as the JSON body and kept with the ping. */
  ping(
    idOrName: string,
    kind: PingKind = 'ok',
    options: CallOptions & { exitCode?: number; message?: unknown } = {},
  ): Promise<MonitorPingAnswer> {
    const common = {
      path: { monitor: idOrName },
      body: options.message,
      ...callOptions(options),
    };
    const query = { exit_code: options.exitCode };
    switch (kind) {
      case 'ok':
        return this.call('post', '/v1/monitors/{monitor}/ping', { ...common, query });
      case 'start':
        return this.call('post', '/v1/monitors/{monitor}/start', common);
      case 'fail':
        return this.call('post', '/v1/monitors/{monitor}/fail', { ...common, query });
      default:
        throw new TypeError(`kind must be ok, start or fail, not ${String(kind)}`);
    }
  }

  /** Its latest pings, newest first. */
  async pings(
    idOrName: string,
    query: Pick<CursorQuery, 'limit'> = {},
    options?: CallOptions,
  ): Promise<MonitorPing[]> {
    const answer = await this.call<Page<MonitorPing>, 'get', '/v1/monitors/{monitor}/pings'>(
      'get',
      '/v1/monitors/{monitor}/pings',
      { path: { monitor: idOrName }, query: listQuery(query), ...callOptions(options) },
    );
    return answer.data;
  }
}
