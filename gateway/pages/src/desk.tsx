import type { Patron, StationTap, TerminalReply } from '@educard/terminal-sdk';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { type Lang, pickLang, reasonText, t } from './i18n.js';
import { newTxn, terminalSetup, useLink } from './link.js';
import { StatusBar } from './status-bar.js';

interface Loan {
  itemId: string;
  title?: string;
  /** Missing when the school's library system lent it and did not say. */
  dueAt?: string;
  overdue?: boolean;
  /** Another school's item, lent through the library system the district shares: shown, not handled here. */
  elsewhere?: boolean;
}
interface Account {
  patron: Patron;
  loans: Loan[];
  loanLimit?: number;
  blocks: string[];
  canBorrow: boolean;
}
type Mode = 'checkout' | 'return' | 'renew';
type Outcome = { kind: 'ok' | 'refused'; text: string; detail?: string } | undefined;

const PENDING = 'educard.desk.pending';
const setup = terminalSetup();

function accountOf(
  patron: Patron | undefined,
  detail: Record<string, unknown> | undefined,
): Account | undefined {
  if (!patron) return undefined;
  return {
    patron,
    loans: (detail?.loans as Loan[] | undefined) ?? [],
    loanLimit: detail?.loanLimit as number | undefined,
    blocks: (detail?.blocks as string[] | undefined) ?? [],
    canBorrow: Boolean(detail?.canBorrow),
  };
}

