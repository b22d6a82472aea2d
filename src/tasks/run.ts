import {
  type InputRequest,
  type InputResponse,
  MissingRequiredClientCapabilityError,
} from '@modelcontextprotocol/server';
import type { TaskPatch } from './store.js';

/** The live side of a task this process is running: what the store cannot hold. */
export interface Run {
  controller: AbortController;
  /** Outstanding input requests, by key. */
  pending: Map<string, { request: InputRequest; answer(response: InputResponse): void }>;
  /** Every key ever requested (keys are unique over a task's lifetime). */
  usedKeys: Set<string>;
  /** Rejecters of the `requestInput` promises still waiting. */
  waiting: Set<(reason: Error) => void>;
  /** The run's store writes, in order. */
  writes: Promise<unknown>;
  /** What the request that created the task declared: input requests must stay within it. */
  clientCapabilities: Record<string, unknown>;
}

export function createRun(clientCapabilities: Record<string, unknown>): Run {
  return {
    controller: new AbortController(),
    pending: new Map(),
    usedKeys: new Set(),
    waiting: new Set(),
    writes: Promise.resolve(),
    clientCapabilities,
  };
}

/** Aborts the handler's `signal` and rejects every `requestInput` still waiting. */
export function stopRun(run: Run, reason: Error): void {
  run.controller.abort(reason);
  for (const reject of run.waiting) reject(reason);
  run.waiting.clear();
  run.pending.clear();
}

/** The input requests still unanswered, as `inputRequests` on the task. */
export function outstanding(run: Run): Record<string, InputRequest> {
  return Object.fromEntries([...run.pending].map(([key, p]) => [key, p.request]));
}

/**
 * A handler's `task.requestInput(requests)`: records the requests as
 * outstanding, has `write` put the task in `input_required`, and resolves once
 * every key is answered ({@link takeAnswers}).
 *
 * Not `async`: the promise handed out is the one a cancellation rejects, and it is marked handled.
 */
export function requestInput(
  run: Run,
  requests: Record<string, InputRequest>,
  write: (patch: TaskPatch) => Promise<unknown>,
): Promise<Record<string, InputResponse>> {
  if (run.controller.signal.aborted) return Promise.reject(new Error('task is no longer running'));
  const keys = Object.keys(requests);
  if (keys.length === 0) return Promise.resolve({});
  const reused = keys.find((key) => run.usedKeys.has(key));
  if (reused !== undefined) {
    return Promise.reject(new Error(`input key "${reused}" was already used by this task`));
  }
  for (const key of keys) {
    const missing = missingForInput(requests[key]!, run.clientCapabilities);
    if (missing !== undefined) {
      return Promise.reject(
        new MissingRequiredClientCapabilityError(
          { requiredCapabilities: missing },
          `Cannot request input '${key}' (${requests[key]!.method}): the client did not declare the capability`,
        ),
      );
    }
  }
  const answers: Record<string, InputResponse> = {};
  const done = new Promise<Record<string, InputResponse>>((resolve, reject) => {
    let left = keys.length;
    run.waiting.add(reject);
    for (const key of keys) {
      run.usedKeys.add(key);
      run.pending.set(key, {
        request: requests[key]!,
        answer: (response) => {
          answers[key] = response;
          if (--left === 0) {
            run.waiting.delete(reject);
            resolve(answers);
          }
        },
      });
    }
  });
  // A handler that dropped the promise must not take the process down when a cancel rejects it.
  done.catch(() => {});
  // Logged by the runtime's write; a failed store write must not become an unhandled rejection.
  write({ status: 'input_required', inputRequests: outstanding(run) }).catch(() => {});
  return done;
}

/**
 * Takes the outstanding requests `responses` answers off the run (keys that
 * are not outstanding are ignored) and returns, in order, the calls that hand
 * each answer to its waiting `requestInput`. The caller runs them once the
 * task's status is written.
 */
export function takeAnswers(run: Run, responses: Record<string, InputResponse>): Array<() => void> {
  const answered: Array<() => void> = [];
  for (const [key, response] of Object.entries(responses)) {
    const pending = run.pending.get(key);
    if (pending === undefined) continue;
    run.pending.delete(key);
    answered.push(() => pending.answer(response));
  }
  return answered;
}

/** The client capabilities an input request needs (none of them may be sent to a client that lacks them). */
function missingForInput(
  request: InputRequest,
  declared: Record<string, unknown>,
): Record<string, object> | undefined {
  const has = (name: string) => typeof declared[name] === 'object' && declared[name] !== null;
  switch (request.method) {
    case 'elicitation/create': {
      const url = (request.params as { mode?: unknown } | undefined)?.mode === 'url';
      const elicitation = declared.elicitation as Record<string, unknown> | undefined;
      if (!has('elicitation')) return { elicitation: url ? { url: {} } : {} };
      return url && typeof elicitation?.url !== 'object' ? { elicitation: { url: {} } } : undefined;
    }
    case 'sampling/createMessage':
      return has('sampling') ? undefined : { sampling: {} };
    case 'roots/list':
      return has('roots') ? undefined : { roots: {} };
    default:
      return undefined;
  }
}
