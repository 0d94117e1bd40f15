/**
 * The `cpu` reference backend: interprets every primitive on typed arrays with its reference
 * implementation. It is the oracle that the webgpu backend is tested against.
 *
 * @module
 */
import { ShapedArray } from "./aval.ts";
import type { AvalLike, Backend, Buf } from "./backend.ts";
import type { TypedArray } from "./dtype.ts";
import { getPrimitive, type HostArray } from "./primitive.ts";

/** Creates the cpu backend. */
export function createCpuBackend(): Backend {
  return {
    name: "cpu",
    description: "cpu (reference, typed arrays)",
    upload(data: TypedArray): Buf {
      return data;
    },
    read(buf: Buf): Promise<TypedArray> {
      return Promise.resolve((buf as TypedArray).slice());
    },
    readSync(buf: Buf): TypedArray {
      return buf as TypedArray;
    },
    execute(prim, inputs, inAvals, params, outAvals): Buf[] {
      const p = getPrimitive(prim);
      if (!p.impl) throw new Error(`internal: primitive ${prim} has no reference implementation`);
      const hs: HostArray[] = inputs.map((b, i) => ({
        data: b as TypedArray,
        aval: asShaped(inAvals[i]),
      }));
      return p.impl(hs, params, outAvals.map(asShaped));
    },
  };
}

function asShaped(a: AvalLike): ShapedArray {
  return a instanceof ShapedArray ? a : new ShapedArray(a.shape, a.dtype);
}
