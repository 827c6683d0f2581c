import type { DenyReason } from '@educard/terminal-sdk';
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

/** The pages' words in Chinese and English. */
export type Lang = 'zh' | 'en';

const WORDS = {
  title: { zh: '教育卡管理', en: 'educard' },
  signIn: { zh: '登录', en: 'Sign in' },
  signOut: { zh: '退出', en: 'Sign out' },
  username: { zh: '用户名', en: 'Username' },
  password: { zh: '密码', en: 'Password' },
  badCredentials: { zh: '用户名或密码错误', en: 'Wrong username or password' },
  throttled: { zh: '尝试次数过多，请稍后再试', en: 'Too many attempts: try again later' },
  attendance: { zh: '考勤', en: 'Attendance' },
  operations: { zh: '运维', en: 'Operations' },
  accounts: { zh: '账号', en: 'Accounts' },
  audit: { zh: '审计日志', en: 'Audit log' },
  reader: { zh: '查看人', en: 'Reader' },
  pupil: { zh: '学生编号', en: 'Pupil id' },
  school: { zh: '学校', en: 'School' },
  class: { zh: '班级', en: 'Class' },
  allClasses: { zh: '全部班级', en: 'All classes' },
  date: { zh: '日期', en: 'Date' },
  pupils: { zh: '学生', en: 'Pupils' },
  present: { zh: '已到', en: 'Present' },
  late: { zh: '迟到', en: 'Late' },
  absent: { zh: '缺勤', en: 'Absent' },
  notArrived: { zh: '未到', en: 'Not arrived' },
  onLeave: { zh: '请假', en: 'On leave' },
  leftEarly: { zh: '早退', en: 'Left early' },
  turnedAway: { zh: '校门被拒', en: 'Turned away' },
  parentNotice: { zh: '家长通知', en: 'Parents told' },
  parentTold: { zh: '已通知', en: 'Told' },
  parentWaiting: { zh: '发送中', en: 'On its way' },
  parentGivenUp: { zh: '未送达', en: 'Not delivered' },
  parentNoticesHeld: {
    zh: '缺勤通知暂缓发送：以下校门离线或刚恢复，其通行记录可能尚未送达',
    en: 'Absence notices to parents are held: these gates are offline or just back, their passages may not be here yet',
  },
  outside: { zh: '被拒门外', en: 'Kept outside' },
  lockdownSwitchOn: {
    zh: '门岗开关已封闭此门，需在门岗解除',
    en: 'locked by its own switch at the gate; lifted there',
  },
  nobodyOutside: { zh: '封闭以来无人被拒', en: 'Nobody refused since the lockdown began' },
  teacher: { zh: '教师', en: 'teacher' },
  staff: { zh: '职工', en: 'staff' },
  arrived: { zh: '到校', en: 'Arrived' },
  left: { zh: '离校', en: 'Left' },
  status: { zh: '状态', en: 'Status' },
  name: { zh: '姓名', en: 'Name' },
  studentNumber: { zh: '学籍号', en: 'Student no.' },
  bell: { zh: '上课铃', en: 'Bell' },
  notSchoolDay: { zh: '今天不是上学日', en: 'Not a school day' },
  weekend: { zh: '周末', en: 'weekend' },
  holiday: { zh: '假日', en: 'holiday' },
  closure: { zh: '停课', en: 'closure' },
  downloadCsv: { zh: '下载 CSV', en: 'Download CSV' },
  trend: { zh: '近几周出勤率', en: 'Attendance over recent weeks' },
  gatesSilent: {
    zh: '本校闸机当天没有任何通行记录（未启用或故障）：以下缺勤未经确认，也未通知家长',
    en: 'No gate of the school recorded anyone this day (not in use, or down): these absences are not known, and no parent was told',
  },
  followUp: { zh: '缺勤或被拒门外', en: 'Absent or turned away' },
  consecutiveAbsences: { zh: '连续缺勤 3 个上学日及以上', en: 'Absent 3 school days or more running' },
  schoolDays: { zh: '连续缺勤天数', en: 'School days' },
  absentSince: { zh: '起始日', en: 'Since' },
  rate: { zh: '出勤率', en: 'Attendance rate' },
  devices: { zh: '设备', en: 'Devices' },
  online: { zh: '在线', en: 'online' },
  offline: { zh: '离线', en: 'offline' },
  lastSeen: { zh: '最后在线', en: 'Last seen' },
  roster: { zh: '名单版本', en: 'Roster' },
  rosterExpires: { zh: '名单到期', en: 'Roster expires' },
  backlog: { zh: '待上传', en: 'Backlog' },
  diskFull: { zh: '存储已满', en: 'disk full' },
  lostOnDevices: { zh: '设备端丢失的记录', en: 'Records lost on devices' },
  dates: { zh: '到期与校历', en: 'Expiry and calendar' },
  olderHeld: { zh: '仍用旧版本的闸机', en: 'Gates on an older roster' },
  schoolYear: { zh: '学年', en: 'School year' },
  daysOff: { zh: '假日与停课', en: 'Days off' },
  noDaysOff: { zh: '未录入', en: 'none entered' },
  expiring: { zh: '即将到期', en: 'expiring' },
  expired: { zh: '已过期', en: 'expired' },
  keySet: { zh: '密钥集', en: 'Key set' },
  keySetAge: { zh: '已启用天数', en: 'age in days' },
  noExpiry: { zh: '密钥集不设到期日', en: 'key sets do not expire' },
  alarms: { zh: '告警', en: 'Alarms' },
  noAlarms: { zh: '没有告警', en: 'No alarms' },
  updates: { zh: '软件更新', en: 'Updates' },
  rollouts: { zh: '发布批次', en: 'Rollouts' },
  noRollouts: { zh: '暂无发布批次', en: 'No rollouts yet' },
  version: { zh: '版本', en: 'Version' },
  phase: { zh: '阶段', en: 'Phase' },
  detail: { zh: '说明', en: 'Detail' },
  pause: { zh: '暂停', en: 'Pause' },
  resume: { zh: '继续', en: 'Resume' },
  abort: { zh: '中止', en: 'Abort' },
  createdBy: { zh: '创建人', en: 'Created by' },
  acknowledge: { zh: '确认', en: 'Acknowledge' },
  acknowledged: { zh: '已确认', en: 'acknowledged' },
  liveEvents: { zh: '实时事件', en: 'Live events' },
  cardLifecycle: { zh: '卡片挂失', en: 'Report a card lost' },
  cardId: { zh: '卡号', en: 'Card number' },
  reportLost: { zh: '挂失', en: 'Report lost' },
  look: { zh: '查询', en: 'Look up' },
  gate: { zh: '闸机', en: 'Gate' },
  applied: { zh: '已生效', en: 'applied' },
  transfers: { zh: '转学', en: 'Transfers' },
  venueVisits: { zh: '场馆参观', en: 'Venue visits' },
  noVenueVisits: { zh: '近两周没有场馆参观', en: 'No venue visits in the last two weeks' },
  venue: { zh: '场馆', en: 'Venue' },
  day: { zh: '日期', en: 'Day' },
  visitors: { zh: '参观人数', en: 'Visitors' },
  reentries: { zh: '再次入场', en: 'Re-entries' },
  classVisits: { zh: '班级参观', en: 'Class visits' },
  refused: { zh: '拒绝', en: 'Refused' },
  noTransfers: { zh: '最近没有转学', en: 'No transfers lately' },
  firstDay: { zh: '到校日期', en: 'first day' },
  booksOut: {
    zh: '在 {school} 图书馆尚有 {count} 本书未还',
    en: '{count} book(s) still out at the {school} library',
  },
  noGates: { zh: '没有闸机', en: 'no gates' },
  pending: { zh: '等待中', en: 'pending' },
  centralSync: { zh: '中心同步', en: 'Central sync' },
  lag: { zh: '延迟', en: 'Lag' },
  deadLetters: { zh: '投递失败', en: 'Dead letters' },
  lastSuccess: { zh: '上次成功', en: 'Last success' },
  lastError: { zh: '最近错误', en: 'Last error' },
  create: { zh: '新建', en: 'Create' },
  role: { zh: '角色', en: 'Role' },
  disable: { zh: '停用', en: 'Disable' },
  enable: { zh: '启用', en: 'Enable' },
  disabled: { zh: '已停用', en: 'disabled' },
  displayName: { zh: '显示名', en: 'Display name' },
  actor: { zh: '操作人', en: 'Actor' },
  action: { zh: '操作', en: 'Action' },
  target: { zh: '对象', en: 'Target' },
  outcome: { zh: '结果', en: 'Outcome' },
  time: { zh: '时间', en: 'Time' },
  notStoring: {
    zh: '自 {since} 起，桥接服务无法保存闸机记录（{error}）。',
    en: 'The bridge has stored no gate events since {since} ({error}).',
  },
  noDatabase: {
    zh: '桥接服务无法连接数据库（{error}）。',
    en: 'The bridge cannot reach its database ({error}).',
  },
  gatesKeepEvents: {
    zh: '闸机照常判定并保留记录，恢复后补传；考勤与告警只显示此前已保存的数据。请通知桥接服务的管理员。',
    en: "The gates keep deciding and keep their events until it is back; attendance and alarms show only what was stored before. Tell the bridge's operator.",
  },
  language: { zh: 'English', en: '中文' },
  'district-admin': { zh: '区管理员', en: 'District admin' },
  'school-admin': { zh: '学校管理员', en: 'School admin' },
  'head-teacher': { zh: '班主任', en: 'Head teacher' },
  operator: { zh: '运维员', en: 'Operator' },
  librarian: { zh: '图书管理员', en: 'Librarian' },
  library: { zh: '图书馆', en: 'Library' },
  overdueLoans: { zh: '逾期未还', en: 'Overdue loans' },
  nothingOverdue: { zh: '没有逾期未还的图书', en: 'Nothing is overdue' },
  nowAt: { zh: '已转至 {school}', en: 'Now at {school}' },
  bookTitle: { zh: '书名', en: 'Title' },
  barcode: { zh: '条码', en: 'Barcode' },
  dueDate: { zh: '应还日期', en: 'Due' },
  daysOverdue: { zh: '逾期天数', en: 'Days overdue' },
  catalogue: { zh: '馆藏目录', en: 'Catalogue' },
  noCatalogue: { zh: '尚未导入馆藏目录', en: 'No catalogue imported yet' },
  catalogueNow: { zh: '版本 {version} · {items} 条 · {at}', en: 'Version {version} · {items} items · {at}' },
  catalogueFile: { zh: '目录文件（CSV）', en: 'Catalogue file (CSV)' },
  check: { zh: '检查', en: 'Check' },
  importFile: { zh: '导入', en: 'Import' },
  importCounts: {
    zh: '新增 {added}，修改 {updated}，删除 {removed}，不变 {unchanged}',
    en: 'Adds {added}, changes {updated}, removes {removed}, keeps {unchanged}',
  },
  importRemoves: {
    zh: '文件中没有的条目将从目录中删除：请确认文件是完整的目录。',
    en: 'Items not in the file are taken out of the catalogue: make sure the file is the whole catalogue.',
  },
  importChecked: { zh: '检查通过，可以导入。', en: 'Checked: ready to import.' },
  imported: { zh: '已导入：版本 {version}', en: 'Imported: version {version}' },
  importProblems: { zh: '{count} 个问题，未导入任何内容', en: '{count} problem(s): nothing imported' },
  line: { zh: '行', en: 'Line' },
  loanConflicts: { zh: '同一册书被借出两次', en: 'One copy lent twice' },
  loanConflictsHint: {
    zh: '两个借还台在离线时借出了同一册书。找到这本书并归还，两笔借阅即一并结束。',
    en: 'Two desks lent the same copy while offline. Find the book and return it: both loans end with it.',
  },
  borrowers: { zh: '借阅人', en: 'Borrowers' },
  lentOn: { zh: '{at} 于 {station} 借出', en: 'lent {at} at {station}' },
  problem: { zh: '问题', en: 'Problem' },
  lockdown: { zh: '封校', en: 'Lockdown' },
  startLockdown: { zh: '封校：所有闸机禁止入校', en: 'Lock down the school' },
  liftLockdown: { zh: '解除封校', en: 'Lift the lockdown' },
  lockdownOn: {
    zh: '封校中：闸机拒绝入校，出校照常',
    en: 'In lockdown: the gates refuse entries, exits go on',
  },
  lockdownConfirm: {
    zh: '确定封校？本校所有闸机将拒绝入校，直到解除。',
    en: 'Lock down the school? Every gate refuses entries until it is lifted.',
  },
  reason: { zh: '原因', en: 'Reason' },
  parentNotices: { zh: '家长通知', en: 'Parent notices' },
  delivered: { zh: '已送达', en: 'delivered' },
  failed: { zh: '失败', en: 'failed' },
  notices: { zh: '通知数', en: 'Notices' },
  attempts: { zh: '尝试次数', en: 'Attempts' },
  sendAgain: { zh: '重新发送', en: 'Send again' },
  sendsPassages: { zh: '进出校', en: 'entries and exits' },
  sendsRefusals: { zh: '闸机拒绝入校', en: 'refused at the gate' },
  sendsAbsences: { zh: '未到校', en: 'absences' },
  sendsOverdueBooks: { zh: '图书逾期未还', en: 'overdue library books' },
  absenceHeld: {
    zh: '未到校通知暂缓：等待离线闸机恢复',
    en: 'Absence notices held until these gates are back',
  },
  absenceHeldSilent: {
    zh: '未到校通知暂缓：今天本校闸机尚无任何通行记录',
    en: 'Absence notices held: no gate of the school has recorded anyone today',
  },
} as const;
export type Word = keyof typeof WORDS;

