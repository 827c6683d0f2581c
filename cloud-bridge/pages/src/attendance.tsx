import { useEffect, useRef, useState } from 'preact/hooks';
import {
  type AttendanceDay,
  type ClassDay,
  type ConsecutiveAbsences,
  type Counts,
  clock,
  type ParentNotice,
  type PupilDay,
  type SignedInAccount,
  type TrendWeek,
  today,
} from './api.js';
import { NOTICE_STATE_WORD, useReasonWords, useWords, type Word } from './i18n.js';
import { SchoolPicker } from './school-picker.js';
import { useApi } from './use-api.js';

const COUNT_WORDS: [keyof Counts, Word][] = [
  ['pupils', 'pupils'],
  ['present', 'present'],
  ['late', 'late'],
  ['absent', 'absent'],
  ['notArrived', 'notArrived'],
  ['onLeave', 'onLeave'],
  ['leftEarly', 'leftEarly'],
  ['turnedAway', 'turnedAway'],
];

const STATUS_WORD: Record<string, Word> = {
  present: 'present',
  late: 'late',
  absent: 'absent',
  'not-arrived': 'notArrived',
  'on-leave': 'onLeave',
};

function Totals({ counts }: { counts: Counts }) {
  const t = useWords();
  return (
    <div class="tiles">
      {COUNT_WORDS.map(([key, word]) => (
        <div key={key} class={`tile ${key}`} data-count={key}>
          <strong>{counts[key]}</strong>
          <span>{t(word)}</span>
        </div>
      ))}
    </div>
  );
}

/** What the parents were told: on its way, when, or not delivered (the office calls). */
function NoticeState({ notice, of }: { notice: ParentNotice; of: 'absence' | 'refusal' }) {
  const t = useWords();
  return (
    <span class={`parent-notice ${notice.state}`} data-parent-notice={notice.state} data-of={of}>
      {`${t(of === 'refusal' ? 'turnedAway' : 'absent')}: `}
      {t(NOTICE_STATE_WORD[notice.state])}
      {notice.state === 'waiting' ? '' : ` ${clock(notice.at)}`}
    </span>
  );
}

/** The absence notice to the pupil's parents, and the notice that they were turned away at the gate. */
function ParentNoticeCell({ pupil }: { pupil: PupilDay }) {
  const { parentNotice, refusalNotice } = pupil;
  return (
    <td>
      {parentNotice && <NoticeState notice={parentNotice} of="absence" />}
      {parentNotice && refusalNotice && ' · '}
      {refusalNotice && <NoticeState notice={refusalNotice} of="refusal" />}
    </td>
  );
}

/** A pupil's status, leaving early, and a refusal at the gate that left them outside: when and why. */
function StatusCell({ pupil }: { pupil: PupilDay }) {
  const t = useWords();
  const why = useReasonWords();
  return (
    <td class="status">
      {t(STATUS_WORD[pupil.status] ?? 'status')}
      {pupil.leftEarly ? ` · ${t('leftEarly')}` : ''}
      {pupil.turnedAwayAt && (
        <span class="turned-away">
          {' · '}
          {t('turnedAway')} {clock(pupil.turnedAwayAt)} ({why(pupil.turnedAwayReason ?? '')})
        </span>
      )}
    </td>
  );
}

/** A table's head row: its columns' words. */
function Heads({ words }: { words: Word[] }) {
  const t = useWords();
  return (
    <thead>
      <tr>
        {words.map((word) => (
          <th key={word}>{t(word)}</th>
        ))}
      </tr>
    </thead>
  );
}