function Desk() {
  const [lang, setLang] = useState<Lang>(pickLang);
  const [account, setAccount] = useState<Account>();
  const [denied, setDenied] = useState<StationTap>();
  const [mode, setMode] = useState<Mode>('checkout');
  const [outcome, setOutcome] = useState<Outcome>();
  const [busy, setBusy] = useState(false);
  const scanner = useRef<HTMLInputElement>(null);

  const onTap = (tap: StationTap) => {
    setOutcome(undefined);
    if (tap.decision === 'grant' && tap.patron) {
      setDenied(undefined);
      setAccount(accountOf(tap.patron, tap.detail));
      setMode('checkout');
    } else {
      setAccount(undefined);
      setDenied(tap);
    }
  };
  // A book's tag held to the reader is what the scanner would have typed; the latest `submit` handles it.
  const submitLatest = useRef<(itemId: string) => void>(() => undefined);
  const link = useLink(setup, onTap, (item) => submitLatest.current(item.itemId));

  // Keyboard first: whatever the scanner types lands in the scanner field, without a click.
  useEffect(() => {
    const keep = () => {
      if (document.activeElement?.tagName !== 'BUTTON') scanner.current?.focus();
    };
    keep();
    const keys = (event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        setAccount(undefined);
        setDenied(undefined);
        setOutcome(undefined);
      } else if (event.key === 'F2') {
        event.preventDefault();
        setMode((m) => (m === 'return' ? 'checkout' : 'return'));
      } else if (event.key === 'F3') {
        event.preventDefault();
        setMode((m) => (m === 'renew' ? 'checkout' : 'renew'));
      } else if (
        event.target !== scanner.current &&
        event.key.length === 1 &&
        // Space on a focused button presses it; any other key is the scanner typing.
        !(event.key === ' ' && event.target instanceof HTMLButtonElement)
      ) {
        scanner.current?.focus();
      }
    };
    window.addEventListener('keydown', keys);
    window.addEventListener('focus', keep);
    return () => {
      window.removeEventListener('keydown', keys);
      window.removeEventListener('focus', keep);
    };
  }, []);

  const send = async (pending: {
    name: 'library.checkout' | 'library.return' | 'library.renew';
    args: Record<string, string>;
  }) => {
    if (!link.client) return;
    // Kept until answered: a page reloaded mid-transaction sends the same transaction again.
    sessionStorage.setItem(PENDING, JSON.stringify(pending));
    setBusy(true);
    let reply: TerminalReply;
    try {
      reply = await link.client.request(pending.name as 'library.checkout', pending.args as never, {
        timeoutMs: 10_000,
      });
    } catch {
      setOutcome({ kind: 'refused', text: reasonText(lang, 'timeout') });
      setBusy(false);
      return;
    }
    sessionStorage.removeItem(PENDING);
    setBusy(false);
    const data = reply.data ?? {};
    if (reply.status === 'ok') {
      const verb =
        pending.name === 'library.checkout'
          ? 'checkedOut'
          : pending.name === 'library.return'
            ? 'returned'
            : 'renewed';
      const title = (data.title as string | undefined) ?? pending.args.itemId;
      const due = data.dueAt ? ` · ${t(lang, 'due')} ${(data.dueAt as string).slice(0, 10)}` : '';
      setOutcome({ kind: 'ok', text: `${t(lang, verb)}: ${title}${due}` });
    } else {
      setOutcome({
        kind: 'refused',
        text: reasonText(lang, reply.reason) || (reply.message ?? ''),
        detail: reply.message,
      });
    }
    // The account as it stands now, from the station: loans held, the limit, blocks.
    const personId = (data.personId as string | undefined) ?? pending.args.personId;
    if (personId) await refresh(personId);
  };

  const refresh = async (personId: string) => {
    const reply = await link.client?.request('library.patron', { personId }).catch(() => undefined);
    if (reply?.status === 'ok' && reply.data) setAccount(accountOf(reply.data.patron as Patron, reply.data));
  };

  // Finish what a reload interrupted.
  useEffect(() => {
    const pending = sessionStorage.getItem(PENDING);
    if (link.client && pending) void send(JSON.parse(pending));
  }, [link.client]);

  const scanned = (itemId: string) => {
    const txn = newTxn();
    if (mode === 'return' || !account) return send({ name: 'library.return', args: { itemId, txn } });
    const personId = account.patron.personId;
    return send({
      name: mode === 'renew' ? 'library.renew' : 'library.checkout',
      args: { personId, itemId, txn },
    });
  };
  /** One item, from the scanner field or a book's tag. */
  const submit = (itemId: string) => {
    if (itemId && !busy) void scanned(itemId);
  };
  submitLatest.current = submit;

  if (!setup) return <main class="setup">{t(lang, 'needCredentials')}</main>;
  const switchLang = () => {
    const next = lang === 'zh' ? 'en' : 'zh';
    localStorage.setItem('educard.lang', next);
    setLang(next);
  };
  return (
    <>
      <StatusBar
        title={t(lang, 'deskTitle')}
        station={setup.station}
        lang={lang}
        link={link}
        onLang={switchLang}
      />
      <main class="desk">
        <section
          class={`patron ${denied ? 'deny' : account ? (account.canBorrow ? 'grant' : 'blocked') : 'idle'}`}
          data-testid="patron"
        >
          {denied ? (
            <>
              <div class="big">{t(lang, 'denied')}</div>
              <div class="reason" data-testid="deny-reason">
                {reasonText(lang, denied.reason)}
              </div>
              {denied.patron?.displayName && <div>{denied.patron.displayName}</div>}
            </>
          ) : account ? (
            <>
              <div class="big" data-testid="patron-name">
                {account.patron.displayName ?? account.patron.personId}
              </div>
              <div>
                {t(lang, 'class')} {account.patron.grade ?? ''}
                {account.patron.class ? `-${account.patron.class}` : ''} · {account.patron.personId}
              </div>
              <div data-testid="loan-count">
                {t(lang, 'loans')}: {account.loans.length}
                {account.loanLimit !== undefined ? ` / ${account.loanLimit}` : ''}
              </div>
              <div class="verdict">
                {account.canBorrow ? t(lang, 'canBorrow') : t(lang, 'blocked')}
                {account.blocks.map((b) => (
                  <span class="block" key={b}>
                    {reasonText(lang, b)}
                  </span>
                ))}
              </div>
              <ul class="loans" data-testid="loans">
                {account.loans.map((loan) => (
                  <li
                    key={loan.itemId}
                    class={[loan.overdue ? 'overdue' : '', loan.elsewhere ? 'elsewhere' : '']
                      .join(' ')
                      .trim()}
                  >
                    {loan.title ?? loan.itemId}
                    {loan.dueAt ? ` · ${t(lang, 'due')} ${loan.dueAt.slice(0, 10)}` : ''}
                    {loan.overdue ? ` · ${t(lang, 'overdue')}` : ''}
                    {loan.elsewhere ? ` · ${t(lang, 'elsewhere')}` : ''}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            <div class="big">{t(lang, 'tapCard')}</div>
          )}
        </section>
        <form
          class="scan"
          onSubmit={(event) => {
            event.preventDefault();
            const value = scanner.current?.value.trim();
            if (scanner.current) scanner.current.value = '';
            if (value) submit(value);
          }}
        >
          <div class="modes">
            {(['checkout', 'return', 'renew'] as const).map((m) => (
              <button
                type="button"
                key={m}
                class={mode === m ? 'on' : ''}
                onClick={() => setMode(m)}
                data-testid={`mode-${m}`}
              >
                {t(lang, m === 'checkout' ? 'modeCheckout' : m === 'return' ? 'modeReturn' : 'modeRenew')}
                {m === 'return' ? ' (F2)' : m === 'renew' ? ' (F3)' : ''}
              </button>
            ))}
          </div>
          <input
            ref={scanner}
            data-testid="scanner"
            autocomplete="off"
            placeholder={t(lang, 'scanItem')}
            aria-label={t(lang, 'scanItem')}
          />
        </form>
        {outcome && (
          <section class={`outcome ${outcome.kind}`} data-testid="outcome" data-kind={outcome.kind}>
            <div class="big">{outcome.text}</div>
            {outcome.detail && outcome.detail !== outcome.text && <div>{outcome.detail}</div>}
          </section>
        )}
      </main>
    </>
  );
}

render(<Desk />, document.getElementById('app') as HTMLElement);
