import type { ServerEvent } from '@modelcontextprotocol/server';

/**
 * The notification method of each server-wide change event on the
 * `ServerEventBus` (the SDK's `ServerEvent` kinds), both ways.
 */
export const SERVER_EVENT_METHODS = {
  tools_list_changed: 'notifications/tools/list_changed',
  prompts_list_changed: 'notifications/prompts/list_changed',
  resources_list_changed: 'notifications/resources/list_changed',
  resource_updated: 'notifications/resources/updated',
} as const satisfies Record<ServerEvent['kind'], string>;

const KIND_OF_METHOD = new Map<string, ServerEvent['kind']>(
  Object.entries(SERVER_EVENT_METHODS).map(([kind, method]) => [method, kind as ServerEvent['kind']]),
);

/** Whether a notification method announces a server-wide change. */
export function isServerEventMethod(method: string): boolean {
  return KIND_OF_METHOD.has(method);
}

/** The bus event a server's notification announces, or undefined when it is not a server-wide change. */
export function serverEventOf(method: string, params: unknown): ServerEvent | undefined {
  const kind = KIND_OF_METHOD.get(method);
  if (kind === undefined) return undefined;
  if (kind !== 'resource_updated') return { kind };
  const uri = (params as { uri?: unknown } | undefined)?.uri;
  return typeof uri === 'string' ? { kind, uri } : undefined;
}