function ClassTable({ day }: { day: ClassDay }) {
  const t = useWords();
  return (
    <table class="pupils" data-class={day.class}>
      <caption>
        {day.name} · {t('bell')} {clock(day.bellTime)}
      </caption>
      <Heads words={['name', 'studentNumber', 'status', 'arrived', 'left', 'parentNotice']} />
      <tbody>
        {day.pupils.map((pupil) => (
          <tr key={pupil.personId} class={`status-${pupil.status}`} data-person={pupil.personId}>
            <td>{pupil.name}</td>
            <td>{pupil.studentNumber ?? ''}</td>
            <StatusCell pupil={pupil} />
            <td>{clock(pupil.arrivedAt)}</td>
            <td>{clock(pupil.leftAt)}</td>
            <ParentNoticeCell pupil={pupil} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * The school's pupils absent after their class's cut-off or turned away at a gate and outside, class
 * by class: whom the office follows up today, and whether their parents were told.
 */
function FollowUpCard({ day }: { day: AttendanceDay }) {
  const t = useWords();
  const rows = day.classes.flatMap((group) =>
    group.pupils
      .filter((pupil) => pupil.status === 'absent' || pupil.turnedAwayAt)
      .map((pupil) => ({ group, pupil })),
  );
  if (rows.length === 0) return null;
  return (
    <section class="card follow-up" aria-labelledby="follow-up">
      <h2 id="follow-up">
        {t('followUp')} ({rows.length})
      </h2>
      <table class="pupils">
        <Heads words={['name', 'class', 'studentNumber', 'status', 'parentNotice']} />
        <tbody>
          {rows.map(({ group, pupil }) => (
            <tr key={pupil.personId} class={`status-${pupil.status}`} data-person={pupil.personId}>
              <td>{pupil.name}</td>
              <td>{group.name}</td>
              <td>{pupil.studentNumber ?? ''}</td>
              <StatusCell pupil={pupil} />
              <ParentNoticeCell pupil={pupil} />
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The pupils absent several school days running: whom the school follows up, longest first. */
function ConsecutiveAbsencesCard({ runs }: { runs: ConsecutiveAbsences }) {
  const t = useWords();
  return (
    <section class="card consecutive-absences" aria-labelledby="consecutive-absences">
      <h2 id="consecutive-absences">{t('consecutiveAbsences')}</h2>
      <table class="pupils">
        <Heads words={['name', 'class', 'studentNumber', 'schoolDays', 'absentSince']} />
        <tbody>
          {runs.pupils.map((run) => (
            <tr key={run.personId} data-person={run.personId}>
              <td>{run.name}</td>
              <td>{run.class}</td>
              <td>{run.studentNumber ?? ''}</td>
              <td>{run.days}</td>
              <td>{run.since}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The weeks' attendance rate as a line and the late and absent counts as bars: a trend reads better drawn. */
function TrendChart({ weeks }: { weeks: TrendWeek[] }) {
  const t = useWords();
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    let chart: { destroy(): void } | undefined;
    let cancelled = false;
    void import('chart.js/auto').then(({ default: Chart }) => {
      if (cancelled || !canvas.current) return;
      chart = new Chart(canvas.current, {
        data: {
          labels: weeks.map((w) => w.weekStart),
          datasets: [
            {
              type: 'line',
              label: `${t('rate')} %`,
              // A week with no school day counted yet has no rate: a gap in the line, not 0 %.
              data: weeks.map((w) => (w.rate === null ? null : Math.round(w.rate * 1000) / 10)),
              yAxisID: 'rate',
              borderColor: '#2a9d8f',
            },
            { type: 'bar', label: t('late'), data: weeks.map((w) => w.late), backgroundColor: '#f4a261' },
            { type: 'bar', label: t('absent'), data: weeks.map((w) => w.absent), backgroundColor: '#e76f51' },
          ],
        },
        options: {
          animation: false,
          responsive: true,
          scales: { rate: { position: 'right', min: 0, max: 100 }, y: { beginAtZero: true } },
        },
      });
    });
    return () => {
      cancelled = true;
      chart?.destroy();
    };
  }, [weeks, t]);
  return (
    <figure class="card trend">
      <figcaption>{t('trend')}</figcaption>
      <canvas ref={canvas} aria-label={t('trend')} data-weeks={weeks.length} />
    </figure>
  );
}

export function AttendanceView({ account }: { account: SignedInAccount }) {
  const t = useWords();
  const [school, setSchool] = useState(account.school);
  const [date, setDate] = useState(today());
  const [chosenClass, setChosenClass] = useState<string | undefined>(account.className);
  const ownClassOnly = account.role === 'head-teacher';
  const query = chosenClass ? `?class=${encodeURIComponent(chosenClass)}` : '';
  const base = school ? `/v1/attendance/${encodeURIComponent(school)}` : undefined;
  const day = useApi<AttendanceDay>(
    base && `${base}/days/${date}${query}`,
    date === today() ? 30_000 : undefined,
  );
  const trend = useApi<{ weeks: TrendWeek[] }>(base && `${base}/trend?weeks=8${query.replace('?', '&')}`);
  const absences = useApi<ConsecutiveAbsences>(base && `${base}/consecutive-absences${query}`);
  const shown = day.data;
  return (
    <section class="attendance">
      <div class="toolbar">
        {!account.school && <SchoolPicker value={school} onChange={setSchool} />}
        <label>
          {t('date')} <input type="date" value={date} onInput={(e) => setDate(e.currentTarget.value)} />
        </label>
        {!ownClassOnly && shown && (
          <label>
            {t('class')}{' '}
            <select
              value={chosenClass ?? ''}
              onInput={(e) => setChosenClass(e.currentTarget.value || undefined)}
              name="class"
            >
              <option value="">{t('allClasses')}</option>
              {(chosenClass ? [{ class: chosenClass, name: chosenClass }] : shown.classes).map((c) => (
                <option key={c.class} value={c.class}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {base && (
          <a class="button" href={`${base}/days/${date}.csv${query}`} download>
            {t('downloadCsv')}
          </a>
        )}
      </div>
      {day.error && (
        <p class="error" role="alert">
          {day.error}
        </p>
      )}
      {shown && !shown.schoolDay && (
        <p class="notice">
          {t('notSchoolDay')}
          {shown.reason ? ` (${t(shown.reason)})` : ''}
        </p>
      )}
      {shown?.gatesSilent && (
        <p class="notice gates-silent" role="status">
          {t('gatesSilent')}
        </p>
      )}
      {shown?.parentNoticesHeldBy && (
        <p class="notice parent-notices-held" role="status">
          {t('parentNoticesHeld')}: {shown.parentNoticesHeldBy?.join(', ')}
        </p>
      )}
      {shown?.schoolDay && <Totals counts={shown.totals} />}
      {shown?.schoolDay && !chosenClass && (
        <table class="classes">
          <thead>
            <tr>
              <th>{t('class')}</th>
              {COUNT_WORDS.map(([key, word]) => (
                <th key={key}>{t(word)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.classes.map((c) => (
              <tr key={c.class} data-class={c.class}>
                <td>
                  <button type="button" class="link" onClick={() => setChosenClass(c.class)}>
                    {c.name}
                  </button>
                </td>
                {COUNT_WORDS.map(([key]) => (
                  <td key={key}>{c.counts[key]}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown?.schoolDay && !chosenClass && <FollowUpCard day={shown} />}
      {shown?.schoolDay && chosenClass && shown.classes.map((c) => <ClassTable key={c.class} day={c} />)}
      {absences.data && absences.data.pupils.length > 0 && <ConsecutiveAbsencesCard runs={absences.data} />}
      {trend.data && trend.data.weeks.length > 0 && <TrendChart weeks={trend.data.weeks} />}
    </section>
  );
}
