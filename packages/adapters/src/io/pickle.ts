/**
 * Python pickles (protocols 2 to 5), read safely, plus a writer for the few
 * opcodes a protocol 2 state dict needs.
 *
 * A pickle is a program for a stack machine. Each opcode byte pushes a value
 * (an int, a float, a string, an empty list, dict or tuple), builds a tuple
 * from the values above the last MARK, fills a list or dict, stores or
 * fetches a value in the memo — or does the dangerous things: names a Python
 * global (GLOBAL "module\nname\n", or STACK_GLOBAL from two strings), calls
 * it with a tuple of arguments (REDUCE), or hands state to an object (BUILD).
 * Python's own unpickler imports whatever module the file names and calls
 * whatever it finds there, so loading a pickle can run `os.system`.
 *
 * The rule here: nothing from the file is imported, evaluated or executed. A
 * global resolves only through the caller's allow-list, whose callables are
 * TypeScript functions that build plain data from their arguments; any other
 * global is refused by name before anything happens. BUILD is accepted only
 * on dicts, and their state is dropped. Opcodes outside the set that state
 * dicts use are refused with their byte and offset, and every length is
 * checked against the bytes that remain, so a hostile pickle costs time and
 * memory linear in its size, then fails with an InputFileError.
 *
 * Values come out as: None → null, bool → boolean, int → number (bigint past
 * 2^53), float → number, str → string, list and tuple → array, dict → Map,
 * and whatever the caller's globals and persistent loader return.
 */
import { InputFileError } from './input-error.js';

