/**
 * Home Assistant MQTT discovery messages for one pipeline, built from the config alone (no I/O).
 * Conventions: https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery — a retained
 * JSON config on `<prefix>/<component>/<node_id>/<object_id>/config`; an empty retained
 * payload on the same topic removes the entity.
 */
import type { HomeAssistantConfig } from '../config/ha-schema.js';
import { haDeviceId, haSafeId, haUniqueId } from './ids.js';

export interface DiscoveryNode {
  /** Peer id of this node (base58, so safe inside a quoted template string). */
  id: string;
  name: string;
  version: string;
  /** The retained node record (`status` online/offline, offline by the last will). */
  recordTopic: string;
}

export interface DiscoveryPipeline {
  id: string;
  resultTopic: string;
  resultQos: 0 | 1;
  homeAssistant: HomeAssistantConfig;
}

export interface DiscoveryMessage {
  topic: string;
  /** JSON of the discovery config. */
  payload: string;
}

/**
 * The value templates. Every node running a pipeline id publishes on the same result topic, so
 * each template first keeps only this node's results. A template that renders empty leaves
 * the entity's state as it was: HA ignores an empty rendered payload, so results of other
 * nodes and calibration results (no score, no verdict) change nothing.
 */
export function anomalyTemplate(nodeId: string): string {
  return `{% if value_json.node == '${nodeId}' and value_json.anomaly is defined %}{{ 'ON' if value_json.anomaly else 'OFF' }}{% endif %}`;
}

export function scoreTemplate(nodeId: string): string {
  return `{% if value_json.node == '${nodeId}' and value_json.score is defined %}{{ value_json.score }}{% endif %}`;
}

/** The whole result as attributes (sensor, seq, threshold, model…), this node's only. */
export function attributesTemplate(nodeId: string): string {
  return `{{ (value_json if value_json.node == '${nodeId}' else this.attributes) | tojson }}`;
}

export function discoveryTopic(prefix: string, component: string, nodeId: string, objectId: string): string {
  return `${prefix}/${component}/${haDeviceId(nodeId)}/${objectId}/config`;
}

/** The two entities of one pipeline: `binary_sensor` anomaly and `sensor` anomaly score. */
export function discoveryMessages(node: DiscoveryNode, pipeline: DiscoveryPipeline): DiscoveryMessage[] {
  const ha = pipeline.homeAssistant;
  const name = ha.name ?? pipeline.id;
  const common = {
    state_topic: pipeline.resultTopic,
    qos: pipeline.resultQos,
    json_attributes_topic: pipeline.resultTopic,
    json_attributes_template: attributesTemplate(node.id),
    availability: [
      {
        topic: node.recordTopic,
        value_template: '{{ value_json.status }}',
        payload_available: 'online',
        payload_not_available: 'offline',
      },
    ],
    device: {
      identifiers: [haDeviceId(node.id)],
      name: node.name,
      manufacturer: 'fieldmesh',
      model: 'fieldmesh agent',
      sw_version: node.version,
    },
    origin: { name: 'fieldmesh', sw_version: node.version },
  };
  const pipelineObject = haSafeId(pipeline.id);
  const anomaly = {
    name: `${name} anomaly`,
    unique_id: haUniqueId(node.id, pipeline.id, 'anomaly'),
    device_class: 'problem',
    value_template: anomalyTemplate(node.id),
    payload_on: 'ON',
    payload_off: 'OFF',
    ...common,
  };
  const score = {
    name: `${name} anomaly score`,
    unique_id: haUniqueId(node.id, pipeline.id, 'anomaly_score'),
    state_class: 'measurement',
    suggested_display_precision: 4,
    value_template: scoreTemplate(node.id),
    ...common,
  };
  return [
    {
      topic: discoveryTopic(ha.discoveryPrefix, 'binary_sensor', node.id, `${pipelineObject}_anomaly`),
      payload: JSON.stringify(anomaly),
    },
    {
      topic: discoveryTopic(ha.discoveryPrefix, 'sensor', node.id, `${pipelineObject}_anomaly_score`),
      payload: JSON.stringify(score),
    },
  ];
}
