export {
  DEFAULT_TASK_POLL_INTERVAL_MS,
  DEFAULT_TASK_TTL_MS,
  TaskRuntime,
  type TaskRuntimeOptions,
} from './runtime.js';
export {
  DEFAULT_MAX_TASKS,
  MemoryTaskStore,
  type MemoryTaskStoreOptions,
  TaskCapacityError,
  type TaskPatch,
  type TaskRecord,
  type TaskStore,
} from './store.js';
export {
  registerTaskTool,
  type TaskContext,
  type TaskToolArgs,
  type TaskToolConfig,
  type TaskToolHandler,
} from './tool.js';
export {
  type CreateTaskResult,
  type DetailedTask,
  TASKS_EXTENSION_ID,
  type Task,
  type TaskError,
  type TaskStatus,
  type TaskSupport,
} from './types.js';
