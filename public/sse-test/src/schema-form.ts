/** The subset of JSON Schema a tool's `inputSchema` property is drawn with. */
interface PropertySchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  oneOf?: Array<{ const?: unknown; title?: string }>;
  anyOf?: Array<{ const?: unknown; title?: string; type?: string }>;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

interface ObjectSchema {
  type?: string;
  properties?: Record<string, PropertySchema>;
  required?: string[];
}

/** Reads one field back into a JSON value; `undefined` leaves the argument out. */
type Reader = () => unknown;

let fieldCounter = 0;

function typeOf(schema: PropertySchema): string | undefined {
  if (Array.isArray(schema.type)) return schema.type.find((t) => t !== 'null');
  return schema.type;
}

/** `enum`, or `oneOf`/`anyOf` made only of `const`s (titled enums). */
function choicesOf(schema: PropertySchema): Array<{ value: unknown; label: string }> | undefined {
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => ({ value: v, label: String(v) }));
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives?.length && alternatives.every((a) => 'const' in a)) {
    return alternatives.map((a) => ({ value: a.const, label: a.title ?? String(a.const) }));
  }
  return undefined;
}

function inputTypeFor(format: string | undefined): string {
  switch (format) {
    case 'email':
      return 'email';
    case 'uri':
    case 'url':
      return 'url';
    case 'date':
      return 'date';
    default:
      return 'text';
  }
}

/** Builds the control for one property and returns its reader. */
function control(
  name: string,
  schema: PropertySchema,
  required: boolean,
  id: string,
  describedBy: string | undefined,
): { element: HTMLElement; read: Reader } {
  const choices = choicesOf(schema);
  const type = typeOf(schema);
  const describe = (el: HTMLElement) => {
    if (describedBy) el.setAttribute('aria-describedby', describedBy);
    el.id = id;
    el.dataset.arg = name;
  };

  if (choices) {
    const select = document.createElement('select');
    describe(select);
    select.required = required;
    if (!required || schema.default === undefined) {
      const none = document.createElement('option');
      none.value = '';
      none.textContent = required ? '— choose —' : '(not set)';
      select.append(none);
    }
    choices.forEach((choice, i) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = choice.label;
      if (schema.default !== undefined && choice.value === schema.default) option.selected = true;
      select.append(option);
    });
    return {
      element: select,
      read: () => (select.value === '' ? undefined : choices[Number(select.value)]?.value),
    };
  }

  if (type === 'boolean') {
    const box = document.createElement('input');
    box.type = 'checkbox';
    describe(box);
    box.checked = schema.default === true;
    // An unticked optional box means "not set"; a required one means false.
    let touched = false;
    box.addEventListener('change', () => {
      touched = true;
    });
    return { element: box, read: () => (required || touched || box.checked ? box.checked : undefined) };
  }

  if (type === 'number' || type === 'integer') {
    const input = document.createElement('input');
    input.type = 'number';
    input.inputMode = type === 'integer' ? 'numeric' : 'decimal';
    input.step = type === 'integer' ? '1' : 'any';
    describe(input);
    input.required = required;
    const min = schema.minimum ?? schema.exclusiveMinimum;
    const max = schema.maximum ?? schema.exclusiveMaximum;
    if (min !== undefined) input.min = String(min);
    if (max !== undefined) input.max = String(max);
    if (typeof schema.default === 'number') input.value = String(schema.default);
    return { element: input, read: () => (input.value === '' ? undefined : Number(input.value)) };
  }

  if (type === 'string') {
    const input = document.createElement('input');
    input.type = inputTypeFor(schema.format);
    describe(input);
    input.required = required;
    if (schema.minLength !== undefined) input.minLength = schema.minLength;
    if (schema.maxLength !== undefined) input.maxLength = schema.maxLength;
    if (schema.pattern !== undefined) input.pattern = schema.pattern;
    if (typeof schema.default === 'string') input.value = schema.default;
    // A required string may be empty only when the schema allows it.
    return {
      element: input,
      read: () => (input.value === '' && !required ? undefined : input.value),
    };
  }

  // Objects, arrays and anything else: JSON typed by hand.
  const area = document.createElement('textarea');
  describe(area);
  area.rows = 3;
  area.required = required;
  area.spellcheck = false;
  area.placeholder = type === 'array' ? '[ … ] (JSON)' : type === 'object' ? '{ … } (JSON)' : 'JSON value';
  if (schema.default !== undefined) area.value = JSON.stringify(schema.default);
  return {
    element: area,
    read: () => {
      if (area.value.trim() === '') return undefined;
      try {
        area.setCustomValidity('');
        return JSON.parse(area.value);
      } catch {
        area.setCustomValidity('Not valid JSON');
        throw new Error(`"${name}" is not valid JSON`);
      }
    },
  };
}

/**
 * Draws a form for a tool's `inputSchema` into `container`: text, number
 * and checkbox inputs, selects for enums, JSON boxes for objects and
 * arrays; required fields are marked and enforced. Returns a function that
 * collects the arguments (throws on a JSON field that does not parse).
 *
 * @example
 * const collect = renderSchemaForm(fieldset, tool.inputSchema);
 * form.onsubmit = () => call(tool.name, collect());
 */
export function renderSchemaForm(container: HTMLElement, schema: unknown): () => Record<string, unknown> {
  container.replaceChildren();
  const object = (schema ?? {}) as ObjectSchema;
  const properties = Object.entries(object.properties ?? {});
  const required = new Set(object.required ?? []);
  if (properties.length === 0) {
    const none = document.createElement('p');
    none.className = 'hint';
    none.textContent = 'This tool takes no arguments.';
    container.append(none);
    return () => ({});
  }
  const readers: Array<[string, Reader]> = [];
  for (const [name, property] of properties) {
    const id = `arg-${++fieldCounter}`;
    const isRequired = required.has(name);
    const row = document.createElement('div');
    row.className = 'field';
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = property.title ?? name;
    if (property.title && property.title !== name) label.title = name;
    if (isRequired) {
      const mark = document.createElement('span');
      mark.className = 'required';
      mark.textContent = ' (required)';
      label.append(mark);
    }
    const hintText = [property.description, typeOf(property)].filter(Boolean).join(' · ');
    const hintId = hintText ? `${id}-hint` : undefined;
    const { element, read } = control(name, property, isRequired, id, hintId);
    if (typeOf(property) === 'boolean' && !choicesOf(property)) {
      row.classList.add('check');
      row.append(element, label);
    } else {
      row.append(label, element);
    }
    if (hintId) {
      const hint = document.createElement('small');
      hint.id = hintId;
      hint.className = 'hint';
      hint.textContent = hintText;
      row.append(hint);
    }
    container.append(row);
    readers.push([name, read]);
  }
  return () => {
    const args: Record<string, unknown> = {};
    for (const [name, read] of readers) {
      const value = read();
      if (value !== undefined) args[name] = value;
    }
    return args;
  };
}
