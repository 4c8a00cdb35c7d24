/**
 * The operator types of an ONNX model's main graph, read straight from the protobuf bytes (ModelProto.graph = 7,
 * GraphProto.node = 1, NodeProto.op_type = 4): enough to check what the generated models contain.
 */
export function graphOpTypes(model: Uint8Array): string[] {
  const graph = fieldsOf(model).find((f) => f.number === 7 && f.bytes);
  if (!graph) throw new Error('no graph in the model');
  return fieldsOf(graph.bytes!)
    .filter((f) => f.number === 1 && f.bytes)
    .map((node) => {
      const op = fieldsOf(node.bytes!).find((f) => f.number === 4 && f.bytes);
      if (!op) throw new Error('a node without op_type');
      return new TextDecoder().decode(op.bytes);
    });
}

function fieldsOf(bytes: Uint8Array): { number: number; bytes?: Uint8Array }[] {
  const fields: { number: number; bytes?: Uint8Array }[] = [];
  let i = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 1; ; shift *= 128) {
      const byte = bytes[i++]!;
      value += (byte & 0x7f) * shift;
      if (byte < 0x80) return value;
    }
  };
  while (i < bytes.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        varint();
        fields.push({ number });
        break;
      case 1:
        i += 8;
        fields.push({ number });
        break;
      case 2: {
        const length = varint();
        fields.push({ number, bytes: bytes.subarray(i, i + length) });
        i += length;
        break;
      }
      case 5:
        i += 4;
        fields.push({ number });
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${key & 7}`);
    }
  }
  return fields;
}