/** What became of a notice to a pupil's parents (an absence, a refusal, a reminder of overdue books). */
export const NOTICE_STATE_WORD: Record<'waiting' | 'delivered' | 'given-up', Word> = {
  delivered: 'parentTold',
  waiting: 'parentWaiting',
  'given-up': 'parentGivenUp',
};

/** Why a gate refused someone, in words a head teacher or a gatehouse reads: one for every reason. */
const GATE_REASONS: Record<DenyReason, { zh: string; en: string }> = {
  'unknown-card': { zh: '未登记的卡', en: 'card not on the roster' },
  lost: { zh: '卡已挂失', en: 'card reported lost' },
  cancelled: { zh: '卡已注销', en: 'card cancelled' },
  suspended: { zh: '卡已暂停', en: 'card suspended' },
  transferred: { zh: '已转学', en: 'moved to another school' },
  'not-yet-valid': { zh: '卡尚未生效', en: 'card not valid yet' },
  expired: { zh: '卡已过期', en: 'card expired' },
  'not-in-zone': { zh: '无权进入此区域', en: 'not allowed at this gate' },
  'outside-schedule': { zh: '不在允许时段', en: 'outside the allowed hours' },
  'roster-stale': { zh: '闸机名单过期', en: "the gate's roster is out of date" },
  'no-roster': { zh: '闸机没有名单', en: 'the gate has no roster' },
  'clock-untrusted': { zh: '闸机时钟未校准', en: "the gate's clock is not trusted" },
  passback: { zh: '重复进入', en: 'already in' },
  'card-auth-failed': { zh: '卡片验证失败', en: 'card failed its check' },
  'card-unreadable': { zh: '读卡失败', en: 'card could not be read' },
  'card-removed': { zh: '卡片过早移开', en: 'card taken away too soon' },
  'uid-only-card': { zh: '不支持的卡', en: 'card the venue cannot check' },
  'unknown-issuer': { zh: '未知发卡机构', en: 'unknown card issuer' },
  'no-hotlist': { zh: '没有挂失名单', en: 'no hotlist' },
  'hotlist-stale': { zh: '挂失名单过期', en: 'hotlist out of date' },
  'venue-closed': { zh: '场馆未开放', en: 'venue closed' },
  'venue-full': { zh: '场馆已满', en: 'venue full' },
  'class-not-admitted': { zh: '班级尚未入场', en: 'class not admitted yet' },
  lockdown: { zh: '封校', en: 'lockdown' },
};

export function pickLang(): Lang {
  const asked = new URLSearchParams(location.search).get('lang') ?? localStorage.getItem('educard.lang');
  if (asked === 'zh' || asked === 'en') return asked;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const LangContext = createContext<Lang>('zh');

/** The page's language as HTML names it: screen readers pick their voice by it. */
export const htmlLang = (lang: Lang): string => (lang === 'zh' ? 'zh-CN' : 'en');

export const wordsOf =
  (lang: Lang) =>
  (word: Word): string =>
    WORDS[word][lang];

/** The words of the page's language: `const t = useWords(); t('present')`. */
export const useWords = () => wordsOf(useContext(LangContext));

/** A gate's deny reason in the page's language; a reason this page does not know yet as it is. */
export const useReasonWords = () => {
  const lang = useContext(LangContext);
  return (reason: string): string => GATE_REASONS[reason as DenyReason]?.[lang] ?? reason;
};
