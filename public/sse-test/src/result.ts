import type { CallToolResult } from '@modelcontextprotocol/client';

type Block = CallToolResult['content'][number];

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Text that holds JSON is shown pretty-printed. */
function textBlock(text: string): HTMLElement {
  const trimmed = text.trim();
  if ((trimmed.startsWith('{') || trimmed.startsWith('[')) && trimmed.length > 1) {
    try {
      return el('pre', json(JSON.parse(trimmed)), 'json');
    } catch {
      // not JSON after all
    }
  }
  return el('pre', text, 'text');
}

function block(content: Block): HTMLElement {
  switch (content.type) {
    case 'text':
      return textBlock(content.text);
    case 'image': {
      const figure = el('figure');
      const img = el('img');
      img.src = `data:${content.mimeType};base64,${content.data}`;
      img.alt = `Image returned by the tool (${content.mimeType})`;
      figure.append(img, el('figcaption', content.mimeType));
      return figure;
    }
    case 'audio': {
      const audio = el('audio');
      audio.controls = true;
      audio.src = `data:${content.mimeType};base64,${content.data}`;
      audio.setAttribute('aria-label', `Audio returned by the tool (${content.mimeType})`);
      return audio;
    }
    case 'resource_link': {
      const p = el('p');
      p.append(`Resource link: ${content.name} `, el('code', content.uri));
      return p;
    }
    case 'resource': {
      const resource = content.resource as { uri: string; text?: string; blob?: string; mimeType?: string };
      const wrap = el('div');
      wrap.append(
        el('p', `Embedded resource ${resource.uri}${resource.mimeType ? ` (${resource.mimeType})` : ''}`),
      );
      if (resource.text !== undefined) wrap.append(textBlock(resource.text));
      else if (resource.blob !== undefined) wrap.append(el('p', `${resource.blob.length} base64 characters`));
      return wrap;
    }
    default:
      return el('pre', json(content), 'json');
  }
}

/**
 * Shows a tool's result: each content block as what it is (text, JSON,
 * image, audio, resource), structured content, and the whole result as
 * JSON one click away.
 */
export function showResult(
  target: HTMLElement,
  toolName: string,
  result: CallToolResult,
  elapsedMs: number,
): void {
  target.replaceChildren();
  target.dataset.outcome = result.isError ? 'tool-error' : 'ok';
  const heading = result.isError
    ? `${toolName} reported an error (${elapsedMs} ms)`
    : `${toolName} returned (${elapsedMs} ms)`;
  target.append(el('h3', heading, result.isError ? 'bad' : 'good'));
  for (const content of result.content ?? []) target.append(block(content));
  if (result.structuredContent !== undefined) {
    target.append(el('h4', 'Structured content'), el('pre', json(result.structuredContent), 'json'));
  }
  const details = el('details');
  details.append(el('summary', 'Full result as JSON'), el('pre', json(result), 'json'));
  target.append(details);
}

/** Shows a failed call: a JSON-RPC error (code, message, data), a cancellation, or a transport failure. */
export function showError(target: HTMLElement, toolName: string, error: unknown, cancelled: boolean): void {
  target.replaceChildren();
  target.dataset.outcome = cancelled ? 'cancelled' : 'error';
  if (cancelled) {
    target.append(el('h3', `${toolName} cancelled`, 'warn'));
    target.append(el('p', 'The page told the server to stop the call.'));
    return;
  }
  const e = error as { code?: unknown; message?: unknown; data?: unknown };
  target.append(el('h3', `${toolName} failed`, 'bad'));
  const text = typeof e?.message === 'string' ? e.message : String(error);
  target.append(el('p', typeof e?.code === 'number' ? `Error ${e.code}: ${text}` : text, 'error-text'));
  if (e?.data !== undefined) target.append(el('pre', json(e.data), 'json'));
}