/** Opcode bytes, named as in CPython's Lib/pickle.py. */
const OP = {
  MARK: 0x28, // (
  EMPTY_TUPLE: 0x29, // )
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  BINFLOAT: 0x47, // G
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

const HIGHEST_PROTOCOL = 5;

/**
 * A Python callable on an allow-list, implemented in TypeScript: REDUCE hands
 * it the argument tuple and pushes what it returns. It rejects arguments by
 * throwing an Error, which the unpickler reports as an InputFileError.
 */
export class PickleFunction {
  constructor(
    /** The Python name, "module.qualname", for messages. */
    readonly name: string,
    readonly call: (args: readonly unknown[]) => unknown,
  ) {}
}

/** What `unpickle` needs besides the bytes. */
export interface UnpickleOptions {
  /** The file, for errors. */
  path: string;
  /** Which pickle in the file (e.g. its archive entry), for errors. */
  name: string;
  /** The only globals the pickle may name, by "module.name"; a PickleFunction value can be called with REDUCE. */
  globals: ReadonlyMap<string, unknown>;
  /** Turns a persistent id (BINPERSID) into a value; throws an Error to reject it. */
  persistentLoad(pid: unknown): unknown;
}

/** Runs the pickle in `bytes` and returns the value STOP leaves, as described in this module's header. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new Machine(bytes, options).run();
}

/** A short Python-like type name for messages. */
export function pickleTypeName(value: unknown): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'list or tuple';
  if (value instanceof Map) return 'dict';
  if (value instanceof PickleFunction) return value.name;
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'str';
  return (value as object).constructor?.name ?? 'object';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Machine {
  private at = 0;
  /** Offset of the opcode being run, for errors. */
  private opAt = 0;
  private readonly view: DataView;
  private readonly stack: unknown[] = [];
  /** Stack heights at each open MARK. */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    while (this.at < this.bytes.length) {
      this.opAt = this.at;
      const op = this.bytes[this.at++]!;
      switch (op) {
        case OP.PROTO: {
          const protocol = this.take(1)[0]!;
          if (protocol > HIGHEST_PROTOCOL) throw this.fail(`pickle protocol ${protocol} is newer than ${HIGHEST_PROTOCOL}`);
          break;
        }
        case OP.FRAME: // a length prefix for buffered reading; the data follows as usual
          this.take(8);
          break;
        case OP.STOP:
          return this.pop();
        case OP.MARK:
          this.marks.push(this.stack.length);
          break;
        case OP.POP:
          if (this.stack.length > this.base()) this.stack.pop();
          else this.popMark();
          break;
        case OP.POP_MARK:
          this.popMark();
          break;
        case OP.NONE:
          this.stack.push(null);
          break;
        case OP.NEWTRUE:
        case OP.NEWFALSE:
          this.stack.push(op === OP.NEWTRUE);
          break;
        case OP.BININT:
          this.stack.push(this.view.getInt32(this.skip(4), true));
          break;
        case OP.BININT1:
          this.stack.push(this.take(1)[0]);
          break;
        case OP.BININT2:
          this.stack.push(this.view.getUint16(this.skip(2), true));
          break;
        case OP.LONG1:
          this.stack.push(decodeLong(this.take(this.take(1)[0]!)));
          break;
        case OP.BINFLOAT:
          this.stack.push(this.view.getFloat64(this.skip(8), false));
          break;
        case OP.SHORT_BINUNICODE:
          this.stack.push(this.text(this.take(1)[0]!));
          break;
        case OP.BINUNICODE:
          this.stack.push(this.text(this.view.getUint32(this.skip(4), true)));
          break;
        case OP.BINUNICODE8:
          this.stack.push(this.text(this.length8()));
          break;
        case OP.EMPTY_TUPLE:
        case OP.EMPTY_LIST:
          this.stack.push([]);
          break;
        case OP.EMPTY_DICT:
          this.stack.push(new Map());
          break;
        case OP.TUPLE:
          this.stack.push(this.popMark());
          break;
        case OP.TUPLE1:
        case OP.TUPLE2:
        case OP.TUPLE3: {
          const items = Array.from({ length: op - OP.TUPLE1 + 1 }, () => this.pop());
          this.stack.push(items.reverse());
          break;
        }
        case OP.APPEND: {
          const item = this.pop();
          this.list().push(item);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          const list = this.list();
          for (const item of items) list.push(item);
          break;
        }
        case OP.SETITEM: {
          const value = this.pop();
          const key = this.pop();
          this.dict().set(key, value);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          if (items.length % 2) throw this.fail(`SETITEMS has an odd number (${items.length}) of keys and values`);
          const dict = this.dict();
          for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
          break;
        }
        case OP.BINPUT:
          this.memo.set(this.take(1)[0]!, this.top());
          break;
        case OP.LONG_BINPUT:
          this.memo.set(this.view.getUint32(this.skip(4), true), this.top());
          break;
        case OP.MEMOIZE:
          this.memo.set(this.memo.size, this.top());
          break;
        case OP.BINGET:
          this.stack.push(this.recall(this.take(1)[0]!));
          break;
        case OP.LONG_BINGET:
          this.stack.push(this.recall(this.view.getUint32(this.skip(4), true)));
          break;
        case OP.GLOBAL: {
          const module = this.line();
          this.stack.push(this.resolve(module, this.line()));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') {
            throw this.fail(`STACK_GLOBAL needs two strings, got types ${pickleTypeName(module)} and ${pickleTypeName(name)}`);
          }
          this.stack.push(this.resolve(module, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.pop();
          const callable = this.pop();
          if (!(callable instanceof PickleFunction)) throw this.fail(`REDUCE calls a value of type ${pickleTypeName(callable)}, which is not an allowed function`);
          if (!Array.isArray(args)) throw this.fail(`REDUCE passes ${callable.name} a value of type ${pickleTypeName(args)} instead of an argument tuple`);
          this.stack.push(this.guard(callable.name, () => callable.call(args)));
          break;
        }
        case OP.BUILD: {
          this.pop(); // the state: torch gives OrderedDicts a _metadata attribute, which a Map has no use for
          if (!(this.top() instanceof Map)) throw this.fail(`BUILD on a value of type ${pickleTypeName(this.top())}: only dicts take state`);
          break;
        }
        case OP.BINPERSID: {
          const pid = this.pop();
          this.stack.push(this.guard('persistent id', () => this.options.persistentLoad(pid)));
          break;
        }
        default: {
          const printable = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
          throw this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${printable}`);
        }
      }
    }
    throw new InputFileError(this.options.path, `${this.options.name}: the pickle ends after ${this.bytes.length} bytes without a STOP opcode (truncated?)`);
  }

  private fail(reason: string): InputFileError {
    return new InputFileError(this.options.path, `${this.options.name}: ${reason} (at byte ${this.opAt})`);
  }

  /** Runs a caller's function, turning the Error it throws into an InputFileError with the offset. */
  private guard(what: string, call: () => unknown): unknown {
    try {
      return call();
    } catch (e) {
      if (e instanceof InputFileError) throw e;
      throw this.fail(`${what}: ${(e as Error).message}`);
    }
  }

  private resolve(module: string, name: string): unknown {
    const full = `${module}.${name}`;
    if (!this.options.globals.has(full)) {
      throw this.fail(`global ${full} is not allowed: only the tensor, storage and OrderedDict constructors of a state dict are, and nothing in the file is run`);
    }
    return this.options.globals.get(full);
  }

  /** The next `n` bytes, which must exist. */
  private take(n: number): Uint8Array {
    return this.bytes.subarray(this.skip(n), this.at);
  }

  /** Steps over the next `n` bytes, which must exist, and returns where they start. */
  private skip(n: number): number {
    const remaining = this.bytes.length - this.at;
    if (n > remaining) throw this.fail(`truncated: the opcode needs ${n} bytes but ${remaining} remain`);
    this.at += n;
    return this.at - n;
  }

  /** An 8-byte length that must fit in what remains; refused with its exact digits (a number rounds past 2^53). */
  private length8(): number {
    const n = this.view.getBigUint64(this.skip(8), true);
    const remaining = this.bytes.length - this.at;
    if (n > BigInt(remaining)) throw this.fail(`truncated: the opcode needs ${n} bytes but ${remaining} remain`);
    return Number(n);
  }

  private text(length: number): string {
    try {
      return utf8.decode(this.take(length));
    } catch (e) {
      if (e instanceof InputFileError) throw e;
      throw this.fail('a string is not valid UTF-8');
    }
  }

  /** A newline-terminated line, for GLOBAL. */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.at);
    if (end < 0) throw this.fail('truncated: GLOBAL has no newline-terminated name');
    return this.text(end - this.at + 1).slice(0, -1);
  }

  /** The stack height at the innermost open MARK: values below it belong to an outer level. */
  private base(): number {
    return this.marks.at(-1) ?? 0;
  }

  private pop(): unknown {
    if (this.stack.length <= this.base()) throw this.fail('the opcode needs a value but the stack is empty');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length <= this.base()) throw this.fail('the opcode needs a value but the stack is empty');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const mark = this.marks.pop();
    if (mark === undefined) throw this.fail('the opcode needs a MARK but none is open');
    return this.stack.splice(mark);
  }

  private list(): unknown[] {
    const list = this.top();
    if (!Array.isArray(list)) throw this.fail(`APPEND to a value of type ${pickleTypeName(list)}`);
    return list;
  }

  private dict(): Map<unknown, unknown> {
    const dict = this.top();
    if (!(dict instanceof Map)) throw this.fail(`SETITEM(S) on a value of type ${pickleTypeName(dict)}`);
    return dict;
  }

  private recall(index: number): unknown {
    if (!this.memo.has(index)) throw this.fail(`memo entry ${index} is read before it is stored`);
    return this.memo.get(index);
  }
}

/** A little-endian two's complement integer (LONG1), as a number when exact. */
function decodeLong(bytes: Uint8Array): number | bigint {
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  if (bytes.length && bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(8 * bytes.length);
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/**
 * Writes a protocol 2 pickle, the protocol torch.save uses and the one its
 * weights-only loader reads. The caller keeps the program well formed.
 */
export class PickleWriter {
  private readonly parts: Buffer[] = [Buffer.from([OP.PROTO, 2])];

  /** Pushes the global `module.name` (GLOBAL). */
  global(module: string, name: string): this {
    return this.op(OP.GLOBAL).raw(Buffer.from(`${module}\n${name}\n`, 'utf8'));
  }

  /** Opens a MARK for `tuple()` or `setItems()`. */
  mark(): this {
    return this.op(OP.MARK);
  }

  /** Replaces the values above the last MARK by a tuple of them. */
  tuple(): this {
    return this.op(OP.TUPLE);
  }

  /** Calls the callable below the top with the argument tuple on top. */
  reduce(): this {
    return this.op(OP.REDUCE);
  }

  /** Replaces the top by the object it is the persistent id of. */
  persistentId(): this {
    return this.op(OP.BINPERSID);
  }

  /** Sets key/value pairs above the last MARK into the dict below it. */
  setItems(): this {
    return this.op(OP.SETITEMS);
  }

  /** Pushes a str (BINUNICODE). */
  string(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(bytes.length);
    return this.op(OP.BINUNICODE).raw(length).raw(bytes);
  }

  /** Pushes a safe integer in the shortest form Python's pickler would use. */
  int(value: number): this {
    if (!Number.isSafeInteger(value)) throw new Error(`PickleWriter: ${value} is not a safe integer`);
    if (value >= 0 && value < 0x100) return this.op(OP.BININT1).raw(Buffer.from([value]));
    if (value >= 0 && value < 0x10000) return this.op(OP.BININT2).raw(Buffer.from([value & 0xff, value >> 8]));
    if (value >= -0x80000000 && value < 0x80000000) {
      const bytes = Buffer.alloc(4);
      bytes.writeInt32LE(value);
      return this.op(OP.BININT).raw(bytes);
    }
    const bytes: number[] = [];
    for (let rest = BigInt(value); ; ) {
      const byte = Number(BigInt.asUintN(8, rest));
      bytes.push(byte);
      rest >>= 8n;
      if ((rest === 0n && byte < 0x80) || (rest === -1n && byte >= 0x80)) break;
    }
    return this.op(OP.LONG1).raw(Buffer.from([bytes.length, ...bytes]));
  }

  /** Pushes True or False. */
  bool(value: boolean): this {
    return this.op(value ? OP.NEWTRUE : OP.NEWFALSE);
  }

  /** Ends the program (STOP) and returns its bytes. */
  stop(): Buffer {
    return Buffer.concat([...this.parts, Buffer.from([OP.STOP])]);
  }

  private op(code: number): this {
    return this.raw(Buffer.from([code]));
  }

  private raw(bytes: Buffer): this {
    this.parts.push(bytes);
    return this;
  }
}
