import type { StationTap } from '@educard/terminal-sdk';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { type Lang, pickLang, reasonText, t } from './i18n.js';
import { terminalSetup, useLink } from './link.js';
import { StatusBar } from './status-bar.js';

interface Seat {
  id: string;
  state: 'free' | 'taken';
  personId?: string;
  displayName?: string;
  class?: string;
  minutesLeft?: number;
}
interface LabView {
  seats: Seat[];
  booking?: { class: string; teacher?: string; until: string };
  closing?: string;
  open?: boolean;
}

const setup = terminalSetup();
/** What the room did with a tap, in words. */
const ACTION_WORDS: Record<string, Parameters<typeof t>[1]> = {
  signin: 'signedIn',
  signout: 'signedOut',
  booking: 'booked',
  'booking-ended': 'bookingEnded',
};
const MESSAGE_MS = 8000;

function Kiosk() {
  const [lang, setLang] = useState<Lang>(pickLang);
  const [view, setView] = useState<LabView>();
  const [last, setLast] = useState<StationTap>();
  const link = useLink(setup, (tap) => setLast(tap));

  useEffect(() => {
    if (!link.client) return;
    return link.client.onView((next) => setView(next.view as unknown as LabView));
  }, [link.client]);
  useEffect(() => {
    if (!last) return;
    const timer = setTimeout(() => setLast(undefined), MESSAGE_MS);
    return () => clearTimeout(timer);
  }, [last]);

  if (!setup) return <main class="setup">{t(lang, 'needCredentials')}</main>;
  const action = last?.detail?.action as string | undefined;
  const seat = last?.detail?.seat as string | undefined;
  const free = view?.seats.filter((s) => s.state === 'free').length ?? 0;
  return (
    <>
      <StatusBar
        title={t(lang, 'kioskTitle')}
        station={setup.station}
        lang={lang}
        link={link}
        onLang={() => setLang(lang === 'zh' ? 'en' : 'zh')}
      />
      <main class="kiosk">
        {last && (
          <section
            class={`outcome ${last.decision === 'grant' ? 'ok' : 'refused'}`}
            data-testid="last-tap"
            data-action={action ?? ''}
          >
            <div class="big">
              {last.decision === 'deny'
                ? `${t(lang, 'denied')}: ${reasonText(lang, last.reason)}`
                : t(lang, ACTION_WORDS[action ?? ''] ?? 'signedIn')}
            </div>
            <div>
              {last.patron?.displayName ?? last.patron?.personId ?? ''}
              {seat ? ` · ${t(lang, 'seat')} ${seat}` : ''}
            </div>
          </section>
        )}
        <div class="room">
          {view?.booking && (
            <span class="chip booked" data-testid="booking">
              {t(lang, 'bookedFor')} {view.booking.class} · {view.booking.until.slice(11, 16)}
            </span>
          )}
          {view?.closing && (
            <span class="chip">
              {view.open === false ? t(lang, 'closed') : `${t(lang, 'closesAt')} ${view.closing}`}
            </span>
          )}
          <span class="chip" data-testid="free-count">
            {free} / {view?.seats.length ?? 0} {t(lang, 'free')}
          </span>
        </div>
        <ul class="seats" data-testid="seats">
          {view?.seats.map((s) => (
            <li key={s.id} class={`seat ${s.state}`} data-seat={s.id} data-state={s.state}>
              <b>{s.id}</b>
              <span>{s.state === 'free' ? t(lang, 'free') : (s.displayName ?? s.personId)}</span>
              {s.minutesLeft !== undefined && (
                <span>
                  {s.minutesLeft} {t(lang, 'minutesLeft')}
                </span>
              )}
            </li>
          ))}
        </ul>
      </main>
    </>
  );
}

render(<Kiosk />, document.getElementById('app') as HTMLElement);
