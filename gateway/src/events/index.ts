import type { Logger } from '../log/index.js';

type Listener<T> = (payload: T) => void;

/**
 * A typed event bus that calls each listener inside try/catch: a listener that throws is logged and
 * the others still run, so no hardware event can take the process down (zigbee2mqtt learned this).
 */
export class EventBus<Events extends Record<string, unknown>> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly logger: Logger) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        this.logger.error({ err: error, event: String(event) }, 'event listener failed');
      }
    }
  }
}
