import { useState } from 'preact/hooks';
import type { OverdueList, SignedInAccount } from './api.js';
import { useWords } from './i18n.js';
import { SchoolPicker } from './school-picker.js';
import { useApi } from './use-api.js';

/** A due date as the reader's calendar shows it. */
const day = (iso: string) => new Date(iso).toLocaleDateString([], { dateStyle: 'medium' });

/**
 * The school library's loans past their due date, class by class as the bridge lists them, to chase
 * and to print (the CSV): what a librarian hands the form teachers each week.
 */
export function LibraryView({ account }: { account: SignedInAccount }) {
  const t = useWords();
  const [school, setSchool] = useState(account.school);
  const base = school ? `/v1/library/${encodeURIComponent(school)}` : undefined;
  const overdue = useApi<OverdueList>(base && `${base}/overdue`, 60_000);
  const loans = overdue.data?.loans ?? [];
  return (
    <section class="library">
      <div class="toolbar">
        {!account.school && <SchoolPicker value={school} onChange={setSchool} />}
        {base && (
          <a class="button" href={`${base}/overdue.csv`} download>
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
        <section class="card">
          <h2>
            {t('overdueLoans')} ({loans.length})
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
                </tr>
              </thead>
              <tbody>
                {loans.map((loan) => (
                  <tr key={loan.loanId} data-loan={loan.loanId}>
                    <td>
                      {loan.class ?? (loan.role === 'teacher' || loan.role === 'staff' ? t(loan.role) : '')}
                    </td>
                    <td>{loan.name}</td>
                    <td>{loan.title ?? '–'}</td>
                    <td>{loan.itemId}</td>
                    <td>{day(loan.dueAt)}</td>
                    <td class="number">{loan.daysOverdue}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </section>
  );
}
