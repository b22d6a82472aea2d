/** One SSE block as a client sees it. */
export interface ParsedFrame {
  id?: string;
  event?: string;
  /** Joined `data:` lines; `undefined` when the block had none. */
  data?: string;
  retry?: number;
  /** Comment lines without the leading `:` and the spaces after it, e.g. `ping`. */
  comments: string[];
}

export function parseBlock(block: string): ParsedFrame | undefined;

export class FrameSplitter {
  push(text: string): ParsedFrame[];
}
