/** One line of the event log. */
export interface LogEntry {
  /** SSE event type (`message`, `ping`, `close`, …), `comment`, `retry`, or a page-side type: `http`, `stream`, `resume`, `page`. */
  type: string;
  /** What the line shows: usually the event's data. */
  summary: string;
  /** The frame as it travelled, shown on demand. */
  raw?: string | undefined;
  /** Which request the entry belongs to, e.g. `GET /mcp`. */
  source?: string | undefined;
  /** Highlights the line (errors, drops). */
  tone?: 'error' | 'warn' | 'ok' | undefined;
}

const SUMMARY_LIMIT = 400;

function clock(date: Date): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/**
 * The event log: every SSE frame and HTTP exchange, newest last, filterable
 * by type, each line's wire form one click away (a disclosure button with
 * `aria-expanded`, usable by keyboard and screen reader).
 */
export class EventLog {
  private readonly seenTypes = new Set<string>();
  private counter = 0;
  private filter = '';

  constructor(
    private readonly list: HTMLOListElement,
    private readonly filterSelect: HTMLSelectElement,
    private readonly follow: HTMLInputElement,
    private readonly limit = 2_000,
  ) {
    filterSelect.addEventListener('change', () => this.applyFilter(filterSelect.value));
  }

  add(entry: LogEntry): void {
    const now = new Date();
    const item = document.createElement('li');
    item.className = 'entry';
    item.dataset.type = entry.type;
    if (entry.tone) item.dataset.tone = entry.tone;
    item.hidden = this.filter !== '' && this.filter !== entry.type;

    const time = document.createElement('time');
    time.dateTime = now.toISOString();
    time.textContent = clock(now);
    const type = document.createElement('span');
    type.className = 'type';
    type.textContent = entry.type;
    const summary = document.createElement('span');
    summary.className = 'summary';
    summary.textContent =
      entry.summary.length > SUMMARY_LIMIT ? `${entry.summary.slice(0, SUMMARY_LIMIT)}…` : entry.summary;
    const source = document.createElement('span');
    source.className = 'source';
    source.textContent = entry.source ?? '';
    item.append(time, type, source);
    if (entry.raw !== undefined) {
      // A disclosure button rather than <details>, so the toggle sits on the entry's first line.
      const rawId = `raw-${++this.counter}`;
      const toggle = document.createElement('button');
      toggle.type = 'button';
      toggle.className = 'raw-toggle';
      toggle.textContent = 'raw';
      toggle.setAttribute('aria-label', `Raw wire form of this ${entry.type} entry`);
      toggle.setAttribute('aria-expanded', 'false');
      toggle.setAttribute('aria-controls', rawId);
      const pre = document.createElement('pre');
      pre.id = rawId;
      pre.className = 'raw';
      pre.hidden = true;
      pre.textContent = entry.raw;
      toggle.addEventListener('click', () => {
        pre.hidden = !pre.hidden;
        toggle.setAttribute('aria-expanded', String(!pre.hidden));
      });
      item.append(toggle, summary, pre);
    } else {
      item.append(summary);
    }

    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    while (this.list.childElementCount > this.limit) this.list.firstElementChild?.remove();
    this.noteType(entry.type);
    if (this.follow.checked && atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  clear(): void {
    this.list.replaceChildren();
  }

  private noteType(type: string): void {
    if (this.seenTypes.has(type)) return;
    this.seenTypes.add(type);
    const option = document.createElement('option');
    option.value = type;
    option.textContent = type;
    const options = [...this.filterSelect.options].slice(1);
    const before = options.find((o) => o.value > type);
    this.filterSelect.insertBefore(option, before ?? null);
  }

  private applyFilter(type: string): void {
    this.filter = type;
    for (const item of this.list.children) {
      (item as HTMLElement).hidden = type !== '' && (item as HTMLElement).dataset.type !== type;
    }
    this.list.scrollTop = this.list.scrollHeight;
  }
}
