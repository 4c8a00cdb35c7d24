import { MessageWriter, TensorDataType, type TensorDataTypeCode } from './proto.js';

/** A dimension is fixed (number) or symbolic (string, e.g. "height"). */
export type Dim = number | string;

export type AttributeValue =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string };

export const int = (value: number): AttributeValue => ({ kind: 'int', value });
export const ints = (value: readonly number[]): AttributeValue => ({ kind: 'ints', value });
export const float = (value: number): AttributeValue => ({ kind: 'float', value });
export const str = (value: string): AttributeValue => ({ kind: 'string', value });

const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, ints: 7 } as const;
const OPSET = 17;
const IR_VERSION = 8;

/**
 * Builds one ONNX graph: value names are made unique by the builder, so graph generators can name
 * intermediate values after the layers they come from without bookkeeping.
 */
export class GraphBuilder {
  private readonly nodes: MessageWriter[] = [];
  private readonly initializers: MessageWriter[] = [];
  private readonly inputs: MessageWriter[] = [];
  private readonly outputs: MessageWriter[] = [];
  private readonly used = new Set<string>();

  constructor(private readonly graphName: string) {}

  /** A fresh value name based on `hint`. */
  name(hint: string): string {
    let candidate = hint;
    for (let i = 1; this.used.has(candidate); i++) candidate = `${hint}_${i}`;
    this.used.add(candidate);
    return candidate;
  }

  input(name: string, dims: readonly Dim[], type: TensorDataTypeCode = TensorDataType.FLOAT): string {
    this.reserve(name);
    this.inputs.push(valueInfo(name, dims, type));
    return name;
  }

  /** Declares `value` as a graph output under `name` (adding an Identity when the names differ). */
  output(name: string, value: string, dims: readonly Dim[], type: TensorDataTypeCode = TensorDataType.FLOAT): void {
    if (name !== value) {
      this.reserve(name);
      this.addNode('Identity', [value], [name]);
    }
    this.outputs.push(valueInfo(name, dims, type));
  }

  floatTensor(hint: string, dims: readonly number[], data: Float32Array): string {
    if (data.length !== dims.reduce((a, b) => a * b, 1)) {
      throw new Error(`initializer ${hint}: ${data.length} values for shape [${dims.join(', ')}]`);
    }
    const name = this.name(hint);
    const tensor = new MessageWriter().packedVarints(1, dims).varint(2, TensorDataType.FLOAT).string(8, name);
    tensor.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.initializers.push(tensor);
    return name;
  }

  int64Tensor(hint: string, dims: readonly number[], data: readonly number[]): string {
    const name = this.name(hint);
    const raw = new BigInt64Array(data.map((v) => BigInt(v)));
    const tensor = new MessageWriter().packedVarints(1, dims).varint(2, TensorDataType.INT64).string(8, name);
    tensor.bytes(9, new Uint8Array(raw.buffer));
    this.initializers.push(tensor);
    return name;
  }

  scalar(hint: string, value: number): string {
    return this.floatTensor(hint, [], Float32Array.of(value));
  }

  /** Adds a node whose single output gets a fresh name from `hint`; returns that name. */
  op(opType: string, inputs: readonly string[], hint: string, attributes: Record<string, AttributeValue> = {}): string {
    const output = this.name(hint);
    this.addNode(opType, inputs, [output], attributes);
    return output;
  }

  /**
   * The element-wise sum of `values` as a chain of Adds, left to right (the order ONNX Runtime's cpu Sum adds
   * in). Not ONNX's Sum: the WebGPU provider has no Sum kernel, so ONNX Runtime ran each Sum on the cpu with a
   * copy from and back to the device for every input (the device check's profile).
   */
  sum(values: readonly string[], hint: string): string {
    if (values.length === 0) throw new Error('a sum needs at least one value');
    return values.slice(1).reduce((acc, value, i) => this.op('Add', [acc, value], i === values.length - 2 ? hint : `${hint}/partial`), values[0]!);
  }

  /** Float zeros of the int64 [rank] `shape`, made on the device (ConstantOfShape has no WebGPU kernel either). */
  zeros(shape: string, hint: string): string {
    return this.op('Expand', [this.scalar(`${hint}/zero`, 0), shape], hint);
  }

  /** Adds a node with several outputs, named from `hints`. */
  opMulti(
    opType: string,
    inputs: readonly string[],
    hints: readonly string[],
    attributes: Record<string, AttributeValue> = {},
  ): string[] {
    const outputs = hints.map((h) => this.name(h));
    this.addNode(opType, inputs, outputs, attributes);
    return outputs;
  }

  toModel(metadata: Record<string, string> = {}): Uint8Array {
    const graph = new MessageWriter();
    for (const node of this.nodes) graph.message(1, node);
    graph.string(2, this.graphName);
    for (const init of this.initializers) graph.message(5, init);
    for (const input of this.inputs) graph.message(11, input);
    for (const output of this.outputs) graph.message(12, output);

    const model = new MessageWriter()
      .varint(1, IR_VERSION)
      .string(2, 'dasr-video-search')
      .message(7, graph)
      .message(8, new MessageWriter().string(1, '').varint(2, OPSET));
    for (const [key, value] of Object.entries(metadata)) {
      model.message(14, new MessageWriter().string(1, key).string(2, value));
    }
    return model.finish();
  }

  private reserve(name: string): void {
    if (this.used.has(name)) throw new Error(`value name "${name}" is already used`);
    this.used.add(name);
  }

  private addNode(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Record<string, AttributeValue> = {},
  ): void {
    const node = new MessageWriter();
    for (const input of inputs) node.string(1, input);
    for (const output of outputs) node.string(2, output);
    node.string(3, `${opType}_${this.nodes.length}`);
    node.string(4, opType);
    for (const [name, attr] of Object.entries(attributes)) node.message(5, encodeAttribute(name, attr));
    this.nodes.push(node);
  }
}

function encodeAttribute(name: string, attr: AttributeValue): MessageWriter {
  const message = new MessageWriter().string(1, name);
  switch (attr.kind) {
    case 'int':
      message.varint(3, attr.value);
      break;
    case 'ints':
      message.packedVarints(8, attr.value);
      break;
    case 'float':
      message.float(2, attr.value);
      break;
    case 'string':
      message.string(4, attr.value);
      break;
  }
  return message.varint(20, ATTRIBUTE_TYPE[attr.kind]);
}

function valueInfo(name: string, dims: readonly Dim[], type: TensorDataTypeCode): MessageWriter {
  const shape = new MessageWriter();
  for (const dim of dims) {
    shape.message(1, typeof dim === 'number' ? new MessageWriter().varint(1, dim) : new MessageWriter().string(2, dim));
  }
  const tensorType = new MessageWriter().varint(1, type).message(2, shape);
  return new MessageWriter().string(1, name).message(2, new MessageWriter().message(1, tensorType));
}
