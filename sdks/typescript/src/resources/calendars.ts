/**
 * `chronos.calendars`: named sets of dates a schedule excludes (`exclude_calendars: [name]`)
 * or runs only on (`only_calendar: name`).
 *
 * ```ts
 * await chronos.calendars.create({ name: 'holidays', dates: ['2026-12-25'], rules: ['weekends'] });
 * ```
 */

import type { Calendar, CalendarInput, CalendarUpdate, CursorQuery, Page } from '../types.js';
import { type CallOptions, Resource, callOptions, listQuery, paginate } from './base.js';

export class Calendars extends Resource {
  create(body: CalendarInput, options?: CallOptions): Promise<Calendar> {
    return this.call('post', '/v1/calendars', { body, ...callOptions(options) });
  }

  /** Create or replace by name (`PUT`). */
  upsert(
    name: string,
    body: Omit<CalendarInput, 'name'> & { name?: string },
    options?: CallOptions,
  ): Promise<Calendar> {
    return this.call('put', '/v1/calendars/{name}', {
      path: { name },
      body,
      ...callOptions(options),
    });
  }

  /** With `schedules`: the names of those that use it. */
  get(idOrName: string, options?: CallOptions): Promise<Calendar> {
    return this.call('get', '/v1/calendars/{calendar}', {
      path: { calendar: idOrName },
      ...callOptions(options),
    });
  }

  list(query: CursorQuery = {}, options?: CallOptions): Promise<Page<Calendar>> {
    return this.call('get', '/v1/calendars', { query: listQuery(query), ...callOptions(options) });
  }

  iterate(query: CursorQuery = {}, options?: CallOptions): AsyncGenerator<Calendar, void> {
    return paginate((cursor) => this.list({ ...query, cursor }, options), query.cursor);
  }

  /** Change some fields (`PATCH`): each one given replaces the current one. */
  update(idOrName: string, patch: CalendarUpdate, options?: CallOptions): Promise<Calendar> {
    return this.call('patch', '/v1/calendars/{calendar}', {
      path: { calendar: idOrName },
      body: patch,
      ...callOptions(options),
    });
  }

  /** Add an iCalendar text's all-day events (`replace`: instead of the current entries). */
  importIcs(
    idOrName: string,
    ics: string,
    options: CallOptions & { replace?: boolean } = {},
  ): Promise<Calendar> {
    return this.call('post', '/v1/calendars/{calendar}/import', {
      path: { calendar: idOrName },
      body: { ics, replace: options.replace ?? false },
      ...callOptions(options),
    });
  }

  /** Its dates from `from` to `to` (YYYY-MM-DD, both included). */
  async dates(
    idOrName: string,
    options: CallOptions & { from?: string; to?: string } = {},
  ): Promise<string[]> {
    const answer = await this.call<{ data: string[] }, 'get', '/v1/calendars/{calendar}/dates'>(
      'get',
      '/v1/calendars/{calendar}/dates',
      {
        path: { calendar: idOrName },
        query: { from: options.from, to: options.to },
        ...callOptions(options),
      },
    );
    return answer.data;
  }

  /** A calendar that schedules name is a `ConflictError` listing them. */
  async delete(idOrName: string, options?: CallOptions): Promise<void> {
    await this.call('delete', '/v1/calendars/{calendar}', {
      path: { calendar: idOrName },
      ...callOptions(options),
    });
  }
}
