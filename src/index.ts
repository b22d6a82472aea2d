export { type BusHandler, type ClusterBus, LocalBus } from './cluster/bus.js';
export { ClusterUnavailableError } from './cluster/redis-cluster.js';
export { RedisEventStore } from './cluster/redis-event-store.js';
export { RedisSessionStore } from './cluster/redis-session-store.js';
export { parseDuration } from './config/duration.js';
export {
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_HIBERNATE_AFTER_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_CONNECTION_AGE_MS,
  DEFAULT_MAX_EVENTS_PER_STREAM,
  DEFAULT_MAX_INITIALIZE_PARAMS_BYTES,
  DEFAULT_MAX_PING_FAILURES,
  DEFAULT_MAX_REQUESTS_IN_FLIGHT,
  DEFAULT_MAX_REQUESTS_IN_FLIGHT_PER_SESSION,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY_MS,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DEFAULT_SOCKET_MARGIN,
  InvalidOptionError,
  type ResolvedTetherOptions,
  type TetherOptions,
} from './config/options.js';
export { CLOSE_REASONS, type CloseReason } from './connection/close-reason.js';
export { ConnectionRegistry } from './connection/registry.js';
export type { SseConnection, TransportName } from './connection/sse-connection.js';
export { registerDemoTools } from './demo/demo-tools.js';
export { ERRORS, type ErrorCode } from './errors.js';
export { createTether } from './server/create-tether.js';
export type { SessionInfo, SessionsView } from './server/sessions-view.js';
export type {
  CreateTetherOptions,
  ListeningAddress,
  SetupContext,
  SetupFn,
  Tether,
} from './server/types.js';
export {
  type AppendOptions,
  type EventStore,
  EventsEvictedError,
  type EventTooLarge,
  MemoryEventStore,
  type MemoryEventStoreLimits,
  type StoredEvent,
} from './session/event-store.js';
export { MemorySessionStore, type SessionRecord, type SessionStore } from './session/session-store.js';
export {
  type CreateTaskResult,
  type DetailedTask,
  MemoryTaskStore,
  type MemoryTaskStoreOptions,
  registerTaskTool,
  TASKS_EXTENSION_ID,
  type Task,
  TaskCapacityError,
  type TaskContext,
  type TaskError,
  type TaskPatch,
  type TaskRecord,
  type TaskRuntimeOptions,
  type TaskStatus,
  type TaskStore,
  type TaskSupport,
  type TaskToolConfig,
  type TaskToolHandler,
} from './tasks/index.js';
