/**
 * How windows are laid out in a model's input tensor. The agent (agent/infer/model-runtime.ts)
 * and the settlement service's spot checks (settlement/spotcheck/registry.ts) both use these,
 * so a re-run on revealed bytes sees exactly the tensor the agent ran.
 */
export type Dim = number | string | null;

/** Whether the first dimension is the batch: open, on an input of rank 2 or more. */
export function hasBatchDim(shape: readonly Dim[]): boolean {
  return shape.length >= 2 && typeof shape[0] !== 'number';
}

/**
 * Samples in one window: the product of the fixed dimensions when at most one dimension is
 * symbolic ([N, 32], [1, 32] or [32]; a fixed batch of 1 adds nothing), which the manifest's
 * `declared` window must then equal; otherwise the declared window. A problem sentence when
 * neither works.
 */
export function windowWidthOf(
  shape: readonly Dim[],
  declared: number | undefined,
): { readonly width: number } | { readonly problem: string } {
  const fixed = shape.filter((d): d is number => typeof d === 'number');
  const product = fixed.reduce((a, b) => a * b, 1);
  const symbolic = shape.length - fixed.length;
  if (symbolic <= 1 && fixed.length > 0) {
    if (declared !== undefined && declared !== product) {
      return {
        problem: `the manifest says window ${declared}, the input shape [${shape.join(', ')}] holds ${product}`,
      };
    }
    return { width: product };
  }
  if (declared !== undefined) return { width: declared };
  return {
    problem: `cannot tell the window size from input shape [${shape.join(', ')}]; set preprocessing.window`,
  };
}

/**
 * Input dims for `rows` windows: the first symbolic dimension is the batch, any other the
 * window. A rank-1 input is one window, never a batch.
 */
export function inputDims(shape: readonly Dim[], rows: number, width: number): number[] {
  if (shape.length === 1) return [width];
  let batchSeen = false;
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    if (!batchSeen) {
      batchSeen = true;
      return rows;
    }
    return width;
  });
}
