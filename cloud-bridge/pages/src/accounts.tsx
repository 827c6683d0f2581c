import { useState } from 'preact/hooks';
import { type Account, type AccountRole, type AuditEntry, api, type SignedInAccount, stamp } from './api.js';
import { useWords } from './i18n.js';
import { useAction, useApi, useSettled } from './use-api.js';

const ROLES: AccountRole[] = ['district-admin', 'school-admin', 'head-teacher', 'operator', 'librarian'];

function CreateAccount({ account, onCreated }: { account: SignedInAccount; onCreated: () => void }) {
  const t = useWords();
  const { error, run } = useAction();
  const roles = account.role === 'district-admin' ? ROLES : ROLES.filter((r) => r !== 'district-admin');
  const submit = (event: Event) => {
    event.preventDefault();
    const formElement = event.target as HTMLFormElement;
    const form = new FormData(formElement);
    const value = (name: string) => String(form.get(name) ?? '').trim() || undefined;
    return run(async () => {
      await api('/v1/accounts', {
        body: {
          username: value('username'),
          displayName: value('displayName'),
          password: value('password'),
          role: value('role'),
          school: account.school ?? value('school'),
          className: value('className'),
        },
      });
      formElement.reset();
      onCreated();
    });
  };
  return (
    <form class="card create-account" onSubmit={submit}>
      <h2>{t('create')}</h2>
      {/* Each field has its name on screen, not only a placeholder that goes away as one types. */}
      <label>
        {t('username')} <input name="username" required />
      </label>
      <label>
        {t('displayName')} <input name="displayName" required />
      </label>
      <label>
        {t('password')} <input name="password" type="password" autocomplete="new-password" required />
      </label>
      <label>
        {t('role')}{' '}
        <select name="role">
          {roles.map((r) => (
            <option key={r} value={r}>
              {t(r)}
            </option>
          ))}
        </select>
      </label>
      {!account.school && (
        <label>
          {t('school')} <input name="school" />
        </label>
      )}
      <label>
        {t('class')} <input name="className" />
      </label>
      <button type="submit">{t('create')}</button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/**
 * The audit log, narrowed to one reader (who) and one pupil (whose data) when they are given, as they
 * are typed (once the typing pauses): not on the input's change, which a browser fires only on Enter
 * or on leaving the box.
 */
function AuditLog() {
  const t = useWords();
  const [actorTyped, setActorTyped] = useState('');
  const [pupilTyped, setPupilTyped] = useState('');
  const actor = useSettled(actorTyped.trim(), 300);
  const pupil = useSettled(pupilTyped.trim(), 300);
  const query = new URLSearchParams({ limit: '100' });
  if (actor) query.set('actor', actor);
  if (pupil) query.set('target', `person:${pupil}`);
  const { data } = useApi<{ entries: AuditEntry[] }>(`/v1/audit?${query}`, 10_000);
  return (
    <table class="audit">
      <caption>
        {t('audit')}
        <label>
          {t('reader')}{' '}
          <input
            name="audit-actor"
            value={actorTyped}
            onInput={(e) => setActorTyped(e.currentTarget.value)}
          />
        </label>
        <label>
          {t('pupil')}{' '}
          <input
            name="audit-pupil"
            value={pupilTyped}
            onInput={(e) => setPupilTyped(e.currentTarget.value)}
          />
        </label>
      </caption>
      <thead>
        <tr>
          <th>{t('time')}</th>
          <th>{t('actor')}</th>
          <th>{t('action')}</th>
          <th>{t('target')}</th>
          <th>{t('outcome')}</th>
        </tr>
      </thead>
      <tbody>
        {data?.entries.map((e) => (
          <tr key={e.id} class={`outcome-${e.outcome}`} data-action={e.action}>
            <td>{stamp(e.at)}</td>
            <td>{e.actor}</td>
            <td>{e.action}</td>
            <td>{e.target ?? e.school ?? ''}</td>
            <td>{e.outcome}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AccountsView({ account }: { account: SignedInAccount }) {
  const t = useWords();
  const { data, reload } = useApi<{ accounts: Account[] }>('/v1/accounts');
  const setDisabled = async (target: Account, disabled: boolean) => {
    await api(`/v1/accounts/${encodeURIComponent(target.id)}`, { method: 'PATCH', body: { disabled } });
    await reload();
  };
  return (
    <section class="accounts">
      <table class="account-list">
        <caption>{t('accounts')}</caption>
        <thead>
          <tr>
            <th>{t('username')}</th>
            <th>{t('displayName')}</th>
            <th>{t('role')}</th>
            <th>{t('school')}</th>
            <th>{t('class')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data?.accounts.map((a) => (
            <tr key={a.id} data-account={a.username} class={a.disabled ? 'disabled' : ''}>
              <td>{a.username}</td>
              <td>{a.displayName ?? ''}</td>
              <td>{t(a.role)}</td>
              <td>{a.school ?? ''}</td>
              <td>{a.className ?? ''}</td>
              <td>
                {a.id !== account.id && (
                  <button type="button" onClick={() => setDisabled(a, !a.disabled)}>
                    {a.disabled ? t('enable') : t('disable')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <CreateAccount account={account} onCreated={reload} />
      <AuditLog />
    </section>
  );
}
