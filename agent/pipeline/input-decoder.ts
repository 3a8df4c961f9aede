import type { PipelineConfig } from '../config/schema.js';
import { compileDecoder, type PayloadDecoder } from '../ingest/decoders.js';

/** The payload decoder a pipeline's `input` section asks for; null for Sparkplug B, decoded elsewhere. */
export function inputDecoder(input: PipelineConfig['input']): PayloadDecoder | null {
  if (input.format === 'sparkplug') return null;
  return compileDecoder({
    format: input.format,
    maxBytes: input.maxBytes,
    ...(input.field === undefined ? {} : { field: input.field }),
    ...(input.timestampField === undefined ? {} : { timestampField: input.timestampField }),
    ...(input.sensor.from === 'field' ? { sensorField: input.sensor.field } : {}),
    ...(input.length === undefined ? {} : { length: input.length }),
  });
}
