import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from './api.js';

/**
 * Loads a path and keeps it fresh: again when the path changes, and every `refreshMs` when given.
 * `reload` fetches at once (after an action that changed what is shown).
 */
export function useApi<T>(path: string | undefined, refreshMs?: number) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState('');
  const load = useCallback(async () => {
    if (!path) return;
    try {
      setData(await api<T>(path));
      setError('');
    } catch (failure) {
      setError((failure as Error).message);
    }
  }, [path]);
  useEffect(() => {
    setData(undefined);
    void load();
    if (!refreshMs) return;
    const timer = setInterval(load, refreshMs);
    return () => clearInterval(timer);
  }, [load, refreshMs]);
  return { data, error, reload: load };
}
