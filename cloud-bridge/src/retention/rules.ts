import { DEFAULT_RETENTION_DAYS, type RetentionConfig } from './config.js';

const DAY_MS = 86_400_000;

/** The days a rule set keeps a type: its exact rule, else its family's (`library.*`), else `*`. */
function ruleOf(rules: Record<string, number | null>, type: string): number | null | undefined {
  if (type in rules) return rules[type];
  const family = `${type.split('.')[0]}.*`;
  if (family in rules) return rules[family];
  return rules['*'];
}

/**
 * How long a school keeps events of a type: the school's rule, else the district's, else the default;
 * at each level the most specific rule that names the type.
 */
export function retentionDays(config: RetentionConfig, school: string, type: string): number | null {
  for (const rules of [config.schools[school], config.days, DEFAULT_RETENTION_DAYS]) {
    if (!rules) continue;
    const days = ruleOf(rules, type);
    if (days !== undefined) return days;
  }
  return null;
}

/** The instant before which a school's events of a type are past their retention (undefined: kept for ever). */
export function retentionCutoff(
  config: RetentionConfig,
  school: string,
  type: string,
  now: Date,
): string | undefined {
  const days = retentionDays(config, school, type);
  return days === null ? undefined : new Date(now.getTime() - days * DAY_MS).toISOString();
}
