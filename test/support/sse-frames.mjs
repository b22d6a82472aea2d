// SSE framing shared by the TypeScript support code and the plain-node client
// fixtures (test/chaos/fixtures, test/lifecycle/fixtures), which run without tsx.

/**
 * Parses one SSE block (the text between two blank lines). Returns undefined
 * for a block with no field and no comment.
 */
export function parseBlock(block) {
  const frame = { comments: [] };
  let fields = 0;
  for (const line of block.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(':')) {
      frame.comments.push(line.slice(1).trimStart());
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    fields++;
    if (field === 'id') frame.id = value;
    else if (field === 'event') frame.event = value;
    else if (field === 'retry') frame.retry = Number(value);
    else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
  }
  return fields === 0 && frame.comments.length === 0 ? undefined : frame;
}

/** Splits SSE text as it arrives into complete blocks; a partial block waits for the rest. */
export class FrameSplitter {
  #buffer = '';

  /** Adds `text` and returns the frames it completed, in order. */
  push(text) {
    this.#buffer += text.replace(/\r\n?/g, '\n');
    const frames = [];
    let end = this.#buffer.indexOf('\n\n');
    while (end !== -1) {
      const frame = parseBlock(this.#buffer.slice(0, end));
      this.#buffer = this.#buffer.slice(end + 2);
      if (frame !== undefined) frames.push(frame);
      end = this.#buffer.indexOf('\n\n');
    }
    return frames;
  }
}
