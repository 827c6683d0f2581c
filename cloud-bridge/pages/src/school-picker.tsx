import { useEffect } from 'preact/hooks';
import { useWords } from './i18n.js';
import { useApi } from './use-api.js';

/** For a district account: which school the view shows. The first school is chosen when none is. */
export function SchoolPicker({ value, onChange }: { value?: string; onChange: (school: string) => void }) {
  const t = useWords();
  const { data } = useApi<{ schools: { id: string; name?: string }[] }>('/v1/schools');
  useEffect(() => {
    const first = data?.schools[0]?.id;
    if (!value && first) onChange(first);
  }, [data, value, onChange]);
  return (
    <label>
      {t('school')}{' '}
      <select name="school" value={value ?? ''} onInput={(e) => onChange(e.currentTarget.value)}>
        {data?.schools.map((s) => (
          <option key={s.id} value={s.id}>
            {s.name ?? s.id}
          </option>
        ))}
      </select>
    </label>
  );
}
