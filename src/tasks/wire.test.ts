import { describe, expect, it } from 'vitest';
import { outcomeOf } from './wire.js';

describe('outcomeOf', () => {
  it('maps settlements to transitions', () => {
    expect(outcomeOf({ result: { content: [] } })).toMatchObject({ status: 'completed' });
    expect(outcomeOf({ result: { structuredContent: { a: 1 } } })).toMatchObject({
      status: 'completed',
      result: { content: [], structuredContent: { a: 1 } },
    });
    expect(outcomeOf({ result: { resultType: 'input_required', inputRequests: {} } })).toMatchObject({
      status: 'failed',
      error: { code: -32603 },
    });
    expect(outcomeOf({ error: { code: -32000, message: 'custom' } })).toMatchObject({
      status: 'failed',
      error: { code: -32000, message: 'custom' },
    });
  });
});
