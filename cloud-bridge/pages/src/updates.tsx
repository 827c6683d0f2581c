import { useState } from 'preact/hooks';
import { api, type RolloutDevice, type RolloutView, type SignedInAccount, stamp } from './api.js';
import { useWords } from './i18n.js';
import { useAction, useApi } from './use-api.js';

const counts = (by: Record<string, number>) =>
  Object.entries(by)
    .map(([state, n]) => `${n} ${state}`)
    .join(' · ');

/** One rollout: its phases, each device with its state, and the buttons that move it. */
function Rollout({ id, canManage }: { id: string; canManage: boolean }) {
  const t = useWords();
  const { data, reload } = useApi<RolloutView & { devices: RolloutDevice[] }>(
    `/v1/rollouts/${encodeURIComponent(id)}`,
    2_000,
  );
  const { error, run } = useAction();
  if (!data) return null;
  const act = (verb: 'pause' | 'resume' | 'abort') =>
    run(async () => {
      await api(`/v1/rollouts/${encodeURIComponent(id)}/${verb}`, { body: {} });
      await reload();
    });
  return (
    <section class="card rollout" data-rollout={data.id} data-state={data.state}>
      <h2>
        {data.id} · {data.version} · <span class={`chip ${data.state}`}>{data.state}</span>
      </h2>
      <p>
        {t('createdBy')} {data.createdBy} · {stamp(data.createdAt)}
        {data.reason ? ` · ${data.reason}` : ''}
      </p>
      {canManage && (
        <div class="toolbar">
          {data.state === 'running' && (
            <button type="button" onClick={() => act('pause')}>
              {t('pause')}
            </button>
          )}
          {data.state === 'paused' && (
            <button type="button" onClick={() => act('resume')}>
              {t('resume')}
            </button>
          )}
          {(data.state === 'running' || data.state === 'paused') && (
            <button type="button" onClick={() => act('abort')}>
              {t('abort')}
            </button>
          )}
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ol class="phases">
        {data.phases.map((phase) => (
          <li key={phase.index} data-phase={phase.index}>
            {t('phase')} {phase.index + 1} ({phase.spec}): {phase.devices} · {counts(phase.counts)}
          </li>
        ))}
      </ol>
      <table class="devices">
        <thead>
          <tr>
            <th>{t('gate')}</th>
            <th>{t('school')}</th>
            <th>{t('phase')}</th>
            <th>{t('status')}</th>
            <th>{t('detail')}</th>
          </tr>
        </thead>
        <tbody>
          {data.devices.map((d) => (
            <tr key={d.device} data-device={d.device} data-state={d.state}>
              <td>{d.device}</td>
              <td>{d.school}</td>
              <td>{d.phase + 1}</td>
              <td>{d.state}</td>
              <td>{d.detail ?? (d.total ? `${d.fetched ?? 0} / ${d.total} B` : '')}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** The rollouts of gateway software: each rollout, each phase, each device (docs/updates.md). */
export function UpdatesView({ account }: { account: SignedInAccount }) {
  const t = useWords();
  const { data } = useApi<{ rollouts: RolloutView[] }>('/v1/rollouts', 5_000);
  const [open, setOpen] = useState<string>();
  const shown = open ?? data?.rollouts[0]?.id;
  return (
    <section class="updates">
      <table class="rollouts">
        <caption>{t('rollouts')}</caption>
        <thead>
          <tr>
            <th>{t('rollouts')}</th>
            <th>{t('version')}</th>
            <th>{t('status')}</th>
            <th>{t('devices')}</th>
          </tr>
        </thead>
        <tbody>
          {data?.rollouts.map((r) => (
            <tr
              key={r.id}
              data-rollout={r.id}
              class={r.id === shown ? 'active' : ''}
              onClick={() => setOpen(r.id)}
            >
              <td>{r.id}</td>
              <td>{r.version}</td>
              <td>{r.state}</td>
              <td>{counts(r.counts)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && data.rollouts.length === 0 && <p>{t('noRollouts')}</p>}
      {shown && <Rollout id={shown} canManage={account.role === 'district-admin'} />}
    </section>
  );
}
