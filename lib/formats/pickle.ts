// A restricted reader of Python pickles, for PyTorch checkpoints: it understands the opcodes a saved state dict uses
// (protocols 2-4: containers, numbers, strings, bytes, memo, persistent ids) and builds only the few classes a
// state dict holds, through `globals` the caller allows. Any other class or function is refused: nothing in a
// file is ever executed, so a pickle that asks for os.system (say) is an error naming what it asked for.

export class PickleError extends Error {
  readonly code = "ERR_PICKLE";
}

export type PickleValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | { readonly global: string }
  | object;

/** What the caller lets a pickle build: a function of the arguments for each allowed "module.name". */
export interface PickleGlobals {
  calls: Record<string, (args: PickleValue[]) => PickleValue>;
  /** Resolves a persistent id (PyTorch: a storage). */
  persistentLoad: (pid: PickleValue) => PickleValue;
}

const MARK = Symbol("mark");
/**
 * The most container entries one pickle may build. A few bytes of pickle can double a list again and again (a
 * memo reference appended to itself); a state dict of even a large model holds a few thousand entries.
 */
const MAX_ENTRIES = 10_000_000;
type StackItem = PickleValue | typeof MARK;

class Reader {
  private pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  ) {}

  get offset(): number {
    return this.pos;
  }

  private need(n: number): number {
    if (this.pos + n > this.bytes.length) throw new PickleError(`the pickle ends early (at byte ${this.pos})`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.need(1)] as number;
  }
  u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  u64(): number {
    const n = this.view.getBigUint64(this.need(8), true);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new PickleError("a length past 2^53");
    return Number(n);
  }
  f64(): number {
    return this.view.getFloat64(this.need(8), false); // BINFLOAT is big-endian
  }
  take(n: number): Uint8Array {
    return this.bytes.subarray(this.need(n), this.pos);
  }
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new PickleError("the pickle ends inside a text line");
    return this.utf8(end - this.pos + 1).slice(0, -1);
  }
  utf8(n: number): string {
    const at = this.pos;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.take(n));
    } catch {
      throw new PickleError(`a string that is not UTF-8 at byte ${at}`);
    }
  }
}

/** A little-endian two's-complement integer (LONG1/LONG4), as a number when it is exactly representable. */
function longValue(bytes: Uint8Array): number {
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i] as number);
  if (bytes.length > 0 && (bytes[bytes.length - 1] as number) & 0x80) v -= 1n << BigInt(8 * bytes.length);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
    throw new PickleError(`an integer out of range (${v})`);
  return Number(v);
}

/** The unpickler's state: the stack, the memo, and what the caller allows. */
class Machine {
  readonly stack: StackItem[] = [];
  readonly memo = new Map<number, PickleValue>();
  private entries = 0;
  constructor(
    readonly r: Reader,
    readonly globals: PickleGlobals,
  ) {}

  fail(what: string): never {
    throw new PickleError(`${what} at byte ${this.r.offset}`);
  }
  push(v: PickleValue | typeof MARK): void {
    this.stack.push(v);
  }
  pop(): PickleValue {
    const v = this.stack.pop();
    if (v === undefined || v === MARK) this.fail(v === MARK ? "an unexpected mark" : "stack underflow");
    return v;
  }
  popToMark(): PickleValue[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) this.fail("no mark");
    return this.stack.splice(at).slice(1) as PickleValue[];
  }
  /** Counts entries put into containers; past MAX_ENTRIES the pickle is refused. */
  private count(n: number): void {
    this.entries += n;
    if (this.entries > MAX_ENTRIES) this.fail(`more than ${MAX_ENTRIES} container entries`);
  }
  top(): PickleValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) this.fail("nothing to add to");
    return v;
  }
  setItems(items: PickleValue[]): void {
    const target = this.top();
    if (!(target instanceof Map)) this.fail("SETITEM on a non-dict");
    this.count(items.length / 2);
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i] as PickleValue, items[i + 1] as PickleValue);
  }
  append(items: PickleValue[]): void {
    const target = this.top();
    if (!Array.isArray(target)) this.fail("APPEND on a non-list");
    this.count(items.length);
    target.push(...items);
  }
  global(name: string): void {
    if (!Object.hasOwn(this.globals.calls, name))
      throw new PickleError(
        `it asks for ${name}, which a checkpoint of weights never needs; refused (unpickling it could run code)`,
      );
    this.push({ global: name });
  }
  call(fn: PickleValue, args: PickleValue): void {
    const name = (fn as { global?: unknown }).global;
    if (typeof name !== "string" || !Array.isArray(args)) this.fail("a call of something other than an allowed class");
    this.push((this.globals.calls[name] as (a: PickleValue[]) => PickleValue)(args as PickleValue[]));
  }
  recall(key: number): void {
    if (!this.memo.has(key)) this.fail(`memo entry ${key} was never stored`);
    this.push(this.memo.get(key) as PickleValue);
  }
}

