/**
 * Renders the value templates agent/ha/discovery.ts writes with Home Assistant's semantics, for
 * exactly their forms: `{% if value_json.node == '<id>' and value_json.<f> is defined %}…{% endif %}`
 * with `{{ 'ON' if value_json.anomaly else 'OFF' }}` or `{{ value_json.score }}` inside.
 * Anything else throws, so a template changed beyond this test's reach fails loudly.
 */
export function renderValueTemplate(template: string, valueJson: Record<string, unknown>): string {
  const m =
    /^\{% if value_json\.node == '([A-Za-z0-9]+)' and value_json\.(\w+) is defined %\}(.*)\{% endif %\}$/.exec(
      template,
    );
  if (!m) throw new Error(`a template this test cannot render: ${template}`);
  const [, node, field, body] = m as unknown as [string, string, string, string];
  if (valueJson.node !== node || valueJson[field] === undefined) return '';
  if (body === `{{ 'ON' if value_json.${field} else 'OFF' }}`) return valueJson[field] ? 'ON' : 'OFF';
  if (body === `{{ value_json.${field} }}`) return String(valueJson[field]);
  throw new Error(`a template body this test cannot render: ${body}`);
}
