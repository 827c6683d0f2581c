import { z } from 'zod';
import { isTimeZone } from './calendar.js';

export const AttendanceConfig = z.object({
  /** The zone of a school whose roster carries no calendar yet (an IANA name). */
  defaultTimeZone: z
    .string()
    .refine(isTimeZone, 'an IANA time zone, e.g. Asia/Shanghai')
    .default('Asia/Shanghai'),
});
export type AttendanceConfig = z.infer<typeof AttendanceConfig>;
