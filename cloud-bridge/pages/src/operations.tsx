import { useEffect, useState } from 'preact/hooks';
import {
  type Alarm,
  ApiError,
  api,
  type CardView,
  clock,
  type DeviceHealth,
  type ExpiryView,
  type LockdownView,
  type NoticeWebhookStatus,
  type PushStatus,
  type SignedInAccount,
  type StreamEvent,
  stamp,
  type TransferView,
  type VenueDay,
} from './api.js';
import { useReasonWords, useWords } from './i18n.js';
import { SchoolPicker } from './school-picker.js';
import { useAction, useApi } from './use-api.js';

const schoolQuery = (school: string | undefined, more = '') =>
  school ? `?school=${encodeURIComponent(school)}${more && `&${more}`}` : more && `?${more}`;

function Devices({ school }: { school?: string }) {
  const t = useWords();
  const { data } = useApi<{ devices: DeviceHealth[] }>(`/v1/ops/devices${schoolQuery(school)}`, 5_000);
  return (
    <table class="devices">
      <caption>{t('devices')}</caption>
      <thead>
        <tr>
          <th>{t('gate')}</th>
          <th>{t('status')}</th>
          <th>{t('lastSeen')}</th>
          <th>{t('roster')}</th>
          <th>{t('rosterExpires')}</th>
          <th>{t('backlog')}</th>
          <th>{t('alarms')}</th>
        </tr>
      </thead>
      <tbody>
        {data?.devices.map((d) => (
          <tr key={d.id} data-device={d.id}>
            <td>{d.id}</td>
            <td>
              <span class={`chip ${d.online ? 'online' : 'offline'}`}>
                {d.online ? t('online') : t('offline')}
              </span>
              {d.storage?.diskFull && <span class="chip disk-full">{t('diskFull')}</span>}
            </td>
            <td>{stamp(d.lastSeenAt)}</td>
            <td class={d.rosterVersion !== d.latestRosterVersion ? 'behind' : ''}>
              {d.rosterVersion ?? '–'} / {d.latestRosterVersion ?? '–'}
            </td>
            <td>{stamp(d.rosterExpiresAt)}</td>
            <td>{d.journalBacklog ?? '–'}</td>
            <td>{d.openAlarms.map((a) => a.kind).join(', ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * What the date will break before it does: each school's roster expiry (and the gates holding an older
 * one), whether its calendar names days off in the school year under way, and the key set's age.
 */
function Dates({ school }: { school?: string }) {
  const t = useWords();
  const { data } = useApi<ExpiryView>(`/v1/ops/expiry${schoolQuery(school)}`, 60_000);
  if (!data) return null;
  const rosterOf = new Map(data.rosters.map((r) => [r.school, r]));
  return (
    <section class="card dates">
      <h2>{t('dates')}</h2>
      <table class="expiry">
        <thead>
          <tr>
            <th>{t('school')}</th>
            <th>{t('roster')}</th>
            <th>{t('rosterExpires')}</th>
            <th>{t('olderHeld')}</th>
            <th>{t('schoolYear')}</th>
            <th>{t('daysOff')}</th>
          </tr>
        </thead>
        <tbody>
          {data.calendars.map((c) => {
            const roster = rosterOf.get(c.school);
            const state = roster?.expired ? 'expired' : roster?.expiring ? 'expiring' : 'ok';
            const daysOff = c.holidays + c.closures;
            return (
              <tr key={c.school} data-school={c.school}>
                <td>{c.school}</td>
                <td>{roster ? `v${roster.version}` : '–'}</td>
                <td data-roster={state}>
                  {stamp(roster?.expiresAt)}
                  {state !== 'ok' && <span class={`chip ${state}`}>{t(state)}</span>}
                </td>
                <td>{roster?.olderHeld.map((g) => `${g.device} v${g.version}`).join(', ') || '–'}</td>
                <td>
                  {c.schoolYear.first} – {c.schoolYear.last}
                </td>
                <td data-days-off={daysOff} class={daysOff === 0 ? 'missing' : ''}>
                  {daysOff === 0 ? t('noDaysOff') : daysOff}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {data.keySet && (
        <p class="keyset">
          {t('keySet')} v{data.keySet.version} · {t('keySetAge')} {data.keySet.ageDays} · {t('noExpiry')}
        </p>
      )}
    </section>
  );
}

function Alarms({ school }: { school?: string }) {
  const t = useWords();
  const { data, reload } = useApi<{ alarms: Alarm[] }>(
    `/v1/ops/alarms${schoolQuery(school, 'open=true')}`,
    5_000,
  );
  const ack = async (id: Alarm['id']) => {
    await api(`/v1/ops/alarms/${id}/ack`, { body: {} });
    await reload();
  };
  return (
    <section class="card alarms">
      <h2>{t('alarms')}</h2>
      {data && data.alarms.length === 0 && <p>{t('noAlarms')}</p>}
      <ul>
        {data?.alarms.map((a) => (
          <li key={a.id} data-alarm={a.kind} class={a.acknowledgedAt ? 'acknowledged' : 'open'}>
            <strong>{a.kind}</strong> {a.device ?? a.school ?? ''} · {a.message} · {stamp(a.raisedAt)}{' '}
            {a.acknowledgedAt ? (
              <em>{t('acknowledged')}</em>
            ) : (
              <button type="button" onClick={() => ack(a.id)}>
                {t('acknowledge')}
              </button>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The part of `GET /v1/central/status` this page shows. */
interface CentralStatus {
  mode: 'off' | 'api' | 'files';
  push?: PushStatus;
  journalLosses: { losses: number; missing: number; lastAt?: string };
}

function Central() {
  const t = useWords();
  const { data, error } = useApi<CentralStatus>('/v1/central/status', 5_000);
  if (error || !data || data.mode === 'off') return null;
  const push = data.push;
  return (
    <section class="card central">
      <h2>{t('centralSync')}</h2>
      {push && (
        <dl>
          <dt>{t('lag')}</dt>
          <dd data-lag>{Math.round(push.lagSeconds)} s</dd>
          <dt>{t('pending')}</dt>
          <dd data-pending>{push.pending}</dd>
          <dt>{t('deadLetters')}</dt>
          <dd>{push.deadLetters}</dd>
          <dt>{t('lostOnDevices')}</dt>
          <dd data-lost>{data.journalLosses.missing}</dd>
          <dt>{t('lastSuccess')}</dt>
          <dd>{stamp(push.lastSuccessAt)}</dd>
          {push.lastError && (
            <>
              <dt>{t('lastError')}</dt>
              <dd>{push.lastError}</dd>
            </>
          )}
        </dl>
      )}
    </section>
  );
}

/** The words for what a webhook is told of. */
const NOTICE_KINDS = {
  passages: 'sendsPassages',
  refusals: 'sendsRefusals',
  absences: 'sendsAbsences',
  'overdue-books': 'sendsOverdueBooks',
} as const;

/**
 * Parent notices, per webhook: what it is told of, what waits, what was delivered, what was given up (with a button to send
 * it again once the school has mended its receiver), and schools whose absence notices wait for a gate.
 */
function ParentNotices({ school }: { school?: string }) {
  const t = useWords();
  const { error, run } = useAction();
  const { data, reload } = useApi<{ webhooks: NoticeWebhookStatus[] }>(
    `/v1/notices/status${schoolQuery(school)}`,
    5_000,
  );
  if (!data || data.webhooks.length === 0) return null;
  const retry = (id: string) =>
    run(async () => {
      await api(`/v1/notices/deliveries/${encodeURIComponent(id)}/retry`, { body: {} });
      await reload();
    });
  return (
    <section class="card notices">
      <h2>{t('parentNotices')}</h2>
      {data.webhooks.map((hook) => (
        <div key={hook.key} data-webhook={hook.key} class="webhook">
          <p>
            <strong>{hook.url}</strong>
            {hook.school ? ` · ${hook.school}` : ''} ·{' '}
            <span data-sends>{hook.sends.map((kind) => t(NOTICE_KINDS[kind])).join(', ')}</span> ·{' '}
            {t('pending')} <span data-pending>{hook.pending}</span> · {t('delivered')}{' '}
            <span data-delivered>{hook.delivered}</span> · {t('failed')}{' '}
            <span data-failed>{hook.failed}</span> · {t('lastSuccess')} {stamp(hook.lastSuccessAt)}
          </p>
          {hook.lastError && (
            <p class="error">
              {t('lastError')}: {hook.lastError} · {stamp(hook.lastErrorAt)}
            </p>
          )}
          {hook.absenceHeld?.map((held) => (
            <p key={held.school} class="held" data-held={held.school}>
              {held.reason === 'gates-silent'
                ? `${t('absenceHeldSilent')}: ${held.school}`
                : `${t('absenceHeld')}: ${held.school} · ${held.gates.join(', ')}`}
            </p>
          ))}
          {hook.failedDeliveries.length > 0 && (
            <table class="failed-deliveries">
              <thead>
                <tr>
                  <th>{t('time')}</th>
                  <th>{t('notices')}</th>
                  <th>{t('attempts')}</th>
                  <th>{t('lastError')}</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {hook.failedDeliveries.map((delivery) => (
                  <tr key={delivery.id} data-delivery={delivery.id}>
                    <td>{stamp(delivery.at)}</td>
                    <td>{delivery.notices}</td>
                    <td>{delivery.attempts}</td>
                    <td>{delivery.lastError ?? ''}</td>
                    <td>
                      <button type="button" onClick={() => retry(delivery.id)}>
                        {t('sendAgain')}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
      <ErrorLine error={error} />
    </section>
  );
}

/** The newest events first, as the bridge commits them. */
function LiveEvents({ school }: { school?: string }) {
  const t = useWords();
  const [events, setEvents] = useState<StreamEvent[]>([]);
  useEffect(() => {
    let closed = false;
    void api<{ events: StreamEvent[] }>(`/v1/ops/events/recent${schoolQuery(school, 'limit=30')}`).then(
      (recent) => !closed && setEvents(recent.events),
      () => undefined,
    );
    const source = new EventSource(`/v1/ops/stream${schoolQuery(school)}`);
    source.addEventListener('event', (message) => {
      const event = JSON.parse((message as MessageEvent<string>).data) as StreamEvent;
      setEvents((held) => [event, ...held.filter((e) => e.id !== event.id)].slice(0, 50));
    });
    return () => {
      closed = true;
      source.close();
    };
  }, [school]);
  return (
    <section class="card live">
      <h2>{t('liveEvents')}</h2>
      <ol class="stream">
        {events.map((e) => (
          <li key={e.id} data-type={e.type} class={e.decision === 'deny' ? 'deny' : ''}>
            <time>{stamp(e.at)}</time> <strong>{e.type}</strong> {e.device}{' '}
            {[e.name, e.card, e.decision, e.reason].filter(Boolean).join(' · ')}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** Recent transfers between schools: both schools' versions and, gate by gate, when each took its own. */
function Transfers({ school }: { school?: string }) {
  const t = useWords();
  const { data } = useApi<{ transfers: TransferView[] }>(
    `/v1/ops/transfers${schoolQuery(school, 'limit=20')}`,
    5_000,
  );
  return (
    <section class="card transfers">
      <h2>{t('transfers')}</h2>
      {data && data.transfers.length === 0 && <p>{t('noTransfers')}</p>}
      <ul>
        {data?.transfers.map((transfer) => (
          <li key={transfer.id} data-transfer={transfer.personId}>
            <p>
              <strong>{transfer.name ?? transfer.personId}</strong> · {transfer.from} → {transfer.to} ·{' '}
              {t('firstDay')} {transfer.on} · {stamp(transfer.at)} · {transfer.actor}
              {transfer.cards.length ? ` · ${transfer.cards.join(', ')}` : ''}
            </p>
            {transfer.booksOut ? (
              <p class="notice books-out">
                {t('booksOut')
                  .replace('{count}', String(transfer.booksOut))
                  .replace('{school}', transfer.from)}
              </p>
            ) : null}
            <ul class="gates">
              {transfer.schools.map((at) => (
                <li key={at.school} data-school={at.school}>
                  {at.school} v{at.version}:{' '}
                  {at.gates?.length === 0
                    ? t('noGates')
                    : at.gates?.map((g) => (
                        <span key={g.device} data-gate={g.device} class={g.appliedAt ? 'applied' : 'pending'}>
                          {g.device} {g.appliedAt ? `${t('applied')} ${stamp(g.appliedAt)}` : t('pending')}
                          {g.online ? '' : ` (${t('offline')})`}{' '}
                        </span>
                      ))}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Each venue's visits per day over the last two weeks: visitors (each card once), re-entries, classes, refusals. */
function VenueVisits({ school }: { school?: string }) {
  const t = useWords();
  const { data } = useApi<{ days: VenueDay[] }>(
    `/v1/ops/venues/visits${schoolQuery(school, 'days=14')}`,
    30_000,
  );
  return (
    <section class="card venues">
      <h2>{t('venueVisits')}</h2>
      {data && data.days.length === 0 && <p>{t('noVenueVisits')}</p>}
      {data && data.days.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">{t('day')}</th>
              <th scope="col">{t('venue')}</th>
              <th scope="col">{t('visitors')}</th>
              <th scope="col">{t('reentries')}</th>
              <th scope="col">{t('classVisits')}</th>
              <th scope="col">{t('refused')}</th>
            </tr>
          </thead>
          <tbody>
            {data.days.map((d) => (
              <tr key={`${d.site}/${d.venue}/${d.day}`} data-venue={d.venue} data-day={d.day}>
                <td>{d.day}</td>
                <td>
                  {d.venue} ({d.site})
                </td>
                <td data-visits>{d.visits}</td>
                <td>{d.reentries}</td>
                <td>{d.classes}</td>
                <td>{d.refused}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** What a form's last request answered when it failed. */
function ErrorLine({ error }: { error: string }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

/** Each gate of a school taking a change (a card's revocation, a lockdown): applied and when, or pending. */
function GateProgress({
  gates,
}: {
  gates: { device: string; online: boolean; appliedAt?: string | undefined }[];
}) {
  const t = useWords();
  return (
    <ul class="gates">
      {gates.map((g) => (
        <li key={g.device} data-gate={g.device} class={g.appliedAt ? 'applied' : 'pending'}>
          {g.device}: {g.appliedAt ? `${t('applied')} ${stamp(g.appliedAt)}` : t('pending')}
          {g.online ? '' : ` (${t('offline')})`}
        </li>
      ))}
    </ul>
  );
}

/**
 * The school's lockdown: order it (every gate refuses entries, exits go on) or lift it, and watch each
 * gate take it. Shown to whoever may read the school's devices; the bridge refuses the order to a
 * role that may not give it.
 */
function Lockdown({ school }: { school?: string }) {
  const t = useWords();
  const [reason, setReason] = useState('');
  const { error, run } = useAction();
  const { data, reload } = useApi<LockdownView>(
    school && `/v1/schools/${encodeURIComponent(school)}/lockdown`,
    2_000,
  );
  if (!school || !data) return null;
  const { lockdown } = data;
  const switched = data.gates.filter((g) => g.switchSince);
  const locked = lockdown.active || switched.length > 0;
  const order = (event: Event, active: boolean) => {
    event.preventDefault();
    if (active && !window.confirm(t('lockdownConfirm'))) return;
    return run(async () => {
      await api(`/v1/schools/${encodeURIComponent(school)}/lockdown`, {
        body: { active, ...(active && reason.trim() ? { reason: reason.trim() } : {}) },
      });
      setReason('');
      await reload();
    });
  };
  return (
    <section
      class={`card lockdown ${locked ? 'on' : 'off'}`}
      data-lockdown={lockdown.active ? 'on' : switched.length ? 'switch' : 'off'}
    >
      <h2>{t('lockdown')}</h2>
      {switched.map((g) => (
        <p key={g.device} role="status" class="lockdown-switch" data-switch={g.device}>
          {g.device}: {t('lockdownSwitchOn')} · {stamp(g.switchSince)}
        </p>
      ))}
      {lockdown.active ? (
        <form onSubmit={(e) => order(e, false)}>
          <p role="status" class="lockdown-state">
            {t('lockdownOn')} · {lockdown.setBy} · {stamp(lockdown.setAt)}
            {lockdown.reason ? ` · ${lockdown.reason}` : ''}
          </p>
          <button type="submit">{t('liftLockdown')}</button>
        </form>
      ) : (
        <form onSubmit={(e) => order(e, true)}>
          <label>
            {t('reason')}{' '}
            <input
              name="reason"
              maxLength={200}
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
            />
          </label>
          <button type="submit" class="danger">
            {t('startLockdown')}
          </button>
        </form>
      )}
      <ErrorLine error={error} />
      {lockdown.version > 0 && (
        <GateProgress gates={data.gates.map((g) => ({ ...g, ...(g.current ? { appliedAt: g.at } : {}) }))} />
      )}
      {locked && <KeptOutside people={data.outside} />}
    </section>
  );
}

/** Who the lockdown keeps outside: the gatehouse goes to them, the office calls their parents. */
function KeptOutside({ people }: { people: LockdownView['outside'] }) {
  const t = useWords();
  const why = useReasonWords();
  if (people.length === 0) return <p class="outside none">{t('nobodyOutside')}</p>;
  return (
    <table class="outside" data-outside={people.length}>
      <caption>
        {t('outside')}: {people.length}
      </caption>
      <thead>
        <tr>
          <th>{t('name')}</th>
          <th>{t('class')}</th>
          <th>{t('time')}</th>
          <th>{t('gate')}</th>
        </tr>
      </thead>
      <tbody>
        {people.map((p) => (
          <tr key={p.personId} data-person={p.personId}>
            <td>
              {p.name}
              {p.role === 'teacher' || p.role === 'staff' ? ` (${t(p.role)})` : ''}
            </td>
            <td>{p.class ?? ''}</td>
            <td title={why(p.reason)}>{clock(p.at)}</td>
            <td>{p.device}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Report a card lost and watch each gate of its school take the revocation. */
function CardLifecycle() {
  const t = useWords();
  const [cardId, setCardId] = useState('');
  const [watched, setWatched] = useState<string>();
  const { error, run } = useAction();
  const { data } = useApi<CardView>(watched && `/v1/ops/cards/${encodeURIComponent(watched)}`, 1_000);
  const act = (event: Event, lost: boolean) => {
    event.preventDefault();
    return run(async () => {
      try {
        if (lost) await api(`/v1/cards/${encodeURIComponent(cardId)}/lost`, { body: {} });
      } catch (failure) {
        // Already reported lost: watched all the same, and the answer said.
        if (failure instanceof ApiError && failure.status === 409) setWatched(cardId);
        throw failure;
      }
      setWatched(cardId);
    });
  };
  return (
    <section class="card lifecycle">
      <h2>{t('cardLifecycle')}</h2>
      <form onSubmit={(e) => act(e, true)}>
        <label>
          {t('cardId')}{' '}
          <input name="cardId" value={cardId} onInput={(e) => setCardId(e.currentTarget.value)} />
        </label>
        <button type="submit">{t('reportLost')}</button>
        <button type="button" onClick={(e) => act(e, false)}>
          {t('look')}
        </button>
      </form>
      <ErrorLine error={error} />
      {data && (
        <div class="card-view" data-status={data.status}>
          <p>
            <strong>{data.name ?? data.personId}</strong> · {data.status}
            {data.propagation ? ` · v${data.propagation.version} · ${stamp(data.propagation.changedAt)}` : ''}
          </p>
          <GateProgress gates={data.propagation?.gates ?? []} />
        </div>
      )}
    </section>
  );
}

export function OperationsView({ account }: { account: SignedInAccount }) {
  const [school, setSchool] = useState(account.school);
  return (
    <section class="operations">
      {!account.school && (
        <div class="toolbar">
          <SchoolPicker value={school} onChange={setSchool} />
        </div>
      )}
      <Lockdown school={school} />
      <Devices school={school} />
      <Dates school={school} />
      <div class="columns">
        <Alarms school={school} />
        <CardLifecycle />
      </div>
      <div class="columns">
        <LiveEvents school={school} />
        <Central />
      </div>
      {/* Parent notices are the school office's (notices.manage): an operator's page does not ask. */}
      {account.role !== 'operator' && <ParentNotices school={school} />}
      <Transfers school={school} />
      <VenueVisits school={school} />
    </section>
  );
}
