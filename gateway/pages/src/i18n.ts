/** The pages' words in Chinese and English; the reason codes are the station's. */
export type Lang = 'zh' | 'en';

const WORDS = {
  deskTitle: { zh: '图书馆服务台', en: 'Library desk' },
  kioskTitle: { zh: '机房', en: 'Computer room' },
  gatewayLink: { zh: '网关连接', en: 'Gateway link' },
  connected: { zh: '已连接', en: 'connected' },
  connecting: { zh: '连接中…', en: 'connecting…' },
  lost: { zh: '已断开', en: 'lost' },
  online: { zh: '在线', en: 'Online' },
  offline: {
    zh: '离线：记录保存在本地，恢复后自动上传',
    en: 'Offline: records are kept here and sent when the link returns',
  },
  tapCard: { zh: '请刷卡', en: 'Tap a card' },
  scanItem: { zh: '扫描图书条码', en: 'Scan a book' },
  modeCheckout: { zh: '借出', en: 'Check out' },
  modeReturn: { zh: '归还', en: 'Return' },
  modeRenew: { zh: '续借', en: 'Renew' },
  loans: { zh: '在借', en: 'Loans' },
  due: { zh: '应还', en: 'due' },
  overdue: { zh: '已逾期', en: 'overdue' },
  elsewhere: { zh: '他校图书，仅供查看', en: "another school's, shown only" },
  canBorrow: { zh: '可以借书', en: 'May borrow' },
  blocked: { zh: '不能借书', en: 'May not borrow' },
  clear: { zh: '清除 (Esc)', en: 'Clear (Esc)' },
  checkedOut: { zh: '已借出', en: 'Checked out' },
  returned: { zh: '已归还', en: 'Returned' },
  renewed: { zh: '已续借', en: 'Renewed' },
  denied: { zh: '拒绝', en: 'Denied' },
  signedIn: { zh: '已签到', en: 'Signed in' },
  signedOut: { zh: '已签退', en: 'Signed out' },
  booked: { zh: '已预约', en: 'Booked' },
  bookingEnded: { zh: '预约已结束', en: 'Booking ended' },
  seat: { zh: '座位', en: 'Seat' },
  free: { zh: '空闲', en: 'free' },
  taken: { zh: '使用中', en: 'taken' },
  minutesLeft: { zh: '分钟剩余', en: 'min left' },
  closesAt: { zh: '关门时间', en: 'Closes at' },
  closed: { zh: '已关门', en: 'Closed' },
  bookedFor: { zh: '本节课预约给', en: 'Booked for class' },
  class: { zh: '班级', en: 'Class' },
  language: { zh: 'English', en: '中文' },
  needCredentials: {
    zh: '此终端尚未配置：请在地址后加上 #terminal=…&password=…&station=…',
    en: 'This terminal is not set up: open it with #terminal=…&password=…&station=…',
  },
} as const;

const REASONS: Record<string, { zh: string; en: string }> = {
  ok: { zh: '通过', en: 'OK' },
  'loan-limit': { zh: '已达借书上限', en: 'Loan limit reached' },
  'overdue-items': { zh: '有逾期未还的书', en: 'Has overdue items' },
  'card-lost': { zh: '卡已挂失', en: 'Card reported lost' },
  'card-cancelled': { zh: '卡已注销', en: 'Card cancelled' },
  'card-suspended': { zh: '卡已暂停', en: 'Card suspended' },
  'card-transferred': {
    zh: '已转学：在本校所借图书仍须归还',
    en: 'Moved to another school: loans here still owed',
  },
  'item-elsewhere': { zh: '他校图书：请还到所属学校', en: "Another school's item: return it there" },
  'unknown-item': { zh: '找不到这本书', en: 'Unknown item' },
  'not-on-loan': { zh: '这本书没有借出', en: 'Item is not on loan' },
  'already-on-loan': { zh: '这本书已借出', en: 'Item is already on loan' },
  'renewals-exhausted': { zh: '续借次数已用完', en: 'No renewals left' },
  'item-reference': { zh: '工具书不外借', en: 'Reference only' },
  'unknown-patron': { zh: '未知读者', en: 'Unknown patron' },
  'library-refused': { zh: '图书馆系统拒绝', en: 'Refused by the library system' },
  'card-invalid': { zh: '此卡现在不能在图书馆使用', en: 'Card not valid at the library now' },
  'txn-reused': { zh: '请求重复', en: 'Transaction reused' },
  'no-lesson': { zh: '今天没有可预约的课', en: 'No lesson left to book today' },
  'signed-in-elsewhere': { zh: '已在其他座位签到', en: 'Signed in at another seat' },
  'not-signed-in': { zh: '尚未签到', en: 'Not signed in' },
  'unknown-person': { zh: '未知人员', en: 'Unknown person' },
  'unknown-seat': { zh: '没有这个座位', en: 'No such seat' },
  'unknown-card': { zh: '未知卡', en: 'Unknown card' },
  lost: { zh: '卡已挂失', en: 'Card reported lost' },
  cancelled: { zh: '卡已注销', en: 'Card cancelled' },
  suspended: { zh: '卡已暂停', en: 'Card suspended' },
  transferred: { zh: '已转学到其他学校', en: 'Moved to another school' },
  expired: { zh: '卡已过期', en: 'Card expired' },
  'not-in-zone': { zh: '无权进入此区域', en: 'Not allowed here' },
  'room-booked': { zh: '本节课机房已被其他班级预约', en: 'Room booked for another class' },
  'room-full': { zh: '没有空座位', en: 'No free seat' },
  'seat-taken': { zh: '座位已被占用', en: 'Seat taken' },
  closed: { zh: '机房已关门', en: 'Room closed' },
  'no-class': { zh: '教师没有班级', en: 'Teacher has no class' },
  malformed: { zh: '请求无效', en: 'Invalid request' },
  timeout: { zh: '网关没有回应', en: 'The gateway did not answer' },
};

export function pickLang(): Lang {
  const asked = new URLSearchParams(location.search).get('lang') ?? localStorage.getItem('educard.lang');
  if (asked === 'zh' || asked === 'en') return asked;
  return navigator.language.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export const t = (lang: Lang, key: keyof typeof WORDS): string => WORDS[key][lang];

/** The page's language as HTML names it: screen readers pick their voice by it. */
export const htmlLang = (lang: Lang): string => (lang === 'zh' ? 'zh-CN' : 'en');

/** A station's reason code in words; an unknown code is shown as it is. */
export const reasonText = (lang: Lang, reason: string | undefined): string =>
  reason ? (REASONS[reason]?.[lang] ?? reason) : '';
