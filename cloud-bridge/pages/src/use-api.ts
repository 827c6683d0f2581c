import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';

/**
 * Loads a path and keeps it fresh: again when the path changes, and every `refreshMs` when given.
 * `reload` fetches at once (after an action that changed what is shown).
 */
export function useApi<T>(path: string | undefined, refreshMs?: number) {
  // Each answer is kept with the path it answers: the render that follows a change of filter (before
  // the effect below asks again) shows nothing rather than the answer to the filter before.
  const [answer, setAnswer] = useState<{ path: string; data?: T; error: string }>();
  // An answer for a path no longer asked for (a filter changed while it was on its way) is dropped:
  // shown, it would pass for the answer to the filter now in the box.
  const asked = useRef(path);
  const load = useCallback(async () => {
    if (!path) return;
    try {
      const data = await api<T>(path);
      if (asked.current === path) setAnswer({ path, data, error: '' });
    } catch (failure) {
      if (asked.current === path)
        setAnswer((before) => ({
          path,
          ...(before?.path === path ? { data: before.data } : {}),
          error: (failure as Error).message,
        }));
    }
  }, [path]);
  useEffect(() => {
    asked.current = path;
    void load();
    if (!refreshMs) return;
    const timer = setInterval(load, refreshMs);
    return () => clearInterval(timer);
  }, [path, load, refreshMs]);
  const current = answer?.path === path ? answer : undefined;
  return { data: current?.data, error: current?.error ?? '', reload: load };
}

/** `value` once it has stayed the same for `ms`: a filter applied as it is typed, not at every key. */
export function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/**
 * What a form or a button does to the bridge: `run` clears the last failure, runs the action, and
 * keeps its message in `error` when it fails (shown by the form, never thrown into the page).
 */
export function useAction() {
  const [error, setError] = useState('');
  const run = useCallback(async (action: () => Promise<unknown>) => {
    setError('');
    try {
      await action();
    } catch (failure) {
      setError((failure as Error).message);
    }
  }, []);
  return { error, run };
}