type Op = (m: Machine) => void;

const tuple =
  (n: number): Op =>
  (m) => {
    const items = Array.from({ length: n }, () => m.pop()).reverse();
    m.push(items);
  };

/** Every opcode a saved state dict uses, by byte. */
const OPS: Record<number, Op> = {
  0x80: (m) => void (m.r.u8() > 5 && m.fail("a pickle protocol newer than 5")), // PROTO
  0x95: (m) => void m.r.u64(), // FRAME
  0x28: (m) => m.push(MARK), // MARK
  0x7d: (m) => m.push(new Map()), // EMPTY_DICT
  0x5d: (m) => m.push([]), // EMPTY_LIST
  0x29: (m) => m.push([]), // EMPTY_TUPLE
  0x74: (m) => m.push(m.popToMark()), // TUPLE
  0x85: tuple(1),
  0x86: tuple(2),
  0x87: tuple(3),
  0x6c: (m) => m.push(m.popToMark()), // LIST
  0x64: (m) => {
    // DICT
    const items = m.popToMark();
    m.push(new Map());
    m.setItems(items);
  },
  0x61: (m) => m.append([m.pop()]), // APPEND
  0x65: (m) => m.append(m.popToMark()), // APPENDS
  0x73: (m) => {
    // SETITEM
    const v = m.pop();
    m.setItems([m.pop(), v]);
  },
  0x75: (m) => m.setItems(m.popToMark()), // SETITEMS
  0x4e: (m) => m.push(null), // NONE
  0x88: (m) => m.push(true), // NEWTRUE
  0x89: (m) => m.push(false), // NEWFALSE
  0x4a: (m) => m.push(m.r.i32()), // BININT
  0x4b: (m) => m.push(m.r.u8()), // BININT1
  0x4d: (m) => m.push(m.r.u16()), // BININT2
  0x8a: (m) => m.push(longValue(m.r.take(m.r.u8()))), // LONG1
  0x8b: (m) => m.push(longValue(m.r.take(m.r.u32()))), // LONG4
  0x47: (m) => m.push(m.r.f64()), // BINFLOAT
  0x58: (m) => m.push(m.r.utf8(m.r.u32())), // BINUNICODE
  0x8c: (m) => m.push(m.r.utf8(m.r.u8())), // SHORT_BINUNICODE
  0x8d: (m) => m.push(m.r.utf8(m.r.u64())), // BINUNICODE8
  0x42: (m) => m.push(m.r.take(m.r.u32()).slice()), // BINBYTES
  0x43: (m) => m.push(m.r.take(m.r.u8()).slice()), // SHORT_BINBYTES
  0x71: (m) => void m.memo.set(m.r.u8(), m.top()), // BINPUT
  0x72: (m) => void m.memo.set(m.r.u32(), m.top()), // LONG_BINPUT
  0x94: (m) => void m.memo.set(m.memo.size, m.top()), // MEMOIZE
  0x68: (m) => m.recall(m.r.u8()), // BINGET
  0x6a: (m) => m.recall(m.r.u32()), // LONG_BINGET
  0x63: (m) => {
    // GLOBAL "module\nname\n"
    const module = m.r.line();
    m.global(`${module}.${m.r.line()}`);
  },
  0x93: (m) => {
    // STACK_GLOBAL
    const name = m.pop();
    const module = m.pop();
    if (typeof module !== "string" || typeof name !== "string")
      throw new PickleError(`STACK_GLOBAL of non-strings at byte ${m.r.offset}`);
    m.global(`${module}.${name}`);
  },
  0x52: (m) => {
    // REDUCE
    const args = m.pop();
    m.call(m.pop(), args);
  },
  0x81: (m) => {
    // NEWOBJ: cls.__new__(cls, *args), for the classes the caller allows
    const args = m.pop();
    m.call(m.pop(), args);
  },
  0x51: (m) => m.push(m.globals.persistentLoad(m.pop())), // BINPERSID
  0x62: (m) => {
    // BUILD: state set on an object (an OrderedDict's _metadata); a state dict needs none of it
    m.pop();
    m.top();
  },
};

export function unpickle(bytes: Uint8Array, globals: PickleGlobals): PickleValue {
  const m = new Machine(new Reader(bytes), globals);
  for (;;) {
    const at = m.r.offset;
    const op = m.r.u8();
    if (op === 0x2e) return m.pop(); // STOP
    const handler = OPS[op];
    if (!handler) throw new PickleError(`opcode 0x${op.toString(16)} at byte ${at} is not one a state dict uses`);
    handler(m);
  }
}
