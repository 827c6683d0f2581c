import parsePrometheusTextFormat, { type MetricFamily, type Sample } from 'parse-prometheus-text-format';

/** One scrape of a /metrics endpoint, parsed by a Prometheus text-format parser. */
export interface Scrape {
  families: Map<string, MetricFamily>;
  /** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** Every sample of a family. */
  samples(name: string): Sample[];
  /** How many time series the scrape holds: a histogram's buckets, sum and count each count. */
  series(): number;
}

const matches = (sample: Sample, labels: Record<string, string>) =>
  Object.entries(labels).every(([name, value]) => sample.labels?.[name] === value);

export function parseMetrics(text: string): Scrape {
  const families = new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]));
  const samples = (name: string) => families.get(name)?.metrics ?? [];
  return {
    families,
    samples,
    value(name, labels = {}) {
      const found = samples(name).filter((sample) => matches(sample, labels));
      if (found.length > 1)
        throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
      const sample = found[0];
      if (!sample) return undefined;
      return Number(sample.value ?? sample.count);
    },
    series() {
      let count = 0;
      for (const family of families.values())
        for (const sample of family.metrics)
          count += sample.buckets ? Object.keys(sample.buckets).length + 2 : 1;
      return count;
    },
  };
}

/** GETs a /metrics endpoint with a bearer token, and parses what it answers (which must be a 200). */
export async function scrape(url: string, token?: string): Promise<Scrape> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}: ${text}`);
  if (!response.headers.get('content-type')?.startsWith('text/plain'))
    throw new Error(`${url} answered ${response.headers.get('content-type')}, not the text format`);
  return parseMetrics(text);
}
