import { useState } from 'preact/hooks';
import {
  api,
  type CatalogueImportReport,
  type LoanConflictView,
  type OverdueList,
  type SignedInAccount,
  stamp,
} from './api.js';
import { NOTICE_STATE_WORD, useWords } from './i18n.js';
import { SchoolPicker } from './school-picker.js';
import { useAction, useApi } from './use-api.js';

/** A due date as the reader's calendar shows it. */
const day = (iso: string) => new Date(iso).toLocaleDateString([], { dateStyle: 'medium' });

/** Problems listed on the page at most: the rest are counted (the file has them all by line). */
const PROBLEMS_SHOWN = 50;

/**
 * Sends a catalogue file's text to the bridge (inside JSON: a signed-in page may send nothing else);
 * the report, whether it applied (200) or found problems (422).
 */
const importCatalogue = (school: string, csv: string, dryRun: boolean) =>
  api<CatalogueImportReport>(`/v1/catalogue/${encodeURIComponent(school)}/import`, {
    body: { csv, dryRun },
    allow: [422],
  });

/**
 * The school's catalogue: what the gates hold now, and a CSV file to import. A file is checked first
 * (a dry run that says what it adds, changes and removes); only a file checked clean can be imported,
 * since an import replaces the whole catalogue.
 */
function CatalogueCard({ school }: { school: string }) {
  const t = useWords();
  const current = useApi<{ version: number; items: number; issuedAt: string }>(
    `/v1/catalogue/${encodeURIComponent(school)}`,
  );
  const [file, setFile] = useState<{ name: string; text: string }>();
  const [report, setReport] = useState<CatalogueImportReport>();
  const { error, run } = useAction();
  const choose = async (event: Event) => {
    const chosen = (event.currentTarget as HTMLInputElement).files?.[0];
    setReport(undefined);
    setFile(chosen ? { name: chosen.name, text: await chosen.text() } : undefined);
  };
  const send = (dryRun: boolean) =>
    run(async () => {
      if (!file) return;
      const done = await importCatalogue(school, file.text, dryRun);
      setReport(done);
      if (!done.dryRun) await current.reload();
    });
  const counts = (r: CatalogueImportReport) =>
    t('importCounts')
      .replace('{added}', String(r.added))
      .replace('{updated}', String(r.updated))
      .replace('{removed}', String(r.removed))
      .replace('{unchanged}', String(r.unchanged));
  return (
    <section class="card catalogue">
      <h2>{t('catalogue')}</h2>
      <p class="current">
        {current.data
          ? t('catalogueNow')
              .replace('{version}', String(current.data.version))
              .replace('{items}', String(current.data.items))
              .replace('{at}', stamp(current.data.issuedAt))
          : t('noCatalogue')}
      </p>
      <div class="toolbar">
        <label>
          {t('catalogueFile')} <input type="file" name="catalogue" accept=".csv,text/csv" onChange={choose} />
        </label>
        <button type="button" disabled={!file} onClick={() => send(true)}>
          {t('check')}
        </button>
        <button type="button" disabled={!(report?.ok && report.dryRun)} onClick={() => send(false)}>
          {t('importFile')}
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {report && (
        <div class="report" data-ok={String(report.ok)} data-dry-run={String(report.dryRun)} role="status">
          <p>{counts(report)}</p>
          {report.ok && report.dryRun && report.removed > 0 && <p class="notice">{t('importRemoves')}</p>}
          {report.ok && (
            <p>
              {report.dryRun
                ? t('importChecked')
                : t('imported').replace('{version}', String(report.version ?? ''))}
            </p>
          )}
          {!report.ok && (
            <>
              <p class="error">{t('importProblems').replace('{count}', String(report.problems.length))}</p>
              <table class="problems">
                <thead>
                  <tr>
                    <th>{t('line')}</th>
                    <th>{t('barcode')}</th>
                    <th>{t('problem')}</th>
                  </tr>
                </thead>
                <tbody>
                  {report.problems.slice(0, PROBLEMS_SHOWN).map((problem) => (
                    <tr key={`${problem.line}-${problem.problem}`} data-line={problem.line}>
                      <td class="number">{problem.line}</td>
                      <td>{problem.itemId ?? ''}</td>
                      <td>{problem.problem}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {report.problems.length > PROBLEMS_SHOWN && <p>… {report.problems.length - PROBLEMS_SHOWN}</p>}
            </>
          )}
        </div>
      )}
    </section>
  );
}

/**
 * Copies lent twice and not back yet (two desks offline at once): what the librarian must find on a
 * shelf or in a bag. Shown only while there are any; a conflict whose copy came back is history.
 */
function ConflictsCard({ base }: { base: string }) {
  const t = useWords();
  const { data } = useApi<{ conflicts: LoanConflictView[] }>(`${base}/conflicts`, 60_000);
  const open = (data?.conflicts ?? []).filter((conflict) => conflict.loans.some((loan) => !loan.returnedAt));
  if (open.length === 0) return null;
  return (
    <section class="card conflicts">
      <h2>
        {t('loanConflicts')} ({open.length})
      </h2>
      <p>{t('loanConflictsHint')}</p>
      <table class="conflicts">
        <thead>
          <tr>
            <th>{t('bookTitle')}</th>
            <th>{t('barcode')}</th>
            <th>{t('borrowers')}</th>
          </tr>
        </thead>
        <tbody>
          {open.map((conflict) => (
            <tr key={`${conflict.loanId}-${conflict.otherLoanId}`} data-item={conflict.itemId}>
              <td>{conflict.title ?? '–'}</td>
              <td>{conflict.itemId}</td>
              <td>
                <ul>
                  {conflict.loans.map((loan) => (
                    <li key={loan.loanId}>
                      {loan.name}
                      {loan.class ? ` (${loan.class})` : ''} ·{' '}
                      {t('lentOn')
                        .replace('{at}', stamp(loan.checkedOutAt))
                        .replace('{station}', loan.station)}
                    </li>
                  ))}
                </ul>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/**
 * The school library's loans past their due date, class by class as the bridge lists them, to chase
 * and to print (the CSV): what a librarian hands the form teachers each week. A form teacher (a
 * head teacher's account) sees their own class's list only, and nothing of the library's running.
 */
export function LibraryView({ account }: { account: SignedInAccount }) {
  const t = useWords();
  const [school, setSchool] = useState(account.school);
  const base = school ? `/v1/library/${encodeURIComponent(school)}` : undefined;
  const formTeacher = account.role === 'head-teacher';
  // A form teacher's list is their class's, asked of the bridge; a librarian's is the school's, and a
  // class picked from it (one form teacher's printout) is shown from it and asked of the bridge as CSV.
  // Picked at a school: another school's list has other classes.
  const [picked, setPicked] = useState<{ school?: string; class: string }>();
  const pickedHere = picked?.school === school ? picked?.class : undefined;
  const chosen = formTeacher ? account.className : pickedHere;
  const query = chosen ? `?class=${encodeURIComponent(chosen)}` : '';
  const overdue = useApi<OverdueList>(base && `${base}/overdue${formTeacher ? query : ''}`, 60_000);
  const all = overdue.data?.loans ?? [];
  const loans = chosen ? all.filter((loan) => loan.class === chosen) : all;
  // Where the school sends parents reminders of overdue books: what became of each pupil's last.
  const reminders = all.some((loan) => loan.parentsReminded);
  const classes = [...new Set(all.flatMap((loan) => (loan.class ? [loan.class] : [])))];
  return (
    <section class="library">
      <div class="toolbar">
        {!account.school && <SchoolPicker value={school} onChange={setSchool} />}
        {!formTeacher && overdue.data && (
          <label>
            {t('class')}{' '}
            <select
              name="class"
              value={pickedHere ?? ''}
              onInput={(event) => {
                const value = event.currentTarget.value;
                setPicked(value ? { school, class: value } : undefined);
              }}
            >
              <option value="">{t('allClasses')}</option>
              {classes.map((id) => (
                <option key={id} value={id}>
                  {id}
                </option>
              ))}
            </select>
          </label>
        )}
        {base && (
          <a class="button" href={`${base}/overdue.csv${query}`} download>
            {t('downloadCsv')}
          </a>
        )}
      </div>
      {overdue.error && (
        <p class="error" role="alert">
          {overdue.error}
        </p>
      )}
      {overdue.data && (
        <section class="card overdue">
          <h2>
            {t('overdueLoans')}
            {chosen ? ` · ${chosen}` : ''} ({loans.length})
          </h2>
          {loans.length === 0 ? (
            <p>{t('nothingOverdue')}</p>
          ) : (
            <table class="overdue">
              <thead>
                <tr>
                  <th>{t('class')}</th>
                  <th>{t('name')}</th>
                  <th>{t('bookTitle')}</th>
                  <th>{t('barcode')}</th>
                  <th>{t('dueDate')}</th>
                  <th class="number">{t('daysOverdue')}</th>
                  {reminders && <th>{t('parentNotice')}</th>}
                </tr>
              </thead>
              <tbody>
                {loans.map((loan) => (
                  <tr key={loan.loanId} data-loan={loan.loanId}>
                    <td>
                      {loan.class ??
                        (loan.role === 'teacher' || loan.role === 'staff'
                          ? t(loan.role)
                          : loan.nowAt
                            ? t('nowAt').replace('{school}', loan.nowAt)
                            : '')}
                    </td>
                    <td>{loan.name}</td>
                    <td>{loan.title ?? '–'}</td>
                    <td>{loan.itemId}</td>
                    <td>{day(loan.dueAt)}</td>
                    <td class="number">{loan.daysOverdue}</td>
                    {reminders && (
                      <td data-parents-reminded={loan.parentsReminded?.state}>
                        {loan.parentsReminded &&
                          `${t(NOTICE_STATE_WORD[loan.parentsReminded.state])}${
                            loan.parentsReminded.state === 'waiting' ? '' : ` ${day(loan.parentsReminded.at)}`
                          }`}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
      {base && !formTeacher && <ConflictsCard base={base} />}
      {school && !formTeacher && <CatalogueCard school={school} />}
    </section>
  );
}
