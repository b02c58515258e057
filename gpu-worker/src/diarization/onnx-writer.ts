/**
 * A minimal ONNX (protobuf) writer (pure): enough of `onnx.proto` to serialise a small graph of standard operators
 * with float initialisers and model metadata. Used only to generate the synthetic diarization models of tests
 * (synthetic.ts); the pool loads real ONNX files with sherpa-onnx.
 *
 * Field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 * ValueInfoProto, TypeProto, TensorShapeProto, StringStringEntryProto, OperatorSetIdProto).
 */

/** An attribute of a node: ints, an int, a float or floats. */
export type OnnxAttribute =
  | { name: string; ints: number[] }
  | { name: string; int: number }
  | { name: string; float: number }
  | { name: string; floats: number[] };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: OnnxAttribute[];
}

/** A float tensor initialiser (a weight). */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** float32 values (FLOAT) or int64 values (INT64), row-major */
  values: Float32Array | BigInt64Array;
}

/** A graph input or output: float tensor; a string dimension is symbolic (`N`, `T`). */
export interface OnnxValueInfo {
  name: string;
  shape: (number | string)[];
}

export interface OnnxModel {
  producer: string;
  opset: number;
  nodes: OnnxNode[];
  initializers: OnnxInitializer[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** `metadata_props`: what sherpa-onnx reads with its READ_META_DATA macros */
  metadata: Record<string, string>;
}

const FLOAT = 1;
const INT64 = 7;

/** Protobuf wire-format writer (varints, length-delimited fields, fixed32 floats). */
class Writer {
  private readonly parts: Uint8Array[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    this.parts.push(Uint8Array.from(bytes));
    return this;
  }

  tag(field: number, wireType: 0 | 2 | 5): this {
    return this.varint((field << 3) | wireType);
  }

  int(field: number, value: number | bigint): this {
    return this.tag(field, 0).varint(value);
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    this.parts.push(data);
    return this;
  }

  string(field: number, text: string): this {
    return this.bytes(field, new TextEncoder().encode(text));
  }

  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.parts.push(b);
    return this;
  }

  finish(): Uint8Array {
    const length = this.parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(length);
    let offset = 0;
    for (const part of this.parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

function writeAttribute(w: Writer, attribute: OnnxAttribute): void {
  w.string(1, attribute.name);
  if ("ints" in attribute) {
    for (const v of attribute.ints) w.int(8, v);
    w.int(20, 7); // INTS
  } else if ("int" in attribute) {
    w.int(3, attribute.int);
    w.int(20, 2); // INT
  } else if ("float" in attribute) {
    w.float(2, attribute.float);
    w.int(20, 1); // FLOAT
  } else {
    for (const v of attribute.floats) w.float(7, v);
    w.int(20, 6); // FLOATS
  }
}

function writeValueInfo(w: Writer, info: OnnxValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, FLOAT);
      tensor.message(2, (shape) => {
        for (const dim of info.shape) {
          shape.message(1, (d) => (typeof dim === "number" ? d.int(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

/** Serialises a model to the bytes of an `.onnx` file. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version 8 (onnxruntime ≥ 1.14 reads it)
  w.string(2, model.producer);
  w.message(7, (graph) => {
    model.nodes.forEach((node, i) =>
      graph.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, `${node.op.toLowerCase()}_${i}`);
        n.string(4, node.op);
        for (const attribute of node.attributes ?? []) n.message(5, (a) => writeAttribute(a, attribute));
      }),
    );
    graph.string(2, "synthetic");
    for (const init of model.initializers) {
      graph.message(5, (t) => {
        for (const d of init.dims) t.int(1, d);
        t.int(2, init.values instanceof Float32Array ? FLOAT : INT64);
        t.string(8, init.name);
        t.bytes(9, new Uint8Array(init.values.buffer, init.values.byteOffset, init.values.byteLength));
      });
    }
    for (const input of model.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of model.outputs) graph.message(12, (v) => writeValueInfo(v, output));
  });
  w.message(8, (opset) => opset.string(1, "").int(2, model.opset));
  for (const [key, value] of Object.entries(model.metadata)) {
    w.message(14, (entry) => entry.string(1, key).string(2, value));
  }
  return w.finish();
}
