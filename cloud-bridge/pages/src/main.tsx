import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { AccountsView } from './accounts.js';
import { type AccountRole, ApiError, api, type Session, stamp } from './api.js';
import { AttendanceView } from './attendance.js';
import { htmlLang, type Lang, LangContext, pickLang, useWords, wordsOf } from './i18n.js';
import { LibraryView } from './library.js';
import { OperationsView } from './operations.js';
import { UpdatesView } from './updates.js';

type View = 'attendance' | 'operations' | 'library' | 'updates' | 'accounts';

/** The views each role has; the API refuses the rest anyway, the menu only spares a click. */
const VIEWS: Record<AccountRole, View[]> = {
  'district-admin': ['attendance', 'operations', 'library', 'updates', 'accounts'],
  'school-admin': ['attendance', 'operations', 'library', 'accounts'],
  'head-teacher': ['attendance', 'library'],
  operator: ['operations', 'updates'],
  librarian: ['library'],
};

function Login({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const t = useWords();
  const [error, setError] = useState('');
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.target as HTMLFormElement);
    try {
      onSignedIn(
        await api<Session>('/v1/session', {
          body: { username: form.get('username'), password: form.get('password') },
        }),
      );
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 429
          ? t('throttled')
          : failure instanceof ApiError && failure.status === 401
            ? t('badCredentials')
            : String((failure as Error).message),
      );
    }
  };
  return (
    <form class="login card" onSubmit={submit}>
      <h2>{t('signIn')}</h2>
      <label>
        {t('username')}
        <input name="username" autocomplete="username" required />
      </label>
      <label>
        {t('password')}
        <input name="password" type="password" autocomplete="current-password" required />
      </label>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit">{t('signIn')}</button>
    </form>
  );
}

/** How often a signed-in page asks the bridge's /health: a few requests a minute per open page. */
const HEALTH_EVERY_MS = 10_000;

interface Health {
  storeFailure?: { since: string; error: string };
  database?: { reachable: boolean; error?: string };
}

/**
 * What the bridge says it cannot do (GET /health, 503): store the gates' events, or reach its
 * database. A head teacher reading attendance must know that pupils shown absent may have come in.
 */
function HealthBanner() {
  const t = useWords();
  const [health, setHealth] = useState<Health>({});
  useEffect(() => {
    const ask = () => {
      fetch('/health')
        .then((response) => response.json() as Promise<Health>)
        .then(setHealth, () => undefined);
    };
    ask();
    const timer = setInterval(ask, HEALTH_EVERY_MS);
    return () => clearInterval(timer);
  }, []);
  const { storeFailure, database } = health;
  const problem = storeFailure
    ? t('notStoring').replace('{since}', stamp(storeFailure.since)).replace('{error}', storeFailure.error)
    : database?.reachable === false
      ? t('noDatabase').replace('{error}', database.error ?? '')
      : undefined;
  if (!problem) return null;
  return (
    <p class="notice error" role="alert">
      {problem} {t('gatesKeepEvents')}
    </p>
  );
}

const viewOfHash = (views: View[]): View => {
  const asked = location.hash.replace(/^#\/?/, '').split('?')[0] as View;
  return views.includes(asked) ? asked : (views[0] as View);
};

function App() {
  const [lang, setLang] = useState<Lang>(pickLang);
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [, setHash] = useState(location.hash);
  useEffect(() => {
    api<Session>('/v1/session').then(setSession, () => setSession(null));
    const onHash = () => setHash(location.hash);
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    document.documentElement.lang = htmlLang(lang);
  }, [lang]);
  const switchLang = () => {
    const next = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('educard.lang', next);
    setLang(next);
  };
  const signOut = async () => {
    await api('/v1/session', { method: 'DELETE' }).catch(() => undefined);
    setSession(null);
  };
  const words = wordsOf(lang);
  const account = session?.account;
  // Rollouts span schools: an operator bound to a school may not read them (cloud-bridge/src/access).
  const views = account
    ? VIEWS[account.role].filter((v) => v !== 'updates' || account.school === undefined)
    : [];
  const view = viewOfHash(views);
  return (
    <LangContext.Provider value={lang}>
      <header class="bar">
        <h1>
          {words('title')}
          {account && (
            <small>
              {' '}
              · {account.displayName ?? account.username} · {words(account.role)}
              {account.school ? ` · ${account.school}` : ''}
              {account.className ? ` · ${account.className}` : ''}
            </small>
          )}
        </h1>
        {views.map((v) => (
          <a key={v} href={`#/${v}`} class={v === view ? 'tab active' : 'tab'}>
            {words(v)}
          </a>
        ))}
        <button type="button" class="chip" lang={htmlLang(lang === 'zh' ? 'en' : 'zh')} onClick={switchLang}>
          {words('language')}
        </button>
        {account && (
          <button type="button" class="chip" onClick={signOut}>
            {words('signOut')}
          </button>
        )}
      </header>
      <main>
        {account && <HealthBanner />}
        {session === null && <Login onSignedIn={setSession} />}
        {account && view === 'attendance' && <AttendanceView account={account} />}
        {account && view === 'operations' && <OperationsView account={account} />}
        {account && view === 'library' && <LibraryView account={account} />}
        {account && view === 'updates' && <UpdatesView account={account} />}
        {account && view === 'accounts' && <AccountsView account={account} />}
      </main>
    </LangContext.Provider>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
