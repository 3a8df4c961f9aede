/**
 * Holds a manifest's declared inputs/outputs against what the .onnx really has, so a wrong
 * manifest fails at load time with every difference listed, not at the first inference.
 */
import { ModelSignatureMismatchError } from './errors.js';
import type { LoadedModel, ModelManifest } from './manifest.js';
import { inspectModel, type ModelInfo, type TensorInfo } from './onnx/inspect.js';
import type { Dim, InspectedDim } from './onnx/types.js';
import { shapeText, TensorPlan } from './tensor-plan.js';

type DeclaredTensor = ModelManifest['inputs'][number];

/** Every way the manifest and the model disagree; empty when they agree. */
export function signatureDifferences(manifest: ModelManifest, info: ModelInfo): string[] {
  const out: string[] = [];
  compareList('input', manifest.inputs, info.inputs, out);
  compareList('output', manifest.outputs, info.outputs, out);
  // The agent feeds only declared inputs; an undeclared one would fail every run.
  for (const actual of info.inputs) {
    if (!manifest.inputs.some((d) => d.name === actual.name)) {
      out.push(
        `the model has input "${actual.name}" (${formatTensor(actual)}) that the manifest does not declare`,
      );
    }
  }
  return out;
}

/** Throws ModelSignatureMismatchError naming `source` when the manifest does not describe the model. */
export function checkModelSignature(manifest: ModelManifest, info: ModelInfo, source: string): void {
  const differences = signatureDifferences(manifest, info);
  if (differences.length > 0) throw new ModelSignatureMismatchError(source, differences);
}

/**
 * Parses a loaded model's bytes, checks them against its manifest, and that windows can be
 * laid into its inputs (models/tensor-plan.ts); returns what was read.
 */
export function verifyLoadedModel(loaded: LoadedModel): ModelInfo {
  const info = inspectModel(loaded.bytes, loaded.path);
  checkModelSignature(loaded.manifest, info, loaded.manifestPath);
  new TensorPlan(loaded.manifest.id, loaded.manifest);
  return info;
}

function compareList(
  kind: string,
  declared: readonly DeclaredTensor[],
  actual: readonly TensorInfo[],
  out: string[],
): void {
  const names = actual.map((a) => `"${a.name}"`).join(', ') || 'none';
  for (const d of declared) {
    const a = actual.find((t) => t.name === d.name);
    if (a === undefined) {
      out.push(`${kind} "${d.name}" is declared but the model has no such ${kind} (it has ${names})`);
      continue;
    }
    if (a.type !== d.type) {
      const hint =
        a.type === 'sequence' || a.type === 'map'
          ? ' (not a tensor: a scikit-learn ZipMap output, say; leave it out of the manifest, or export with zipmap off)'
          : '';
      out.push(`${kind} "${d.name}": manifest says type ${d.type}, the model has ${a.type}${hint}`);
    }
    const why = shapeMismatch(d.shape, a.shape);
    if (why !== undefined) {
      out.push(
        `${kind} "${d.name}": manifest says shape ${formatShape(d.shape)}, the model has ${formatShape(a.shape)} (${why})`,
      );
    }
  }
}

/**
 * A declared size must equal the model's, or the model must leave that dimension open. A
 * declared symbol ("N") promises callers any size, so the model must leave it open too;
 * symbol names need not match, exporters name them differently.
 */
function shapeMismatch(declared: readonly Dim[], actual: readonly InspectedDim[] | null): string | undefined {
  if (actual === null) return undefined;
  if (declared.length !== actual.length) return `rank ${declared.length} vs ${actual.length}`;
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i];
    const a = actual[i];
    const open = typeof a === 'string' || a === null;
    if (typeof d === 'number' && !open && a !== d) return `dimension ${i} is ${d} vs ${a}`;
    if (typeof d === 'string' && !open)
      return `dimension ${i} is declared variable ("${d}") but the model fixes it to ${a}`;
  }
  return undefined;
}

function formatShape(shape: readonly (Dim | null)[] | null): string {
  return shape === null ? 'unknown' : shapeText(shape);
}

function formatTensor(t: TensorInfo): string {
  return `${t.type} ${formatShape(t.shape)}`;
}
