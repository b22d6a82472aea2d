/** What is known about a 2025-era session outside the process that serves it. */
export interface SessionRecord {
  id: string;
  createdAt: number;
  lastActivityAt: number;
  protocolVersion: string | undefined;
  /** Opaque identity of the credential that created the session, if any. */
  principal?: string | undefined;
  /** The client's `initialize` params, so another node can rebuild the session's server. */
  initParams?: unknown;
  /** Id of the session's standalone (GET) stream, shared by every node serving the session. */
  standaloneStreamId?: string | undefined;
}

/**
 * Where session records live. Async so that a shared store (Redis) can
 * replace the in-memory one without touching the transports.
 */
export interface SessionStore {
  create(record: SessionRecord): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  /** Records activity; resolves false when the session is gone. */
  touch(id: string, now: number): Promise<boolean>;
  update(id: string, patch: Partial<Omit<SessionRecord, 'id'>>): Promise<void>;
  delete(id: string): Promise<void>;
  count(): Promise<number>;
}

/**
 * The embedded default: a Map.
 *
 * @example
 * const store = new MemorySessionStore();
 * await store.create({ id: 's1', createdAt: 0, lastActivityAt: 0, protocolVersion: '2025-11-25' });
 */
export class MemorySessionStore implements SessionStore {
  private readonly records = new Map<string, SessionRecord>();

  async create(record: SessionRecord): Promise<void> {
    this.records.set(record.id, { ...record });
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const r = this.records.get(id);
    return r && { ...r };
  }

  async touch(id: string, now: number): Promise<boolean> {
    const r = this.records.get(id);
    if (!r) return false;
    r.lastActivityAt = now;
    return true;
  }

  async update(id: string, patch: Partial<Omit<SessionRecord, 'id'>>): Promise<void> {
    const r = this.records.get(id);
    if (r) Object.assign(r, patch);
  }

  async delete(id: string): Promise<void> {
    this.records.delete(id);
  }

  async count(): Promise<number> {
    return this.records.size;
  }
}
